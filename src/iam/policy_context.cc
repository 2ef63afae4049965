// The request context: condition keys and the platform's global keys (IAM
// User Guide, "AWS global condition context keys").
#include "rampart/iam/policy_context.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace rampart::iam {

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view PrincipalTypeName(PrincipalType type) {
  switch (type) {
    case PrincipalType::kAnonymous: return "Anonymous";
    case PrincipalType::kRoot: return "Account";
    case PrincipalType::kUser: return "User";
    case PrincipalType::kAssumedRole: return "AssumedRole";
    case PrincipalType::kFederatedUser: return "FederatedUser";
    case PrincipalType::kService: return "Service";
    case PrincipalType::kWebIdentity: return "WebIdentityUser";
  }
  return "Anonymous";
}

bool SplitArn(std::string_view s, std::array<std::string_view, 6>& parts) {
  if (s.substr(0, 4) != "arn:") return false;
  size_t start = 0;
  for (size_t i = 0; i < 5; ++i) {
    size_t colon = s.find(':', start);
    if (colon == std::string_view::npos) return false;
    parts[i] = s.substr(start, colon - start);
    start = colon + 1;
  }
  parts[5] = s.substr(start);
  return true;
}

uint64_t ActionServiceBit(std::string_view action) {
  // FNV-1a over the lower-cased service prefix, folded to 6 bits.
  uint64_t h = 14695981039346656037ull;
  for (char c : action) {
    if (c == ':') break;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  return uint64_t{1} << ((h ^ (h >> 32) ^ (h >> 17)) & 63);
}

// ---- Key name interning ----

namespace {

struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Append-only name -> id table shared by all policies (never destroyed, so
// no static destruction order issue).
class KeyInterner {
 public:
  static KeyInterner& Get() {
    static KeyInterner* const interner = new KeyInterner;
    return *interner;
  }
  uint32_t Find(std::string_view name) const {
    std::shared_lock lock(mu_);
    auto it = ids_.find(name);
    return it == ids_.end() ? kNoKeyId : it->second;
  }
  uint32_t Intern(std::string_view name) {
    if (uint32_t id = Find(name); id != kNoKeyId) return id;
    if (name.size() > kMaxInternedKeyLength) return kNoKeyId;
    std::unique_lock lock(mu_);
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    if (ids_.size() >= kMaxInternedKeys) return kNoKeyId;
    uint32_t id = static_cast<uint32_t>(ids_.size()) + 1;
    ids_.emplace(std::string(name), id);
    return id;
  }

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, uint32_t, NameHash, std::equal_to<>> ids_;  // guarded by mu_
};

}  // namespace

uint32_t InternKeyName(std::string_view lower_name) {
  return KeyInterner::Get().Intern(lower_name);
}

uint32_t KeyNameId(std::string_view lower_name) { return KeyInterner::Get().Find(lower_name); }

// ---- ContextKeys ----

std::vector<ContextKeys::Entry>::const_iterator ContextKeys::Locate(uint32_t id,
                                                                    std::string_view lower_name,
                                                                    size_t* insert_at) const {
  const auto tail = entries_.end() - static_cast<ptrdiff_t>(unindexed_);
  if (id != kNoKeyId) {
    auto it = std::lower_bound(entries_.begin(), tail, id,
                               [](const Entry& e, uint32_t i) { return e.id < i; });
    if (it != tail && it->id == id) return it;
    if (insert_at != nullptr) *insert_at = static_cast<size_t>(it - entries_.begin());
  }
  if (unindexed_ == 0 && id != kNoKeyId) return entries_.end();
  // An entry added before its name was interned keeps no id: find it by name.
  auto it = std::lower_bound(tail, entries_.end(), lower_name,
                             [](const Entry& e, std::string_view n) { return e.name < n; });
  if (it != entries_.end() && it->name == lower_name) return it;
  if (insert_at != nullptr && id == kNoKeyId) {
    *insert_at = static_cast<size_t>(it - entries_.begin());
  }
  return entries_.end();
}

ContextKeys::Entry& ContextKeys::Upsert(std::string_view name) {
  std::string lower = AsciiLower(name);
  const uint32_t id = KeyNameId(lower);
  size_t at = 0;
  auto found = Locate(id, lower, &at);
  if (found != entries_.end()) return entries_[static_cast<size_t>(found - entries_.begin())];
  if (id == kNoKeyId) ++unindexed_;
  auto it = entries_.insert(entries_.begin() + static_cast<ptrdiff_t>(at),
                            Entry{id, std::move(lower), {}});
  return *it;
}

void ContextKeys::Set(std::string_view name, std::vector<std::string> values) {
  Upsert(name).values = std::move(values);
}

void ContextKeys::Set(std::string_view name, std::string_view value) {
  Entry& e = Upsert(name);
  e.values.assign(1, std::string(value));
}

void ContextKeys::Add(std::string_view name, std::string_view value) {
  Upsert(name).values.emplace_back(value);
}

void ContextKeys::Erase(std::string_view name) {
  std::string lower = AsciiLower(name);
  auto it = Locate(KeyNameId(lower), lower);
  if (it == entries_.end()) return;
  if (it->id == kNoKeyId) --unindexed_;
  entries_.erase(it);
}

const std::vector<std::string>* ContextKeys::Find(uint32_t id, std::string_view lower_name) const {
  auto it = Locate(id, lower_name);
  return it == entries_.end() ? nullptr : &it->values;
}

const std::vector<std::string>* ContextKeys::Find(std::string_view lower_name) const {
  return Find(KeyNameId(lower_name), lower_name);
}

const std::vector<std::string>* ContextKeys::FindAnyCase(std::string_view name) const {
  return Find(AsciiLower(name));
}

// ---- AuthzRequest ----

AuthzRequest::AuthzRequest(PrincipalInfo principal, std::string_view action,
                           std::string_view resource)
    : principal_(std::move(principal)) {
  set_action(action);
  set_resource(resource);
}

AuthzRequest::AuthzRequest(const AuthzRequest& other)
    : principal_(other.principal_),
      action_(other.action_),
      action_lower_(other.action_lower_),
      service_bit_(other.service_bit_),
      resource_(other.resource_),
      resource_account_(other.resource_account_),
      keys_(other.keys_) {
  SplitResource();
}

AuthzRequest& AuthzRequest::operator=(const AuthzRequest& other) {
  if (this != &other) {
    AuthzRequest copy(other);
    *this = std::move(copy);
  }
  return *this;
}

AuthzRequest::AuthzRequest(AuthzRequest&& other) noexcept
    : principal_(std::move(other.principal_)),
      action_(std::move(other.action_)),
      action_lower_(std::move(other.action_lower_)),
      service_bit_(other.service_bit_),
      resource_(std::move(other.resource_)),
      resource_account_(std::move(other.resource_account_)),
      keys_(std::move(other.keys_)) {
  SplitResource();
}

AuthzRequest& AuthzRequest::operator=(AuthzRequest&& other) noexcept {
  principal_ = std::move(other.principal_);
  action_ = std::move(other.action_);
  action_lower_ = std::move(other.action_lower_);
  service_bit_ = other.service_bit_;
  resource_ = std::move(other.resource_);
  resource_account_ = std::move(other.resource_account_);
  keys_ = std::move(other.keys_);
  SplitResource();
  return *this;
}

void AuthzRequest::set_action(std::string_view action) {
  action_ = std::string(action);
  action_lower_ = AsciiLower(action);
  service_bit_ = ActionServiceBit(action_lower_);
}

void AuthzRequest::set_resource(std::string_view resource) {
  resource_ = std::string(resource);
  SplitResource();
}

void AuthzRequest::SplitResource() {
  parts_ = {};
  resource_is_arn_ = SplitArn(resource_, parts_);
  if (!resource_is_arn_) parts_ = {};
}

std::string_view AuthzRequest::resource_account() const {
  if (!resource_account_.empty()) return resource_account_;
  if (resource_is_arn_ && !parts_[4].empty()) return parts_[4];
  return principal_.account;
}

namespace {

std::string Iso8601(TimePoint t) {
  auto secs = std::chrono::floor<std::chrono::seconds>(t);
  auto days = std::chrono::floor<std::chrono::days>(secs);
  std::chrono::year_month_day ymd{days};
  std::chrono::hh_mm_ss hms{secs - days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

}  // namespace

void AuthzRequest::AddPlatformKeys(const Environment& env) {
  const PrincipalInfo& p = principal_;
  if (p.type != PrincipalType::kAnonymous && p.type != PrincipalType::kService) {
    keys_.Set("aws:PrincipalArn", p.type == PrincipalType::kAssumedRole && !p.role_arn.empty()
                                      ? p.role_arn
                                      : p.arn);
    keys_.Set("aws:PrincipalAccount", p.account);
    keys_.Set("aws:userid", p.id);
  }
  keys_.Set("aws:PrincipalType", PrincipalTypeName(p.type));
  if (p.type == PrincipalType::kUser) keys_.Set("aws:username", p.user_name);
  if (p.type == PrincipalType::kService) keys_.Set("aws:PrincipalServiceName", p.service);
  for (const auto& [k, v] : p.tags) keys_.Set("aws:PrincipalTag/" + k, v);
  if (!p.org_id.empty()) keys_.Set("aws:PrincipalOrgID", p.org_id);
  if (!p.org_paths.empty()) keys_.Set("aws:PrincipalOrgPaths", p.org_paths);
  if (!env.source_ip.empty()) keys_.Set("aws:SourceIp", env.source_ip);
  keys_.Set("aws:SecureTransport", env.secure_transport ? "true" : "false");
  keys_.Set("aws:CurrentTime", Iso8601(env.time));
  keys_.Set("aws:EpochTime",
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                               env.time.time_since_epoch()).count()));
  if (!env.requested_region.empty()) keys_.Set("aws:RequestedRegion", env.requested_region);
  if (env.has_token_issue_time) {
    keys_.Set("aws:TokenIssueTime", Iso8601(env.token_issue_time));
    keys_.Set("aws:MultiFactorAuthPresent", env.mfa_present ? "true" : "false");
  } else if (env.mfa_present) {
    keys_.Set("aws:MultiFactorAuthPresent", "true");
  }
  if (!env.source_identity.empty()) keys_.Set("aws:SourceIdentity", env.source_identity);
  keys_.Set("aws:ResourceAccount", resource_account());
}

}  // namespace rampart::iam
