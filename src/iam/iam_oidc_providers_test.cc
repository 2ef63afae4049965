// The validation of OpenID Connect provider inputs (iam_oidc_providers.cc).
#include <gtest/gtest.h>

#include "iam/iam_internal.h"

namespace rampart::iam::internal {
namespace {

TEST(OidcProviderUrl, StripsTheSchemeAndTrailingSlashes) {
  EXPECT_EQ(OidcProviderUrl("https://token.example.com").value(), "token.example.com");
  EXPECT_EQ(OidcProviderUrl("HTTPS://token.example.com/tenant/").value(),
            "token.example.com/tenant");
  EXPECT_EQ(OidcProviderUrl("https://idp.example.com:8443/a/b").value(),
            "idp.example.com:8443/a/b");
}

TEST(OidcProviderUrl, RefusesWhatIsNotAnHttpsIssuer) {
  for (std::string_view bad :
       {"http://token.example.com", "token.example.com", "https://", "https:///path",
        "https://a.example.com/?x=1", "https://a.example.com/#frag", "https://u@a.example.com",
        "https://a.example.com/sp ace", "https://a.example.com/\x7f", "ftp://x", ""}) {
    auto r = OidcProviderUrl(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().modeled(), "InvalidInputException") << bad;
  }
}

TEST(OidcThumbprints, ExactlyFortyHexDigitsAtMostFive) {
  const std::string good(40, 'a');
  EXPECT_TRUE(CheckThumbprints({}).ok());
  EXPECT_TRUE(CheckThumbprints({good, std::string(40, 'F'), std::string(40, '0')}).ok());
  EXPECT_EQ(CheckThumbprints({std::string(39, 'a')}).modeled(), "InvalidInputException");
  EXPECT_EQ(CheckThumbprints({std::string(41, 'a')}).modeled(), "InvalidInputException");
  EXPECT_EQ(CheckThumbprints({std::string(40, 'g')}).modeled(), "InvalidInputException");
  EXPECT_TRUE(CheckThumbprints(std::vector<std::string>(5, good)).ok());
  EXPECT_EQ(CheckThumbprints(std::vector<std::string>(6, good)).modeled(),
            "LimitExceededException");
}

TEST(OidcClientIds, LengthAndCount) {
  EXPECT_TRUE(CheckClientIds({"sts.amazonaws.com", std::string(255, 'c')}).ok());
  EXPECT_EQ(CheckClientIds({""}).modeled(), "InvalidInputException");
  EXPECT_EQ(CheckClientIds({std::string(256, 'c')}).modeled(), "InvalidInputException");
  EXPECT_TRUE(CheckClientIds(std::vector<std::string>(100, "id")).ok());
  EXPECT_EQ(CheckClientIds(std::vector<std::string>(101, "id")).modeled(),
            "LimitExceededException");
}

}  // namespace
}  // namespace rampart::iam::internal
