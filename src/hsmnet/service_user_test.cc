// The network HSM service, the crypto user's side: every algorithm through
// the service, paged key lists, and the audit record of every key use.
#include "hsmnet/service_test_fixtures.h"

#include <set>

namespace rampart::hsmnet {
namespace {

using namespace service_testing;  // NOLINT(google-build-using-namespace)

TEST_F(ServiceTest, EveryAlgorithmWorksThroughTheService) {
  Session alice = Login("alice", kPassword);
  Response aes = Generate(alice, 0);
  ASSERT_EQ(aes.rv, CKR_OK);
  Request enc;
  enc.op = Op::kEncrypt;
  enc.key_id = aes.keys[0].key_id;
  enc.data = "attack at dawn";
  enc.aad = "ctx";
  Response ct = Call(alice, enc);
  ASSERT_EQ(ct.rv, CKR_OK);
  EXPECT_EQ(ct.iv.size(), 12u);
  Request dec;
  dec.op = Op::kDecrypt;
  dec.key_id = enc.key_id;
  dec.iv = ct.iv;
  dec.data = ct.data;
  dec.aad = "ctx";
  Response pt = Call(alice, dec);
  ASSERT_EQ(pt.rv, CKR_OK);
  EXPECT_EQ(pt.data, "attack at dawn");
  dec.data[0] ^= 1;
  EXPECT_EQ(Call(alice, dec).rv, CKR_ENCRYPTED_DATA_INVALID);
  // The wrong operation for the key type.
  EXPECT_EQ(Sign(alice, enc.key_id).rv, CKR_KEY_TYPE_INCONSISTENT);

  Response hmac_key = Generate(alice, 1);
  ASSERT_EQ(hmac_key.rv, CKR_OK);
  Request mac;
  mac.op = Op::kHmac;
  mac.key_id = hmac_key.keys[0].key_id;
  mac.data = "message";
  Response m = Call(alice, mac);
  ASSERT_EQ(m.rv, CKR_OK);
  Request check;
  check.op = Op::kVerifyHmac;
  check.key_id = mac.key_id;
  check.data = "message";
  check.mac = m.data;
  EXPECT_EQ(Call(alice, check).flag, 1);
  check.data = "massage";
  EXPECT_EQ(Call(alice, check).flag, 0);

  Response rsa = Generate(alice, 4);
  ASSERT_EQ(rsa.rv, CKR_OK);
  Request pss;
  pss.op = Op::kSign;
  pss.key_id = rsa.keys[0].key_id;
  pss.scheme = 2;
  pss.md_name = "SHA256";
  pss.data = std::string(32, 'x');
  Response sig = Call(alice, pss);
  ASSERT_EQ(sig.rv, CKR_OK);
  EXPECT_EQ(sig.data.size(), 256u);
  pss.data = std::string(31, 'x');  // not a SHA-256 digest
  EXPECT_EQ(Call(alice, pss).rv, CKR_ARGUMENTS_BAD);
}

TEST_F(ServiceTest, KeyListsComeInPagesOfTheConfiguredSize) {
  Service small(*token_, *state_, *audit_, Service::Options{{"127.0.0.1:1"}, "node-a", 2});
  Session alice = Login("alice", kPassword);
  std::set<std::string> made;
  for (int i = 0; i < 5; ++i) {
    Response gen = Generate(alice, 0);
    ASSERT_EQ(gen.rv, CKR_OK);
    made.insert(gen.keys[0].key_id);
  }
  Request q;
  q.op = Op::kListKeys;
  std::set<std::string> listed;
  std::vector<uint8_t> flags;
  for (int page = 0; page < 10; ++page) {
    Response r = small.Handle(alice, q);
    ASSERT_EQ(r.rv, CKR_OK);
    ASSERT_LE(r.keys.size(), 2u);
    for (const KeyInfo& k : r.keys) listed.insert(k.key_id);
    flags.push_back(r.flag);
    if (r.flag == 0) break;
    q.key_id = r.keys.back().key_id;
  }
  EXPECT_EQ(listed, made);
  EXPECT_EQ(flags, (std::vector<uint8_t>{1, 1, 0}));
  // The default service answers them all at once.
  q.key_id.clear();
  Response all = Call(alice, q);
  EXPECT_EQ(all.keys.size(), 5u);
  EXPECT_EQ(all.flag, 0);
}

TEST_F(ServiceTest, EveryKeyUseIsAuditedWithoutData) {
  Session alice = Login("alice", kPassword);
  Response aes = Generate(alice, 0);
  ASSERT_EQ(aes.rv, CKR_OK);
  Request enc;
  enc.op = Op::kEncrypt;
  enc.key_id = aes.keys[0].key_id;
  enc.data = "the-secret-plaintext";
  ASSERT_EQ(Call(alice, enc).rv, CKR_OK);
  Session bob = Login("bob", kPassword);
  EXPECT_EQ(Call(bob, enc).rv, CKR_KEY_HANDLE_INVALID);

  std::string log = AuditText();
  EXPECT_NE(log.find(R"("user":"alice","operation":"Encrypt")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"("user":"bob","operation":"Encrypt")"), std::string::npos);
  EXPECT_NE(log.find(R"("result":"CKR_KEY_HANDLE_INVALID")"), std::string::npos);
  EXPECT_NE(log.find(R"("operation":"Login")"), std::string::npos);
  EXPECT_NE(log.find(R"("node":"node-a")"), std::string::npos);
  EXPECT_EQ(log.find("the-secret-plaintext"), std::string::npos);
  EXPECT_EQ(log.find(kPassword), std::string::npos);
}

}  // namespace
}  // namespace rampart::hsmnet
