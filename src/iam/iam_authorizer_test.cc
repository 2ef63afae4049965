// EngineAuthorizer against a real SQLite database filled through the IAM
// handlers: group policies, permissions boundaries, AWS managed policies,
// session policies, principal and session tags, and the session's
// environment keys. Every IAM write goes through the registry, which
// invalidates the policy cache as the server does.
#include <gtest/gtest.h>

#include "server/testing.h"
#include <unistd.h>

#include <filesystem>

#include "rampart/core/arn.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/iam/iam_service.h"
#include "rampart/server/authorizer.h"
#include "rampart/server/config.h"

namespace rampart::iam {
namespace {

constexpr std::string_view kAcct = "111122223333";

using testing::Obj;

json::Value OneTag(std::string_view key, std::string_view value) {
  json::Value tags = json::Value::MakeArray();
  tags.push(Obj({{"Key", std::string(key)}, {"Value", std::string(value)}}));
  return tags;
}

std::string Allow(std::string_view action, std::string_view condition = "") {
  std::string s = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":")" +
                  std::string(action) + R"(","Resource":"*")";
  if (!condition.empty()) s += R"(,"Condition":)" + std::string(condition);
  return s + "}]}";
}

class AuthorizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::FreshDatabase("authz");
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(IamService::Migrate(*db_).ok());
    creds_ = std::make_unique<server::CredentialStore>(*db_, root_key_);
    ASSERT_TRUE(creds_->CreateAccount(kAcct, "a", true).ok());
    service_ = std::make_unique<IamService>(*db_, *creds_);
    service_->SetPolicyCache(&cache_);
    service_->Register(registry_);
    engine_ = std::make_unique<EngineAuthorizer>(*db_, cache_);
  }

  // Runs an IAM operation as the account's root user (root-only authorizer).
  json::Value Admin(std::string_view op, const json::Value& in) {
    server::Principal root;
    root.account_id = std::string(kAcct);
    root.arn = RootArn(kAcct);
    root.type = "Root";
    root.principal_id = root.account_id;
    const server::OperationHandler* h = registry_.Find("iam", op);
    EXPECT_NE(h, nullptr) << op;
    server::RequestContext ctx({&root, "iam", op, "us-east-1", "req", "127.0.0.1", "test", true,
                                clock_.Now(), &config_, db_.get(), &root_only_, &clock_});
    auto r = (*h)(ctx, in);
    EXPECT_TRUE(r.ok()) << op << ": " << r.status().ToString();
    return r.ok() ? std::move(r).value() : json::Value::MakeObject();
  }

  server::Principal User(std::string_view name) {
    json::Value out = Admin("CreateUser", Obj({{"UserName", std::string(name)}}));
    server::Principal p;
    p.account_id = std::string(kAcct);
    p.type = "IAMUser";
    p.user_name = std::string(name);
    p.arn = std::string(out.find("User")->get_string("Arn"));
    p.principal_id = std::string(out.find("User")->get_string("UserId"));
    p.access_key_id = "AKIA" + std::string(name);
    return p;
  }

  server::Principal RoleSession(std::string_view role, std::string_view session) {
    json::Value out = Admin(
        "CreateRole",
        Obj({{"RoleName", std::string(role)},
             {"AssumeRolePolicyDocument",
              R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]})"}}));
    server::Principal p;
    p.account_id = std::string(kAcct);
    p.type = "AssumedRole";
    p.role_arn = std::string(out.find("Role")->get_string("Arn"));
    p.principal_id =
        std::string(out.find("Role")->get_string("RoleId")) + ":" + std::string(session);
    p.arn = "arn:aws:sts::111122223333:assumed-role/" + std::string(role) + "/" +
            std::string(session);
    p.access_key_id = "ASIA" + std::string(role) + std::string(session);
    p.token_issued_at = 1767225600;
    return p;
  }

  Status Can(const server::Principal& p, std::string_view action,
             std::string_view resource = "*") {
    server::RequestContext ctx({&p, "iam", "Op", "us-east-1", "req", "127.0.0.1", "test", true,
                                clock_.Now(), &config_, db_.get(), engine_.get(), &clock_});
    return engine_->Authorize(ctx, action, resource, {});
  }

  SecretBytes root_key_{std::string(32, 'k')};
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<server::CredentialStore> creds_;
  std::unique_ptr<IamService> service_;
  server::Registry registry_;
  server::Config config_;
  server::RootOnlyAuthorizer root_only_;
  SystemClock clock_;
  PolicyCache cache_;
  std::unique_ptr<EngineAuthorizer> engine_;
};

TEST_F(AuthorizerTest, GroupInlinePolicyAppliesWhileMember) {
  server::Principal alice = User("alice");
  Admin("CreateGroup", Obj({{"GroupName", "readers"}}));
  Admin("PutGroupPolicy", Obj({{"GroupName", "readers"},
                               {"PolicyName", "list"},
                               {"PolicyDocument", Allow("iam:ListUsers")}}));
  EXPECT_EQ(Can(alice, "iam:ListUsers").code(), ErrorCode::kAccessDenied);
  Admin("AddUserToGroup", Obj({{"GroupName", "readers"}, {"UserName", "alice"}}));
  EXPECT_TRUE(Can(alice, "iam:ListUsers").ok());
  EXPECT_EQ(Can(alice, "iam:CreateUser").code(), ErrorCode::kAccessDenied);
  Admin("RemoveUserFromGroup", Obj({{"GroupName", "readers"}, {"UserName", "alice"}}));
  EXPECT_EQ(Can(alice, "iam:ListUsers").code(), ErrorCode::kAccessDenied);
}

TEST_F(AuthorizerTest, GroupAttachedManagedPolicyApplies) {
  server::Principal bob = User("bob");
  Admin("CreateGroup", Obj({{"GroupName", "admins"}}));
  Admin("AddUserToGroup", Obj({{"GroupName", "admins"}, {"UserName", "bob"}}));
  EXPECT_EQ(Can(bob, "kms:CreateKey").code(), ErrorCode::kAccessDenied);
  Admin("AttachGroupPolicy", Obj({{"GroupName", "admins"},
                                  {"PolicyArn", "arn:aws:iam::aws:policy/AdministratorAccess"}}));
  EXPECT_TRUE(Can(bob, "kms:CreateKey").ok());
  Admin("DetachGroupPolicy", Obj({{"GroupName", "admins"},
                                  {"PolicyArn", "arn:aws:iam::aws:policy/AdministratorAccess"}}));
  EXPECT_EQ(Can(bob, "kms:CreateKey").code(), ErrorCode::kAccessDenied);
}

TEST_F(AuthorizerTest, PermissionsBoundaryCapsAdministrator) {
  server::Principal carol = User("carol");
  Admin("AttachUserPolicy", Obj({{"UserName", "carol"},
                                 {"PolicyArn", "arn:aws:iam::aws:policy/AdministratorAccess"}}));
  EXPECT_TRUE(Can(carol, "iam:CreateUser").ok());
  Admin("PutUserPermissionsBoundary",
        Obj({{"UserName", "carol"},
             {"PermissionsBoundary", "arn:aws:iam::aws:policy/IAMReadOnlyAccess"}}));
  EXPECT_TRUE(Can(carol, "iam:ListUsers").ok());
  Status denied = Can(carol, "iam:CreateUser");
  EXPECT_EQ(denied.code(), ErrorCode::kAccessDenied);
  EXPECT_NE(denied.message().find("permissions boundary"), std::string::npos)
      << denied.message();
  Admin("DeleteUserPermissionsBoundary", Obj({{"UserName", "carol"}}));
  EXPECT_TRUE(Can(carol, "iam:CreateUser").ok());
}

TEST_F(AuthorizerTest, BoundaryFollowsTheDefaultPolicyVersion) {
  server::Principal dan = User("dan");
  Admin("PutUserPolicy",
        Obj({{"UserName", "dan"}, {"PolicyName", "all"}, {"PolicyDocument", Allow("iam:*")}}));
  json::Value created = Admin(
      "CreatePolicy", Obj({{"PolicyName", "cap"}, {"PolicyDocument", Allow("iam:ListUsers")}}));
  std::string arn(created.find("Policy")->get_string("Arn"));
  Admin("PutUserPermissionsBoundary", Obj({{"UserName", "dan"}, {"PermissionsBoundary", arn}}));
  EXPECT_TRUE(Can(dan, "iam:ListUsers").ok());
  EXPECT_EQ(Can(dan, "iam:ListRoles").code(), ErrorCode::kAccessDenied);
  Admin("CreatePolicyVersion", Obj({{"PolicyArn", arn},
                                    {"PolicyDocument", Allow("iam:ListRoles")},
                                    {"SetAsDefault", true}}));
  EXPECT_TRUE(Can(dan, "iam:ListRoles").ok());
  EXPECT_EQ(Can(dan, "iam:ListUsers").code(), ErrorCode::kAccessDenied);
}

TEST_F(AuthorizerTest, SessionPoliciesCapARoleSession) {
  server::Principal s = RoleSession("ops", "s1");
  Admin("AttachRolePolicy",
        Obj({{"RoleName", "ops"}, {"PolicyArn", "arn:aws:iam::aws:policy/AdministratorAccess"}}));
  EXPECT_TRUE(Can(s, "iam:CreateUser").ok());
  s.has_session_policies = true;
  s.session_policies = {Allow("iam:List*")};
  s.access_key_id = "ASIASESSIONWITHPOLICY";
  EXPECT_TRUE(Can(s, "iam:ListUsers").ok());
  Status denied = Can(s, "iam:CreateUser");
  EXPECT_EQ(denied.code(), ErrorCode::kAccessDenied);
  EXPECT_NE(denied.message().find("session policy"), std::string::npos) << denied.message();
  // Passed but empty: the session can do nothing.
  server::Principal empty = s;
  empty.access_key_id = "ASIAEMPTYSESSION";
  empty.session_policies.clear();
  EXPECT_EQ(Can(empty, "iam:ListUsers").code(), ErrorCode::kAccessDenied);
}

TEST_F(AuthorizerTest, PrincipalTagsOfUsersFollowTagChanges) {
  server::Principal erin = User("erin");
  Admin("PutUserPolicy",
        Obj({{"UserName", "erin"},
             {"PolicyName", "abac"},
             {"PolicyDocument",
              Allow("iam:ListUsers", R"({"StringEquals":{"aws:PrincipalTag/team":"blue"}})")}}));
  EXPECT_EQ(Can(erin, "iam:ListUsers").code(), ErrorCode::kAccessDenied);
  Admin("TagUser", Obj({{"UserName", "erin"},
                        {"Tags", OneTag("Team", "blue")}}));
  EXPECT_TRUE(Can(erin, "iam:ListUsers").ok());
  Admin("TagUser", Obj({{"UserName", "erin"},
                        {"Tags", OneTag("team", "red")}}));
  EXPECT_EQ(Can(erin, "iam:ListUsers").code(), ErrorCode::kAccessDenied);
}

TEST_F(AuthorizerTest, SessionTagsOverrideRoleTagsIgnoringCase) {
  server::Principal s = RoleSession("dev", "s1");
  Admin("TagRole", Obj({{"RoleName", "dev"},
                        {"Tags", OneTag("Project", "red")}}));
  Admin("PutRolePolicy",
        Obj({{"RoleName", "dev"},
             {"PolicyName", "abac"},
             {"PolicyDocument",
              Allow("iam:ListRoles", R"({"StringEquals":{"aws:PrincipalTag/project":"blue"}})")}}));
  EXPECT_EQ(Can(s, "iam:ListRoles").code(), ErrorCode::kAccessDenied);
  s.session_tags = {{"PROJECT", "blue"}};
  EXPECT_TRUE(Can(s, "iam:ListRoles").ok());
}

TEST_F(AuthorizerTest, SessionEnvironmentKeys) {
  server::Principal s = RoleSession("mfa", "s1");
  Admin("PutRolePolicy",
        Obj({{"RoleName", "mfa"},
             {"PolicyName", "env"},
             {"PolicyDocument",
              Allow("iam:ListRoles",
                    R"({"Bool":{"aws:MultiFactorAuthPresent":"true"},)"
                    R"("StringEquals":{"aws:SourceIdentity":"jane"},)"
                    R"("DateLessThan":{"aws:TokenIssueTime":"2026-06-01T00:00:00Z"}})")}}));
  EXPECT_EQ(Can(s, "iam:ListRoles").code(), ErrorCode::kAccessDenied);
  s.mfa_present = true;
  EXPECT_EQ(Can(s, "iam:ListRoles").code(), ErrorCode::kAccessDenied);
  s.source_identity = "jane";
  EXPECT_TRUE(Can(s, "iam:ListRoles").ok());
  s.token_issued_at = 1790000000;  // after the date in the policy
  EXPECT_EQ(Can(s, "iam:ListRoles").code(), ErrorCode::kAccessDenied);
}

TEST_F(AuthorizerTest, AwsManagedPoliciesAreReadableFromEveryAccount) {
  server::Principal fay = User("fay");
  Admin("AttachUserPolicy", Obj({{"UserName", "fay"},
                                 {"PolicyArn", "arn:aws:iam::aws:policy/IAMReadOnlyAccess"}}));
  EXPECT_TRUE(Can(fay, "iam:GetPolicy", "arn:aws:iam::aws:policy/AdministratorAccess").ok());
  EXPECT_EQ(Can(fay, "iam:DeletePolicy", "arn:aws:iam::aws:policy/AdministratorAccess").code(),
            ErrorCode::kAccessDenied);
}

TEST_F(AuthorizerTest, BoundaryWhoseDocumentNoLongerCompilesAllowsNothing) {
  server::Principal gus = User("gus");
  Admin("AttachUserPolicy", Obj({{"UserName", "gus"},
                                 {"PolicyArn", "arn:aws:iam::aws:policy/AdministratorAccess"}}));
  json::Value created = Admin(
      "CreatePolicy", Obj({{"PolicyName", "cap"}, {"PolicyDocument", Allow("iam:ListUsers")}}));
  std::string arn(created.find("Policy")->get_string("Arn"));
  Admin("PutUserPermissionsBoundary", Obj({{"UserName", "gus"}, {"PermissionsBoundary", arn}}));
  // Simulate a stored document that a stricter engine now rejects.
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) -> Status {
                   ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE iam_policy_versions SET "
                                                       "document = '{\"Statement\": 7}'"));
                   return q->Run();
                 }).ok());
  cache_.InvalidateAll();
  EXPECT_EQ(Can(gus, "iam:ListUsers").code(), ErrorCode::kAccessDenied);
  EXPECT_EQ(Can(gus, "iam:CreateUser").code(), ErrorCode::kAccessDenied);
}

}  // namespace
}  // namespace rampart::iam
