// Fuzzes the policy engine's stages on arbitrary bytes: parse + validate as
// every policy kind, then evaluate and decide against a few fixed requests.
// Needs rampart_iam (see the note in docs/policy-engine.md).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rampart/core/check.h"
#include "rampart/iam/engine.h"

namespace {

using namespace rampart::iam;

const AuthzRequest& Request(size_t i) {
  static const AuthzRequest* requests = [] {
    auto* r = new AuthzRequest[3];
    PrincipalInfo user;
    user.type = PrincipalType::kUser;
    user.account = "111122223333";
    user.arn = "arn:aws:iam::111122223333:user/Bob";
    user.user_name = "Bob";
    user.tags = {{"team", "blue"}};
    r[0] = AuthzRequest(user, "s3:GetObject", "arn:aws:s3:::bucket/home/Bob/x");
    r[0].AddPlatformKeys(Environment{.source_ip = "10.1.2.3"});
    r[0].keys().Set("aws:TagKeys", std::vector<std::string>{"a", "b"});
    PrincipalInfo role = user;
    role.type = PrincipalType::kAssumedRole;
    role.arn = "arn:aws:sts::111122223333:assumed-role/R/s";
    role.role_arn = "arn:aws:iam::111122223333:role/R";
    r[1] = AuthzRequest(role, "kms:Encrypt", "arn:aws:kms:us-east-1:444455556666:key/k");
    r[1].AddPlatformKeys(Environment{.source_ip = "2001:db8::1"});
    r[2] = AuthzRequest(user, "iam:CreateUser", "*");
    return r;
  }();
  return requests[i % 3];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)PolicyCharacterCount(text);
  for (PolicyKind kind : {PolicyKind::kIdentity, PolicyKind::kResource, PolicyKind::kTrust}) {
    auto compiled = CompilePolicy(text, kind, "fuzz");
    if (!compiled.ok()) {
      RAMPART_CHECK(compiled.status().modeled() == "MalformedPolicyDocumentException");
      continue;
    }
    PolicyPtr p = *compiled;
    PrincipalPolicies pp;
    if (kind == PolicyKind::kIdentity) {
      pp.identity = {p};
      pp.boundary = p;
      pp.scp_levels = {{p}};
    }
    for (size_t i = 0; i < 3; ++i) {
      PolicyMatch m = EvaluatePolicy(*p, Request(i));
      RAMPART_CHECK(!m.deny || m.first_deny.policy == p.get());
      PolicySet set{.principal = &pp, .resource = kind == PolicyKind::kIdentity ? nullptr : p.get()};
      Decision d = Decide(set, Request(i));
      RAMPART_CHECK(!(d.allowed && d.explicit_deny));
      RAMPART_CHECK(!m.deny || !d.allowed);  // a Deny in an applying policy always wins
      (void)DenialMessage(d, Request(i));
    }
  }
  return 0;
}
