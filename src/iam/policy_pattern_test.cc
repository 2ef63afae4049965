#include <gtest/gtest.h>

#include "rampart/iam/policy_context.h"
#include "rampart/iam/policy_pattern.h"

namespace rampart::iam {
namespace {

using R = Pattern::Result;

Pattern Make(std::string_view text, bool variables = true, bool wildcards = true) {
  std::string error;
  auto p = Pattern::Compile(text, {.wildcards = wildcards, .variables = variables}, &error);
  EXPECT_TRUE(p.has_value()) << error;
  return p ? std::move(*p) : Pattern();
}

TEST(Pattern, Glob) {
  struct Case {
    std::string_view pattern, subject;
    bool match;
  } cases[] = {
      {"*", "", true},          {"*", "anything", true},    {"a*", "a", true},
      {"a*c", "abbbc", true},   {"a*c", "abbbd", false},    {"a?c", "abc", true},
      {"a?c", "ac", false},     {"*a*b*", "xxaxxbxx", true}, {"*a*b*", "xxbxxaxx", false},
      {"ab", "ab", true},       {"ab", "abc", false},        {"", "", true},
      {"", "a", false},         {"**", "x", true},           {"a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
      {"?*", "", false},        {"*?", "x", true},           {"home/*/x", "home/a/b/x", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Make(c.pattern).Match(c.subject, nullptr) == R::kMatch, c.match)
        << c.pattern << " ~ " << c.subject;
  }
}

TEST(Pattern, Variables) {
  ContextKeys keys;
  keys.Set("aws:username", "Bob");
  keys.Set("aws:PrincipalTag/team", "blue");
  keys.Set("multi", std::vector<std::string>{"a", "b"});
  EXPECT_EQ(Make("home/${aws:username}/*").Match("home/Bob/x", &keys), R::kMatch);
  EXPECT_EQ(Make("home/${aws:username}/*").Match("home/Alice/x", &keys), R::kNoMatch);
  EXPECT_EQ(Make("${AWS:UserName}").Match("Bob", &keys), R::kMatch);  // key names fold case
  EXPECT_EQ(Make("${aws:PrincipalTag/team}-*").Match("blue-1", &keys), R::kMatch);
  EXPECT_EQ(Make("${aws:userid}").Match("x", &keys), R::kUnresolved);
  EXPECT_EQ(Make("${aws:userid, 'anonymous'}").Match("anonymous", &keys), R::kMatch);
  EXPECT_EQ(Make("${ aws:userid , 'it''s' }").Match("it's", &keys), R::kMatch);
  EXPECT_EQ(Make("${multi}").Match("a", &keys), R::kUnresolved);  // multi-valued: no substitution
  EXPECT_EQ(Make("${multi, 'd'}").Match("d", &keys), R::kMatch);
  // Escapes are literal, even where * would be a wildcard.
  EXPECT_EQ(Make("a${*}b").Match("a*b", &keys), R::kMatch);
  EXPECT_EQ(Make("a${*}b").Match("axb", &keys), R::kNoMatch);
  EXPECT_EQ(Make("a${?}${$}").Match("a?$", &keys), R::kMatch);
  // A substituted value is literal text.
  keys.Set("star", "*");
  EXPECT_EQ(Make("${star}").Match("x", &keys), R::kNoMatch);
  // Variables off (2008-10-17): literal text.
  EXPECT_EQ(Make("${aws:username}", false).Match("${aws:username}", &keys), R::kMatch);
}

TEST(Pattern, EqualsIgnoresWildcards) {
  ContextKeys keys;
  keys.Set("aws:username", "Bob");
  Pattern p = Make("a*${aws:username}", true, false);
  EXPECT_EQ(p.Equals("a*Bob", &keys, false), R::kMatch);
  EXPECT_EQ(p.Equals("axBob", &keys, false), R::kNoMatch);
  EXPECT_EQ(p.Equals("A*BOB", &keys, true), R::kMatch);
  EXPECT_EQ(p.Equals("A*BOB", &keys, false), R::kNoMatch);
  EXPECT_EQ(p.Equals("a*Bo", &keys, false), R::kNoMatch);
}

TEST(Pattern, MalformedVariables) {
  std::string error;
  for (std::string_view bad : {"${", "${}", "${ }", "a${b", "${a, x}", "${a, 'x}", "${a b}",
                               "${a, 'x''}"}) {
    EXPECT_FALSE(Pattern::Compile(bad, {.variables = true}, &error).has_value()) << bad;
  }
  std::string many;
  for (int i = 0; i < 17; ++i) many += "${k}";
  EXPECT_FALSE(Pattern::Compile(many, {.variables = true}, &error).has_value());
}

TEST(ArnPattern, PartsAreSeparate) {
  std::string error;
  auto p = ArnPattern::Compile("arn:aws:iam::*:user/*", false, &error);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(p->Match("arn:aws:iam::123456789012:user/Bob", nullptr), R::kMatch);
  EXPECT_EQ(p->Match("arn:aws:iam::123456789012:role/Bob", nullptr), R::kNoMatch);
  // A * in the account part does not swallow the colons after it.
  auto q = ArnPattern::Compile("arn:aws:s3:::*", false, &error);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->Match("arn:aws:s3:::bucket/key:with:colons", nullptr), R::kMatch);
  EXPECT_EQ(q->Match("arn:aws:s3:us-east-1::bucket", nullptr), R::kNoMatch);
  auto r = ArnPattern::Compile("arn:aws:*", false, &error);
  EXPECT_FALSE(r.has_value());
  auto all = ArnPattern::Compile("*", false, &error);
  EXPECT_EQ(all->Match("not an arn", nullptr), R::kMatch);
  auto v = ArnPattern::Compile("arn:aws:s3:::home/${aws:userid}/*", true, &error);
  ASSERT_TRUE(v) << error;
  ContextKeys keys;
  keys.Set("aws:userid", "AROAEXAMPLE:session");
  EXPECT_EQ(v->Match("arn:aws:s3:::home/AROAEXAMPLE:session/f", &keys), R::kMatch);
  EXPECT_EQ(v->Match("arn:aws:s3:::home/other/f", &keys), R::kNoMatch);
  EXPECT_EQ(v->Match("arn:aws:s3:::home/other/f", nullptr), R::kUnresolved);
  EXPECT_EQ(p->Match("arn:aws:iam", nullptr), R::kNoMatch);
  EXPECT_FALSE(ArnPattern::Compile("bucket/*", false, &error).has_value());
  EXPECT_EQ(error, "Resource bucket/* must be in ARN format or \"*\".");
}

TEST(ContextKeys, CaseInsensitiveSortedLookup) {
  ContextKeys keys;
  keys.Set("aws:SourceIp", "1.2.3.4");
  keys.Add("aws:TagKeys", "a");
  keys.Add("AWS:TAGKEYS", "b");
  ASSERT_NE(keys.Find("aws:sourceip"), nullptr);
  EXPECT_EQ(keys.FindAnyCase("AWS:SourceIP")->at(0), "1.2.3.4");
  EXPECT_EQ(keys.Find("aws:tagkeys")->size(), 2u);
  EXPECT_EQ(keys.Find("aws:SourceIp"), nullptr);  // Find takes lower-case names
  keys.Erase("Aws:SourceIp");
  EXPECT_EQ(keys.Find("aws:sourceip"), nullptr);
}

// Keys set before their name is interned (a policy compiled after the
// request was built) must still be found, replaced, appended to and erased
// through the interned id, without duplicate entries.
TEST(ContextKeys, InterningAfterSetKeepsOneEntry) {
  ContextKeys keys;
  keys.Set("test:Late-Interned-Key", "v1");
  keys.Set("test:early-key-b", "b");
  keys.Set("test:early-key-a", "a");
  EXPECT_EQ(KeyNameId("test:late-interned-key"), kNoKeyId);  // requests never intern
  const uint32_t id = InternKeyName("test:late-interned-key");
  ASSERT_NE(id, kNoKeyId);
  EXPECT_EQ(InternKeyName("test:late-interned-key"), id);
  EXPECT_EQ(KeyNameId("test:late-interned-key"), id);
  ASSERT_NE(keys.Find(id, "test:late-interned-key"), nullptr);
  keys.Add("TEST:LATE-INTERNED-KEY", "v2");
  EXPECT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys.Find(id, "test:late-interned-key")->size(), 2u);
  keys.Set("test:late-interned-key", "v3");
  EXPECT_EQ(keys.Find("test:late-interned-key")->at(0), "v3");
  EXPECT_EQ(keys.Find("test:early-key-a")->at(0), "a");
  EXPECT_EQ(keys.Find(kNoKeyId, "test:early-key-b")->at(0), "b");
  keys.Erase("test:late-interned-key");
  EXPECT_EQ(keys.Find(id, "test:late-interned-key"), nullptr);
  EXPECT_EQ(keys.size(), 2u);
  // Set after interning: the entry carries the id.
  keys.Set("test:late-interned-key", "v4");
  EXPECT_EQ(keys.Find(id, "test:late-interned-key")->at(0), "v4");
  EXPECT_EQ(keys.Find(InternKeyName("test:never-set"), "test:never-set"), nullptr);
}

// Borrowed values are found in place, never changed through the keys
// (Add copies them first), and replaced by a later Set. A prepared key
// whose name was interned after it was prepared is still one entry.
TEST(ContextKeys, BorrowedAndPreparedValues) {
  const std::vector<std::string> tags = {"a", "b"};
  PreparedKey late = PrepareKey("Test:Prepared-Then-Interned", {"p"});
  EXPECT_EQ(late.lower_name, "test:prepared-then-interned");
  EXPECT_EQ(late.id, kNoKeyId);  // input names are looked up, not interned
  PreparedKey fixed = PrepareKey("Test:Fixed-Prepared-Name", {"f"}, /*fixed_name=*/true);
  EXPECT_NE(fixed.id, kNoKeyId);
  const uint32_t late_id = InternKeyName("test:prepared-then-interned");
  ContextKeys keys;
  keys.Set("test:prepared-then-interned", "set");
  keys.SetBorrowed("AWS:TagKeys", tags);
  keys.SetBorrowed(late);
  keys.SetBorrowed(fixed);
  keys.Set("test:borrowed-unindexed-z", "z");
  EXPECT_EQ(keys.size(), 4u);
  EXPECT_EQ(keys.Find("aws:tagkeys"), &tags);
  EXPECT_EQ(keys.Find(late_id, "test:prepared-then-interned"), &late.values);
  EXPECT_EQ(keys.Find(fixed.id, "test:fixed-prepared-name")->at(0), "f");
  EXPECT_EQ(keys.Find("test:borrowed-unindexed-z")->at(0), "z");
  keys.Add("aws:tagkeys", "c");
  EXPECT_EQ(keys.Find("aws:tagkeys")->size(), 3u);
  EXPECT_EQ(tags.size(), 2u);
  ContextKeys copy = keys;
  keys.Set("test:fixed-prepared-name", "replaced");
  EXPECT_EQ(keys.Find(fixed.id, "test:fixed-prepared-name")->at(0), "replaced");
  EXPECT_EQ(fixed.values.at(0), "f");
  EXPECT_EQ(copy.Find(fixed.id, "test:fixed-prepared-name"), &fixed.values);
  EXPECT_EQ(copy.Find("test:borrowed-unindexed-z")->at(0), "z");
}

TEST(ContextKeys, MovedFromIsEmptyAndUsable) {
  ContextKeys keys;
  keys.Set("test:never-interned-moved", "v");
  keys.Set("aws:sourceip", "1.2.3.4");
  ContextKeys moved(std::move(keys));
  EXPECT_EQ(moved.size(), 2u);
  EXPECT_EQ(keys.size(), 0u);  // NOLINT(bugprone-use-after-move): documented state
  keys.Set("test:never-interned-moved", "w");
  EXPECT_EQ(keys.Find("test:never-interned-moved")->at(0), "w");
  ContextKeys assigned;
  assigned = std::move(moved);
  EXPECT_EQ(moved.size(), 0u);  // NOLINT(bugprone-use-after-move)
  moved.Add("test:never-interned-moved", "x");
  EXPECT_EQ(moved.Find("test:never-interned-moved")->size(), 1u);
  EXPECT_EQ(assigned.Find("test:never-interned-moved")->at(0), "v");
}

TEST(ContextKeys, OverlongNamesAreNotInternedButWork) {
  std::string name = "test:" + std::string(kMaxInternedKeyLength, 'x');
  EXPECT_EQ(InternKeyName(name), kNoKeyId);
  ContextKeys keys;
  keys.Set(name, "v");
  keys.Set("aws:sourceip", "1.2.3.4");
  ASSERT_NE(keys.Find(kNoKeyId, name), nullptr);
  EXPECT_EQ(keys.Find(name)->at(0), "v");
  EXPECT_EQ(keys.Find(InternKeyName("aws:sourceip"), "aws:sourceip")->at(0), "1.2.3.4");
}

TEST(AuthzRequest, PlatformKeys) {
  PrincipalInfo p;
  p.type = PrincipalType::kAssumedRole;
  p.arn = "arn:aws:sts::111122223333:assumed-role/Admin/alice";
  p.role_arn = "arn:aws:iam::111122223333:role/Admin";
  p.account = "111122223333";
  p.id = "AROAEXAMPLE:alice";
  p.tags = {{"team", "blue"}};
  AuthzRequest r(p, "KMS:Encrypt", "arn:aws:kms:us-east-1:444455556666:key/k");
  Environment env;
  env.source_ip = "10.0.0.1";
  env.time = TimePoint(std::chrono::seconds(1700000000));
  r.AddPlatformKeys(env);
  EXPECT_EQ(r.action_lower(), "kms:encrypt");
  EXPECT_EQ(r.resource_account(), "444455556666");
  EXPECT_TRUE(r.cross_account());
  EXPECT_EQ(r.keys().Find("aws:principalarn")->at(0), p.role_arn);
  EXPECT_EQ(r.keys().Find("aws:principaltag/team")->at(0), "blue");
  EXPECT_EQ(r.keys().Find("aws:principaltype")->at(0), "AssumedRole");
  EXPECT_EQ(r.keys().Find("aws:currenttime")->at(0), "2023-11-14T22:13:20Z");
  EXPECT_EQ(r.keys().Find("aws:epochtime")->at(0), "1700000000");
  EXPECT_EQ(r.keys().Find("aws:username"), nullptr);  // roles have no user name
  AuthzRequest copy = r;  // the split parts must point into the copy
  r.set_resource("x");
  EXPECT_EQ(copy.resource_parts()[2], "kms");
  EXPECT_FALSE(r.resource_is_arn());
}

// The time keys are formatted once per second and thread: requests in
// successive seconds (and back again) each see their own time.
TEST(AuthzRequest, TimeKeysFollowEachRequest) {
  for (int64_t t : {1700000000, 1700000001, 1700000001, 86399, 1700000000}) {
    AuthzRequest r(PrincipalInfo{}, "s3:GetObject", "*");
    Environment env;
    env.time = TimePoint(std::chrono::seconds(t));
    r.AddPlatformKeys(env);
    EXPECT_EQ(r.keys().Find("aws:epochtime")->at(0), std::to_string(t));
    const std::string& iso = r.keys().Find("aws:currenttime")->at(0);
    EXPECT_EQ(iso, t == 86399 ? "1970-01-01T23:59:59Z"
                   : t == 1700000000 ? "2023-11-14T22:13:20Z"
                                     : "2023-11-14T22:13:21Z");
  }
}

// SetLower (the platform's path) and Set (any name, any case) reach the
// same entry; interned entries are found by id and by name.
TEST(ContextKeys, SetLowerAndSetShareEntries) {
  ContextKeys keys;
  const uint32_t id = InternKeyName("test:fast-path-key");
  keys.SetLower(id, "test:fast-path-key", "a");
  keys.Set("TEST:Fast-Path-Key", "b");
  EXPECT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys.Find("test:fast-path-key")->at(0), "b");
  EXPECT_EQ(keys.Find(id, "test:fast-path-key")->at(0), "b");
  EXPECT_EQ(keys.FindAnyCase("Test:FAST-path-key")->at(0), "b");
  keys.SetLower(kNoKeyId, "test:never-interned-fast", "c");
  EXPECT_EQ(keys.Find("test:never-interned-fast")->at(0), "c");
  keys.Add("test:never-interned-fast", "d");
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys.Find(kNoKeyId, "test:never-interned-fast")->size(), 2u);
  keys.Erase("TEST:FAST-PATH-KEY");
  EXPECT_EQ(keys.Find(id, "test:fast-path-key"), nullptr);
  EXPECT_EQ(keys.size(), 1u);
}

}  // namespace
}  // namespace rampart::iam
