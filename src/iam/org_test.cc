// Organizations: SCP validation, the placement computation (paths and SCP
// levels), and the handlers driven through the registry against a real
// SQLite database with the root-only authorizer, read back through
// OrganizationsView as the policy engine sees it.
#include <gtest/gtest.h>

#include "server/testing.h"
#include <unistd.h>

#include <filesystem>

#include "iam/org_internal.h"
#include "rampart/core/arn.h"
#include "rampart/iam/iam_service.h"
#include "rampart/iam/organizations.h"
#include "rampart/server/authorizer.h"
#include "rampart/server/config.h"

namespace rampart::iam {
namespace {

constexpr std::string_view kDenyIam =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["iam:*","kms:*"],"Resource":"*"}]})";

PolicyPtr Scp(std::string_view text, std::string id = "scp") {
  auto p = org::CompileScp(text, std::move(id));
  EXPECT_TRUE(p.ok()) << p.status().message();
  return p.ok() ? *p : nullptr;
}

std::string Statement(std::string_view body) {
  return R"({"Version":"2012-10-17","Statement":[)" + std::string(body) + "]}";
}

TEST(ScpValidationTest, AcceptsAllowDenyNotActionAndTrailingWildcards) {
  EXPECT_TRUE(
      org::CompileScp(Statement(R"({"Effect":"Allow","Action":"*","Resource":"*"})"), "a").ok());
  EXPECT_TRUE(org::CompileScp(Statement(R"({"Effect":"Deny","NotAction":["sts:*","ec2:Describe*"],)"
                                        R"("Resource":"*","Condition":{"StringNotEquals":)"
                                        R"({"aws:RequestedRegion":"eu-west-1"}}})"),
                              "b")
                  .ok());
}

TEST(ScpValidationTest, RejectsPrincipalAndNotPrincipal) {
  for (std::string_view element : {"Principal", "NotPrincipal"}) {
    auto r = org::CompileScp(Statement(R"({"Effect":"Deny",")" + std::string(element) +
                                       R"(":{"AWS":"*"},"Action":"iam:*","Resource":"*"})"),
                             "p");
    ASSERT_FALSE(r.ok()) << element;
    EXPECT_EQ(r.status().modeled(), "MalformedPolicyDocumentException");
  }
}

TEST(ScpValidationTest, RejectsWildcardsInsideActionNames) {
  auto r =
      org::CompileScp(Statement(R"({"Effect":"Deny","Action":"s3:*Object","Resource":"*"})"), "w");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().modeled(), "MalformedPolicyDocumentException");
  EXPECT_NE(r.status().message().find("s3:*Object"), std::string::npos);
}

TEST(ScpValidationTest, RejectsSyntaxErrors) {
  for (std::string_view text : {"", "not json", R"({"Statement":[]})",
                                R"({"Version":"2012-10-17","Statement":{"Effect":"Maybe",)"
                                R"("Action":"*","Resource":"*"}})"}) {
    auto r = org::CompileScp(text, "s");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().modeled(), "MalformedPolicyDocumentException") << text;
  }
}

TEST(ScpValidationTest, SizeLimitCountsWhitespace) {
  std::string base = Statement(R"({"Effect":"Allow","Action":"*","Resource":"*"})");
  // Pad with whitespace inside the JSON up to exactly the limit: accepted.
  std::string at_limit = base;
  at_limit.insert(1, org::kMaxScpCharacters - base.size(), ' ');
  ASSERT_EQ(at_limit.size(), org::kMaxScpCharacters);
  EXPECT_TRUE(org::CompileScp(at_limit, "x").ok());
  // One more space (which IAM's own quotas would not count) is too much.
  std::string over = " " + at_limit;
  auto r = org::CompileScp(over, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().modeled(), "ConstraintViolationException");
  EXPECT_NE(r.status().message().find("POLICY_CONTENT_LIMIT_EXCEEDED"), std::string::npos);
}

TEST(PlacementTest, OutsideAnOrganizationIsEmpty) {
  OrgPlacement p = org::ComputePlacement({});
  EXPECT_TRUE(p.org_id.empty());
  EXPECT_TRUE(p.paths.empty());
  EXPECT_TRUE(p.scp_levels.empty());
  EXPECT_FALSE(p.management);
}

TEST(PlacementTest, PathsAndLevelsFollowTheOuChain) {
  PolicyPtr full = Scp(org::FullAccessContent(), "full");
  PolicyPtr deny = Scp(kDenyIam, "deny");
  org::PlacementInput in;
  in.org_id = "o-abcdefghij";
  in.root_id = "r-ab12";
  in.account_id = "210987654321";
  in.scp_enabled = true;
  in.ou_chain = {"ou-ab12-11111111", "ou-ab12-22222222"};
  in.attached["r-ab12"] = {full};
  in.attached["ou-ab12-11111111"] = {full, deny};
  in.attached["ou-ab12-22222222"] = {full};
  in.attached["210987654321"] = {full};
  in.attached["ou-ab12-99999999"] = {deny};  // elsewhere in the tree: ignored
  OrgPlacement p = org::ComputePlacement(in);
  EXPECT_EQ(p.org_id, "o-abcdefghij");
  ASSERT_EQ(p.paths.size(), 1u);
  EXPECT_EQ(p.paths[0], "o-abcdefghij/r-ab12/ou-ab12-11111111/ou-ab12-22222222/");
  ASSERT_EQ(p.scp_levels.size(), 4u);  // root, two OUs, the account
  EXPECT_EQ(p.scp_levels[0].size(), 1u);
  ASSERT_EQ(p.scp_levels[1].size(), 2u);
  EXPECT_EQ(p.scp_levels[1][1], deny);
  EXPECT_EQ(p.scp_levels[2].size(), 1u);
  EXPECT_EQ(p.scp_levels[3].size(), 1u);
  EXPECT_FALSE(p.management);
}

TEST(PlacementTest, AccountUnderTheRootHasTwoLevels) {
  org::PlacementInput in{"o-abcdefghij", "r-ab12", "210987654321", false, true, {}, {}};
  OrgPlacement p = org::ComputePlacement(in);
  EXPECT_EQ(p.paths.at(0), "o-abcdefghij/r-ab12/");
  // A level without any attachment is kept (empty): the engine then denies.
  ASSERT_EQ(p.scp_levels.size(), 2u);
  EXPECT_TRUE(p.scp_levels[0].empty());
}

TEST(PlacementTest, NoLevelsWhileScpsAreDisabled) {
  org::PlacementInput in{"o-abcdefghij",       "r-ab12", "210987654321", true, false,
                         {"ou-ab12-11111111"}, {}};
  OrgPlacement p = org::ComputePlacement(in);
  EXPECT_TRUE(p.management);
  EXPECT_EQ(p.paths.at(0), "o-abcdefghij/r-ab12/ou-ab12-11111111/");
  EXPECT_TRUE(p.scp_levels.empty());
}

// The engine with a placement: a Deny at an OU wins with the SCP wording;
// a level without an Allow denies; the management account is exempt.
TEST(PlacementTest, EngineEnforcesThePlacement) {
  PolicyPtr full = Scp(org::FullAccessContent(), "full");
  PolicyPtr deny = Scp(kDenyIam, "deny");
  PolicyPtr admin = *CompilePolicy(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})",
      PolicyKind::kIdentity, "admin");
  org::PlacementInput in{"o-abcdefghij",       "r-ab12", "210987654321", false, true,
                         {"ou-ab12-11111111"}, {}};
  in.attached["r-ab12"] = {full};
  in.attached["ou-ab12-11111111"] = {full, deny};
  in.attached["210987654321"] = {full};
  auto decide = [&](const org::PlacementInput& input, std::string_view action) {
    OrgPlacement placement = org::ComputePlacement(input);
    PrincipalPolicies pp;
    pp.identity = {admin};
    pp.scp_levels = placement.scp_levels;
    pp.scp_exempt = placement.management;
    PrincipalInfo who;
    who.type = PrincipalType::kAssumedRole;
    who.account = "210987654321";
    who.arn = "arn:aws:sts::210987654321:assumed-role/OrganizationAccountAccessRole/s";
    who.role_arn = "arn:aws:iam::210987654321:role/OrganizationAccountAccessRole";
    AuthzRequest r(who, action, "*");
    PolicySet set;
    set.principal = &pp;
    Decision d = Decide(set, r);
    return std::make_pair(d.allowed, DenialMessage(d, r));
  };
  auto [iam_allowed, iam_msg] = decide(in, "iam:ListRoles");
  EXPECT_FALSE(iam_allowed);
  EXPECT_NE(iam_msg.find("with an explicit deny in a service control policy"), std::string::npos);
  EXPECT_TRUE(decide(in, "organizations:DescribeOrganization").first);

  org::PlacementInput no_allow = in;
  no_allow.attached["210987654321"] = {deny};  // the account level allows nothing
  auto [allowed, msg] = decide(no_allow, "organizations:DescribeOrganization");
  EXPECT_FALSE(allowed);
  EXPECT_NE(msg.find("because no service control policy allows"), std::string::npos);

  org::PlacementInput management = in;
  management.management = true;
  EXPECT_TRUE(decide(management, "iam:ListRoles").first);
}

json::Value TagsInput(std::initializer_list<std::pair<std::string, std::string>> tags) {
  json::Value list = json::Value::MakeArray();
  for (const auto& [k, v] : tags) {
    json::Value t = json::Value::MakeObject();
    t.set("Key", k);
    t.set("Value", v);
    list.push(std::move(t));
  }
  json::Value in = json::Value::MakeObject();
  in.set("Tags", std::move(list));
  return in;
}

TEST(OrgTagsTest, ReadTagsRejectsDuplicatesReservedKeysAndTooMany) {
  auto ok = org::ReadTags(TagsInput({{"env", "prod"}, {"team", ""}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 2u);
  EXPECT_TRUE(org::ReadTags(json::Value::MakeObject())->empty());
  auto dup = org::ReadTags(TagsInput({{"env", "a"}, {"env", "b"}}));
  EXPECT_EQ(dup.status().modeled(), "InvalidInputException");
  EXPECT_NE(dup.status().message().find("DUPLICATE_TAG_KEY"), std::string::npos);
  EXPECT_EQ(org::ReadTags(TagsInput({{"AWS:x", "a"}})).status().modeled(), "InvalidInputException");
  json::Value many = TagsInput({});
  for (int i = 0; i < 51; ++i) {
    json::Value t = json::Value::MakeObject();
    t.set("Key", "k" + std::to_string(i));
    t.set("Value", "v");
    many.find("Tags")->push(std::move(t));
  }
  EXPECT_EQ(org::ReadTags(many).status().modeled(), "ConstraintViolationException");
  auto keys = server::RequestTagKeys(*ok);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].name, "aws:RequestTag/env");
  EXPECT_EQ(keys[2].name, "aws:TagKeys");
  EXPECT_EQ(keys[2].values, (std::vector<std::string>{"env", "team"}));
}

constexpr std::string_view kMgmt = "111122223333";

server::Principal Root(std::string_view account) { return testing::RootPrincipal(account); }

using testing::Obj;

class OrganizationsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::FreshDatabase("org");
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(IamService::Migrate(*db_).ok());
    ASSERT_TRUE(OrganizationsService::Migrate(*db_).ok());
    creds_ = std::make_unique<server::CredentialStore>(*db_, root_key_);
    ASSERT_TRUE(creds_->CreateAccount(kMgmt, "mgmt", true).ok());
    service_ = std::make_unique<OrganizationsService>(*db_);
    service_->SetPolicyCache(&cache_);
    service_->Register(registry_);
    view_ = std::make_unique<OrganizationsView>(*db_);
  }

  Result<json::Value> Call(std::string_view op, const json::Value& in,
                           std::string_view account = kMgmt) {
    const server::OperationHandler* h = registry_.Find("organizations", op);
    EXPECT_NE(h, nullptr) << op;
    if (h == nullptr) return Status::Internal("no handler");
    server::Principal p = Root(account);
    server::RequestContext ctx({&p, "organizations", op, "us-east-1", "req", "127.0.0.1", "test",
                                true, clock_.Now(), &config_, db_.get(), &authorizer_, &clock_});
    return (*h)(ctx, in);
  }
  json::Value Ok(std::string_view op, const json::Value& in) {
    auto r = Call(op, in);
    EXPECT_TRUE(r.ok()) << op << ": " << r.status().ToString();
    return r.ok() ? *r : json::Value();
  }

  SecretBytes root_key_{std::string(32, 'k')};
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<server::CredentialStore> creds_;
  std::unique_ptr<OrganizationsService> service_;
  std::unique_ptr<OrganizationsView> view_;
  PolicyCache cache_;
  server::Registry registry_;
  server::Config config_;
  server::RootOnlyAuthorizer authorizer_;
  SystemClock clock_;
};

TEST_F(OrganizationsServiceTest, PlacementFollowsMovesAttachmentsAndTheSwitch) {
  json::Value org = Ok("CreateOrganization", Obj({{"FeatureSet", "ALL"}}));
  std::string org_id(org.find("Organization")->get_string("Id"));
  std::string root_id(
      Ok("ListRoots", json::Value::MakeObject()).find("Roots")->as_array()[0].get_string("Id"));
  json::Value created =
      Ok("CreateAccount", Obj({{"Email", "dev@example.com"}, {"AccountName", "dev"}}));
  std::string member(created.find("CreateAccountStatus")->get_string("AccountId"));
  ASSERT_EQ(member.size(), 12u);
  std::string ou(
      Ok("CreateOrganizationalUnit", Obj({{"ParentId", root_id}, {"Name", "ProductionOU"}}))
          .find("OrganizationalUnit")
          ->get_string("Id"));
  Ok("MoveAccount",
     Obj({{"AccountId", member}, {"SourceParentId", root_id}, {"DestinationParentId", ou}}));

  auto placement = view_->PlacementOf(member);
  ASSERT_TRUE(placement.ok());
  EXPECT_EQ(placement->org_id, org_id);
  EXPECT_EQ(placement->paths.at(0), org_id + "/" + root_id + "/" + ou + "/");
  EXPECT_TRUE(placement->scp_levels.empty());  // SCPs not enabled yet

  Ok("EnablePolicyType", Obj({{"RootId", root_id}, {"PolicyType", "SERVICE_CONTROL_POLICY"}}));
  std::string scp(Ok("CreatePolicy", Obj({{"Name", "NoIam"},
                                          {"Description", "d"},
                                          {"Type", "SERVICE_CONTROL_POLICY"},
                                          {"Content", kDenyIam}}))
                      .find("Policy")
                      ->find("PolicySummary")
                      ->get_string("Id"));
  Ok("AttachPolicy", Obj({{"PolicyId", scp}, {"TargetId", ou}}));
  placement = view_->PlacementOf(member);
  ASSERT_TRUE(placement.ok());
  ASSERT_EQ(placement->scp_levels.size(), 3u);     // root, ProductionOU, the account
  EXPECT_EQ(placement->scp_levels[0].size(), 1u);  // FullAWSAccess
  EXPECT_EQ(placement->scp_levels[1].size(), 2u);  // FullAWSAccess + NoIam
  EXPECT_EQ(placement->scp_levels[2].size(), 1u);

  auto mgmt = view_->PlacementOf(kMgmt);
  ASSERT_TRUE(mgmt.ok());
  EXPECT_TRUE(mgmt->management);
  EXPECT_EQ(mgmt->paths.at(0), org_id + "/" + root_id + "/");

  // The last SCP of a target stays; a used policy cannot be deleted.
  auto last = Call("DetachPolicy", Obj({{"PolicyId", "p-FullAWSAccess"}, {"TargetId", member}}));
  EXPECT_EQ(last.status().modeled(), "ConstraintViolationException") << last.status().ToString();
  EXPECT_EQ(Call("DeletePolicy", Obj({{"PolicyId", scp}})).status().modeled(),
            "PolicyInUseException");
  Ok("DetachPolicy", Obj({{"PolicyId", scp}, {"TargetId", ou}}));
  Ok("DeletePolicy", Obj({{"PolicyId", scp}}));

  Ok("DisablePolicyType", Obj({{"RootId", root_id}, {"PolicyType", "SERVICE_CONTROL_POLICY"}}));
  placement = view_->PlacementOf(member);
  ASSERT_TRUE(placement.ok());
  EXPECT_TRUE(placement->scp_levels.empty());

  EXPECT_TRUE(view_->PlacementOf("999999999999")->org_id.empty());
}

TEST_F(OrganizationsServiceTest, WritesInvalidateThePolicyCache) {
  Ok("CreateOrganization", json::Value::MakeObject());
  cache_.Put("x", std::make_shared<const PrincipalPolicies>(), cache_.generation());
  ASSERT_EQ(cache_.size(), 1u);
  std::string root_id(
      Ok("ListRoots", json::Value::MakeObject()).find("Roots")->as_array()[0].get_string("Id"));
  Ok("CreateOrganizationalUnit", Obj({{"ParentId", root_id}, {"Name", "A"}}));
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(OrganizationsServiceTest, MembersCannotManageAndOutsidersAreNotInUse) {
  Ok("CreateOrganization", json::Value::MakeObject());
  std::string member(Ok("CreateAccount", Obj({{"Email", "m@example.com"}, {"AccountName", "m"}}))
                         .find("CreateAccountStatus")
                         ->get_string("AccountId"));
  EXPECT_EQ(Call("ListAccounts", json::Value::MakeObject(), member).status().modeled(),
            "AccessDeniedException");
  EXPECT_TRUE(Call("DescribeOrganization", json::Value::MakeObject(), member).ok());
  EXPECT_EQ(Call("CreateOrganization", json::Value::MakeObject(), member).status().modeled(),
            "AlreadyInOrganizationException");
  EXPECT_EQ(
      Call("DescribeOrganization", json::Value::MakeObject(), "999999999999").status().modeled(),
      "AWSOrganizationsNotInUseException");
  EXPECT_EQ(Call("DeleteOrganization", json::Value::MakeObject()).status().modeled(),
            "OrganizationNotEmptyException");
}

TEST_F(OrganizationsServiceTest, DuplicateEmailFailsTheRequestNotTheCall) {
  Ok("CreateOrganization", json::Value::MakeObject());
  Ok("CreateAccount", Obj({{"Email", "same@example.com"}, {"AccountName", "a"}}));
  json::Value second =
      Ok("CreateAccount", Obj({{"Email", "SAME@example.com"}, {"AccountName", "b"}}));
  const json::Value* st = second.find("CreateAccountStatus");
  EXPECT_EQ(st->get_string("State"), "FAILED");
  EXPECT_EQ(st->get_string("FailureReason"), "EMAIL_ALREADY_EXISTS");
  EXPECT_EQ(Ok("ListAccounts", json::Value::MakeObject()).find("Accounts")->as_array().size(), 2u);
}

TEST_F(OrganizationsServiceTest, PagesWithNextToken) {
  Ok("CreateOrganization", json::Value::MakeObject());
  for (int i = 0; i < 3; ++i) {
    Ok("CreateAccount",
       Obj({{"Email", "a" + std::to_string(i) + "@example.com"}, {"AccountName", "a"}}));
  }
  json::Value first = Ok("ListAccounts", Obj({{"MaxResults", 3}}));
  EXPECT_EQ(first.find("Accounts")->as_array().size(), 3u);
  std::string token(first.get_string("NextToken"));
  ASSERT_FALSE(token.empty());
  json::Value second = Ok("ListAccounts", Obj({{"MaxResults", 3}, {"NextToken", token}}));
  EXPECT_EQ(second.find("Accounts")->as_array().size(), 1u);
  EXPECT_EQ(second.find("NextToken"), nullptr);
  EXPECT_EQ(Call("ListAccounts", Obj({{"NextToken", "garbage!"}})).status().modeled(),
            "InvalidInputException");
}

}  // namespace
}  // namespace rampart::iam
