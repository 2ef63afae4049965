// The network HSM service, a key's owner moving it between tokens: WrapKey,
// UnwrapKey and SetNonExtractable, reserved key ids, and key pairs with
// their public key.
#include "hsmnet/service_test_fixtures.h"

namespace rampart::hsmnet {
namespace {

using namespace service_testing;  // NOLINT(google-build-using-namespace)

TEST_F(ReplicationOpsTest, OwnerWrapsUnwrapsAndLocksItsKeys) {
  Session alice = Login("alice", kPassword);
  Session bob = Login("bob", kPassword);
  Response wk = GenerateSpec(alice, 0, kUsageWrap, false, "wrapping-key");
  ASSERT_EQ(wk.rv, CKR_OK);
  EXPECT_EQ(wk.keys[0].key_id, "wrapping-key");  // the id asked for
  EXPECT_EQ(wk.keys[0].usage, kUsageWrap);
  Response data_key = GenerateSpec(alice, 0, kUsageEncrypt, true);
  ASSERT_EQ(data_key.rv, CKR_OK);
  const std::string id = data_key.keys[0].key_id;
  Response blob = Wrap(alice, "wrapping-key", id);
  ASSERT_EQ(blob.rv, CKR_OK);
  ASSERT_FALSE(blob.data.empty());

  // Only the owner moves a key: bob, even with the key shared, may not.
  ASSERT_EQ(KeyCall(alice, Op::kShareKey, id, "bob").rv, CKR_OK);
  EXPECT_EQ(Wrap(bob, "wrapping-key", id).rv, CKR_ACTION_PROHIBITED);
  EXPECT_EQ(KeyCall(bob, Op::kSetNonExtractable, id).rv, CKR_ACTION_PROHIBITED);
  EXPECT_EQ(Unwrap(bob, "wrapping-key", blob.data, 0, kUsageEncrypt, "bobs").rv, CKR_KEY_HANDLE_INVALID);
  EXPECT_EQ(KeyCall(officer_, Op::kWrapKey, id).rv, CKR_ACTION_PROHIBITED);

  // The copy decrypts what the original encrypted.
  Response copy = Unwrap(alice, "wrapping-key", blob.data, 0, kUsageEncrypt, "copy-id");
  ASSERT_EQ(copy.rv, CKR_OK);
  EXPECT_EQ(copy.keys[0].key_id, "copy-id");
  EXPECT_EQ(copy.keys[0].owner, "alice");
  Request enc;
  enc.op = Op::kEncrypt;
  enc.key_id = id;
  enc.data = "moved";
  Response ct = Call(alice, enc);
  ASSERT_EQ(ct.rv, CKR_OK);
  Request dec;
  dec.op = Op::kDecrypt;
  dec.key_id = "copy-id";
  dec.iv = ct.iv;
  dec.data = ct.data;
  Response pt = Call(alice, dec);
  ASSERT_EQ(pt.rv, CKR_OK);
  EXPECT_EQ(pt.data, "moved");
  // Garbage does not unwrap, and an id in use is refused.
  EXPECT_EQ(Unwrap(alice, "wrapping-key", "garbage", 0, kUsageEncrypt, "x").rv, CKR_ARGUMENTS_BAD);
  EXPECT_EQ(Unwrap(alice, "wrapping-key", blob.data, 0, kUsageEncrypt, "copy-id").rv, CKR_ARGUMENTS_BAD);

  // Locked, the key cannot be wrapped any more; a never-extractable one neither.
  EXPECT_EQ(KeyCall(alice, Op::kSetNonExtractable, id).rv, CKR_OK);
  EXPECT_EQ(KeyCall(alice, Op::kSetNonExtractable, id).rv, CKR_OK);  // idempotent
  EXPECT_EQ(Wrap(alice, "wrapping-key", id).rv, CKR_KEY_UNEXTRACTABLE);
  EXPECT_EQ(Wrap(alice, "wrapping-key", "copy-id").rv, CKR_KEY_UNEXTRACTABLE);
  EXPECT_NE(AuditText().find("\"operation\":\"UnwrapKey\""), std::string::npos);
}

TEST_F(ReplicationOpsTest, OnlyKeysTheOwnerAskedToBeExtractableCanBeWrapped) {
  Session alice = Login("alice", kPassword);
  ASSERT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "wk").rv, CKR_OK);
  // Extractable in the token (as a key on its way to the peers is), but
  // not asked for by its owner: the service refuses to export it.
  pkcs11::KeySpec spec;
  spec.algorithm = pkcs11::KeyAlgorithm::kAes256;
  spec.id = "in-transit";
  spec.label = "t";
  spec.usage.encrypt = true;
  spec.extractable = true;
  auto ref = token_->GenerateKey(spec);
  ASSERT_TRUE(ref.ok());
  KeyInfo info;
  info.key_id = "in-transit";
  info.kind = static_cast<uint8_t>(pkcs11::KeyKind::kAes);
  info.algorithm = 0;
  info.usage = kUsageEncrypt;
  info.label = "t";
  info.app_id = "in-transit";
  info.owner = "alice";
  ASSERT_TRUE(state_->AddKey(info, false).ok());
  ASSERT_TRUE(token_->WrapKey({"wk", pkcs11::KeyKind::kAes}, *ref).ok());  // the token would
  EXPECT_EQ(Wrap(alice, "wk", "in-transit").rv, CKR_KEY_UNEXTRACTABLE);
  Request pub;
  pub.op = Op::kWrapKeyWithPublicKey;
  pub.key_id = "in-transit";
  pub.public_key = "not even a key";
  EXPECT_EQ(Call(alice, pub).rv, CKR_KEY_UNEXTRACTABLE);
  // Asked for, it wraps.
  Response open = GenerateSpec(alice, 0, kUsageEncrypt, true, "asked");
  ASSERT_EQ(open.rv, CKR_OK);
  EXPECT_EQ(Wrap(alice, "wk", "asked").rv, CKR_OK);
  EXPECT_TRUE(state_->FindKey("asked")->value().extractable);
  EXPECT_NE(AuditText().find(R"("operation":"WrapKey","key":")" + std::string("696e2d7472616e736974") +
                             R"(","result":"CKR_KEY_UNEXTRACTABLE")"),
            std::string::npos);
}

TEST_F(ReplicationOpsTest, ReservedKeyIdsAreRefused) {
  Session alice = Login("alice", kPassword);
  EXPECT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "rampart-hsmnet-cwk").rv, CKR_ATTRIBUTE_VALUE_INVALID);
  EXPECT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "rampart-hsmnet-anything").rv, CKR_ATTRIBUTE_VALUE_INVALID);
  ASSERT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "wk").rv, CKR_OK);
  Response data_key = GenerateSpec(alice, 0, kUsageEncrypt, true);
  ASSERT_EQ(data_key.rv, CKR_OK);
  Response blob = Wrap(alice, "wk", data_key.keys[0].key_id);
  ASSERT_EQ(blob.rv, CKR_OK);
  EXPECT_EQ(Unwrap(alice, "wk", blob.data, 0, kUsageEncrypt, "rampart-hsmnet-cwk").rv, CKR_ATTRIBUTE_VALUE_INVALID);
  EXPECT_FALSE(state_->FindKey("rampart-hsmnet-cwk")->has_value());
  EXPECT_EQ(token_->CheckKey({"rampart-hsmnet-cwk", pkcs11::KeyKind::kAes}).code(), ErrorCode::kNotFound);
  // A near miss is an ordinary id.
  EXPECT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "rampart-hsmnet").rv, CKR_OK);
}

TEST_F(ReplicationOpsTest, KeyPairsTravelWithTheirPublicKey) {
  Session alice = Login("alice", kPassword);
  ASSERT_EQ(GenerateSpec(alice, 0, kUsageWrap, false, "wk").rv, CKR_OK);
  Response pair = GenerateSpec(alice, 2, kUsageSign, true);  // EC P-256
  ASSERT_EQ(pair.rv, CKR_OK);
  const std::string id = pair.keys[0].key_id;
  Response pub = KeyCall(alice, Op::kPublicKey, id);
  ASSERT_EQ(pub.rv, CKR_OK);
  Response blob = Wrap(alice, "wk", id);
  ASSERT_EQ(blob.rv, CKR_OK);
  EXPECT_EQ(Unwrap(alice, "wk", blob.data, 2, kUsageSign, "pair-copy").rv, CKR_ARGUMENTS_BAD);  // no public key
  Response copy = Unwrap(alice, "wk", blob.data, 2, kUsageSign, "pair-copy", pub.data);
  ASSERT_EQ(copy.rv, CKR_OK);
  EXPECT_EQ(KeyCall(alice, Op::kPublicKey, "pair-copy").data, pub.data);
  EXPECT_EQ(Sign(alice, "pair-copy").rv, CKR_OK);
}

}  // namespace
}  // namespace rampart::hsmnet
