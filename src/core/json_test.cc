#include "rampart/core/json.h"

#include <gtest/gtest.h>

namespace rampart::json {
namespace {

TEST(JsonTest, ParsesAndWritesRoundTrip) {
  auto v = Parse(R"({"a":1,"b":[true,false,null],"c":"x\"y","d":-2.5,"e":{}})");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->find("a")->as_int(), 1);
  EXPECT_EQ(v->find("b")->as_array().size(), 3u);
  EXPECT_EQ(v->get_string("c"), "x\"y");
  EXPECT_DOUBLE_EQ(v->find("d")->as_double(), -2.5);
  EXPECT_EQ(Write(*v), R"({"a":1,"b":[true,false,null],"c":"x\"y","d":-2.5,"e":{}})");
}

TEST(JsonTest, DecodesEscapesAndSurrogates) {
  auto v = Parse(R"("\u00e9\ud83d\ude00\n")");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->as_string(), "\xc3\xa9\xf0\x9f\x98\x80\n");
}

TEST(JsonTest, RejectsMalformedInput) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\ud800\"",
                          "\"\\udc00\"", "\"a\x01\"", "tru", "{} x", "1e999", "\"\\x\""}) {
    auto v = Parse(bad);
    EXPECT_FALSE(v.ok()) << bad;
    if (!v.ok()) {
      EXPECT_EQ(v.status().code(), ErrorCode::kSerialization);
    }
  }
}

TEST(JsonTest, EnforcesDepthLimit) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_FALSE(Parse(deep).ok());
  ParseLimits lim;
  lim.max_depth = 200;
  EXPECT_TRUE(Parse(deep, lim).ok());
}

TEST(JsonTest, LargeIntegersBecomeDoubles) {
  auto v = Parse("123456789012345678901234567890");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->is_double());
  auto i = Parse("-9223372036854775808");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->as_int(), INT64_MIN);
}

TEST(JsonTest, SetReplacesAndPushAppends) {
  Value o;
  o.set("k", 1);
  o.set("k", "two");
  EXPECT_EQ(o.as_object().size(), 1u);
  EXPECT_EQ(o.get_string("k"), "two");
  Value a;
  a.push(1);
  a.push(Value::MakeObject());
  EXPECT_EQ(Write(a), "[1,{}]");
}

TEST(JsonTest, EscapesControlCharactersOnWrite) {
  EXPECT_EQ(Write(Value(std::string("a\x01\tb", 4))), "\"a\\u0001\\tb\"");
}

}  // namespace
}  // namespace rampart::json
