// Generates one key of every algorithm into an existing token named by the
// environment, for tests/integration/test_hsm_pkcs11.py to inspect with
// pkcs11-tool. Skipped unless RAMPART_PKCS11_EXTERNAL_TOKEN is set.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

#include "rampart/pkcs11/pkcs11_token.h"

namespace rampart::pkcs11 {
namespace {

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

TEST(ExternalTokenTest, GeneratesOneKeyOfEachAlgorithm) {
  const char* label = Env("RAMPART_PKCS11_EXTERNAL_TOKEN");
  const char* pin = Env("RAMPART_PKCS11_EXTERNAL_PIN");
  const char* module_path = Env("RAMPART_PKCS11_EXTERNAL_MODULE");
  if (label == nullptr || pin == nullptr || module_path == nullptr) {
    GTEST_SKIP() << "set RAMPART_PKCS11_EXTERNAL_{MODULE,TOKEN,PIN} to run";
  }
  auto module = Module::Load(module_path);
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  TokenOptions opts;
  opts.selector.label = label;
  opts.user_pin = SecretBytes(pin);
  auto token = Pkcs11Token::Open(*module, std::move(opts));
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  struct Want {
    KeyAlgorithm alg;
    const char* label;
  };
  for (Want w :
       {Want{KeyAlgorithm::kAes256, "ext-aes256"}, Want{KeyAlgorithm::kHmacSha256, "ext-hmac"},
        Want{KeyAlgorithm::kEcP256, "ext-ec-p256"}, Want{KeyAlgorithm::kEcP384, "ext-ec-p384"},
        Want{KeyAlgorithm::kRsa2048, "ext-rsa2048"}}) {
    KeySpec spec;
    spec.algorithm = w.alg;
    spec.label = w.label;
    spec.usage.encrypt = w.alg == KeyAlgorithm::kAes256;
    spec.usage.sign = w.alg != KeyAlgorithm::kAes256;
    auto key = (*token)->GenerateKey(spec);
    ASSERT_TRUE(key.ok()) << w.label << ": " << key.status().ToString();
    // Each key works by handle right away.
    auto again = (*token)->FindKeyByLabel(w.label);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(*again, *key);
  }
}

}  // namespace
}  // namespace rampart::pkcs11
