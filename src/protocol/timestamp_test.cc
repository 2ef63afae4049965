#include <gtest/gtest.h>

#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {
namespace {

TEST(TimestampTest, ParsesIso8601) {
  EXPECT_EQ(ParseIso8601("1970-01-01T00:00:00Z")->as_int(), 0);
  EXPECT_EQ(ParseIso8601("2023-11-14T22:13:20Z")->as_int(), 1700000000);
  EXPECT_EQ(ParseIso8601("2023-11-15T00:13:20+02:00")->as_int(), 1700000000);
  EXPECT_DOUBLE_EQ(ParseIso8601("2023-11-14T22:13:20.5Z")->as_double(), 1700000000.5);
  EXPECT_EQ(ParseIso8601("2024-02-29T00:00:00Z")->as_int(), 1709164800);
  EXPECT_EQ(ParseIso8601("1969-12-31T23:59:59Z")->as_int(), -1);
}

TEST(TimestampTest, RejectsMalformedIso8601) {
  for (std::string_view bad :
       {"", "2023-11-14", "2023-11-14T22:13:20", "2023-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
        "2023-11-14T24:00:00Z", "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20Zjunk",
        "2023-11-14T22:13:20.1234567890Z", "+2023-11-14T22:13:20Z", "2023-11-14T22:13:60Z"}) {
    EXPECT_FALSE(ParseIso8601(bad).has_value()) << bad;
  }
}

TEST(TimestampTest, FormatsIso8601) {
  EXPECT_EQ(FormatIso8601(json::Value(int64_t{1700000000})), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatIso8601(json::Value(1700000000.25)), "2023-11-14T22:13:20.250Z");
  EXPECT_EQ(FormatIso8601(json::Value(int64_t{-1})), "1969-12-31T23:59:59Z");
  EXPECT_FALSE(FormatIso8601(json::Value(1e300)).empty());  // clamped, no UB
  EXPECT_FALSE(FormatIso8601(json::Value(-1e300)).empty());
}

TEST(TimestampTest, HttpDates) {
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")->as_int(), 784111777);
  EXPECT_EQ(FormatHttpDate(json::Value(int64_t{784111777})), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_FALSE(ParseHttpDate("Sun, 06 Foo 1994 08:49:37 GMT").has_value());
  EXPECT_FALSE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT").has_value());
}

TEST(PatternTest, TranslatesJavaIsms) {
  EXPECT_EQ(TranslatePattern("[\\u0009\\u0020-\\u00FF]+"), "[\\x{0009}\\x{0020}-\\x{00FF}]+");
  EXPECT_EQ(TranslatePattern("\\p{Alnum}+"), "[[:alnum:]]+");
  EXPECT_EQ(TranslatePattern("[\\p{Punct}a]"), "[[:punct:]a]");
  EXPECT_EQ(TranslatePattern("\\p{L}\\\\"), "\\p{L}\\\\");
  EXPECT_EQ(TranslatePattern("abc\\"), "abc\\");
}

}  // namespace
}  // namespace rampart::protocol::internal
