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

TEST(WireTest, ReplicationOperationsRoundTripAndAreBounded) {
  Request gen;
  gen.op = Op::kGenerateKey;
  gen.usage = kUsageWrap;
  gen.key_id = "rampart-cwk:cluster-0123456789a";
  gen.flag = 1;
  Request back = RoundTrip(gen);
  EXPECT_EQ(back.key_id, gen.key_id);
  EXPECT_EQ(back.usage, kUsageWrap);
  EXPECT_EQ(back.flag, 1);

  Request unwrap;
  unwrap.op = Op::kUnwrapKey;
  unwrap.wrapping_key_id = "wk";
  unwrap.data = std::string(kMaxWrapped, 'w');
  unwrap.public_key = std::string(kMaxPublicKey, 'p');
  unwrap.algorithm = 2;
  unwrap.usage = kUsageSign;
  unwrap.label = "copy";
  unwrap.key_id = "id";
  back = RoundTrip(unwrap);
  EXPECT_EQ(back.wrapping_key_id, "wk");
  EXPECT_EQ(back.data, unwrap.data);
  EXPECT_EQ(back.public_key, unwrap.public_key);
  EXPECT_EQ(back.label, "copy");
  EXPECT_EQ(back.key_id, "id");
  std::string body = Body(EncodeRequest(unwrap));
  for (size_t n = 0; n < body.size(); n += 97) EXPECT_FALSE(DecodeRequest(Op::kUnwrapKey, body.substr(0, n)));
  unwrap.data.push_back('w');  // over the wrapped-key bound
  EXPECT_FALSE(DecodeRequest(Op::kUnwrapKey, Body(EncodeRequest(unwrap))));
  unwrap.data.pop_back();
  unwrap.flag = 2;  // a flag is 0 or 1
  EXPECT_FALSE(DecodeRequest(Op::kUnwrapKey, Body(EncodeRequest(unwrap))));

  Request wrap;
  wrap.op = Op::kWrapKeyWithPublicKey;
  wrap.public_key = std::string(kMaxPublicKey + 1, 'p');
  wrap.key_id = "k";
  EXPECT_FALSE(DecodeRequest(Op::kWrapKeyWithPublicKey, Body(EncodeRequest(wrap))));
  Request lock;
  lock.op = Op::kSetNonExtractable;
  lock.key_id = "k";
  EXPECT_EQ(RoundTrip(lock).key_id, "k");

  Response wrapped;
  wrapped.op = Op::kWrapKey;
  wrapped.data = std::string(40, 'b');
  auto answer = DecodeResponse(Op::kWrapKey, Body(EncodeResponse(wrapped)));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->data, wrapped.data);
  EXPECT_STREQ(OpName(Op::kSetNonExtractable), "SetNonExtractable");
  EXPECT_TRUE(DecodeHeader(EncodeHeader(Op::kSetNonExtractable, 0)));
}

TEST(WireTest, ReplicateRoundTripsAndIsBounded) {
  Request put;
  put.op = Op::kReplicate;
  put.scheme = static_cast<uint8_t>(ReplicaKind::kPutKey);
  put.role = Role::kCryptoUser;
  put.name = "alice";
  put.key_id = "kid";
  put.label = "label";
  put.app_id = "app";
  put.algorithm = 4;
  put.usage = kUsageSign;
  put.data = std::string(kMaxWrapped, 'w');
  put.public_key = std::string(kMaxPublicKey, 'p');
  Request back = RoundTrip(put);
  EXPECT_EQ(back.scheme, put.scheme);
  EXPECT_EQ(back.name, "alice");
  EXPECT_EQ(back.key_id, "kid");
  EXPECT_EQ(back.app_id, "app");
  EXPECT_EQ(back.algorithm, 4);
  EXPECT_EQ(back.data, put.data);
  EXPECT_EQ(back.public_key, put.public_key);
  std::string body = Body(EncodeRequest(put));
  for (size_t n = 0; n < body.size(); n += 101) EXPECT_FALSE(DecodeRequest(Op::kReplicate, body.substr(0, n)));
  put.scheme = kMaxReplicaKind + 1;  // no such kind
  EXPECT_FALSE(DecodeRequest(Op::kReplicate, Body(EncodeRequest(put))));
  put.scheme = 0;
  put.data.push_back('w');  // over the bound
  EXPECT_FALSE(DecodeRequest(Op::kReplicate, Body(EncodeRequest(put))));

  Response got;
  got.op = Op::kReplicate;
  got.data = "alice\nbob";
  got.public_key = "pub";
  got.flag = 1;
  auto answer = DecodeResponse(Op::kReplicate, Body(EncodeResponse(got)));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->data, got.data);
  EXPECT_EQ(answer->public_key, "pub");
  EXPECT_EQ(answer->flag, 1);
  got.flag = 2;
  EXPECT_FALSE(DecodeResponse(Op::kReplicate, Body(EncodeResponse(got))));
  EXPECT_STREQ(OpName(Op::kReplicate), "Replicate");
  EXPECT_TRUE(DecodeHeader(EncodeHeader(Op::kReplicate, 0)));
  EXPECT_FALSE(DecodeHeader(EncodeHeader(static_cast<Op>(kMaxOp + 1), 0)));
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
