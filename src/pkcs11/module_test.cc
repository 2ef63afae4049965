#include "rampart/pkcs11/module.h"

#include <gtest/gtest.h>

#include "pkcs11/p11.h"
#include "pkcs11/softhsm_fixture.h"

namespace rampart::pkcs11 {
namespace {

using testing::kSoftHsmPath;
using testing::kUserPin;
using ModuleTest = testing::SoftHsmTest;

TEST(CkrTest, NamesKnownAndUnknownCodes) {
  EXPECT_EQ(CkrName(CKR_PIN_INCORRECT), "CKR_PIN_INCORRECT");
  EXPECT_EQ(CkrName(CKR_OK), "CKR_OK");
  EXPECT_EQ(CkrName(0x8000ABCDUL), "CKR_0x8000ABCD");
  Status st = CkrStatus("C_Login", CKR_PIN_INCORRECT);
  EXPECT_EQ(st.code(), ErrorCode::kAccessDenied);
  EXPECT_EQ(st.message(), "C_Login: CKR_PIN_INCORRECT");
  EXPECT_EQ(CkrStatus("C_Decrypt", CKR_ENCRYPTED_DATA_INVALID).code(), ErrorCode::kValidation);
  EXPECT_EQ(CkrStatus("C_Sign", CKR_DEVICE_ERROR).code(), ErrorCode::kUnavailable);
}

TEST(CkrTest, TrimsPaddedStrings) {
  const unsigned char padded[8] = {'a', 'b', ' ', ' ', ' ', ' ', ' ', ' '};
  EXPECT_EQ(TrimPadded(padded, sizeof padded), "ab");
}

TEST(ModuleLoadTest, RejectsBadPaths) {
  auto rel = Module::Load("libsofthsm2.so");
  ASSERT_FALSE(rel.ok());
  EXPECT_EQ(rel.status().code(), ErrorCode::kValidation);
  auto missing = Module::Load("/nonexistent/libnothing.so");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kValidation);
  auto not_a_library = Module::Load("/etc/hostname");
  ASSERT_FALSE(not_a_library.ok());
  EXPECT_EQ(not_a_library.status().code(), ErrorCode::kValidation);
}

TEST(ModuleLoadTest, RejectsLibraryWithoutFunctionList) {
  // libz is a shared library but not a PKCS#11 module.
  std::string libz = "/usr/lib/x86_64-linux-gnu/libz.so.1";
  if (!std::filesystem::exists(libz)) GTEST_SKIP() << "no " << libz;
  auto m = Module::Load(libz);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("C_GetFunctionList"), std::string::npos);
}

TEST_F(ModuleTest, ListsSlotsAndTheInitialisedToken) {
  EXPECT_NE(module_->Description().find("SoftHSM"), std::string::npos) << module_->Description();
  EXPECT_FALSE(module_->serialized());
  auto slots = module_->ListSlots(false);
  ASSERT_TRUE(slots.ok()) << slots.status().ToString();
  int initialised = 0, empty = 0;
  for (const SlotInfo& s : *slots) {
    ASSERT_TRUE(s.token_present);  // SoftHSM2 always shows a token
    ASSERT_TRUE(s.token.has_value());
    if (s.token->initialized) {
      ++initialised;
      EXPECT_EQ(s.token->label, label_);
      EXPECT_FALSE(s.token->serial.empty());
      EXPECT_TRUE(s.token->login_required);
      EXPECT_TRUE(s.token->user_pin_initialized);
      EXPECT_TRUE(s.token->has_rng);
      EXPECT_EQ(s.token->manufacturer, "SoftHSM project");
    } else {
      ++empty;  // the free slot SoftHSM2 keeps for the next token
    }
  }
  EXPECT_EQ(initialised, 1);
  EXPECT_EQ(empty, 1);
}

TEST_F(ModuleTest, FindsSlotsBySelector) {
  TokenSelector by_label;
  by_label.label = label_;
  auto slot = module_->FindSlot(by_label);
  ASSERT_TRUE(slot.ok()) << slot.status().ToString();

  TokenSelector by_serial;
  by_serial.serial = slot->token->serial;
  by_serial.slot_id = slot->slot_id;
  auto again = module_->FindSlot(by_serial);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->slot_id, slot->slot_id);

  TokenSelector wrong;
  wrong.label = "no-such-token";
  auto none = module_->FindSlot(wrong);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kNotFound);
}

TEST_F(ModuleTest, SamePathSharesOneModule) {
  auto again = Module::Load(kSoftHsmPath);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), module_.get());
}

TEST_F(ModuleTest, ReinitialisesAfterTheLastUserLetsGo) {
  module_.reset();  // C_Finalize
  auto again = Module::Load(kSoftHsmPath);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  module_ = *again;
  auto slots = module_->ListSlots(true);
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(slots->size(), 2u);
}

TEST_F(ModuleTest, OpenWithWrongPinIsAccessDenied) {
  TokenOptions opts;
  opts.selector.label = label_;
  opts.user_pin = SecretBytes("wrong-pin");
  auto token = Pkcs11Token::Open(module_, std::move(opts));
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), ErrorCode::kAccessDenied);
  EXPECT_EQ(token.status().message(), "C_Login: CKR_PIN_INCORRECT");
  EXPECT_EQ(token.status().message().find("wrong-pin"), std::string::npos);
}

TEST_F(ModuleTest, OpenValidatesOptions) {
  TokenOptions no_pin;
  no_pin.selector.label = label_;
  EXPECT_EQ(Pkcs11Token::Open(module_, std::move(no_pin)).status().code(), ErrorCode::kValidation);
  TokenOptions too_many;
  too_many.selector.label = label_;
  too_many.user_pin = SecretBytes(kUserPin);
  too_many.max_sessions = 0;
  EXPECT_EQ(Pkcs11Token::Open(module_, std::move(too_many)).status().code(),
            ErrorCode::kValidation);
  TokenOptions missing;
  missing.selector.label = "absent";
  missing.user_pin = SecretBytes(kUserPin);
  EXPECT_EQ(Pkcs11Token::Open(module_, std::move(missing)).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Pkcs11Token::Open(nullptr, TokenOptions{}).status().code(), ErrorCode::kValidation);
}

}  // namespace
}  // namespace rampart::pkcs11
