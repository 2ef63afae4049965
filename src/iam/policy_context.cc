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

PreparedKey PrepareKey(std::string_view name, std::vector<std::string> values,
                       bool fixed_name) {
  PreparedKey key;
  key.lower_name = AsciiLower(name);
  key.id = fixed_name ? InternKeyName(key.lower_name) : KeyNameId(key.lower_name);
  key.values = std::move(values);
  return key;
}

// ---- ContextKeys ----

const size_t ContextKeys::kSmallCapacity = 1024 / sizeof(ContextKeys::Entry);

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
                             [this](const Entry& e, std::string_view n) { return NameOf(e) < n; });
  if (it != entries_.end() && NameOf(*it) == lower_name) return it;
  if (insert_at != nullptr && id == kNoKeyId) {
    *insert_at = static_cast<size_t>(it - entries_.begin());
  }
  return entries_.end();
}

namespace {

// Lower-cases name into a per-thread buffer (valid until the next call on
// the thread), so that looking a name up allocates nothing.
std::string_view LowerScratch(std::string_view name) {
  thread_local std::string scratch;
  scratch.assign(name);
  for (char& c : scratch) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return scratch;
}

}  // namespace

ContextKeys::Entry& ContextKeys::Upsert(std::string_view name) {
  std::string_view lower = LowerScratch(name);
  return UpsertLower(KeyNameId(lower), lower);
}

ContextKeys::Entry& ContextKeys::UpsertLower(uint32_t id, std::string_view lower) {
  size_t at = 0;
  auto found = Locate(id, lower, &at);
  if (found != entries_.end()) return entries_[static_cast<size_t>(found - entries_.begin())];
  // Entries with an id are found by id alone: only id-less ones keep a name.
  uint32_t name = 0;
  if (id == kNoKeyId) {
    ++unindexed_;
    name = static_cast<uint32_t>(names_.size());
    names_.emplace_back(lower);
  }
  auto it = entries_.insert(entries_.begin() + static_cast<ptrdiff_t>(at),
                            Entry{id, name, {}, nullptr});
  return *it;
}

void ContextKeys::Entry::Own() {
  if (borrowed == nullptr) return;
  values = *borrowed;
  borrowed = nullptr;
}

void ContextKeys::SetLower(uint32_t id, std::string_view lower_name, std::string_view value) {
  Entry& e = UpsertLower(id, lower_name);
  e.borrowed = nullptr;
  e.values.assign(1, std::string(value));
}

void ContextKeys::Set(std::string_view name, std::vector<std::string> values) {
  Entry& e = Upsert(name);
  e.borrowed = nullptr;
  e.values = std::move(values);
}

void ContextKeys::Set(std::string_view name, std::string_view value) {
  Entry& e = Upsert(name);
  e.borrowed = nullptr;
  e.values.assign(1, std::string(value));
}

void ContextKeys::SetBorrowed(std::string_view name, const std::vector<std::string>& values) {
  Entry& e = Upsert(name);
  e.values.clear();
  e.borrowed = &values;
}

void ContextKeys::SetBorrowed(const PreparedKey& key) {
  // A name prepared before any policy interned it may have an id by now;
  // ids never change once given, so a known id needs no lookup.
  uint32_t id = key.id != kNoKeyId ? key.id : KeyNameId(key.lower_name);
  Entry& e = UpsertLower(id, key.lower_name);
  e.values.clear();
  e.borrowed = &key.values;
}

void ContextKeys::Add(std::string_view name, std::string_view value) {
  Entry& e = Upsert(name);
  e.Own();
  e.values.emplace_back(value);
}

void ContextKeys::Erase(std::string_view name) {
  std::string_view lower = LowerScratch(name);
  auto it = Locate(KeyNameId(lower), lower);
  if (it == entries_.end()) return;
  if (it->id == kNoKeyId) --unindexed_;
  entries_.erase(it);
}

const std::vector<std::string>* ContextKeys::Find(uint32_t id, std::string_view lower_name) const {
  auto it = Locate(id, lower_name);
  return it == entries_.end() ? nullptr : &it->Values();
}

const std::vector<std::string>* ContextKeys::Find(std::string_view lower_name) const {
  return Find(KeyNameId(lower_name), lower_name);
}

const std::vector<std::string>* ContextKeys::FindAnyCase(std::string_view name) const {
  return Find(LowerScratch(name));
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

// aws:CurrentTime and aws:EpochTime of the second t falls in, formatted
// once per second per thread (every request of that second shares them).
struct SecondTexts {
  int64_t second = 0;
  bool valid = false;
  std::string iso;
  std::string epoch;
};

const SecondTexts& TextsOf(TimePoint t) {
  thread_local SecondTexts texts;
  const int64_t second =
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  if (!texts.valid || texts.second != second) {
    texts.iso = Iso8601(t);
    texts.epoch = std::to_string(second);
    texts.second = second;
    texts.valid = true;
  }
  return texts;
}

// A platform key: its lower-cased name and interned id. The platform's key
// names are a fixed set, not request input, so interning them up front
// keeps the table's promise and lets requests skip the name lookup.
struct KnownKey {
  std::string_view lower;
  uint32_t id;
};

KnownKey Known(std::string_view lower) { return {lower, InternKeyName(lower)}; }

struct PlatformKeyIds {
  KnownKey principal_arn = Known("aws:principalarn");
  KnownKey principal_account = Known("aws:principalaccount");
  KnownKey userid = Known("aws:userid");
  KnownKey principal_type = Known("aws:principaltype");
  KnownKey username = Known("aws:username");
  KnownKey principal_service_name = Known("aws:principalservicename");
  KnownKey principal_org_id = Known("aws:principalorgid");
  KnownKey principal_org_paths = Known("aws:principalorgpaths");
  KnownKey source_ip = Known("aws:sourceip");
  KnownKey secure_transport = Known("aws:securetransport");
  KnownKey current_time = Known("aws:currenttime");
  KnownKey epoch_time = Known("aws:epochtime");
  KnownKey requested_region = Known("aws:requestedregion");
  KnownKey token_issue_time = Known("aws:tokenissuetime");
  KnownKey mfa_present = Known("aws:multifactorauthpresent");
  KnownKey source_identity = Known("aws:sourceidentity");
  KnownKey resource_account = Known("aws:resourceaccount");
};

// Fixed condition key names a service passes on every call of its hot
// operations (not request input): interned up front so that those
// requests carry them by id, allocating no name, whether or not a policy
// uses them yet.
constexpr std::string_view kServiceKeyNames[] = {
    "kms:calleraccount",        "kms:keyspec",           "kms:keyusage",
    "kms:keyorigin",            "kms:multiregion",       "kms:multiregionkeytype",
    "kms:encryptionalgorithm",  "kms:encryptioncontextkeys", "kms:signingalgorithm",
    "kms:messagetype",          "kms:macalgorithm",      "kms:resourcealiases",
    "kms:requestalias",         "kms:reencryptonsamekey", "kms:datakeypairspec",
};

const PlatformKeyIds& PlatformKeys() {
  // Platform keys first: a request sets them first, and entries are kept
  // in id order, so later keys then append instead of shifting them.
  static const PlatformKeyIds* const ids = [] {
    auto* platform = new PlatformKeyIds;
    for (std::string_view name : kServiceKeyNames) InternKeyName(name);
    return platform;
  }();
  return *ids;
}

}  // namespace

void AuthzRequest::AddPlatformKeys(const Environment& env) {
  const PrincipalInfo& p = principal_;
  const PlatformKeyIds& k = PlatformKeys();
  auto set = [this](const KnownKey& key, std::string_view value) {
    keys_.SetLower(key.id, key.lower, value);
  };
  // Room for the platform's keys in one allocation, capped at 1 KiB of
  // entries: glibc serves requests up to 1032 bytes from its per-thread
  // cache, while a larger one goes to the shared bins and first
  // consolidates every freed small chunk, which costs more than the growth
  // steps it saves. (A caller that knows it adds more reserves first.)
  keys_.Reserve(std::min<size_t>(keys_.size() + 12 + p.tags.size(), ContextKeys::kSmallCapacity));
  if (p.type != PrincipalType::kAnonymous && p.type != PrincipalType::kService) {
    set(k.principal_arn,
        p.type == PrincipalType::kAssumedRole && !p.role_arn.empty() ? p.role_arn : p.arn);
    set(k.principal_account, p.account);
    set(k.userid, p.id);
  }
  set(k.principal_type, PrincipalTypeName(p.type));
  if (p.type == PrincipalType::kUser) set(k.username, p.user_name);
  if (p.type == PrincipalType::kService) set(k.principal_service_name, p.service);
  for (const auto& [key, v] : p.tags) keys_.Set("aws:PrincipalTag/" + key, v);
  if (!p.org_id.empty()) set(k.principal_org_id, p.org_id);
  if (!p.org_paths.empty()) keys_.Set(k.principal_org_paths.lower, p.org_paths);
  if (!env.source_ip.empty()) set(k.source_ip, env.source_ip);
  set(k.secure_transport, env.secure_transport ? "true" : "false");
  const SecondTexts& now = TextsOf(env.time);
  set(k.current_time, now.iso);
  set(k.epoch_time, now.epoch);
  if (!env.requested_region.empty()) set(k.requested_region, env.requested_region);
  if (env.has_token_issue_time) {
    set(k.token_issue_time, Iso8601(env.token_issue_time));
    set(k.mfa_present, env.mfa_present ? "true" : "false");
  } else if (env.mfa_present) {
    set(k.mfa_present, "true");
  }
  if (!env.source_identity.empty()) set(k.source_identity, env.source_identity);
  set(k.resource_account, resource_account());
}

}  // namespace rampart::iam
