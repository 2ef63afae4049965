#include "rampart/hsmnet/wire.h"

#include <gtest/gtest.h>

namespace rampart::hsmnet {
namespace {

std::string Body(const std::string& frame) { return frame.substr(kHeaderSize); }

Request RoundTrip(const Request& q) {
  std::string frame = EncodeRequest(q);
  auto h = DecodeHeader(frame.substr(0, kHeaderSize));
  EXPECT_TRUE(h.has_value());
  EXPECT_EQ(h->op, q.op);
  EXPECT_EQ(h->body_size, frame.size() - kHeaderSize);
  auto back = DecodeRequest(h->op, Body(frame));
  EXPECT_TRUE(back.has_value());
  return back.value_or(Request());
}

TEST(WireTest, HeaderRoundTripAndRefusals) {
  std::string h = EncodeHeader(Op::kSign, 17);
  ASSERT_EQ(h.size(), kHeaderSize);
  auto d = DecodeHeader(h);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->op, Op::kSign);
  EXPECT_EQ(d->body_size, 17u);

  std::string bad_magic = h;
  bad_magic[0] = 'X';
  EXPECT_FALSE(DecodeHeader(bad_magic));
  std::string bad_version = h;
  bad_version[2] = 2;
  EXPECT_FALSE(DecodeHeader(bad_version));
  std::string bad_op = h;
  bad_op[3] = 0;
  EXPECT_FALSE(DecodeHeader(bad_op));
  bad_op[3] = kMaxOp + 1;
  EXPECT_FALSE(DecodeHeader(bad_op));
  EXPECT_FALSE(DecodeHeader(EncodeHeader(Op::kSign, kMaxBody + 1)));
  EXPECT_TRUE(DecodeHeader(EncodeHeader(Op::kSign, kMaxBody)));
  EXPECT_FALSE(DecodeHeader(h.substr(0, 7)));
}

TEST(WireTest, RequestsRoundTrip) {
  Request login;
  login.op = Op::kLogin;
  login.role = Role::kOfficer;
  login.name = "admin";
  login.password = "correct horse";
  Request back = RoundTrip(login);
  EXPECT_EQ(back.role, Role::kOfficer);
  EXPECT_EQ(back.name, "admin");
  EXPECT_EQ(back.password, "correct horse");

  Request dec;
  dec.op = Op::kDecrypt;
  dec.key_id = std::string("\x00\x01\x02", 3);
  dec.iv = std::string(12, 'i');
  dec.data = std::string(1000, 'c');
  dec.aad = "aad";
  back = RoundTrip(dec);
  EXPECT_EQ(back.key_id, dec.key_id);
  EXPECT_EQ(back.iv, dec.iv);
  EXPECT_EQ(back.data, dec.data);
  EXPECT_EQ(back.aad, "aad");

  Request gen;
  gen.op = Op::kGenerateKey;
  gen.algorithm = kMaxAlgorithm;
  gen.usage = kUsageSign;
  gen.label = "signing";
  gen.app_id = "\x0a";
  back = RoundTrip(gen);
  EXPECT_EQ(back.algorithm, kMaxAlgorithm);
  EXPECT_EQ(back.label, "signing");
  EXPECT_EQ(back.app_id, "\x0a");

  Request rnd;
  rnd.op = Op::kRandom;
  rnd.count = kMaxRandom;
  EXPECT_EQ(RoundTrip(rnd).count, kMaxRandom);
}

TEST(WireTest, ResponsesRoundTrip) {
  Response hello;
  hello.op = Op::kHello;
  hello.version = 1;
  hello.nodes = {"127.0.0.1:1", "127.0.0.1:2"};
  hello.node_name = "a";
  std::string frame = EncodeResponse(hello);
  auto back = DecodeResponse(Op::kHello, Body(frame));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->nodes, hello.nodes);
  EXPECT_EQ(back->node_name, "a");

  Response keys;
  keys.op = Op::kListKeys;
  KeyInfo k;
  k.key_id = "0123456789abcdef";
  k.kind = 2;
  k.algorithm = 2;
  k.usage = kUsageSign;
  k.label = "ec";
  k.app_id = "\x01";
  k.owner = "alice";
  k.owned = true;
  keys.keys = {k, k};
  back = DecodeResponse(Op::kListKeys, Body(EncodeResponse(keys)));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->keys.size(), 2u);
  EXPECT_EQ(back->keys[1].owner, "alice");
  EXPECT_TRUE(back->keys[1].owned);

  // An error carries only the return value.
  Response err;
  err.op = Op::kSign;
  err.rv = 0xA0;  // CKR_PIN_INCORRECT
  err.data = "ignored";
  std::string body = Body(EncodeResponse(err));
  EXPECT_EQ(body.size(), 4u);
  back = DecodeResponse(Op::kSign, body);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->rv, 0xA0u);
  EXPECT_TRUE(back->data.empty());
}

TEST(WireTest, HostileBodiesAreRefused) {
  Request sign;
  sign.op = Op::kSign;
  sign.key_id = "k";
  sign.md_name = "SHA256";
  sign.data = std::string(32, 'd');
  std::string body = Body(EncodeRequest(sign));
  EXPECT_TRUE(DecodeRequest(Op::kSign, body));
  // Every truncation fails, and so does trailing garbage.
  for (size_t n = 0; n < body.size(); ++n) EXPECT_FALSE(DecodeRequest(Op::kSign, body.substr(0, n))) << n;
  EXPECT_FALSE(DecodeRequest(Op::kSign, body + "x"));
  // A digest over its bound.
  sign.data = std::string(kMaxDigest + 1, 'd');
  EXPECT_FALSE(DecodeRequest(Op::kSign, Body(EncodeRequest(sign))));
  // A scheme out of range.
  sign.data = std::string(32, 'd');
  sign.scheme = kMaxScheme + 1;
  EXPECT_FALSE(DecodeRequest(Op::kSign, Body(EncodeRequest(sign))));
  // A length prefix larger than what follows.
  std::string lying("\xff\xff\xff\xff", 4);
  EXPECT_FALSE(DecodeRequest(Op::kDeleteUser, lying));
  // Random outside 1..65536.
  Request rnd;
  rnd.op = Op::kRandom;
  rnd.count = 0;
  EXPECT_FALSE(DecodeRequest(Op::kRandom, Body(EncodeRequest(rnd))));
  rnd.count = kMaxRandom + 1;
  EXPECT_FALSE(DecodeRequest(Op::kRandom, Body(EncodeRequest(rnd))));
  // A role that does not exist.
  Request login;
  login.op = Op::kLogin;
  std::string lb = Body(EncodeRequest(login));
  lb[0] = static_cast<char>(kMaxRole + 1);
  EXPECT_FALSE(DecodeRequest(Op::kLogin, lb));
  // A list count over the limit.
  std::string many("\x00\x00\x00\x00\x00\x00\xff\xff", 8);
  EXPECT_FALSE(DecodeResponse(Op::kListKeys, many));
}

}  // namespace
}  // namespace rampart::hsmnet
