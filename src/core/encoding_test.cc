#include "rampart/core/encoding.h"

#include <gtest/gtest.h>

namespace rampart {
namespace {

TEST(EncodingTest, HexRoundTrip) {
  EXPECT_EQ(HexEncode("\x01\xab"), "01ab");
  EXPECT_EQ(*HexDecode("01AB"), "\x01\xab");
  EXPECT_FALSE(HexDecode("0").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
}

TEST(EncodingTest, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, enc] : vectors) {
    EXPECT_EQ(Base64Encode(plain), enc);
    EXPECT_EQ(*Base64Decode(enc), plain);
  }
}

TEST(EncodingTest, Base64RejectsMalformed) {
  for (const char* bad : {"Zg=", "Z===", "Zm9v\n", "Zm=v", "Zh==", "Zm9=Zm9v", "****"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

TEST(EncodingTest, UriEncodeKeepsUnreservedOnly) {
  EXPECT_EQ(UriEncode("a b/c~-_.*"), "a%20b%2Fc~-_.%2A");
  EXPECT_EQ(UriEncode("a b/c", true), "a%20b/c");
}

TEST(EncodingTest, UriDecodeIsStrict) {
  EXPECT_EQ(*UriDecode("a%20b+c"), "a b+c");
  EXPECT_EQ(*UriDecode("a%20b+c", true), "a b c");
  EXPECT_FALSE(UriDecode("%").has_value());
  EXPECT_FALSE(UriDecode("%4").has_value());
  EXPECT_FALSE(UriDecode("%zz").has_value());
}

TEST(EncodingTest, ParsesFormParams) {
  auto p = ParseParams("Action=GetCallerIdentity&Version=2011-06-15&Empty&x=a%2Bb+c", true);
  ASSERT_TRUE(p.has_value());
  ASSERT_EQ(p->size(), 4u);
  EXPECT_EQ((*p)[0].second, "GetCallerIdentity");
  EXPECT_EQ((*p)[2].first, "Empty");
  EXPECT_EQ((*p)[3].second, "a+b c");
}

}  // namespace
}  // namespace rampart
