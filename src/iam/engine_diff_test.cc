// Differential random testing (Cedar's habit): a tiny, naive reference
// evaluator written separately from the engine, run against it on random
// policies and requests, plus three properties of the decision.
//
// Subset: Allow/Deny; Action and Resource with * and ?; StringEquals,
// StringLike, Null and Bool conditions on single-valued keys; identity
// policies, a permissions boundary and SCP levels, one account.
//
// RAMPART_DIFF_CASES=1000000 runs the long version.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "rampart/iam/engine.h"

namespace rampart::iam {
namespace {

// ---------------- the reference model (deliberately naive) ----------------

namespace ref {

struct Cond {
  std::string op, key;
  std::vector<std::string> values;
};
struct Stmt {
  bool deny = false;
  std::vector<std::string> actions, resources;
  std::vector<Cond> conds;
};
using Policy = std::vector<Stmt>;
struct Request {
  std::string action, resource;
  std::vector<std::pair<std::string, std::string>> keys;
};

bool Glob(const std::string& p, size_t i, const std::string& s, size_t j) {
  if (i == p.size()) return j == s.size();
  if (p[i] == '*') return Glob(p, i + 1, s, j) || (j < s.size() && Glob(p, i, s, j + 1));
  if (j == s.size()) return false;
  return (p[i] == '?' || p[i] == s[j]) && Glob(p, i + 1, s, j + 1);
}
bool Glob(const std::string& p, const std::string& s) { return Glob(p, 0, s, 0); }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> Split6(const std::string& arn) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : arn) {
    if (c == ':' && out.size() < 5) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool ResourceMatch(const std::string& pattern, const std::string& resource) {
  if (pattern == "*") return true;
  auto p = Split6(pattern), r = Split6(resource);
  if (p.size() != 6 || r.size() != 6 || r[0] != "arn") return false;
  for (int i = 0; i < 6; ++i) {
    if (!Glob(p[i], r[i])) return false;
  }
  return true;
}

const std::string* Lookup(const Request& r, const std::string& key) {
  for (const auto& [k, v] : r.keys) {
    if (Lower(k) == Lower(key)) return &v;
  }
  return nullptr;
}

bool CondHolds(const Cond& c, const Request& r) {
  const std::string* v = Lookup(r, c.key);
  if (c.op == "Null") {
    for (const auto& x : c.values) {
      if ((x == "true") == (v == nullptr)) return true;
    }
    return false;
  }
  if (v == nullptr) return false;
  for (const auto& x : c.values) {
    if (c.op == "StringEquals" && x == *v) return true;
    if (c.op == "StringLike" && Glob(x, *v)) return true;
    if (c.op == "Bool" && Lower(x) == Lower(*v)) return true;
  }
  return false;
}

bool Applies(const Stmt& s, const Request& r) {
  bool action = false, resource = false;
  for (const auto& a : s.actions) action = action || Glob(Lower(a), Lower(r.action));
  for (const auto& p : s.resources) resource = resource || ResourceMatch(p, r.resource);
  bool conds = true;
  for (const auto& c : s.conds) conds = conds && CondHolds(c, r);
  return action && resource && conds;
}

// 0: no statement applies, 1: allow, 2: deny.
int Eval(const Policy& p, const Request& r) {
  int result = 0;
  for (const auto& s : p) {
    if (Applies(s, r)) result = std::max(result, s.deny ? 2 : 1);
  }
  return result;
}

struct Set {
  std::vector<Policy> identity;
  bool has_boundary = false;
  Policy boundary;
  std::vector<std::vector<Policy>> scps;
};

bool Allowed(const Set& set, const Request& r) {
  std::vector<const Policy*> all;
  for (const auto& p : set.identity) all.push_back(&p);
  if (set.has_boundary) all.push_back(&set.boundary);
  for (const auto& level : set.scps) {
    for (const auto& p : level) all.push_back(&p);
  }
  for (const Policy* p : all) {
    if (Eval(*p, r) == 2) return false;
  }
  for (const auto& level : set.scps) {
    bool any = false;
    for (const auto& p : level) any = any || Eval(p, r) == 1;
    if (!any) return false;
  }
  bool identity = false;
  for (const auto& p : set.identity) identity = identity || Eval(p, r) == 1;
  return identity && (!set.has_boundary || Eval(set.boundary, r) == 1);
}

}  // namespace ref

// ---------------- the random generator ----------------

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng_)];
  }
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  ref::Cond Condition() {
    static const std::vector<std::string> ops = {"StringEquals", "StringLike", "Null", "Bool"};
    static const std::vector<std::string> keys = {"k1", "K2", "aws:SecureTransport"};
    static const std::vector<std::string> strs = {"a", "b", "ab", "A", "a*", "*b", "?", "*"};
    ref::Cond c{Pick(ops), Pick(keys), {}};
    int n = Int(1, 2);
    for (int i = 0; i < n; ++i) {
      if (c.op == "Null") c.values.push_back(Int(0, 1) ? "true" : "false");
      else if (c.op == "Bool") c.values.push_back(Int(0, 1) ? "true" : "FALSE");
      else c.values.push_back(Pick(strs));
    }
    return c;
  }

  ref::Stmt Statement(int deny_percent) {
    static const std::vector<std::string> actions = {
        "*", "s3:*", "s3:Get*", "kms:?ncrypt", "KMS:encrypt", "iam:*User", "s3:GetObject", "kms:De*"};
    static const std::vector<std::string> resources = {
        "*", "arn:aws:s3:::*", "arn:aws:s3:::b1/*", "arn:aws:*:*:*:*",
        "arn:aws:kms:*:111122223333:key/*", "arn:aws:s3:::b?/*", "arn:aws:kms:us-east-1:*:*"};
    ref::Stmt s;
    s.deny = Int(0, 99) < deny_percent;
    for (int i = Int(1, 2); i > 0; --i) s.actions.push_back(Pick(actions));
    for (int i = Int(1, 2); i > 0; --i) s.resources.push_back(Pick(resources));
    for (int i = Int(0, 2); i > 0; --i) s.conds.push_back(Condition());
    return s;
  }

  ref::Policy Policy(int deny_percent) {
    ref::Policy p;
    for (int i = Int(1, 3); i > 0; --i) p.push_back(Statement(deny_percent));
    return p;
  }

  ref::Set Set() {
    ref::Set s;
    for (int i = Int(0, 2); i > 0; --i) s.identity.push_back(Policy(15));
    s.has_boundary = Int(0, 3) == 0;
    if (s.has_boundary) s.boundary = Policy(10);
    for (int i = Int(0, 2); i > 0; --i) {
      std::vector<ref::Policy> level;
      for (int j = Int(0, 2); j > 0; --j) level.push_back(Policy(10));
      if (Int(0, 2) > 0) level.push_back({ref::Stmt{false, {"*"}, {"*"}, {}}});  // FullAWSAccess
      s.scps.push_back(std::move(level));
    }
    return s;
  }

  ref::Request Request() {
    static const std::vector<std::string> actions = {"s3:GetObject", "s3:PutObject", "kms:Encrypt",
                                                     "kms:Decrypt", "iam:CreateUser"};
    static const std::vector<std::string> resources = {
        "arn:aws:s3:::b1/k1", "arn:aws:s3:::b2/x/y", "arn:aws:kms:us-east-1:111122223333:key/k1",
        "arn:aws:kms:eu-west-1:111122223333:key/k:2", "*"};
    static const std::vector<std::string> values = {"a", "b", "ab", "A", "", "true", "false"};
    ref::Request r{Pick(actions), Pick(resources), {}};
    if (Int(0, 1)) r.keys.push_back({"k1", Pick(values)});
    if (Int(0, 1)) r.keys.push_back({"k2", Pick(values)});
    if (Int(0, 1)) r.keys.push_back({"aws:securetransport", Int(0, 1) ? "true" : "false"});
    return r;
  }

 private:
  std::mt19937_64 rng_;
};

// ---------------- rendering the model as JSON for the engine ----------------

std::string List(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ",\"" : "\"") + v[i] + "\"";
  return out + "]";
}

std::string Json(const ref::Policy& p) {
  std::string out = R"({"Version": "2012-10-17", "Statement": [)";
  for (size_t i = 0; i < p.size(); ++i) {
    const ref::Stmt& s = p[i];
    out += i ? "," : "";
    out += R"({"Effect": ")" + std::string(s.deny ? "Deny" : "Allow") + R"(", "Action": )" +
           List(s.actions) + R"(, "Resource": )" + List(s.resources);
    if (!s.conds.empty()) {
      // One operator block per condition (same operator twice would be a
      // duplicate JSON member), so each condition gets its own block only
      // when its operator is new; otherwise keys are merged.
      std::vector<std::pair<std::string, std::vector<const ref::Cond*>>> by_op;
      for (const auto& c : s.conds) {
        auto it = std::find_if(by_op.begin(), by_op.end(), [&](auto& e) { return e.first == c.op; });
        if (it == by_op.end()) by_op.push_back({c.op, {&c}});
        else it->second.push_back(&c);
      }
      out += R"(, "Condition": {)";
      for (size_t j = 0; j < by_op.size(); ++j) {
        out += (j ? ",\"" : "\"") + by_op[j].first + "\": {";
        for (size_t k = 0; k < by_op[j].second.size(); ++k) {
          const ref::Cond* c = by_op[j].second[k];
          out += (k ? ",\"" : "\"") + c->key + "\": " + List(c->values);
        }
        out += "}";
      }
      out += "}";
    }
    out += "}";
  }
  return out + "]}";
}

// The generator may put the same key twice under one operator, which JSON
// policies cannot express; such statements are dropped from both sides.
void DropDuplicateKeys(ref::Policy& p) {
  for (auto& s : p) {
    std::vector<ref::Cond> kept;
    for (const auto& c : s.conds) {
      bool dup = std::any_of(kept.begin(), kept.end(), [&](const ref::Cond& k) {
        return k.op == c.op && ref::Lower(k.key) == ref::Lower(c.key);
      });
      if (!dup) kept.push_back(c);
    }
    s.conds = std::move(kept);
  }
}

PolicyPtr Compile(const ref::Policy& p, PolicyKind kind) {
  auto r = CompilePolicy(Json(p), kind, "gen");
  EXPECT_TRUE(r.ok()) << r.status().message() << "\n" << Json(p);
  return r.ok() ? *r : nullptr;
}

PrincipalPolicies Build(ref::Set& s) {
  PrincipalPolicies pp;
  for (auto& p : s.identity) {
    DropDuplicateKeys(p);
    pp.identity.push_back(Compile(p, PolicyKind::kIdentity));
  }
  if (s.has_boundary) {
    DropDuplicateKeys(s.boundary);
    pp.boundary = Compile(s.boundary, PolicyKind::kBoundary);
  }
  for (auto& level : s.scps) {
    pp.scp_levels.emplace_back();
    for (auto& p : level) {
      DropDuplicateKeys(p);
      pp.scp_levels.back().push_back(Compile(p, PolicyKind::kScp));
    }
  }
  return pp;
}

AuthzRequest ToRequest(const ref::Request& r) {
  PrincipalInfo p;
  p.type = PrincipalType::kUser;
  p.account = "111122223333";
  p.arn = "arn:aws:iam::111122223333:user/u";
  AuthzRequest out(std::move(p), r.action, r.resource);
  out.set_resource_account("111122223333");
  for (const auto& [k, v] : r.keys) out.keys().Set(k, v);
  return out;
}

bool EngineAllows(const PrincipalPolicies& pp, const AuthzRequest& r) {
  return Decide(PolicySet{.principal = &pp}, r).allowed;
}

size_t CaseCount() {
  const char* env = std::getenv("RAMPART_DIFF_CASES");
  if (env == nullptr) return 20000;
  return std::max<size_t>(1, std::strtoull(env, nullptr, 10));
}

constexpr int kRequestsPerSet = 20;

TEST(Differential, EngineAgreesWithReference) {
  Gen gen(20240601);
  size_t cases = CaseCount(), disagreements = 0, allowed = 0;
  for (size_t done = 0; done < cases;) {
    ref::Set set = gen.Set();
    PrincipalPolicies pp = Build(set);
    for (int i = 0; i < kRequestsPerSet && done < cases; ++i, ++done) {
      ref::Request rr = gen.Request();
      bool expect = ref::Allowed(set, rr);
      bool got = EngineAllows(pp, ToRequest(rr));
      allowed += got;
      if (expect != got && ++disagreements <= 5) {
        ADD_FAILURE() << "reference " << expect << " engine " << got << " for " << rr.action
                      << " on " << rr.resource;
      }
    }
  }
  EXPECT_EQ(disagreements, 0u);
  // The generator must exercise both outcomes.
  EXPECT_GT(allowed, cases / 50);
  EXPECT_LT(allowed, cases - cases / 50);
  std::printf("differential: %zu cases, %zu allowed, %zu disagreements\n", cases, allowed,
              disagreements);
}

TEST(Differential, Properties) {
  Gen gen(777);
  size_t sets = std::max<size_t>(50, CaseCount() / 40);
  const ref::Stmt deny_all{true, {"*"}, {"*"}, {}};
  for (size_t n = 0; n < sets; ++n) {
    ref::Set base = gen.Set();
    PrincipalPolicies pp = Build(base);
    // Variants: an explicit Deny-all somewhere; one more Allow in an
    // identity policy; one more random Deny somewhere.
    ref::Set with_deny_all = base, with_allow = base, with_deny = base;
    auto add_somewhere = [&](ref::Set& s, const ref::Stmt& st) {
      int where = gen.Int(0, 2);
      if (where == 1 && s.has_boundary) s.boundary.push_back(st);
      else if (where == 2 && !s.scps.empty()) s.scps[0].push_back({st});
      else s.identity.push_back({st});
    };
    add_somewhere(with_deny_all, deny_all);
    ref::Stmt extra_allow = gen.Statement(0);
    with_allow.identity.push_back({extra_allow});
    ref::Stmt extra_deny = gen.Statement(100);
    add_somewhere(with_deny, extra_deny);
    PrincipalPolicies pp_deny_all = Build(with_deny_all), pp_allow = Build(with_allow),
                      pp_deny = Build(with_deny);
    for (int i = 0; i < kRequestsPerSet; ++i) {
      AuthzRequest r = ToRequest(gen.Request());
      bool before = EngineAllows(pp, r);
      Decision d = Decide(PolicySet{.principal = &pp_deny_all}, r);
      EXPECT_FALSE(d.allowed) << "explicit Deny must win";
      EXPECT_TRUE(d.explicit_deny);
      if (before) {
        EXPECT_TRUE(EngineAllows(pp_allow, r)) << "adding an Allow removed access";
      } else {
        EXPECT_FALSE(EngineAllows(pp_deny, r)) << "adding a Deny added access";
      }
    }
  }
}

}  // namespace
}  // namespace rampart::iam
