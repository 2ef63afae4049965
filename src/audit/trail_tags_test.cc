// The tag rules of CloudTrail trails (trail_tags.cc): what ReadTrailTags
// accepts, merges and refuses.
#include "audit/trail_tags.h"

#include <gtest/gtest.h>

#include <string>

#include "rampart/core/json.h"

namespace rampart::audit {
namespace {

json::Value Request(std::string_view tags_json) {
  auto doc = json::Parse(std::string(R"({"TagsList":)") + std::string(tags_json) + "}");
  EXPECT_TRUE(doc.ok());
  return std::move(doc).value();
}

std::string ErrorOf(std::string_view tags_json) {
  auto tags = internal::ReadTrailTags(Request(tags_json));
  return tags.ok() ? "" : tags.status().modeled();
}

TEST(TrailTagsTest, SortsKeysAndKeepsTheLastValueOfARepeatedKey) {
  auto tags = internal::ReadTrailTags(
      Request(R"([{"Key":"b","Value":"1"},{"Key":"a"},{"Key":"b","Value":"2"}])"));
  ASSERT_TRUE(tags.ok());
  internal::TrailTags want = {{"a", ""}, {"b", "2"}};
  EXPECT_EQ(*tags, want);
}

TEST(TrailTagsTest, NoTagsListMeansNoTags) {
  auto tags = internal::ReadTrailTags(json::Value::MakeObject());
  ASSERT_TRUE(tags.ok());
  EXPECT_TRUE(tags->empty());
}

TEST(TrailTagsTest, AcceptsCloudTrailsCharactersAndUnicode) {
  EXPECT_EQ(ErrorOf(R"([{"Key":"a b_c.d:e/f=g+h-i@j","Value":"x"}])"), "");
  EXPECT_EQ(ErrorOf(R"([{"Key":"\u00e9quipe","Value":"\u00e9t\u00e9"}])"), "");
}

TEST(TrailTagsTest, RefusesReservedEmptyAndOddKeys) {
  EXPECT_EQ(ErrorOf(R"([{"Key":"aws:x","Value":"v"}])"), "InvalidTagParameterException");
  EXPECT_EQ(ErrorOf(R"([{"Key":"","Value":"v"}])"), "InvalidTagParameterException");
  EXPECT_EQ(ErrorOf(R"([{"Key":"a<b","Value":"v"}])"), "InvalidTagParameterException");
  EXPECT_EQ(ErrorOf(R"([{"Key":"k","Value":"semi;colon"}])"), "InvalidTagParameterException");
}

// A TagsList of keys k0..k<n-1>, then the extra entries given.
std::string Keys(int n, std::string_view extra = "") {
  std::string list = "[";
  for (int i = 0; i < n; ++i)
    list += (i ? ",{\"Key\":\"k" : "{\"Key\":\"k") + std::to_string(i) + "\"}";
  return list + std::string(extra) + "]";
}

TEST(TrailTagsTest, FiftyDistinctKeysAtMost) {
  EXPECT_EQ(ErrorOf(Keys(50)), "");
  EXPECT_EQ(ErrorOf(Keys(51)), "TagsLimitExceededException");
  // A repeated key counts once.
  EXPECT_EQ(ErrorOf(Keys(50, R"(,{"Key":"k3","Value":"again"})")), "");
}

}  // namespace
}  // namespace rampart::audit
