// Decision order, one rule per test (engine.h cites the AWS pages).
#include "rampart/iam/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>

// Counts heap allocations made while a test sets g_count_allocations (for
// the "evaluation does not allocate" test). malloc/free based, matching
// the replaced operator delete, so sanitizers see consistent pairs.
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<size_t> g_allocations{0};
}  // namespace

void* operator new(size_t size) {
  if (g_count_allocations.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// GCC cannot see that the replaced operator new above allocates with malloc.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace rampart::iam {
namespace {

PolicyPtr P(std::string_view statements, PolicyKind kind = PolicyKind::kIdentity,
            std::string id = "policy") {
  std::string text = R"({"Version": "2012-10-17", "Statement": )" + std::string(statements) + "}";
  auto p = CompilePolicy(text, kind, std::move(id));
  EXPECT_TRUE(p.ok()) << p.status().message() << " in " << statements;
  return p.ok() ? *p : nullptr;
}

PolicyPtr Allow(std::string_view action, std::string id = "allow") {
  return P(R"({"Effect": "Allow", "Action": ")" + std::string(action) + R"(", "Resource": "*"})",
           PolicyKind::kIdentity, std::move(id));
}
PolicyPtr DenyP(std::string_view action, std::string id = "deny") {
  return P(R"({"Sid": "NoWay", "Effect": "Deny", "Action": ")" + std::string(action) +
               R"(", "Resource": "*"})", PolicyKind::kIdentity, std::move(id));
}
PolicyPtr ResourceAllow(std::string_view principal_json, std::string_view action) {
  return P(R"({"Sid": "R", "Effect": "Allow", "Principal": )" + std::string(principal_json) +
               R"(, "Action": ")" + std::string(action) + R"(", "Resource": "*"})",
           PolicyKind::kResource, "resource");
}

constexpr std::string_view kAcct = "111122223333";
const std::string kKey = "arn:aws:kms:us-east-1:111122223333:key/k1";
const std::string kOtherKey = "arn:aws:kms:us-east-1:444455556666:key/k2";

PrincipalInfo User(std::string_view account = kAcct) {
  PrincipalInfo p;
  p.type = PrincipalType::kUser;
  p.account = std::string(account);
  p.arn = "arn:aws:iam::" + p.account + ":user/Bob";
  p.user_name = "Bob";
  return p;
}
PrincipalInfo Session(PrincipalType type = PrincipalType::kAssumedRole) {
  PrincipalInfo p;
  p.type = type;
  p.account = std::string(kAcct);
  if (type == PrincipalType::kAssumedRole) {
    p.arn = "arn:aws:sts::111122223333:assumed-role/Admin/s1";
    p.role_arn = "arn:aws:iam::111122223333:role/Admin";
  } else {
    p.arn = "arn:aws:sts::111122223333:federated-user/Bob";
  }
  return p;
}

Decision Check(const PolicySet& set, PrincipalInfo p, std::string_view action = "kms:Encrypt",
             std::string_view resource = kKey) {
  AuthzRequest r(std::move(p), action, resource);
  return Decide(set, r);
}

TEST(Engine, ImplicitDenyByDefault) {
  PrincipalPolicies pp;
  Decision d = Check({.principal = &pp}, User());
  EXPECT_FALSE(d.allowed);
  EXPECT_FALSE(d.explicit_deny);
  EXPECT_EQ(d.type, PolicyType::kIdentity);
  AuthzRequest r(User(), "kms:Encrypt", kKey);
  EXPECT_EQ(DenialMessage(d, r),
            "User: arn:aws:iam::111122223333:user/Bob is not authorized to perform: kms:Encrypt "
            "on resource: " + kKey + " because no identity-based policy allows the kms:Encrypt action");
  Status st = DecisionStatus(d, r);
  EXPECT_EQ(st.code(), ErrorCode::kAccessDenied);
}

TEST(Engine, IdentityAllowGrants) {
  PrincipalPolicies pp{.identity = {Allow("kms:*", "admin")}};
  Decision d = Check({.principal = &pp}, User());
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.type, PolicyType::kIdentity);
  ASSERT_EQ(d.deciding().size(), 1u);
  EXPECT_EQ(d.deciding()[0].policy->id(), "admin");
}

TEST(Engine, ExplicitDenyWinsEverywhere) {
  PolicyPtr allow = Allow("kms:*");
  PolicyPtr deny = DenyP("kms:Encrypt");
  PolicyPtr res_deny = P(R"({"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt",
                             "Resource": "*"})", PolicyKind::kResource);
  PolicyPtr res_allow = ResourceAllow(R"({"AWS": "arn:aws:iam::111122223333:user/Bob"})", "kms:*");
  struct Case {
    const char* name;
    PrincipalPolicies pp;
    std::vector<PolicyPtr> session;
    PolicyPtr resource;
    PolicyType expect;
  } cases[] = {
      {"identity", {.identity = {allow, deny}}, {}, res_allow, PolicyType::kIdentity},
      {"boundary", {.identity = {allow}, .boundary = deny}, {}, res_allow, PolicyType::kBoundary},
      {"scp", {.identity = {allow}, .scp_levels = {{allow, deny}}}, {}, res_allow, PolicyType::kScp},
      {"session", {.identity = {allow}}, {allow, deny}, res_allow, PolicyType::kSession},
      {"resource", {.identity = {allow}}, {}, res_deny, PolicyType::kResource},
  };
  for (const auto& c : cases) {
    PolicySet set{.principal = &c.pp, .session = c.session,
                  .has_session_policies = !c.session.empty(), .resource = c.resource.get()};
    Decision d = Check(set, User());
    EXPECT_FALSE(d.allowed) << c.name;
    EXPECT_TRUE(d.explicit_deny) << c.name;
    EXPECT_EQ(d.type, c.expect) << c.name;
    ASSERT_EQ(d.deciding().size(), 1u) << c.name;
  }
  PrincipalPolicies pp{.identity = {allow, deny}};
  AuthzRequest r(User(), "kms:Encrypt", kKey);
  Decision d = Decide({.principal = &pp}, r);
  EXPECT_EQ(d.deciding()[0].statement().sid, "NoWay");
  EXPECT_NE(DenialMessage(d, r).find("with an explicit deny in an identity-based policy"),
            std::string::npos);
}

TEST(Engine, ScpEveryLevelMustAllow) {
  PolicyPtr full = Allow("*", "FullAWSAccess");
  PolicyPtr kms_only = Allow("kms:*", "KmsOnly");
  PrincipalPolicies pp{.identity = {Allow("*")}, .scp_levels = {{full}, {kms_only}, {full}}};
  EXPECT_TRUE(Check({.principal = &pp}, User()).allowed);
  Decision d = Check({.principal = &pp}, User(), "s3:GetObject", "arn:aws:s3:::b/k");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.type, PolicyType::kScp);
  EXPECT_FALSE(d.explicit_deny);
  // A level with no policy at all allows nothing.
  pp.scp_levels = {{full}, {}};
  EXPECT_FALSE(Check({.principal = &pp}, User()).allowed);
  // The management account is exempt, even from SCP denies.
  pp.scp_levels = {{full, DenyP("kms:*")}, {}};
  pp.scp_exempt = true;
  EXPECT_TRUE(Check({.principal = &pp}, User()).allowed);
  // SCPs never grant by themselves.
  PrincipalPolicies only_scp{.scp_levels = {{full}}};
  EXPECT_FALSE(Check({.principal = &only_scp}, User()).allowed);
}

TEST(Engine, BoundaryIntersects) {
  PrincipalPolicies pp{.identity = {Allow("*")}, .boundary = Allow("kms:*", "boundary")};
  Decision d = Check({.principal = &pp}, User());
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.deciding().size(), 2u);  // identity + boundary
  d = Check({.principal = &pp}, User(), "iam:CreateUser", "*");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.type, PolicyType::kBoundary);
  // The boundary never grants on its own.
  PrincipalPolicies only_boundary{.boundary = Allow("*")};
  EXPECT_EQ(Check({.principal = &only_boundary}, User()).type, PolicyType::kIdentity);
}

TEST(Engine, SessionPoliciesIntersect) {
  PrincipalPolicies pp{.identity = {Allow("*")}};
  std::vector<PolicyPtr> session = {Allow("kms:Encrypt", "session")};
  PolicySet set{.principal = &pp, .session = session, .has_session_policies = true};
  EXPECT_TRUE(Check(set, Session()).allowed);
  Decision d = Check(set, Session(), "kms:Decrypt");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.type, PolicyType::kSession);
  // Session policies passed but none allows: denied.
  std::vector<PolicyPtr> none;
  EXPECT_FALSE(Check({.principal = &pp, .session = none, .has_session_policies = true}, Session())
                   .allowed);
  // Session policies never grant beyond identity policies.
  PrincipalPolicies empty;
  EXPECT_EQ(Check({.principal = &empty, .session = session, .has_session_policies = true}, Session())
                .type,
            PolicyType::kIdentity);
  // A federated user without session policies has no identity permissions.
  Decision f = Check({.principal = &pp}, Session(PrincipalType::kFederatedUser));
  EXPECT_FALSE(f.allowed);
  EXPECT_EQ(f.type, PolicyType::kSession);
}

TEST(Engine, SameAccountResourcePolicyNamingUserGrantsDespiteBoundary) {
  // access_policies_boundaries.html: a same-account resource policy naming
  // the IAM user ARN is not limited by an implicit deny in the boundary.
  PolicyPtr res = ResourceAllow(R"({"AWS": "arn:aws:iam::111122223333:user/Bob"})", "kms:*");
  PrincipalPolicies pp{.boundary = Allow("s3:*")};
  Decision d = Check({.principal = &pp, .resource = res.get()}, User());
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.type, PolicyType::kResource);
  EXPECT_EQ(d.deciding()[0].statement().sid, "R");
  // ... and with no identity policy at all.
  PrincipalPolicies none;
  EXPECT_TRUE(Check({.principal = &none, .resource = res.get()}, User()).allowed);
  // An explicit deny in the boundary still wins.
  PrincipalPolicies denying{.boundary = DenyP("kms:*")};
  EXPECT_FALSE(Check({.principal = &denying, .resource = res.get()}, User()).allowed);
}

TEST(Engine, SameAccountResourcePolicyNamingSessionOrRole) {
  PrincipalPolicies pp{.boundary = Allow("s3:*")};
  std::vector<PolicyPtr> session = {Allow("s3:*")};
  // Naming the session ARN: not limited by boundary or session policies.
  PolicyPtr by_session =
      ResourceAllow(R"({"AWS": "arn:aws:sts::111122223333:assumed-role/Admin/s1"})", "kms:*");
  EXPECT_TRUE(Check({.principal = &pp, .session = session, .has_session_policies = true,
                   .resource = by_session.get()}, Session()).allowed);
  // Naming the role ARN: limited by an implicit deny in the boundary ...
  PolicyPtr by_role = ResourceAllow(R"({"AWS": "arn:aws:iam::111122223333:role/Admin"})", "kms:*");
  Decision d = Check({.principal = &pp, .resource = by_role.get()}, Session());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.type, PolicyType::kBoundary);
  // ... and by session policies ...
  PrincipalPolicies no_boundary;
  d = Check({.principal = &no_boundary, .session = session, .has_session_policies = true,
           .resource = by_role.get()}, Session());
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.type, PolicyType::kSession);
  // ... but needs no identity-policy Allow.
  EXPECT_TRUE(Check({.principal = &no_boundary, .resource = by_role.get()}, Session()).allowed);
  // Naming only the account delegates to IAM policies.
  PolicyPtr by_account = ResourceAllow(R"({"AWS": "111122223333"})", "kms:*");
  EXPECT_FALSE(Check({.principal = &no_boundary, .resource = by_account.get()}, User()).allowed);
  PrincipalPolicies allowed{.identity = {Allow("kms:*")}};
  EXPECT_TRUE(Check({.principal = &allowed, .resource = by_account.get()}, User()).allowed);
}

TEST(Engine, CrossAccountNeedsBothSides) {
  PrincipalPolicies pp{.identity = {Allow("kms:*")}};
  PolicyPtr trust_account = ResourceAllow(R"({"AWS": "arn:aws:iam::111122223333:root"})", "kms:*");
  // Identity allows, no resource policy: denied.
  Decision d = Check({.principal = &pp}, User(), "kms:Encrypt", kOtherKey);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.type, PolicyType::kResource);
  // Both: allowed (the resource trusts the whole account).
  d = Check({.principal = &pp, .resource = trust_account.get()}, User(), "kms:Encrypt", kOtherKey);
  EXPECT_TRUE(d.allowed);
  // Resource names the user directly, but identity does not allow: denied.
  PrincipalPolicies empty;
  PolicyPtr direct = ResourceAllow(R"({"AWS": "arn:aws:iam::111122223333:user/Bob"})", "kms:*");
  d = Check({.principal = &empty, .resource = direct.get()}, User(), "kms:Encrypt", kOtherKey);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.type, PolicyType::kIdentity);
  // The boundary limits cross-account access too.
  PrincipalPolicies bounded{.identity = {Allow("kms:*")}, .boundary = Allow("s3:*")};
  d = Check({.principal = &bounded, .resource = direct.get()}, User(), "kms:Encrypt", kOtherKey);
  EXPECT_EQ(d.type, PolicyType::kBoundary);
  // A resource policy for another account does not help.
  PolicyPtr wrong = ResourceAllow(R"({"AWS": "777788889999"})", "kms:*");
  EXPECT_FALSE(Check({.principal = &pp, .resource = wrong.get()}, User(), "kms:Encrypt", kOtherKey)
                   .allowed);
  // Root of the other account: identity side is implicit, resource side needed.
  PrincipalInfo root;
  root.type = PrincipalType::kRoot;
  root.account = std::string(kAcct);
  root.arn = "arn:aws:iam::111122223333:root";
  EXPECT_TRUE(Check({.resource = trust_account.get()}, root, "kms:Encrypt", kOtherKey).allowed);
  EXPECT_FALSE(Check({}, root, "kms:Encrypt", kOtherKey).allowed);
  EXPECT_TRUE(Check({}, root, "kms:Encrypt", kKey).allowed);
}

TEST(Engine, RequiredResourcePolicy) {
  // Trust policies and key policies must allow; naming the account
  // delegates to the identity side.
  PrincipalPolicies pp{.identity = {Allow("sts:AssumeRole")}};
  PolicyPtr trust = P(R"({"Effect": "Allow", "Principal": {"AWS": "111122223333"},
                         "Action": "sts:AssumeRole"})", PolicyKind::kTrust);
  std::string role = "arn:aws:iam::111122223333:role/Target";
  EXPECT_TRUE(Check({.principal = &pp, .resource = trust.get(), .resource_policy_required = true},
                  User(), "sts:AssumeRole", role).allowed);
  EXPECT_FALSE(Check({.principal = &pp, .resource_policy_required = true}, User(), "sts:AssumeRole",
                   role).allowed);
  PrincipalPolicies empty;
  EXPECT_FALSE(Check({.principal = &empty, .resource = trust.get(), .resource_policy_required = true},
                   User(), "sts:AssumeRole", role).allowed);
  // Service principals get exactly what the trust policy grants.
  PolicyPtr svc = P(R"({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"})", PolicyKind::kTrust);
  PrincipalInfo lambda;
  lambda.type = PrincipalType::kService;
  lambda.service = "lambda.amazonaws.com";
  EXPECT_TRUE(Check({.resource = svc.get(), .resource_policy_required = true}, lambda,
                  "sts:AssumeRole", role).allowed);
  lambda.service = "ec2.amazonaws.com";
  EXPECT_FALSE(Check({.resource = svc.get(), .resource_policy_required = true}, lambda,
                   "sts:AssumeRole", role).allowed);
}

TEST(Engine, DenialMessages) {
  AuthzRequest r(User(), "kms:Encrypt", kKey);
  Decision d;
  d.type = PolicyType::kScp;
  EXPECT_NE(DenialMessage(d, r).find("because no service control policy allows the kms:Encrypt action"),
            std::string::npos);
  d.explicit_deny = true;
  EXPECT_NE(DenialMessage(d, r).find("with an explicit deny in a service control policy"),
            std::string::npos);
  d.type = PolicyType::kBoundary;
  EXPECT_NE(DenialMessage(d, r).find("in a permissions boundary"), std::string::npos);
}

TEST(PolicyCache, GenerationsAndInvalidation) {
  PolicyCache cache;
  auto pp = std::make_shared<PrincipalPolicies>();
  uint64_t g = cache.generation();
  EXPECT_TRUE(cache.Put("arn:aws:iam::1:user/a", pp, g));
  EXPECT_EQ(cache.Get("arn:aws:iam::1:user/a"), pp);
  EXPECT_EQ(cache.Get("arn:aws:iam::1:user/b"), nullptr);
  cache.Invalidate("arn:aws:iam::1:user/a");
  EXPECT_EQ(cache.Get("arn:aws:iam::1:user/a"), nullptr);
  // A load that started before an invalidation is not stored.
  EXPECT_FALSE(cache.Put("arn:aws:iam::1:user/a", pp, g));
  g = cache.generation();
  EXPECT_TRUE(cache.Put("arn:aws:iam::1:user/a", pp, g));
  cache.InvalidateAll();
  EXPECT_EQ(cache.size(), 0u);
  PolicyCache small(2);
  g = small.generation();
  EXPECT_TRUE(small.Put("a", pp, g));
  EXPECT_TRUE(small.Put("b", pp, g));
  EXPECT_TRUE(small.Put("c", pp, g));
  EXPECT_LE(small.size(), 2u);
}

TEST(PolicyCache, ConcurrentUse) {
  PolicyCache cache;
  auto pp = std::make_shared<PrincipalPolicies>();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string key = "k" + std::to_string((i + t) % 17);
        if (!cache.Get(key)) (void)cache.Put(key, pp, cache.generation());
        if (i % 97 == 0) cache.Invalidate(key);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(cache.size(), 17u);
}

// Evaluation must not touch the heap: variables, condition keys (interned
// ids), globs and the service filter all work in place.
TEST(Engine, DecideDoesNotAllocate) {
  PrincipalPolicies pp;
  pp.identity = {
      P(R"([{"Effect": "Allow", "Action": ["kms:Encrypt", "sns:*"], "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"},
                           "StringLike": {"aws:userid": "*${aws:username}*"},
                           "ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]},
                           "Null": {"aws:SourceIp": "false"}}},
            {"Effect": "Deny", "NotAction": "kms:*", "Resource": "*"}])")};
  pp.boundary = P(R"({"Effect": "Allow", "Action": "kms:*", "Resource": "arn:aws:kms:*:${aws:PrincipalAccount}:key/*"})",
                  PolicyKind::kBoundary);
  pp.scp_levels = {{P(R"({"Effect": "Allow", "Action": "*", "Resource": "*"})", PolicyKind::kScp)}};
  PolicyPtr resource = ResourceAllow(R"({"AWS": "arn:aws:iam::111122223333:root"})", "kms:*");
  PrincipalInfo p = User();
  p.id = "AIDAEXAMPLEBob";
  p.tags = {{"team", "blue"}};
  AuthzRequest r(p, "kms:Encrypt", kKey);
  r.AddPlatformKeys(Environment{.source_ip = "203.0.113.7"});
  r.keys().Set("aws:ResourceTag/team", "blue");
  r.keys().Set("aws:TagKeys", std::vector<std::string>{"a"});
  PolicySet set{.principal = &pp, .resource = resource.get(), .resource_policy_required = true};
  g_allocations = 0;
  g_count_allocations = true;
  Decision allowed = Decide(set, r);
  g_count_allocations = false;
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(g_allocations.exchange(0), 0u);

  r.set_action("sqs:SendMessage");
  g_count_allocations = true;
  Decision denied = Decide(set, r);
  g_count_allocations = false;
  EXPECT_FALSE(denied.allowed);
  EXPECT_TRUE(denied.explicit_deny);
  EXPECT_EQ(g_allocations.load(), 0u);
}

}  // namespace
}  // namespace rampart::iam
