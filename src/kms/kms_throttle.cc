// KMS request quotas and the throttler (kms_throttle.h).
#include "kms/kms_throttle.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "kms/kms_custom_key_store.h"
#include "kms/kms_internal.h"
#include "rampart/core/check.h"
#include "rampart/core/log.h"
#include "rampart/kms/ciphertext.h"
#include "rampart/kms/kms_service.h"

namespace rampart::kms::internal {
namespace {

// AWS's default rates (AWS KMS Developer Guide, "Request quotas", the
// table "Request quotas for each AWS KMS API operation"). Where a quota
// varies by Region, the rate here is the one of most Regions and
// DefaultRate applies the others.
struct QuotaDef {
  std::string_view name;
  double rate;
};

constexpr std::array<QuotaDef, kQuotaCount> kQuotas = {{
    // Shared by the cryptographic operations, per key type.
    {"CryptographicOperationsSymmetric", 10000},
    {"CryptographicOperationsRSA", 1000},
    {"CryptographicOperationsECC", 1000},
    {"CustomKeyStore", 1800},
    // GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext, per
    // key pair spec.
    {"GenerateDataKeyPair.RSA_2048", 20},
    {"GenerateDataKeyPair.RSA_3072", 4},
    {"GenerateDataKeyPair.RSA_4096", 1},
    {"GenerateDataKeyPair.ECC_NIST_P256", 100},
    {"GenerateDataKeyPair.ECC_NIST_P384", 100},
    {"GenerateDataKeyPair.ECC_NIST_P521", 100},
    {"GenerateDataKeyPair.ECC_SECG_P256K1", 100},
    {"GenerateDataKeyPair.SM2", 25},
    // One per operation.
    {"CancelKeyDeletion", 5},
    {"ConnectCustomKeyStore", 5},
    {"CreateAlias", 5},
    {"CreateCustomKeyStore", 5},
    {"CreateGrant", 50},
    {"CreateKey", 5},
    {"DeleteAlias", 15},
    {"DeleteCustomKeyStore", 5},
    {"DeleteImportedKeyMaterial", 15},
    {"DescribeCustomKeyStores", 5},
    {"DescribeKey", 2000},
    {"DisableKey", 5},
    {"DisableKeyRotation", 5},
    {"DisconnectCustomKeyStore", 5},
    {"EnableKey", 5},
    {"EnableKeyRotation", 15},
    {"GetKeyPolicy", 1000},
    {"GetKeyRotationStatus", 1000},
    {"GetParametersForImport", 1},
    {"GetPublicKey", 2000},
    {"ImportKeyMaterial", 15},
    {"ListAliases", 500},
    {"ListGrants", 100},
    {"ListKeyPolicies", 100},
    {"ListKeys", 500},
    {"ListResourceTags", 2000},
    {"ListRetirableGrants", 100},
    {"PutKeyPolicy", 15},
    {"ReplicateKey", 5},
    {"RetireGrant", 50},
    {"RevokeGrant", 50},
    {"ScheduleKeyDeletion", 15},
    {"TagResource", 10},
    {"UntagResource", 5},
    {"UpdateAlias", 5},
    {"UpdateCustomKeyStore", 5},
    {"UpdateKeyDescription", 5},
    {"UpdatePrimaryRegion", 5},
}};

static_assert(!kQuotas.back().name.empty(), "kQuotaCount is larger than the table");

constexpr QuotaId kFirstDataKeyPairQuota = 4;
constexpr std::string_view kDataKeyPairPrefix = "GenerateDataKeyPair.";

// Regions where the symmetric quota is higher than 10,000.
constexpr std::string_view kSymmetric100k[] = {"us-east-1", "us-west-2", "eu-west-1"};
constexpr std::string_view kSymmetric20k[] = {"us-east-2",      "ap-southeast-1", "ap-southeast-2",
                                              "ap-northeast-1", "eu-central-1",   "eu-west-2"};
// Regions where RSA data key pairs are slower.
constexpr std::string_view kChinaRegions[] = {"cn-north-1", "cn-northwest-1"};

template <size_t N>
bool OneOf(std::string_view region, const std::string_view (&regions)[N]) {
  return std::find(std::begin(regions), std::end(regions), region) != std::end(regions);
}

// The quota named name, or kQuotaCount.
constexpr QuotaId QuotaOf(std::string_view name) {
  for (size_t i = 0; i < kQuotas.size(); ++i) {
    if (kQuotas[i].name == name) return static_cast<QuotaId>(i);
  }
  return kQuotaCount;
}

static_assert(QuotaOf("CryptographicOperationsSymmetric") == kSymmetricQuota);
static_assert(QuotaOf("CryptographicOperationsRSA") == kRsaQuota);
static_assert(QuotaOf("CryptographicOperationsECC") == kEccQuota);
static_assert(QuotaOf("CustomKeyStore") == kCustomKeyStoreQuota);
static_assert(QuotaOf("GenerateDataKeyPair.RSA_2048") == kFirstDataKeyPairQuota);

constexpr QuotaId kCreateKeyQuota = QuotaOf("CreateKey");
constexpr QuotaId kReplicateKeyQuota = QuotaOf("ReplicateKey");
constexpr QuotaId kUpdatePrimaryRegionQuota = QuotaOf("UpdatePrimaryRegion");
constexpr QuotaId kRsa2048PairQuota = QuotaOf("GenerateDataKeyPair.RSA_2048");
constexpr QuotaId kRsa3072PairQuota = QuotaOf("GenerateDataKeyPair.RSA_3072");
constexpr QuotaId kRsa4096PairQuota = QuotaOf("GenerateDataKeyPair.RSA_4096");

// The message AWS KMS answers a throttled request with.
Status Throttled() {
  return Status::Error(ErrorCode::kThrottling,
                       "You have exceeded the rate at which you may call KMS. Reduce the "
                       "frequency of your calls.");
}

class SteadyClock final : public MonotonicClock {
 public:
  int64_t NowNs() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// Nanoseconds a charge of cost takes from a bucket of rate: never more
// than the bucket holds, so that a charge of 2 on a bucket of 1 token
// waits for a full bucket instead of never passing.
int64_t Need(const Rate& rate, uint32_t cost) {
  return std::min(rate.interval_ns * static_cast<int64_t>(cost), rate.depth_ns);
}

}  // namespace

// --- the quota table ---

std::string_view QuotaName(QuotaId q) { return kQuotas[q].name; }

std::optional<QuotaId> FindQuota(std::string_view name) {
  QuotaId q = QuotaOf(name);
  if (q == kQuotaCount) return std::nullopt;
  return q;
}

double DefaultRate(QuotaId q, std::string_view region) {
  if (q == kSymmetricQuota) {
    if (OneOf(region, kSymmetric100k)) return 100000;
    if (OneOf(region, kSymmetric20k)) return 20000;
  }
  if (OneOf(region, kChinaRegions)) {
    if (q == kRsa2048PairQuota) return 1;
    if (q == kRsa3072PairQuota) return 0.5;
    if (q == kRsa4096PairQuota) return 0.1;
  }
  return kQuotas[q].rate;
}

Result<QuotaOverrides> ReadQuotaOverrides(const server::KmsThrottlingConfig& config) {
  QuotaOverrides out;
  for (const auto& entry : config.quotas) {
    std::string setting = "config: kms.throttling.quotas." + entry.first;
    std::optional<QuotaId> q = FindQuota(entry.first);
    if (!q) {
      return Status::Validation(setting +
                                ": unknown quota (docs/kms-throttling.md lists the names)");
    }
    if (!(entry.second >= server::KmsThrottlingConfig::kMinRate &&
          entry.second <= server::KmsThrottlingConfig::kMaxRate)) {
      return Status::Validation(setting + " must be a number from 0.01 to 1000000");
    }
    out[*q] = entry.second;
  }
  return out;
}

// --- time ---

const MonotonicClock& SteadyMonotonicClock() {
  static const SteadyClock clock;
  return clock;
}

// --- buckets ---

Rate MakeRate(double per_second) {
  // Callers pass validated rates; a bad one must still not reach the
  // integer conversion below (NaN fails every comparison).
  if (!(per_second >= server::KmsThrottlingConfig::kMinRate)) {
    per_second = server::KmsThrottlingConfig::kMinRate;
  }
  per_second = std::min(per_second, server::KmsThrottlingConfig::kMaxRate);
  Rate r;
  // Rounded down, so that a bucket of one second holds all per_second
  // tokens.
  r.interval_ns = std::max<int64_t>(1, static_cast<int64_t>(1e9 / per_second));
  // One second of the rate, and at least one token.
  r.depth_ns = std::max<int64_t>(1000000000, r.interval_ns);
  return r;
}

bool RateBucket::TryTake(int64_t now_ns, const Rate& rate, uint32_t cost) {
  const int64_t need = Need(rate, cost);
  int64_t full_at = full_at_ns_.load(std::memory_order_relaxed);
  for (;;) {
    // A full_at in the past is a full bucket. A now_ns behind another
    // worker's (read a moment earlier) only sees the bucket a little
    // emptier; nothing here ever moves full_at back.
    const int64_t base = std::max(full_at, now_ns);
    int64_t next = base + need;
    if (next - now_ns > rate.depth_ns) return false;
    if (full_at_ns_.compare_exchange_weak(full_at, next, std::memory_order_relaxed)) return true;
  }
}

void RateBucket::GiveBack(const Rate& rate, uint32_t cost) {
  full_at_ns_.fetch_sub(Need(rate, cost), std::memory_order_relaxed);
}

void Charges::Add(const Charge& c) {
  for (size_t i = 0; i < size_; ++i) {
    const Charge& have = items_[i];
    if (have.quota == c.quota && have.region == c.region && have.store_id == c.store_id) return;
  }
  RAMPART_CHECK(size_ < kMax);
  items_[size_++] = c;
}

// --- the throttler ---

// The buckets of one account: one row per served Region.
struct Throttler::AccountBuckets {
  explicit AccountBuckets(size_t regions)
      : rows(std::make_unique<std::array<RateBucket, kQuotaCount>[]>(regions)) {}
  std::unique_ptr<std::array<RateBucket, kQuotaCount>[]> rows;
};

// A custom key store's bucket and the account that owns the store (only
// the owner's GenerateRandom takes from it by the store's id).
struct Throttler::StoreBucket {
  explicit StoreBucket(std::string_view owner_account) : owner(owner_account) {}
  const std::string owner;
  RateBucket bucket;
};

// A map from a name (account id, store id) to T that only grows, up to a
// limit. Sharded, each shard under a reader-writer lock held only for the
// lookup; entries are never removed, so a pointer handed out stays valid
// for the map's life.
template <typename T>
class Throttler::BucketMap {
 public:
  explicit BucketMap(size_t max_entries) : max_entries_(max_entries) {}

  // The entry of name; nullptr when there is none.
  T* Find(std::string_view name) {
    Shard& shard = ShardOf(name);
    std::shared_lock lock(shard.mu);
    auto it = shard.entries.find(name);
    return it != shard.entries.end() ? it->second.get() : nullptr;
  }

  // The entry of name, made by make() (a std::unique_ptr<T>) when absent;
  // nullptr past the limit.
  template <typename Make>
  T* FindOrMake(std::string_view name, Make make) {
    if (T* found = Find(name)) return found;
    Shard& shard = ShardOf(name);
    std::unique_lock lock(shard.mu);
    auto it = shard.entries.find(name);
    if (it != shard.entries.end()) return it->second.get();
    if (size_.fetch_add(1, std::memory_order_relaxed) >= max_entries_) {
      size_.fetch_sub(1, std::memory_order_relaxed);
      if (!warned_.exchange(true)) {
        log::Warn("kms throttling: too many accounts or stores to track; new ones are not throttled",
                  {{"limit", std::to_string(max_entries_)}});
      }
      return nullptr;
    }
    auto pos = shard.entries.emplace(std::string(name), make()).first;
    return pos->second.get();
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::shared_mutex mu;
    std::unordered_map<std::string, std::unique_ptr<T>, Hash, std::equal_to<>> entries;  // guarded by mu
  };
  static constexpr size_t kShards = 16;

  Shard& ShardOf(std::string_view name) {
    return shards_[std::hash<std::string_view>{}(name) % kShards];
  }

  const size_t max_entries_;
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> size_{0};
  std::atomic<bool> warned_{false};
};

namespace {
std::atomic<uint64_t> next_throttler_id{1};
}  // namespace

Throttler::Throttler(std::vector<std::string> regions, const QuotaOverrides& overrides,
                     const MonotonicClock& clock)
    : id_(next_throttler_id.fetch_add(1)), clock_(clock), regions_(std::move(regions)) {
  for (const std::string& region : regions_) {
    std::array<Rate, kQuotaCount> row;
    for (QuotaId q = 0; q < kQuotaCount; ++q) {
      row[q] = MakeRate(overrides[q].value_or(DefaultRate(q, region)));
    }
    rates_.push_back(row);
  }
  accounts_ = std::make_unique<BucketMap<AccountBuckets>>(kMaxAccounts);
  stores_ = std::make_unique<BucketMap<StoreBucket>>(kMaxStores);
}

Throttler::~Throttler() = default;

int Throttler::RegionIndex(std::string_view region) const {
  for (size_t i = 0; i < regions_.size(); ++i) {
    if (regions_[i] == region) return static_cast<int>(i);
  }
  return -1;
}

double Throttler::RateOf(QuotaId q, std::string_view region) const {
  int index = RegionIndex(region);
  if (index < 0) return 0;
  return 1e9 / static_cast<double>(rates_[index][q].interval_ns);
}

RateBucket* Throttler::Find(std::string_view account, const Charge& c, const Rate** rate) {
  int index = RegionIndex(c.region);
  if (index < 0) return nullptr;
  *rate = &rates_[index][c.quota];
  if (c.quota == kCustomKeyStoreQuota) {
    // Stores are only made from keys the server holds (store ids named
    // in a request may be made up), and only their owner takes from them.
    StoreBucket* store =
        c.known_only ? stores_->Find(c.store_id)
                     : stores_->FindOrMake(c.store_id, [account] {
                         return std::make_unique<StoreBucket>(account);
                       });
    return store != nullptr && store->owner == account ? &store->bucket : nullptr;
  }
  AccountBuckets* buckets = BucketsOf(account);
  return buckets != nullptr ? &buckets->rows[index][c.quota] : nullptr;
}

Throttler::AccountBuckets* Throttler::BucketsOf(std::string_view account) {
  struct Last {
    uint64_t owner = 0;
    std::string account;
    AccountBuckets* buckets = nullptr;
  };
  thread_local Last last;
  if (last.owner == id_ && last.account == account) return last.buckets;
  const size_t region_count = regions_.size();
  AccountBuckets* buckets = accounts_->FindOrMake(
      account, [region_count] { return std::make_unique<AccountBuckets>(region_count); });
  if (buckets != nullptr) {
    // Entries are never removed: the pointer stays valid while this
    // throttler lives, and id_ is never reused after it.
    last.owner = id_;
    last.account.assign(account);
    last.buckets = buckets;
  }
  return buckets;
}

Status Throttler::AdmitStore(std::string_view store_id, std::string_view owner_account,
                             std::string_view region) {
  int index = RegionIndex(region);
  if (index < 0) return Status::Ok();
  StoreBucket* store = stores_->FindOrMake(
      store_id, [owner_account] { return std::make_unique<StoreBucket>(owner_account); });
  if (store == nullptr) return Status::Ok();  // past kMaxStores: not throttled (logged)
  if (!store->bucket.TryTake(clock_.NowNs(), rates_[index][kCustomKeyStoreQuota], 1)) {
    return Throttled();
  }
  return Status::Ok();
}

Status Throttler::Admit(std::string_view account, const Charges& charges) {
  const int64_t now_ns = clock_.NowNs();
  struct Taken {
    RateBucket* bucket;
    const Rate* rate;
    uint32_t cost;
  };
  std::array<Taken, Charges::kMax> taken{};
  size_t n = 0;
  for (size_t i = 0; i < charges.size(); ++i) {
    const Rate* rate = nullptr;
    RateBucket* bucket = Find(account, charges[i], &rate);
    if (bucket == nullptr) continue;
    if (!bucket->TryTake(now_ns, *rate, charges[i].cost)) {
      for (size_t j = 0; j < n; ++j) taken[j].bucket->GiveBack(*taken[j].rate, taken[j].cost);
      return Throttled();
    }
    taken[n++] = {bucket, rate, charges[i].cost};
  }
  return Status::Ok();
}

// --- the KMS side ---

struct OperationRule {
  enum class Kind : uint8_t {
    kOwn,                  // the operation's own quota
    kKeyCrypto,            // the quota of the key's type (+ its custom key store)
    kDataKeyPair,          // the quota of the KeyPairSpec
    kGenerateRandom,       // symmetric (+ the named custom key store)
    kReplicateKey,         // own quota, and CreateKey twice in the replica's Region
    kUpdatePrimaryRegion,  // own quota in both Regions
  };
  std::string_view operation;
  Kind kind;
  QuotaId quota = kQuotaCount;  // kOwn: the operation's quota
};

namespace {

using Kind = OperationRule::Kind;

// Every operation of the KMS model with its rule. Operations absent here
// have no quota.
constexpr OperationRule kRules[] = {
    {"Decrypt", Kind::kKeyCrypto},
    {"Encrypt", Kind::kKeyCrypto},
    {"GenerateDataKey", Kind::kKeyCrypto},
    {"GenerateDataKeyWithoutPlaintext", Kind::kKeyCrypto},
    {"GenerateMac", Kind::kKeyCrypto},
    {"VerifyMac", Kind::kKeyCrypto},
    {"ReEncrypt", Kind::kKeyCrypto},
    {"Sign", Kind::kKeyCrypto},
    {"Verify", Kind::kKeyCrypto},
    {"GenerateRandom", Kind::kGenerateRandom},
    {"GenerateDataKeyPair", Kind::kDataKeyPair},
    {"GenerateDataKeyPairWithoutPlaintext", Kind::kDataKeyPair},
    {"ReplicateKey", Kind::kReplicateKey},
    {"UpdatePrimaryRegion", Kind::kUpdatePrimaryRegion},
    {"CancelKeyDeletion", Kind::kOwn, QuotaOf("CancelKeyDeletion")},
    {"ConnectCustomKeyStore", Kind::kOwn, QuotaOf("ConnectCustomKeyStore")},
    {"CreateAlias", Kind::kOwn, QuotaOf("CreateAlias")},
    {"CreateCustomKeyStore", Kind::kOwn, QuotaOf("CreateCustomKeyStore")},
    {"CreateGrant", Kind::kOwn, QuotaOf("CreateGrant")},
    {"CreateKey", Kind::kOwn, QuotaOf("CreateKey")},
    {"DeleteAlias", Kind::kOwn, QuotaOf("DeleteAlias")},
    {"DeleteCustomKeyStore", Kind::kOwn, QuotaOf("DeleteCustomKeyStore")},
    {"DeleteImportedKeyMaterial", Kind::kOwn, QuotaOf("DeleteImportedKeyMaterial")},
    {"DescribeCustomKeyStores", Kind::kOwn, QuotaOf("DescribeCustomKeyStores")},
    {"DescribeKey", Kind::kOwn, QuotaOf("DescribeKey")},
    {"DisableKey", Kind::kOwn, QuotaOf("DisableKey")},
    {"DisableKeyRotation", Kind::kOwn, QuotaOf("DisableKeyRotation")},
    {"DisconnectCustomKeyStore", Kind::kOwn, QuotaOf("DisconnectCustomKeyStore")},
    {"EnableKey", Kind::kOwn, QuotaOf("EnableKey")},
    {"EnableKeyRotation", Kind::kOwn, QuotaOf("EnableKeyRotation")},
    {"GetKeyPolicy", Kind::kOwn, QuotaOf("GetKeyPolicy")},
    {"GetKeyRotationStatus", Kind::kOwn, QuotaOf("GetKeyRotationStatus")},
    {"GetParametersForImport", Kind::kOwn, QuotaOf("GetParametersForImport")},
    {"GetPublicKey", Kind::kOwn, QuotaOf("GetPublicKey")},
    {"ImportKeyMaterial", Kind::kOwn, QuotaOf("ImportKeyMaterial")},
    {"ListAliases", Kind::kOwn, QuotaOf("ListAliases")},
    {"ListGrants", Kind::kOwn, QuotaOf("ListGrants")},
    {"ListKeyPolicies", Kind::kOwn, QuotaOf("ListKeyPolicies")},
    {"ListKeys", Kind::kOwn, QuotaOf("ListKeys")},
    {"ListResourceTags", Kind::kOwn, QuotaOf("ListResourceTags")},
    {"ListRetirableGrants", Kind::kOwn, QuotaOf("ListRetirableGrants")},
    {"PutKeyPolicy", Kind::kOwn, QuotaOf("PutKeyPolicy")},
    {"RetireGrant", Kind::kOwn, QuotaOf("RetireGrant")},
    {"RevokeGrant", Kind::kOwn, QuotaOf("RevokeGrant")},
    {"ScheduleKeyDeletion", Kind::kOwn, QuotaOf("ScheduleKeyDeletion")},
    {"TagResource", Kind::kOwn, QuotaOf("TagResource")},
    {"UntagResource", Kind::kOwn, QuotaOf("UntagResource")},
    {"UpdateAlias", Kind::kOwn, QuotaOf("UpdateAlias")},
    {"UpdateCustomKeyStore", Kind::kOwn, QuotaOf("UpdateCustomKeyStore")},
    {"UpdateKeyDescription", Kind::kOwn, QuotaOf("UpdateKeyDescription")},
};

constexpr bool EveryOwnQuotaExists() {
  for (const OperationRule& rule : kRules) {
    if (rule.kind == Kind::kOwn && rule.quota == kQuotaCount) return false;
  }
  return true;
}
static_assert(EveryOwnQuotaExists(), "an operation of kRules has no quota in kQuotas");

// What the throttler needs of a key before authorization: the quota of
// its type.
struct KeyClass {
  QuotaId quota = kSymmetricQuota;  // also for a key that does not resolve
};

QuotaId KeyTypeQuota(std::string_view key_spec) {
  if (key_spec.starts_with("RSA_")) return kRsaQuota;
  if (key_spec.starts_with("ECC_") || key_spec == "SM2") return kEccQuota;
  return kSymmetricQuota;  // SYMMETRIC_DEFAULT and HMAC_*
}

KeyClass ClassOf(const KeyEntry& key) { return KeyClass{KeyTypeQuota(key.row.key_spec)}; }

// How a request named a key: the reference resolves differently (a KeyId
// within the caller's account, a ciphertext's key id in any account).
enum class RefKind : uint8_t { kKeyInput, kBlobKeyId };

// What a KeyClassCache entry is kept under: the caller's account, the
// request's Region and the reference as the request gave it. The same
// reference means another key (a bare key id) for another account or
// Region.
struct KeyRef {
  std::string_view account;
  std::string_view region;
  RefKind kind;
  std::string_view ref;
};

// A direct-mapped cache of KeyClass by KeyRef, one per thread. Aliases are
// not kept: an alias may move to another key. Only references that
// resolved are kept, so requests cannot fill it with made-up ids.
class KeyClassCache {
 public:
  static KeyClassCache& ForThread() {
    thread_local KeyClassCache cache;
    return cache;
  }
  const KeyClass* Get(uint64_t owner, const KeyRef& key) const {
    const Entry& e = entries_[Slot(key)];
    return e.owner == owner && e.kind == key.kind && e.ref == key.ref &&
                   e.account == key.account && e.region == key.region
               ? &e.key
               : nullptr;
  }
  void Put(uint64_t owner, const KeyRef& key, const KeyClass& c) {
    Entry& e = entries_[Slot(key)];
    e.owner = owner;
    e.account.assign(key.account);
    e.region.assign(key.region);
    e.kind = key.kind;
    e.ref.assign(key.ref);
    e.key = c;
  }

 private:
  struct Entry {
    uint64_t owner = 0;
    std::string account;
    std::string region;
    RefKind kind = RefKind::kKeyInput;
    std::string ref;
    KeyClass key;
  };
  static constexpr size_t kSlots = 256;
  static size_t Slot(const KeyRef& key) {
    std::hash<std::string_view> h;
    size_t x = h(key.ref);
    x = x * 31 + h(key.account);
    x = x * 31 + h(key.region);
    x = x * 31 + static_cast<size_t>(key.kind);
    return x % kSlots;
  }
  std::array<Entry, kSlots> entries_;
};

// The class, for the caller of ctx, of the key that lookup() finds (a
// Result<KeyPtr>, null or an error when there is none), through the
// per-thread cache when cache_owner is not 0.
template <typename Lookup>
KeyClass CachedClass(const server::RequestContext& ctx, uint64_t cache_owner,
                     RefKind kind, std::string_view ref, Lookup lookup) {
  KeyClassCache& cache = KeyClassCache::ForThread();
  const std::string_view account = ctx.principal().account_id;
  const KeyRef key_ref{account, ctx.region(), kind, ref};
  if (cache_owner != 0) {
    if (const KeyClass* hit = cache.Get(cache_owner, key_ref)) return *hit;
  }
  Result<KeyPtr> key = lookup();
  if (!key.ok() || !*key) return {};
  KeyClass c = ClassOf(**key);
  if (cache_owner != 0) cache.Put(cache_owner, key_ref, c);
  return c;
}

// The class of the key a cryptographic request uses: by key_input (id,
// ARN or alias), else by the key id in a symmetric ciphertext blob;
// symmetric when neither resolves.
KeyClass ClassOfKey(Kms& kms, const server::RequestContext& ctx, std::string_view key_input,
                    std::string_view blob, uint64_t cache_owner) {
  if (!key_input.empty()) {
    bool alias = key_input.find("alias/") != std::string_view::npos;
    return CachedClass(ctx, alias ? 0 : cache_owner, RefKind::kKeyInput, key_input,
                       [&kms, &ctx, key_input] { return ResolveKey(kms, ctx, key_input); });
  }
  if (blob.empty()) return {};
  auto parsed = ParseBlob(blob);
  if (!parsed.ok()) return {};
  const std::string& id = parsed->header.key_id;
  return CachedClass(ctx, cache_owner, RefKind::kBlobKeyId, id,
                     [&kms, &ctx, &id] { return LoadKey(kms, ctx, id); });
}

// The key type's shared quota (a key's custom key store is charged after
// authorization: StoreQuotaScope).
void AddKeyCharges(const server::RequestContext& ctx, const KeyClass& key, Charges& out) {
  out.Add({key.quota, ctx.region(), {}, 1});
}

void AddCryptoCharges(Kms& kms, const server::RequestContext& ctx, const json::Value& in,
                      uint64_t cache_owner, Charges& out) {
  std::string_view blob = in.get_string("CiphertextBlob");
  if (ctx.operation() == "ReEncrypt") {
    AddKeyCharges(ctx, ClassOfKey(kms, ctx, in.get_string("SourceKeyId"), blob, cache_owner),
                  out);
    AddKeyCharges(ctx, ClassOfKey(kms, ctx, in.get_string("DestinationKeyId"), {}, cache_owner),
                  out);
    return;
  }
  AddKeyCharges(ctx, ClassOfKey(kms, ctx, in.get_string("KeyId"), blob, cache_owner), out);
}

}  // namespace

const OperationRule* RuleFor(std::string_view operation) {
  for (const OperationRule& rule : kRules) {
    if (rule.operation == operation) return &rule;
  }
  return nullptr;
}

Charges ChargesFor(Kms& kms, const server::RequestContext& ctx, const OperationRule& rule,
                   const json::Value& in, uint64_t cache_owner) {
  Charges out;
  std::string_view region = ctx.region();
  switch (rule.kind) {
    case Kind::kOwn:
      out.Add({rule.quota, region, {}, 1});
      break;
    case Kind::kKeyCrypto:
      AddCryptoCharges(kms, ctx, in, cache_owner, out);
      break;
    case Kind::kDataKeyPair: {
      std::string name = std::string(kDataKeyPairPrefix) + std::string(in.get_string("KeyPairSpec"));
      // The model's enum admits only the specs the table names.
      std::optional<QuotaId> q = FindQuota(name);
      out.Add({q.value_or(kFirstDataKeyPairQuota), region, {}, 1});
      break;
    }
    case Kind::kGenerateRandom: {
      out.Add({kSymmetricQuota, region, {}, 1});
      std::string_view store = in.get_string("CustomKeyStoreId");
      // Counts against the store only if the server already tracks it (a
      // made-up store id must not add a bucket), and only when the caller
      // owns it (Throttler::Admit checks the bucket's owner).
      if (!store.empty()) {
        out.Add({kCustomKeyStoreQuota, region, std::string(store), 1, /*known_only=*/true});
      }
      break;
    }
    case Kind::kReplicateKey:
      // AWS counts one ReplicateKey in the primary key's Region and two
      // CreateKey (one a dry run) in the replica's.
      out.Add({kReplicateKeyQuota, region, {}, 1});
      out.Add({kCreateKeyQuota, in.get_string("ReplicaRegion"), {}, 2});
      break;
    case Kind::kUpdatePrimaryRegion:
      // One request in each of the two Regions.
      out.Add({kUpdatePrimaryRegionQuota, region, {}, 1});
      out.Add({kUpdatePrimaryRegionQuota, in.get_string("PrimaryRegion"), {}, 1});
      break;
  }
  return out;
}

Status AdmitRequest(Throttler& throttler, Kms& kms, const server::RequestContext& ctx,
                    const OperationRule& rule, const json::Value& in) {
  return throttler.Admit(ctx.principal().account_id,
                         ChargesFor(kms, ctx, rule, in, throttler.id()));
}

namespace {

// The open StoreQuotaScope of this thread: the throttler to charge (null
// when none is open) and the stores already charged for the request.
struct StoreQuotaState {
  Throttler* throttler = nullptr;
  std::vector<std::string> charged;
};
thread_local StoreQuotaState store_quota;

}  // namespace

StoreQuotaScope::StoreQuotaScope(Throttler* throttler, const OperationRule* rule)
    : previous_(store_quota.throttler) {
  const bool key_crypto = rule != nullptr && rule->kind == Kind::kKeyCrypto;
  store_quota.throttler = key_crypto ? throttler : nullptr;
  store_quota.charged.clear();
}

StoreQuotaScope::~StoreQuotaScope() {
  store_quota.throttler = previous_;
  store_quota.charged.clear();
}

Status StoreQuotaScope::Charge(Kms& kms, const server::RequestContext& ctx, const KeyEntry& key) {
  StoreQuotaState& state = store_quota;
  if (state.throttler == nullptr || key.row.origin != kCloudHsmOrigin || !kms.cks) {
    return Status::Ok();
  }
  // A key without its HSM reference fails in the handler when it reaches
  // the HSM; there is no store to charge.
  auto where = kms.cks->KeyLocation(key.row.key_id);
  if (!where.ok()) return Status::Ok();
  const std::string& store = where->store_id;
  if (std::find(state.charged.begin(), state.charged.end(), store) != state.charged.end()) {
    return Status::Ok();
  }
  RETURN_IF_ERROR(state.throttler->AdmitStore(store, key.row.account_id, ctx.region()));
  state.charged.push_back(store);
  return Status::Ok();
}

}  // namespace rampart::kms::internal

namespace rampart::kms {

Status KmsService::SetThrottling(const server::KmsThrottlingConfig& config,
                                 const std::vector<std::string>& regions,
                                 const internal::MonotonicClock* clock) {
  ASSIGN_OR_RETURN(internal::QuotaOverrides overrides, internal::ReadQuotaOverrides(config));
  if (!config.enabled) {
    throttler_.reset();
    return Status::Ok();
  }
  throttler_ = std::make_shared<internal::Throttler>(
      regions, overrides, clock != nullptr ? *clock : internal::SteadyMonotonicClock());
  return Status::Ok();
}

}  // namespace rampart::kms
