#include "rampart/crypto/totp.h"

#include <gtest/gtest.h>

#include <chrono>

namespace rampart::crypto {
namespace {

// RFC 4226 appendix D: the secret "12345678901234567890" and its first
// ten HOTP values.
TEST(Hotp, MatchesRfc4226Vectors) {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (uint64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(HotpCode("12345678901234567890", i), expected[i]) << "counter " << i;
  }
}

// RFC 6238 appendix B (SHA-1 rows), truncated to six digits.
TEST(Totp, MatchesRfc6238Vectors) {
  struct Case {
    int64_t time;
    const char* code;
  };
  for (const Case& c : {Case{59, "287082"}, Case{1111111109, "081804"},
                        Case{1234567890, "005924"}, Case{2000000000, "279037"}}) {
    TimePoint t{std::chrono::seconds(c.time)};
    EXPECT_EQ(HotpCode("12345678901234567890", TotpStep(t)), c.code) << c.time;
  }
}

TEST(Base32, EncodesRfc4648Vectors) {
  EXPECT_EQ(Base32Encode(""), "");
  EXPECT_EQ(Base32Encode("f"), "MY======");
  EXPECT_EQ(Base32Encode("fo"), "MZXQ====");
  EXPECT_EQ(Base32Encode("foo"), "MZXW6===");
  EXPECT_EQ(Base32Encode("foob"), "MZXW6YQ=");
  EXPECT_EQ(Base32Encode("fooba"), "MZXW6YTB");
  EXPECT_EQ(Base32Encode("foobar"), "MZXW6YTBOI======");
}

}  // namespace
}  // namespace rampart::crypto
