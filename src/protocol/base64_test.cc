// The wire base64 of blob members (base64.cc) must agree with core's
// Base64Encode / Base64Decode byte for byte, valid input or not.
#include <gtest/gtest.h>

#include <random>

#include "rampart/core/encoding.h"
#include "rampart/core/json.h"
#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {
namespace {

std::string Written(std::string_view bytes) {
  std::string out = "x";  // appends after what is there
  WriteBase64JsonString(bytes, out);
  return out;
}

TEST(WireBase64Test, EncodesAsCoreThenJsonWould) {
  std::mt19937 rng(7);
  for (size_t n = 0; n < 200; ++n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    std::string expected = "x";
    json::WriteString(Base64Encode(bytes), expected);
    EXPECT_EQ(Written(bytes), expected) << n;
  }
  EXPECT_EQ(Written(""), "x\"\"");
  EXPECT_EQ(Written("f"), "x\"Zg==\"");
  EXPECT_EQ(Written("fo"), "x\"Zm8=\"");
  EXPECT_EQ(Written("foo"), "x\"Zm9v\"");
}

// Core's verdict and result for text, and ours.
void ExpectSameDecode(std::string_view text) {
  std::optional<std::string> core = Base64Decode(text);
  std::string ours = "stale";
  bool ok = DecodeBase64(text, ours);
  ASSERT_EQ(ok, core.has_value()) << "'" << text << "'";
  if (ok) {
    EXPECT_EQ(ours, *core) << "'" << text << "'";
  }
}

TEST(WireBase64Test, DecodesValidTextAsCore) {
  std::mt19937 rng(11);
  for (size_t n = 0; n < 200; ++n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    ExpectSameDecode(Base64Encode(bytes));
  }
}

TEST(WireBase64Test, RejectsWhatCoreRejects) {
  for (std::string_view text :
       {"", "=", "==", "===", "====", "A", "AB", "ABC", "A===", "AB=", "AB==", "AB=C", "ABC=",
        "ABCD====", "AB==ABCD", "Zg==", "Zh==", "Zm8=", "Zm9=", "Zm9v", "Zm9v\n", " Zm9v",
        "Zm-v", "Zm_v", "Zm9v=", "Zm9vZg=A", "Zm9vZ===", "Zm9v====", "@@@@", "Zm\xff" "v"}) {
    ExpectSameDecode(text);
  }
  // Every byte in every position of a quad, alone and before a valid quad.
  for (int c = 0; c < 256; ++c) {
    for (int pos = 0; pos < 4; ++pos) {
      std::string quad = "QUJD";
      quad[pos] = static_cast<char>(c);
      ExpectSameDecode(quad);
      ExpectSameDecode(quad + "QUJD");
      ExpectSameDecode("QUJD" + quad);
    }
  }
}

}  // namespace
}  // namespace rampart::protocol::internal
