#include "rampart/crypto/password.h"

#include <gtest/gtest.h>

namespace rampart::crypto {
namespace {

// A low cost keeps the test fast; the format and checks are the same.
constexpr uint32_t kTestIterations = 1000;

TEST(Password, VerifiesOnlyTheRightPassword) {
  auto hash = HashPassword("correct horse", kTestIterations);
  ASSERT_TRUE(hash.ok());
  EXPECT_TRUE(hash->starts_with("pbkdf2-sha256$1000$"));
  EXPECT_TRUE(VerifyPassword("correct horse", *hash));
  EXPECT_FALSE(VerifyPassword("correct horsf", *hash));
  EXPECT_FALSE(VerifyPassword("", *hash));
}

TEST(Password, SaltsEveryHash) {
  auto a = HashPassword("same", kTestIterations);
  auto b = HashPassword("same", kTestIterations);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(Password, RejectsMalformedOrTamperedHashes) {
  auto hash = HashPassword("pw", kTestIterations);
  ASSERT_TRUE(hash.ok());
  for (std::string bad : {std::string(), std::string("pbkdf2-sha256$1000$$"),
                          std::string("md5$1$AAAA$AAAA"),
                          std::string("pbkdf2-sha256$99999999999$AAAA$AAAA"),
                          std::string("pbkdf2-sha256$0$AAAA$AAAA"),
                          hash->substr(0, hash->size() - 2)}) {
    EXPECT_FALSE(VerifyPassword("pw", bad)) << bad;
  }
  std::string changed_cost = *hash;
  changed_cost.replace(changed_cost.find("$1000$"), 6, "$1001$");
  EXPECT_FALSE(VerifyPassword("pw", changed_cost));
}

}  // namespace
}  // namespace rampart::crypto
