// IamService handlers run through the registry against a real SQLite
// database, with the root-only authorizer.
#include "rampart/iam/iam_service.h"

#include <gtest/gtest.h>

#include "server/testing.h"
#include <unistd.h>

#include <filesystem>

#include "rampart/core/arn.h"
#include "rampart/iam/policy_ast.h"
#include "rampart/server/authorizer.h"
#include "rampart/server/config.h"

namespace rampart::iam {
namespace {

constexpr std::string_view kAcctA = "111122223333";
constexpr std::string_view kAcctB = "444455556666";

server::Principal Root(std::string_view account) { return testing::RootPrincipal(account); }

using testing::Obj;

class IamServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::FreshDatabase("iam");
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(IamService::Migrate(*db_).ok());
    creds_ = std::make_unique<server::CredentialStore>(*db_, root_key_);
    ASSERT_TRUE(creds_->CreateAccount(kAcctA, "a", true).ok());
    ASSERT_TRUE(creds_->CreateAccount(kAcctB, "b", false).ok());
    service_ = std::make_unique<IamService>(*db_, *creds_);
    service_->Register(registry_);
  }

  Result<json::Value> Call(const server::Principal& p, std::string_view op, const json::Value& in) {
    const server::OperationHandler* h = registry_.Find("iam", op);
    EXPECT_NE(h, nullptr) << op;
    if (h == nullptr) return Status::Internal("no handler");
    server::RequestContext ctx({&p, "iam", op, "us-east-1", "req", "127.0.0.1", "test", true,
                                clock_.Now(), &config_, db_.get(), &authorizer_, &clock_});
    return (*h)(ctx, in);
  }
  Result<json::Value> A(std::string_view op, const json::Value& in) {
    return Call(Root(kAcctA), op, in);
  }

  static std::string Modeled(const Result<json::Value>& r) { return r.status().modeled(); }

  SecretBytes root_key_{std::string(32, 'k')};
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<server::CredentialStore> creds_;
  std::unique_ptr<IamService> service_;
  server::Registry registry_;
  server::Config config_;
  server::RootOnlyAuthorizer authorizer_;
  SystemClock clock_;
};

TEST_F(IamServiceTest, RegistersEveryOperation) { EXPECT_EQ(registry_.size(), 122u); }

TEST_F(IamServiceTest, UserNamesAreUniqueIgnoringCase) {
  auto created = A("CreateUser", Obj({{"UserName", "Alice"}, {"Path", "/ops/"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  const json::Value* user = created->find("User");
  ASSERT_NE(user, nullptr);
  EXPECT_EQ(user->get_string("Arn"), "arn:aws:iam::111122223333:user/ops/Alice");
  EXPECT_EQ(Modeled(A("CreateUser", Obj({{"UserName", "ALICE"}}))), "EntityAlreadyExistsException");
  auto got = A("GetUser", Obj({{"UserName", "alice"}}));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->find("User")->get_string("UserName"), "Alice");
}

TEST_F(IamServiceTest, AccountsAreIsolated) {
  ASSERT_TRUE(A("CreateUser", Obj({{"UserName", "bob"}})).ok());
  server::Principal b = Root(kAcctB);
  EXPECT_EQ(Modeled(Call(b, "GetUser", Obj({{"UserName", "bob"}}))), "NoSuchEntityException");
  auto listed = Call(b, "ListUsers", json::Value::MakeObject());
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->find("Users")->as_array().empty());
  // Account B may have its own bob.
  EXPECT_TRUE(Call(b, "CreateUser", Obj({{"UserName", "bob"}})).ok());
}

TEST_F(IamServiceTest, UnauthorizedCallerLearnsNothing) {
  server::Principal user;
  user.account_id = std::string(kAcctA);
  user.arn = "arn:aws:iam::111122223333:user/eve";
  user.type = "IAMUser";
  user.user_name = "eve";
  auto r = Call(user, "GetUser", Obj({{"UserName", "nobody"}}));
  EXPECT_EQ(r.status().code(), ErrorCode::kAccessDenied);
  EXPECT_EQ(Call(user, "CreateUser", Obj({{"UserName", "x"}})).status().code(),
            ErrorCode::kAccessDenied);
}

TEST_F(IamServiceTest, ListUsersPagesInNameOrder) {
  for (std::string n : {"u3", "u1", "u5", "u2", "u4"}) {
    ASSERT_TRUE(A("CreateUser", Obj({{"UserName", n}})).ok());
  }
  std::vector<std::string> seen;
  json::Value in = Obj({{"MaxItems", 2}});
  for (int pages = 0; pages < 10; ++pages) {
    auto r = A("ListUsers", in);
    ASSERT_TRUE(r.ok());
    for (const auto& u : r->find("Users")->as_array()) seen.emplace_back(u.get_string("UserName"));
    if (!r->find("IsTruncated")->as_bool()) break;
    in.set("Marker", std::string(r->get_string("Marker")));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"u1", "u2", "u3", "u4", "u5"}));
  EXPECT_EQ(A("ListUsers", Obj({{"Marker", "!!!"}})).status().code(), ErrorCode::kValidation);
}

TEST_F(IamServiceTest, AccessKeysAuthenticateUntilInactive) {
  ASSERT_TRUE(A("CreateUser", Obj({{"UserName", "carol"}})).ok());
  auto key = A("CreateAccessKey", Obj({{"UserName", "carol"}}));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  std::string id(key->find("AccessKey")->get_string("AccessKeyId"));
  auto cred = creds_->Find(id);
  ASSERT_TRUE(cred.ok());
  EXPECT_EQ((*cred)->principal.type, "IAMUser");
  EXPECT_EQ((*cred)->principal.arn, "arn:aws:iam::111122223333:user/carol");
  EXPECT_EQ((*cred)->secret.reveal(), key->find("AccessKey")->get_string("SecretAccessKey"));

  ASSERT_TRUE(A("UpdateAccessKey",
                Obj({{"UserName", "carol"}, {"AccessKeyId", id}, {"Status", "Inactive"}}))
                  .ok());
  EXPECT_EQ(creds_->Find(id).status().code(), ErrorCode::kUnrecognizedClient);

  ASSERT_TRUE(A("CreateAccessKey", Obj({{"UserName", "carol"}})).ok());
  EXPECT_EQ(Modeled(A("CreateAccessKey", Obj({{"UserName", "carol"}}))), "LimitExceededException");
  EXPECT_EQ(Modeled(A("DeleteUser", Obj({{"UserName", "carol"}}))), "DeleteConflictException");
  // Another account's root cannot touch the key.
  EXPECT_EQ(Modeled(Call(Root(kAcctB), "DeleteAccessKey", Obj({{"AccessKeyId", id}}))),
            "NoSuchEntityException");
}

TEST_F(IamServiceTest, RootListsItsOwnKeysWithoutUserName) {
  ASSERT_TRUE(creds_
                  ->AddAccessKey(
                      [] {
                        server::Principal p = Root(kAcctA);
                        p.access_key_id = "AKIAROOTROOTROOTROOT";
                        return p;
                      }(),
                      SecretBytes("s"))
                  .ok());
  auto r = A("ListAccessKeys", json::Value::MakeObject());
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->find("AccessKeyMetadata")->as_array().size(), 1u);
  EXPECT_EQ(r->find("AccessKeyMetadata")->as_array()[0].get_string("AccessKeyId"),
            "AKIAROOTROOTROOTROOT");
}

TEST_F(IamServiceTest, InlinePoliciesOfAUserShareOneQuota) {
  ASSERT_TRUE(A("CreateUser", Obj({{"UserName", "dan"}})).ok());
  auto doc = [](char c) {
    return R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::)" +
           std::string(1100, c) + R"("}})";
  };
  ASSERT_TRUE(A("PutUserPolicy",
                Obj({{"UserName", "dan"}, {"PolicyName", "one"}, {"PolicyDocument", doc('a')}}))
                  .ok());
  EXPECT_EQ(
      Modeled(A("PutUserPolicy",
                Obj({{"UserName", "dan"}, {"PolicyName", "two"}, {"PolicyDocument", doc('b')}}))),
      "LimitExceededException");
  // Replacing the same policy does not count the old text.
  EXPECT_TRUE(A("PutUserPolicy",
                Obj({{"UserName", "dan"}, {"PolicyName", "one"}, {"PolicyDocument", doc('c')}}))
                  .ok());
}

TEST_F(IamServiceTest, AtMostFiftyTags) {
  json::Value tags = json::Value::MakeArray();
  for (int i = 0; i < 50; ++i) tags.push(Obj({{"Key", "k" + std::to_string(i)}, {"Value", "v"}}));
  ASSERT_TRUE(A("CreateUser", Obj({{"UserName", "erin"}, {"Tags", tags}})).ok());
  EXPECT_EQ(
      Modeled(A("TagUser",
                Obj({{"UserName", "erin"},
                     {"Tags", json::Value(json::Array{Obj({{"Key", "x"}, {"Value", "y"}})})}}))),
      "LimitExceededException");
  // Overwriting an existing key stays within the quota.
  EXPECT_TRUE(
      A("TagUser", Obj({{"UserName", "erin"},
                        {"Tags", json::Value(json::Array{Obj({{"Key", "k1"}, {"Value", "z"}})})}}))
          .ok());
}

TEST_F(IamServiceTest, ManagedPolicyDocumentsAreValidatedAndUrlEncoded) {
  EXPECT_EQ(Modeled(A("CreatePolicy",
                      Obj({{"PolicyName", "bad"},
                           {"PolicyDocument", R"({"Statement":[{"Effect":"Maybe"}]})"}}))),
            "MalformedPolicyDocumentException");
  std::string doc =
      R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}})";
  auto p = A("CreatePolicy", Obj({{"PolicyName", "good"}, {"PolicyDocument", doc}}));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::string arn(p->find("Policy")->get_string("Arn"));
  EXPECT_EQ(arn, "arn:aws:iam::111122223333:policy/good");
  auto v = A("GetPolicyVersion", Obj({{"PolicyArn", arn}, {"VersionId", "v1"}}));
  ASSERT_TRUE(v.ok());
  std::string_view encoded = v->find("PolicyVersion")->get_string("Document");
  EXPECT_EQ(encoded.substr(0, 12), "%7B%22Versio");
  // Another account's policy is not the caller's to read.
  EXPECT_EQ(Call(Root(kAcctB), "GetPolicy", Obj({{"PolicyArn", arn}})).status().code(),
            ErrorCode::kAccessDenied);
}

}  // namespace
}  // namespace rampart::iam

namespace rampart::iam {
namespace {

TEST_F(IamServiceTest, GroupRenameRefusesATakenNameAndMembershipFollowsTheGroup) {
  ASSERT_TRUE(A("CreateGroup", Obj({{"GroupName", "ops"}})).ok());
  ASSERT_TRUE(A("CreateGroup", Obj({{"GroupName", "dev"}})).ok());
  ASSERT_TRUE(A("CreateUser", Obj({{"UserName", "ann"}})).ok());
  ASSERT_TRUE(A("AddUserToGroup", Obj({{"GroupName", "ops"}, {"UserName", "ann"}})).ok());
  EXPECT_EQ(Modeled(A("UpdateGroup", Obj({{"GroupName", "ops"}, {"NewGroupName", "DEV"}}))),
            "EntityAlreadyExistsException");
  ASSERT_TRUE(A("UpdateGroup", Obj({{"GroupName", "ops"}, {"NewGroupName", "sre"}})).ok());
  auto groups = A("ListGroupsForUser", Obj({{"UserName", "ann"}}));
  ASSERT_TRUE(groups.ok());
  ASSERT_EQ(groups->find("Groups")->as_array().size(), 1u);
  EXPECT_EQ(groups->find("Groups")->as_array()[0].get_string("GroupName"), "sre");
  // Another account sees none of it.
  EXPECT_EQ(Modeled(Call(Root(kAcctB), "GetGroup", Obj({{"GroupName", "sre"}}))),
            "NoSuchEntityException");
}

TEST_F(IamServiceTest, HostileMarkersAndAwsPolicyChangesAreRefused) {
  const std::string admin = "arn:aws:iam::aws:policy/AdministratorAccess";
  EXPECT_EQ(A("ListGroups", Obj({{"Marker", "%%%not-base64"}})).status().code(),
            ErrorCode::kValidation);
  auto created = A("CreatePolicy",
                   Obj({{"PolicyName", "p"},
                        {"PolicyDocument",
                         R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::string arn(created->find("Policy")->get_string("Arn"));
  EXPECT_EQ(A("ListPolicyVersions", Obj({{"PolicyArn", arn}, {"Marker", "!!"}})).status().code(),
            ErrorCode::kValidation);
  auto versions = A("ListPolicyVersions", Obj({{"PolicyArn", arn}}));
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->find("Versions")->as_array().size(), 1u);
  EXPECT_EQ(Modeled(A("DeletePolicyVersion", Obj({{"PolicyArn", arn}, {"VersionId", "v1"}}))),
            "DeleteConflictException");
  EXPECT_EQ(Modeled(A("GetPolicyVersion", Obj({{"PolicyArn", arn}, {"VersionId", "v2"}}))),
            "NoSuchEntityException");
  // AWS managed policies never change (the root-only authorizer already
  // refuses a resource outside the account; the handler refuses too).
  EXPECT_EQ(A("DeletePolicyVersion", Obj({{"PolicyArn", admin}, {"VersionId", "v1"}}))
                .status()
                .code(),
            ErrorCode::kAccessDenied);
  EXPECT_EQ(Modeled(A("PutUserPermissionsBoundary",
                      Obj({{"UserName", "nobody"}, {"PermissionsBoundary", admin}}))),
            "NoSuchEntityException");
  ASSERT_TRUE(A("CreateUser", Obj({{"UserName", "bo"}})).ok());
  EXPECT_EQ(Modeled(A("PutUserPermissionsBoundary",
                      Obj({{"UserName", "bo"}, {"PermissionsBoundary", "arn:aws:s3:::bucket"}}))),
            "InvalidInputException");
}

}  // namespace
}  // namespace rampart::iam
