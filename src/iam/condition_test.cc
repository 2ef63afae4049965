// Condition operators, one family per test suite, through the whole
// compile + evaluate path.
#include <gtest/gtest.h>

#include "rampart/iam/policy.h"

namespace rampart::iam {
namespace {

struct Keys {
  std::vector<std::pair<std::string, std::vector<std::string>>> entries;
};

// Whether an Allow statement with the given Condition block applies.
bool Holds(std::string_view condition, const Keys& keys = {},
           std::string_view version = "2012-10-17") {
  std::string text = R"({"Version": ")" + std::string(version) +
                     R"(", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",
                     "Condition": )" + std::string(condition) + "}}";
  auto p = CompilePolicy(text, PolicyKind::kIdentity, "t");
  EXPECT_TRUE(p.ok()) << p.status().message() << " in " << condition;
  if (!p.ok()) return false;
  AuthzRequest r({}, "s3:GetObject", "*");
  for (const auto& [k, v] : keys.entries) r.keys().Set(k, v);
  return EvaluatePolicy(**p, r).allow;
}

std::string CompileError(std::string_view condition) {
  std::string text = R"({"Version": "2012-10-17", "Statement": {"Effect": "Allow",
      "Action": "*", "Resource": "*", "Condition": )" + std::string(condition) + "}}";
  auto p = CompilePolicy(text, PolicyKind::kIdentity, "t");
  return p.ok() ? "" : p.status().message();
}

Keys K(std::string name, std::vector<std::string> values) { return Keys{{{name, values}}}; }

TEST(ConditionTable, UnknownOperatorsRejectedAtLoad) {
  EXPECT_EQ(CompileError(R"({"StringEqualz": {"a": "b"}})"), "Invalid Condition type : StringEqualz");
  EXPECT_NE(CompileError(R"({"stringequals": {"a": "b"}})"), "");
  EXPECT_NE(CompileError(R"({"ForSomeValues:StringEquals": {"a": "b"}})"), "");
  EXPECT_NE(CompileError(R"({"NullIfExists": {"a": "true"}})"), "");
  EXPECT_NE(CompileError(R"({"IfExists": {"a": "true"}})"), "");
  EXPECT_EQ(CompileError(R"({"ForAllValues:StringLikeIfExists": {"a": "b"}})"), "");
  EXPECT_EQ(AllOperators().size(), 27u);
  for (const OperatorInfo& op : AllOperators()) {
    EXPECT_EQ(FindOperator(op.name), &op);
  }
}

TEST(ConditionString, EqualsFamily) {
  EXPECT_TRUE(Holds(R"({"StringEquals": {"k": "Blue"}})", K("k", {"Blue"})));
  EXPECT_FALSE(Holds(R"({"StringEquals": {"k": "Blue"}})", K("k", {"blue"})));
  EXPECT_TRUE(Holds(R"({"StringEquals": {"k": ["red", "Blue"]}})", K("k", {"Blue"})));  // OR
  EXPECT_FALSE(Holds(R"({"StringEquals": {"k": "Blue"}})"));                            // absent
  EXPECT_TRUE(Holds(R"({"StringNotEquals": {"k": "Blue"}})"));                          // absent
  EXPECT_TRUE(Holds(R"({"StringNotEquals": {"k": "Blue"}})", K("k", {"red"})));
  EXPECT_FALSE(Holds(R"({"StringNotEquals": {"k": ["red", "Blue"]}})", K("k", {"red"})));
  EXPECT_TRUE(Holds(R"({"StringEqualsIgnoreCase": {"k": "BLUE"}})", K("k", {"blue"})));
  EXPECT_FALSE(Holds(R"({"StringNotEqualsIgnoreCase": {"k": "BLUE"}})", K("k", {"blue"})));
  EXPECT_TRUE(Holds(R"({"StringNotEqualsIgnoreCase": {"k": "BLUE"}})"));
  // Wildcards are text for the Equals operators.
  EXPECT_FALSE(Holds(R"({"StringEquals": {"k": "b*"}})", K("k", {"blue"})));
  EXPECT_TRUE(Holds(R"({"StringEquals": {"k": "b*"}})", K("k", {"b*"})));
  // Key names are case-insensitive.
  EXPECT_TRUE(Holds(R"({"StringEquals": {"AWS:SourceVPC": "v"}})", K("aws:sourcevpc", {"v"})));
  // Numbers and booleans in the JSON are compared as their text.
  EXPECT_TRUE(Holds(R"({"StringEquals": {"k": 10}})", K("k", {"10"})));
}

TEST(ConditionString, LikeFamily) {
  EXPECT_TRUE(Holds(R"({"StringLike": {"s3:prefix": ["", "home/", "home/*"]}})",
                    K("s3:prefix", {"home/alice/x"})));
  EXPECT_FALSE(Holds(R"({"StringLike": {"k": "a?c"}})", K("k", {"abbc"})));
  // Example Corporation: tag values must not look like *-* or */*.
  std::string_view no_sep = R"({"StringNotLike": {"aws:RequestTag/access-project": ["*-*", "*/*"]}})";
  EXPECT_TRUE(Holds(no_sep, K("aws:RequestTag/access-project", {"peg"})));
  EXPECT_FALSE(Holds(no_sep, K("aws:RequestTag/access-project", {"peg-x"})));
  EXPECT_FALSE(Holds(no_sep, K("aws:RequestTag/access-project", {"a/b"})));
  EXPECT_TRUE(Holds(no_sep));  // absent: a negated operator matches
}

TEST(ConditionString, Variables) {
  Keys k{{{"aws:RequestTag/access-project", {"peg"}}, {"aws:PrincipalTag/access-project", {"peg"}}}};
  std::string_view same = R"({"StringEquals": {"aws:RequestTag/access-project":
                              "${aws:PrincipalTag/access-project}"}})";
  EXPECT_TRUE(Holds(same, k));
  k.entries[0].second = {"other"};
  EXPECT_FALSE(Holds(same, k));
  // Unresolvable variable: the entry is false, whatever the operator.
  Keys only_request = K("aws:RequestTag/access-project", {"peg"});
  EXPECT_FALSE(Holds(same, only_request));
  EXPECT_FALSE(Holds(R"({"StringNotEquals": {"aws:RequestTag/access-project":
                         "${aws:PrincipalTag/access-project}"}})", only_request));
  EXPECT_FALSE(Holds(R"({"StringNotEquals": {"k": "${aws:username}"}})"));
  // One resolvable value is enough.
  EXPECT_TRUE(Holds(R"({"StringEquals": {"k": ["${aws:username}", "x"]}})", K("k", {"x"})));
  // Defaults.
  EXPECT_TRUE(Holds(R"({"StringEquals": {"k": "${aws:username, 'anonymous'}"}})",
                    K("k", {"anonymous"})));
  // 2008-10-17: variables are literal text.
  EXPECT_TRUE(Holds(R"({"StringEquals": {"k": "${aws:username}"}})", K("k", {"${aws:username}"}),
                    "2008-10-17"));
}

TEST(ConditionNumeric, AllSix) {
  Keys k = K("n", {"10"});
  EXPECT_TRUE(Holds(R"({"NumericEquals": {"n": "10"}})", k));
  EXPECT_TRUE(Holds(R"({"NumericEquals": {"n": "10.0"}})", k));
  EXPECT_FALSE(Holds(R"({"NumericNotEquals": {"n": "10"}})", k));
  EXPECT_TRUE(Holds(R"({"NumericNotEquals": {"n": "11"}})", k));
  EXPECT_TRUE(Holds(R"({"NumericLessThan": {"n": 11}})", k));
  EXPECT_FALSE(Holds(R"({"NumericLessThan": {"n": 10}})", k));
  EXPECT_TRUE(Holds(R"({"NumericLessThanEquals": {"n": 10}})", k));
  EXPECT_TRUE(Holds(R"({"NumericGreaterThan": {"n": -1.5}})", k));
  EXPECT_FALSE(Holds(R"({"NumericGreaterThan": {"n": 10}})", k));
  EXPECT_TRUE(Holds(R"({"NumericGreaterThanEquals": {"n": "1e1"}})", k));
  EXPECT_FALSE(Holds(R"({"NumericLessThan": {"n": 11}})", K("n", {"abc"})));
  EXPECT_FALSE(Holds(R"({"NumericLessThan": {"n": 11}})"));
  EXPECT_TRUE(Holds(R"({"NumericNotEquals": {"n": 11}})"));
  EXPECT_NE(CompileError(R"({"NumericEquals": {"n": "ten"}})"), "");
  EXPECT_NE(CompileError(R"({"NumericEquals": {"n": "${aws:username}"}})"), "");
  EXPECT_NE(CompileError(R"({"NumericEquals": {"n": "nan"}})"), "");
  double d = 0;
  EXPECT_FALSE(ParseNumber("1e999", d));
  EXPECT_FALSE(ParseNumber(" 1", d));
}

TEST(ConditionDate, FormatsAndComparisons) {
  int64_t ms = 0;
  ASSERT_TRUE(ParseDate("2020-01-01T00:00:00Z", ms));
  EXPECT_EQ(ms, 1577836800000);
  ASSERT_TRUE(ParseDate("2020-01-01", ms));
  EXPECT_EQ(ms, 1577836800000);
  ASSERT_TRUE(ParseDate("2020-01-01T02:00:00+02:00", ms));
  EXPECT_EQ(ms, 1577836800000);
  ASSERT_TRUE(ParseDate("2020-01-01T00:00:00.250Z", ms));
  EXPECT_EQ(ms, 1577836800250);
  ASSERT_TRUE(ParseDate("2020-01-01T00:00Z", ms));
  ASSERT_TRUE(ParseDate("1577836800", ms));
  EXPECT_EQ(ms, 1577836800000);
  for (std::string_view bad : {"2020-13-01", "2020-02-30", "2020-01-01T25:00:00Z", "yesterday",
                               "2020-01-01T00:00:00ZZ", "", "1e300", "2020-01-01X"}) {
    EXPECT_FALSE(ParseDate(bad, ms)) << bad;
  }
  // IAM User Guide example: allow only before a date.
  Keys now = K("aws:CurrentTime", {"2019-06-30T12:00:00Z"});
  EXPECT_TRUE(Holds(R"({"DateLessThan": {"aws:CurrentTime": "2019-07-01T00:00:00Z"}})", now));
  EXPECT_FALSE(Holds(R"({"DateGreaterThan": {"aws:CurrentTime": "2019-07-01T00:00:00Z"}})", now));
  EXPECT_TRUE(Holds(R"({"DateGreaterThanEquals": {"aws:CurrentTime": "2019-06-30T12:00:00Z"}})", now));
  EXPECT_TRUE(Holds(R"({"DateLessThanEquals": {"aws:CurrentTime": 1561896000}})", now));
  EXPECT_TRUE(Holds(R"({"DateEquals": {"aws:CurrentTime": "2019-06-30T14:00:00+02:00"}})", now));
  EXPECT_FALSE(Holds(R"({"DateNotEquals": {"aws:CurrentTime": "2019-06-30T12:00:00Z"}})", now));
  EXPECT_TRUE(Holds(R"({"DateNotEquals": {"aws:CurrentTime": "2019-06-30T12:00:00Z"}})"));
  EXPECT_NE(CompileError(R"({"DateEquals": {"aws:CurrentTime": "soon"}})"), "");
}

TEST(ConditionBool, TrueFalse) {
  EXPECT_TRUE(Holds(R"({"Bool": {"aws:SecureTransport": "true"}})", K("aws:SecureTransport", {"true"})));
  EXPECT_TRUE(Holds(R"({"Bool": {"aws:SecureTransport": true}})", K("aws:SecureTransport", {"TRUE"})));
  EXPECT_FALSE(Holds(R"({"Bool": {"aws:SecureTransport": "false"}})", K("aws:SecureTransport", {"true"})));
  EXPECT_FALSE(Holds(R"({"Bool": {"aws:SecureTransport": "false"}})"));
  EXPECT_TRUE(Holds(R"({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})"));
  EXPECT_FALSE(Holds(R"({"Bool": {"k": "true"}})", K("k", {"yes"})));
  EXPECT_NE(CompileError(R"({"Bool": {"k": "maybe"}})"), "");
}

TEST(ConditionBinary, Base64) {
  std::string out;
  ASSERT_TRUE(DecodeBase64("QmluYXJ5VmFsdWU=", out));
  EXPECT_EQ(out, "BinaryValue");
  EXPECT_TRUE(DecodeBase64("", out));
  EXPECT_FALSE(DecodeBase64("abc", out));
  EXPECT_FALSE(DecodeBase64("ab=c", out));
  EXPECT_FALSE(DecodeBase64("a===", out));
  EXPECT_TRUE(Holds(R"({"BinaryEquals": {"k": "QmluYXJ5VmFsdWU="}})", K("k", {"BinaryValue"})));
  EXPECT_FALSE(Holds(R"({"BinaryEquals": {"k": "QmluYXJ5VmFsdWU="}})", K("k", {"binaryvalue"})));
  EXPECT_NE(CompileError(R"({"BinaryEquals": {"k": "!!!!"}})"), "");
}

TEST(ConditionIp, V4AndV6) {
  std::string_view allow = R"({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}})";
  EXPECT_TRUE(Holds(allow, K("aws:SourceIp", {"203.0.113.77"})));
  EXPECT_FALSE(Holds(allow, K("aws:SourceIp", {"203.0.114.1"})));
  EXPECT_TRUE(Holds(allow, K("aws:SourceIp", {"2001:db8:1234:5678::1"})));
  EXPECT_FALSE(Holds(allow, K("aws:SourceIp", {"2001:db8:1234:5679::1"})));
  EXPECT_FALSE(Holds(allow, K("aws:SourceIp", {"garbage"})));
  EXPECT_FALSE(Holds(allow));
  std::string_view deny = R"({"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}})";
  EXPECT_TRUE(Holds(deny, K("aws:SourceIp", {"10.0.0.1"})));
  EXPECT_FALSE(Holds(deny, K("aws:SourceIp", {"192.0.2.9"})));
  EXPECT_TRUE(Holds(deny));
  EXPECT_TRUE(Holds(R"({"IpAddress": {"aws:SourceIp": "10.1.2.3"}})", K("aws:SourceIp", {"10.1.2.3"})));
  EXPECT_TRUE(Holds(R"({"IpAddress": {"aws:SourceIp": "10.1.2.3/31"}})", K("aws:SourceIp", {"10.1.2.2"})));
  EXPECT_TRUE(Holds(R"({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})", K("aws:SourceIp", {"1.1.1.1"})));
  EXPECT_FALSE(Holds(R"({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})", K("aws:SourceIp", {"::1"})));
  for (std::string_view bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::/129", "1.2.3.4/-1",
                               "x", "10.0.0.0/8/8"}) {
    Cidr c;
    EXPECT_FALSE(ParseCidr(bad, c)) << bad;
  }
}

TEST(ConditionArn, LikeAndEquals) {
  std::string_view like = R"({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:topic-*"}})";
  EXPECT_TRUE(Holds(like, K("aws:SourceArn", {"arn:aws:sns:us-east-1:123456789012:topic-a"})));
  EXPECT_FALSE(Holds(like, K("aws:SourceArn", {"arn:aws:sns:us-east-1:999999999999:topic-a"})));
  EXPECT_FALSE(Holds(like, K("aws:SourceArn", {"not-an-arn"})));
  EXPECT_TRUE(Holds(R"({"ArnEquals": {"k": "arn:aws:iam::*:role/x"}})",
                    K("k", {"arn:aws:iam::1:role/x"})));
  EXPECT_TRUE(Holds(R"({"ArnNotEquals": {"k": "arn:aws:iam::1:role/x"}})",
                    K("k", {"arn:aws:iam::1:role/y"})));
  EXPECT_FALSE(Holds(R"({"ArnNotLike": {"k": "arn:aws:iam::1:role/*"}})",
                     K("k", {"arn:aws:iam::1:role/y"})));
  EXPECT_TRUE(Holds(R"({"ArnNotLike": {"k": "arn:aws:iam::1:role/*"}})"));
  // A * in one part does not reach across colons.
  EXPECT_FALSE(Holds(R"({"ArnLike": {"k": "arn:aws:iam::*:role/x"}})",
                     K("k", {"arn:aws:iam::1:x:role/x"})));
  EXPECT_NE(CompileError(R"({"ArnLike": {"k": "no-arn"}})"), "");
  EXPECT_TRUE(Holds(R"({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::1:user/${aws:username}"}})",
                    Keys{{{"aws:PrincipalArn", {"arn:aws:iam::1:user/bob"}}, {"aws:username", {"bob"}}}}));
}

TEST(ConditionNull, PresentAbsent) {
  EXPECT_TRUE(Holds(R"({"Null": {"aws:TokenIssueTime": "true"}})"));
  EXPECT_FALSE(Holds(R"({"Null": {"aws:TokenIssueTime": "true"}})", K("aws:TokenIssueTime", {"x"})));
  EXPECT_TRUE(Holds(R"({"Null": {"aws:RequestTag/access-application": "false"}})",
                    K("aws:RequestTag/access-application", {"app"})));
  EXPECT_FALSE(Holds(R"({"Null": {"aws:RequestTag/access-application": "false"}})"));
  EXPECT_TRUE(Holds(R"({"Null": {"k": "true"}})", K("k", {})));  // empty set counts as absent
  EXPECT_NE(CompileError(R"({"Null": {"k": "maybe"}})"), "");
}

TEST(ConditionSet, ForAnyValueForAllValues) {
  // IAM User Guide, "Set operators for multivalued context keys".
  std::string_view all = R"({"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}})";
  EXPECT_TRUE(Holds(all, K("aws:TagKeys", {"environment"})));
  EXPECT_TRUE(Holds(all, K("aws:TagKeys", {"environment", "cost-center"})));
  EXPECT_FALSE(Holds(all, K("aws:TagKeys", {"environment", "owner"})));
  EXPECT_TRUE(Holds(all));                       // absent: true
  EXPECT_TRUE(Holds(all, K("aws:TagKeys", {})));  // empty: true
  std::string_view any = R"({"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}})";
  EXPECT_TRUE(Holds(any, K("aws:TagKeys", {"owner", "environment"})));
  EXPECT_FALSE(Holds(any, K("aws:TagKeys", {"owner"})));
  EXPECT_FALSE(Holds(any));
  EXPECT_FALSE(Holds(any, K("aws:TagKeys", {})));
  // Negated operators under set modifiers apply per request value.
  std::string_view any_not = R"({"ForAnyValue:StringNotEquals": {"k": ["a", "b"]}})";
  EXPECT_TRUE(Holds(any_not, K("k", {"a", "c"})));
  EXPECT_FALSE(Holds(any_not, K("k", {"a", "b"})));
  std::string_view all_not = R"({"ForAllValues:StringNotLike": {"k": ["a*"]}})";
  EXPECT_TRUE(Holds(all_not, K("k", {"b", "c"})));
  EXPECT_FALSE(Holds(all_not, K("k", {"b", "ab", "ax"})));
  // Plain operators on multivalued keys: any value matches; negation: none.
  EXPECT_TRUE(Holds(R"({"StringEquals": {"k": "a"}})", K("k", {"x", "a"})));
  EXPECT_FALSE(Holds(R"({"StringNotEquals": {"k": "a"}})", K("k", {"x", "a"})));
}

TEST(ConditionSet, IfExistsAndAnd) {
  std::string_view c = R"({"StringEqualsIfExists": {"ec2:InstanceType": ["t2.micro", "t2.small"]}})";
  EXPECT_TRUE(Holds(c));
  EXPECT_TRUE(Holds(c, K("ec2:InstanceType", {"t2.micro"})));
  EXPECT_FALSE(Holds(c, K("ec2:InstanceType", {"m5.large"})));
  EXPECT_TRUE(Holds(R"({"ForAnyValue:StringEqualsIfExists": {"k": "a"}})"));
  // Keys and operators are AND'ed.
  std::string_view both = R"({"StringEquals": {"a": "1", "b": "2"}, "NumericLessThan": {"n": 5}})";
  Keys k{{{"a", {"1"}}, {"b", {"2"}}, {"n", {"4"}}}};
  EXPECT_TRUE(Holds(both, k));
  k.entries[2].second = {"5"};
  EXPECT_FALSE(Holds(both, k));
}

}  // namespace
}  // namespace rampart::iam
