// The shared tag helpers: condition keys of request and resource tags, and
// the wire shape.
#include "rampart/server/tags.h"

#include <gtest/gtest.h>

namespace rampart::server {
namespace {

TEST(TagsTest, NoRequestTagsGiveNoKeysAtAll) { EXPECT_TRUE(RequestTagKeys({}).empty()); }

TEST(TagsTest, RequestTagsGiveOneKeyEachAndTheirKeyList) {
  auto keys = RequestTagKeys({{"team", "blue"}, {"env", ""}});
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].name, "aws:RequestTag/team");
  EXPECT_EQ(keys[0].values, std::vector<std::string>{"blue"});
  EXPECT_EQ(keys[1].name, "aws:RequestTag/env");
  EXPECT_EQ(keys[1].values, std::vector<std::string>{""});
  EXPECT_EQ(keys[2].name, "aws:TagKeys");
  EXPECT_EQ(keys[2].values, (std::vector<std::string>{"team", "env"}));
}

TEST(TagsTest, TagKeysAloneOrNothing) {
  EXPECT_TRUE(TagKeysKey({}).empty());
  auto keys = TagKeysKey({"a", "b"});
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].name, "aws:TagKeys");
  EXPECT_EQ(keys[0].values, (std::vector<std::string>{"a", "b"}));
}

TEST(TagsTest, ResourceTagsAreAppended) {
  std::vector<ConditionKey> keys = {{"kms:KeySpec", {"SYMMETRIC_DEFAULT"}}};
  AddResourceTagKeys({{"owner", "sec"}}, keys);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[1].name, "aws:ResourceTag/owner");
  EXPECT_EQ(keys[1].values, std::vector<std::string>{"sec"});
}

TEST(TagsTest, WireShapeKeepsOrder) {
  EXPECT_EQ(json::Write(TagsJson({{"b", "2"}, {"a", "1"}})),
            R"([{"Key":"b","Value":"2"},{"Key":"a","Value":"1"}])");
  EXPECT_EQ(json::Write(TagsJson({})), "[]");
  EXPECT_EQ(json::Write(TagsJson({{"a", ""}, {"b", "2"}}, /*omit_empty_values=*/true)),
            R"([{"Key":"a"},{"Key":"b","Value":"2"}])");
}

}  // namespace
}  // namespace rampart::server
