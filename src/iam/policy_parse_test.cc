#include <gtest/gtest.h>

#include "rampart/iam/policy.h"

namespace rampart::iam {
namespace {

std::string ErrorOf(std::string_view text, PolicyKind kind = PolicyKind::kIdentity) {
  auto r = ParsePolicy(text, kind);
  return r.ok() ? "" : r.error().message;
}

constexpr std::string_view kS3Read = R"({
  "Version": "2012-10-17",
  "Id": "example",
  "Statement": [{
    "Sid": "ListAndRead",
    "Effect": "Allow",
    "Action": ["s3:ListBucket", "s3:GetObject"],
    "Resource": "arn:aws:s3:::example-bucket/*",
    "Condition": {"StringEquals": {"s3:prefix": ["home/", "home/${aws:username}/"]},
                  "Bool": {"aws:SecureTransport": true},
                  "NumericLessThan": {"s3:max-keys": 10}}
  }]})";

TEST(PolicyParse, ReadsEveryElement) {
  auto r = ParsePolicy(kS3Read, PolicyKind::kIdentity);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->version, PolicyVersion::k2012_10_17);
  EXPECT_EQ(r->id, "example");
  ASSERT_EQ(r->statements.size(), 1u);
  const StatementAst& s = r->statements[0];
  EXPECT_EQ(s.sid, "ListAndRead");
  EXPECT_EQ(s.effect, Effect::kAllow);
  EXPECT_EQ(s.actions.size(), 2u);
  EXPECT_EQ(s.resources[0], "arn:aws:s3:::example-bucket/*");
  ASSERT_EQ(s.conditions.size(), 3u);
  EXPECT_EQ(s.conditions[0].values[1], "home/${aws:username}/");
  EXPECT_EQ(s.conditions[1].values[0], "true");
  EXPECT_EQ(s.conditions[2].values[0], "10");
}

TEST(PolicyParse, StatementObjectAndDefaultVersion) {
  auto r = ParsePolicy(R"({"Statement": {"Effect": "Deny", "NotAction": "iam:*",
                                         "NotResource": "*"}})", PolicyKind::kIdentity);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->version, PolicyVersion::k2008_10_17);
  EXPECT_FALSE(r->version_present);
  EXPECT_TRUE(r->statements[0].not_action);
  EXPECT_TRUE(r->statements[0].not_resource);
}

TEST(PolicyParse, Principals) {
  auto r = ParsePolicy(R"({"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"},
      {"Effect": "Allow", "Principal": {"AWS": ["111122223333", "arn:aws:iam::444455556666:root"],
        "Service": "ec2.amazonaws.com", "Federated": "cognito-identity.amazonaws.com",
        "CanonicalUser": "79a59df9"}, "Action": "kms:*", "Resource": "*"},
      {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:user/Bob"},
        "Action": "kms:*", "Resource": "*"}]})", PolicyKind::kResource);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->statements[0].principal.any);
  EXPECT_EQ(r->statements[1].principal.aws.size(), 2u);
  EXPECT_EQ(r->statements[1].principal.service[0], "ec2.amazonaws.com");
  EXPECT_EQ(r->statements[1].principal.canonical_user[0], "79a59df9");
  EXPECT_TRUE(r->statements[2].not_principal);
}

TEST(PolicyParse, AwsMessages) {
  EXPECT_EQ(ErrorOf("not json"), "Syntax errors in policy.");
  EXPECT_EQ(ErrorOf("[]"), "Syntax errors in policy.");
  EXPECT_EQ(ErrorOf(R"({"Version": "2012-10-17"})"), "Missing required field Statement");
  EXPECT_EQ(ErrorOf(R"({"Version": "2013-01-01", "Statement": []})"), "Invalid Version");
  EXPECT_EQ(ErrorOf(R"({"Statement": {"Action": "s3:*", "Resource": "*"}})"),
            "Missing required field Effect");
  EXPECT_EQ(ErrorOf(R"({"Statement": {"Effect": "allow", "Action": "s3:*", "Resource": "*"}})"),
            "Invalid effect: allow");
  EXPECT_EQ(ErrorOf(R"({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                                      "Resource": "*"}})"),
            "Policy document should not specify a principal.");
  EXPECT_EQ(ErrorOf(R"({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}})",
                    PolicyKind::kResource),
            "Missing required field Principal");
  EXPECT_EQ(ErrorOf(R"({"Statement": {"Effect": "Allow", "Resource": "*"}})"),
            "Policy statement must contain actions.");
  EXPECT_EQ(ErrorOf(R"({"Statement": {"Effect": "Allow", "Action": "s3:*"}})"),
            "Policy statement must contain resources.");
  EXPECT_EQ(ErrorOf(R"({"Statement": [
      {"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
      {"Sid": "A", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})"),
            "Statement IDs (SID) in a single policy must be unique.");
  EXPECT_NE(ErrorOf(R"({"Statement": {"Sid": "a b", "Effect": "Allow", "Action": "s3:*",
                                      "Resource": "*"}})").find("alpha-numeric"),
            std::string::npos);
  // Resource policies allow other Sids.
  EXPECT_EQ(ErrorOf(R"({"Statement": {"Sid": "a b", "Effect": "Allow", "Principal": "*",
                        "Action": "s3:*", "Resource": "*"}})", PolicyKind::kResource), "");
  EXPECT_EQ(ErrorOf(R"({"Statement": {"Effect": "Allow", "Principal": {"AWS": "1"},
                        "Action": "sts:AssumeRole", "Resource": "*"}})", PolicyKind::kTrust),
            "Has prohibited field Resource");
}

TEST(PolicyParse, RejectsDuplicatesAndConflicts) {
  EXPECT_EQ(ErrorOf(R"({"Statement": [], "Statement": []})"), "Syntax errors in policy.");
  EXPECT_EQ(ErrorOf(R"({"Statement": {"Effect": "Allow", "Effect": "Deny", "Action": "s3:*",
                                      "Resource": "*"}})"), "Syntax errors in policy.");
  EXPECT_NE(ErrorOf(R"({"Statement": {"Effect": "Allow", "Action": "s3:*", "NotAction": "x:y",
                                      "Resource": "*"}})").find("both Action and NotAction"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                      "NotResource": "*"}})").find("NotResource"),
            std::string::npos);
  EXPECT_EQ(ErrorOf(R"({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
      "Condition": {"StringEquals": {"a": "1"}, "StringEquals": {"b": "2"}}}})"),
            "Syntax errors in policy.");
}

TEST(PolicyParse, RejectsWrongShapes) {
  for (std::string_view bad : {
           R"({"Statement": {"Effect": "Allow", "Action": 5, "Resource": "*"}})",
           R"({"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}})",
           R"({"Statement": {"Effect": "Allow", "Action": ["s3:*", 1], "Resource": "*"}})",
           R"({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": {}}})",
           R"({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
               "Condition": {"StringEquals": {"a": {"b": "c"}}}}})",
           R"({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
               "Condition": {"StringEquals": {"a": []}}}})",
           R"({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
               "Condition": {"StringEquals": "x"}}})",
           R"({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Extra": 1}})",
           R"({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, 7]})",
           R"({"Version": 2012, "Statement": []})",
           R"({"Statement": "x"})",
           R"({"Statement": []})",
       }) {
    EXPECT_NE(ErrorOf(bad), "") << bad;
  }
}

TEST(PolicyParse, HostileInputs) {
  std::string deep(5000, '[');
  EXPECT_EQ(ErrorOf(deep), "Syntax errors in policy.");
  std::string big = R"({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": ")" +
                    std::string(kMaxPolicyBytes, 'a') + "\"}}";
  EXPECT_EQ(ParsePolicy(big, PolicyKind::kIdentity).error().code, ParseErrc::kTooLarge);
  EXPECT_NE(ErrorOf(std::string("\0\xff\xfe", 3)), "");
}

TEST(PolicyParse, ErrorsAreModeled) {
  auto r = CompilePolicy("{", PolicyKind::kIdentity, "p");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kServiceModeled);
  EXPECT_EQ(r.status().modeled(), "MalformedPolicyDocumentException");
}

TEST(PolicySize, QuotasExcludeWhitespace) {
  EXPECT_EQ(PolicySizeLimit(PolicySizeKind::kManaged), 6144u);
  EXPECT_EQ(PolicySizeLimit(PolicySizeKind::kInlineUser), 2048u);
  EXPECT_EQ(PolicySizeLimit(PolicySizeKind::kInlineGroup), 5120u);
  EXPECT_EQ(PolicySizeLimit(PolicySizeKind::kInlineRole), 10240u);
  EXPECT_EQ(PolicyCharacterCount(" {\n\t\"a\" : 1 }\r"), 7u);
  EXPECT_EQ(PolicyCharacterCount("\xc3\xa9"), 1u);  // one code point
  std::string text(2048, 'x');
  EXPECT_TRUE(CheckPolicySize(text + std::string(500, ' '), PolicySizeKind::kInlineUser).ok());
  Status st = CheckPolicySize(text + "x", PolicySizeKind::kInlineUser);
  EXPECT_EQ(st.modeled(), "LimitExceededException");
  EXPECT_EQ(st.message(), "Cannot exceed quota for PolicySize: 2048");
  EXPECT_TRUE(CheckPolicySize(text + "x", PolicySizeKind::kInlineGroup).ok());
}

}  // namespace
}  // namespace rampart::iam
