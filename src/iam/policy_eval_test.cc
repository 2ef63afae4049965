#include <gtest/gtest.h>

#include "rampart/iam/policy.h"

namespace rampart::iam {
namespace {

std::shared_ptr<const CompiledPolicy> P(std::string_view statements,
                                        PolicyKind kind = PolicyKind::kIdentity) {
  std::string text = R"({"Version": "2012-10-17", "Statement": )" + std::string(statements) + "}";
  auto p = CompilePolicy(text, kind, "policy");
  EXPECT_TRUE(p.ok()) << p.status().message() << " in " << statements;
  return p.ok() ? *p : nullptr;
}

PrincipalInfo User(std::string name = "Bob", std::string account = "111122223333") {
  PrincipalInfo p;
  p.type = PrincipalType::kUser;
  p.account = account;
  p.arn = "arn:aws:iam::" + account + ":user/" + name;
  p.user_name = name;
  p.id = "AIDAEXAMPLE";
  return p;
}

PrincipalInfo RoleSession(std::string role = "Admin", std::string account = "111122223333") {
  PrincipalInfo p;
  p.type = PrincipalType::kAssumedRole;
  p.account = account;
  p.arn = "arn:aws:sts::" + account + ":assumed-role/" + role + "/s1";
  p.role_arn = "arn:aws:iam::" + account + ":role/" + role;
  p.id = "AROAEXAMPLE:s1";
  return p;
}

AuthzRequest Req(PrincipalInfo p, std::string_view action, std::string_view resource) {
  AuthzRequest r(std::move(p), action, resource);
  r.AddPlatformKeys(Environment{});
  return r;
}

// The service-prefix filter (CompiledStatement::service_mask) may only skip
// statements that cannot match: wildcard services, NotAction and case
// differences must still apply.
TEST(PolicyEval, ServicePrefixFilterNeverSkipsAMatch) {
  auto p = P(R"([{"Effect": "Allow", "Action": ["KMS:Encrypt", "sns:Publish"], "Resource": "*"},
                 {"Effect": "Allow", "Action": "s?s:Get*", "Resource": "*"},
                 {"Effect": "Allow", "Action": "*:ListThings", "Resource": "*"},
                 {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*",
                  "Condition": {"Bool": {"aws:SecureTransport": "false"}}}])");
  auto s = p->statements();
  EXPECT_EQ(s[0].service_mask, ActionServiceBit("kms:") | ActionServiceBit("sns"));
  EXPECT_EQ(s[1].service_mask, ~uint64_t{0});
  EXPECT_EQ(s[2].service_mask, ~uint64_t{0});
  EXPECT_EQ(s[3].service_mask, ~uint64_t{0});
  EXPECT_EQ(ActionServiceBit("KMS:x"), ActionServiceBit("kms:y"));
  EXPECT_TRUE(EvaluatePolicy(*p, Req(User(), "kms:encrypt", "*")).allow);
  EXPECT_TRUE(EvaluatePolicy(*p, Req(User(), "SNS:Publish", "*")).allow);
  EXPECT_TRUE(EvaluatePolicy(*p, Req(User(), "ses:GetIdentity", "*")).allow);
  EXPECT_TRUE(EvaluatePolicy(*p, Req(User(), "foo:ListThings", "*")).allow);
  EXPECT_FALSE(EvaluatePolicy(*p, Req(User(), "kms:Decrypt", "*")).allow);
  EXPECT_FALSE(EvaluatePolicy(*p, Req(User(), "kmsx:Encrypt", "*")).allow);
  EXPECT_FALSE(EvaluatePolicy(*p, Req(User(), "kms", "*")).allow);
  Environment insecure;
  insecure.secure_transport = false;
  AuthzRequest r(User(), "ec2:RunInstances", "*");
  r.AddPlatformKeys(insecure);
  EXPECT_TRUE(EvaluatePolicy(*p, r).deny);
  AuthzRequest copy = r;  // copies keep the action's bit
  EXPECT_EQ(copy.action_service_bit(), ActionServiceBit("ec2"));
  EXPECT_TRUE(EvaluatePolicy(*p, copy).deny);
}

TEST(PolicyEval, ActionsAreCaseInsensitiveGlobs) {
  auto p = P(R"({"Effect": "Allow", "Action": ["s3:Get*", "IAM:listusers"], "Resource": "*"})");
  EXPECT_TRUE(EvaluatePolicy(*p, Req(User(), "s3:GetObject", "*")).allow);
  EXPECT_TRUE(EvaluatePolicy(*p, Req(User(), "S3:GETOBJECT", "*")).allow);
  EXPECT_TRUE(EvaluatePolicy(*p, Req(User(), "iam:ListUsers", "*")).allow);
  EXPECT_FALSE(EvaluatePolicy(*p, Req(User(), "s3:PutObject", "*")).allow);
  EXPECT_FALSE(EvaluatePolicy(*p, Req(User(), "s3x:GetObject", "*")).allow);
  auto all = P(R"({"Effect": "Allow", "Action": "*", "Resource": "*"})");
  EXPECT_TRUE(EvaluatePolicy(*all, Req(User(), "kms:Encrypt", "*")).allow);
}

TEST(PolicyEval, NotActionAndNotResource) {
  auto p = P(R"({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})");
  EXPECT_TRUE(EvaluatePolicy(*p, Req(User(), "s3:GetObject", "*")).allow);
  EXPECT_FALSE(EvaluatePolicy(*p, Req(User(), "iam:CreateUser", "*")).allow);
  auto q = P(R"({"Effect": "Deny", "Action": "s3:*",
                 "NotResource": ["arn:aws:s3:::home/${aws:username}/*"]})");
  EXPECT_FALSE(EvaluatePolicy(*q, Req(User(), "s3:GetObject", "arn:aws:s3:::home/Bob/f")).deny);
  EXPECT_TRUE(EvaluatePolicy(*q, Req(User(), "s3:GetObject", "arn:aws:s3:::home/Eve/f")).deny);
  // Unresolvable variable: the NotResource statement does not apply.
  EXPECT_FALSE(EvaluatePolicy(*q, Req(RoleSession(), "s3:GetObject", "arn:aws:s3:::x/y")).deny);
}

TEST(PolicyEval, ResourceVariables) {
  // IAM User Guide, policy variables example: each user their home folder.
  auto p = P(R"({"Effect": "Allow", "Action": "s3:*",
                 "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"})");
  EXPECT_TRUE(EvaluatePolicy(*p, Req(User("Bob"), "s3:PutObject",
                                     "arn:aws:s3:::amzn-s3-demo-bucket/home/Bob/a.txt")).allow);
  EXPECT_FALSE(EvaluatePolicy(*p, Req(User("Bob"), "s3:PutObject",
                                      "arn:aws:s3:::amzn-s3-demo-bucket/home/Alice/a.txt")).allow);
  // Roles have no aws:username: the statement does not match.
  EXPECT_FALSE(EvaluatePolicy(*p, Req(RoleSession(), "s3:PutObject",
                                      "arn:aws:s3:::amzn-s3-demo-bucket/home//a.txt")).allow);
}

TEST(PolicyEval, ExplicitDenyIsReported) {
  auto p = P(R"([{"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "*"},
                 {"Sid": "D", "Effect": "Deny", "Action": "kms:Delete*", "Resource": "*"}])");
  PolicyMatch m = EvaluatePolicy(*p, Req(User(), "kms:DeleteAlias", "*"));
  EXPECT_TRUE(m.deny);
  EXPECT_EQ(m.first_deny.statement().sid, "D");
  EXPECT_EQ(m.first_deny.index, 1u);
}

TEST(PolicyEval, PrincipalMatching) {
  auto p = P(R"([
      {"Sid": "User", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/Bob"},
       "Action": "kms:Encrypt", "Resource": "*"},
      {"Sid": "Role", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Admin"},
       "Action": "kms:Decrypt", "Resource": "*"},
      {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
       "Action": "kms:Describe*", "Resource": "*"},
      {"Sid": "Svc", "Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"},
       "Action": "kms:GenerateDataKey", "Resource": "*"}])", PolicyKind::kResource);
  EXPECT_EQ(EvaluatePolicy(*p, Req(User(), "kms:Encrypt", "*")).allow_principal,
            PrincipalMatch::kDirect);
  EXPECT_FALSE(EvaluatePolicy(*p, Req(User("Eve"), "kms:Encrypt", "*")).allow);
  EXPECT_EQ(EvaluatePolicy(*p, Req(RoleSession(), "kms:Decrypt", "*")).allow_principal,
            PrincipalMatch::kRole);
  EXPECT_EQ(EvaluatePolicy(*p, Req(User("X", "444455556666"), "kms:DescribeKey", "*"))
                .allow_principal,
            PrincipalMatch::kAccount);
  EXPECT_FALSE(EvaluatePolicy(*p, Req(User("X", "777788889999"), "kms:DescribeKey", "*")).allow);
  PrincipalInfo svc;
  svc.type = PrincipalType::kService;
  svc.service = "logs.amazonaws.com";
  EXPECT_EQ(EvaluatePolicy(*p, Req(svc, "kms:GenerateDataKey", "*")).allow_principal,
            PrincipalMatch::kDirect);
  // A web identity or anonymous caller placed in the account never matches
  // the account's principal (a trust policy naming the account root must not
  // let any OIDC token in).
  for (PrincipalType t : {PrincipalType::kWebIdentity, PrincipalType::kAnonymous}) {
    PrincipalInfo outsider;
    outsider.type = t;
    outsider.account = "444455556666";
    outsider.federated_provider = "token.actions.githubusercontent.com";
    EXPECT_FALSE(EvaluatePolicy(*p, Req(outsider, "kms:DescribeKey", "*")).allow);
  }
  auto notp = P(R"({"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:user/Bob"},
                    "Action": "*", "Resource": "*"})", PolicyKind::kResource);
  EXPECT_FALSE(EvaluatePolicy(*notp, Req(User(), "s3:GetObject", "*")).deny);
  EXPECT_TRUE(EvaluatePolicy(*notp, Req(User("Eve"), "s3:GetObject", "*")).deny);
}

TEST(PolicyEval, InvalidElementsRejected) {
  for (std::string_view bad : {
           R"({"Effect": "Allow", "Action": "GetObject", "Resource": "*"})",
           R"({"Effect": "Allow", "Action": ":x", "Resource": "*"})",
           R"({"Effect": "Allow", "Action": "s3 :x", "Resource": "*"})",
           R"({"Effect": "Allow", "Action": "s3:*", "Resource": "bucket"})",
           R"({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${oops"})",
       }) {
    std::string text = R"({"Version": "2012-10-17", "Statement": )" + std::string(bad) + "}";
    auto p = CompilePolicy(text, PolicyKind::kIdentity, "p");
    EXPECT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().modeled(), "MalformedPolicyDocumentException") << bad;
  }
  auto p = CompilePolicy(R"({"Statement": {"Effect": "Allow", "Principal": {"AWS": "bob"},
      "Action": "s3:*", "Resource": "*"}})", PolicyKind::kResource, "p");
  EXPECT_FALSE(p.ok());
}

}  // namespace
}  // namespace rampart::iam
