// UUID text <-> bytes (the one converter request ids, event ids and the
// audit chunk format share) and the UUID generators' layout.
#include "rampart/core/ids.h"

#include <gtest/gtest.h>

#include <string>

namespace rampart::ids {
namespace {

constexpr uint8_t kBytes[kUuidBytes] = {0x01, 0x90, 0xc5, 0xa0, 0x12, 0x34, 0x7a, 0xbc,
                                        0x8d, 0xef, 0x00, 0xff, 0x10, 0x20, 0x30, 0x4f};
constexpr char kText[] = "0190c5a0-1234-7abc-8def-00ff1020304f";

TEST(IdsTest, FormatUuidWritesLowercaseDashedHex) {
  EXPECT_EQ(FormatUuid(kBytes), kText);
  std::string out = "previous contents that are longer than a uuid";
  FormatUuidInto(kBytes, out);
  EXPECT_EQ(out, kText);
}

TEST(IdsTest, ParseUuidReadsWhatFormatWrote) {
  uint8_t back[kUuidBytes] = {};
  ASSERT_TRUE(ParseUuid(kText, back));
  EXPECT_EQ(FormatUuid(back), kText);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(back[i], kBytes[i]) << i;
}

TEST(IdsTest, ParseUuidRefusesAnythingElse) {
  uint8_t out[kUuidBytes];
  const std::string good = kText;
  EXPECT_FALSE(ParseUuid("", out));
  EXPECT_FALSE(ParseUuid(good.substr(1), out));
  EXPECT_FALSE(ParseUuid(good + "0", out));
  EXPECT_FALSE(ParseUuid("0190C5A0-1234-7ABC-8DEF-00FF1020304F", out));  // uppercase
  for (size_t at : {size_t{8}, size_t{13}, size_t{18}, size_t{23}}) {
    std::string bad = good;
    bad[at] = '0';  // a digit where a dash belongs
    EXPECT_FALSE(ParseUuid(bad, out)) << at;
  }
  for (size_t at = 0; at < good.size(); ++at) {
    if (good[at] == '-') continue;
    for (char c : {'g', '-', ' ', ':', '/', '@', 'G', '\0'}) {
      std::string bad = good;
      bad[at] = c;
      EXPECT_FALSE(ParseUuid(bad, out)) << at << " " << c;
    }
  }
}

TEST(IdsTest, GeneratedUuidsAreVersion4) {
  for (int i = 0; i < 50; ++i) {
    std::string request = RequestId();
    auto secure = SecureUuid();
    ASSERT_TRUE(secure.ok());
    for (const std::string& id : {request, *secure}) {
      uint8_t b[kUuidBytes];
      ASSERT_TRUE(ParseUuid(id, b)) << id;
      EXPECT_EQ(b[6] >> 4, 4) << id;
      EXPECT_EQ(b[8] >> 6, 2) << id;
    }
  }
  EXPECT_NE(RequestId(), RequestId());
}

}  // namespace
}  // namespace rampart::ids
