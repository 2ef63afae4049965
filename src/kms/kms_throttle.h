// Internal: optional throttling of KMS requests with AWS's default request
// quotas (AWS KMS Developer Guide, "Request quotas"; docs/kms-throttling.md).
// Not a public interface.
//
// Every quota is a rate in requests per second, kept per (account, Region,
// quota) except the custom key store quota, which is kept per custom key
// store whatever account uses it. The cryptographic operations share one
// quota per key type (symmetric and HMAC, RSA, ECC and SM2); the data key
// pair operations share one per key pair spec; every other operation has
// its own. A request of another account's key counts against the caller's
// account, as AWS documents ("Cross-account requests").
//
// The custom key store quota is charged in two places. The account's
// quotas are taken before the handler runs (AdmitRequest), but a key's
// store is charged only once the caller is authorized to use the key
// (StoreQuotaScope::Charge, called by AuthorizeKey): every caller the key
// policy or a grant lets use the key takes from the store's quota, and a
// caller without permission never does. GenerateRandom naming a store
// takes from it before the handler, only when the caller owns the store.
//
// Each quota is a token bucket that holds one second of its rate (at
// least one token) and refills continuously. A bucket is kept as one
// atomic "theoretical arrival time" (the generic cell rate algorithm, which
// admits exactly what such a token bucket admits), so that taking a token
// is one compare-and-swap and no lock is held while deciding. Time comes
// from a monotonic clock read when the request is admitted, never from the
// wall clock, so a step of the system time neither freezes nor refills a
// bucket.
//
// Thread-safety: Throttler is thread-safe; Admit runs concurrently from
// every worker. The quota table functions are pure. Two small caches are
// per thread (thread_local), so they need no lock: the last account's
// buckets, and what a key reference resolved to for an account; their
// entries are tagged with the throttler's id, which is never reused.
//
// KmsService::SetThrottling is defined in kms_throttle.cc.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/server/config.h"
#include "rampart/server/context.h"

namespace rampart::kms::internal {

struct Kms;
struct KeyEntry;

// --- the quota table (kms_throttle.cc) ---

// Quotas are numbered by their place in the table. The four shared
// cryptographic quotas come first.
using QuotaId = uint8_t;
inline constexpr QuotaId kSymmetricQuota = 0;       // CryptographicOperationsSymmetric
inline constexpr QuotaId kRsaQuota = 1;             // CryptographicOperationsRSA
inline constexpr QuotaId kEccQuota = 2;             // CryptographicOperationsECC
inline constexpr QuotaId kCustomKeyStoreQuota = 3;  // CustomKeyStore (per store)
inline constexpr size_t kQuotaCount = 50;

// The quota's name in the config file, e.g. "CreateKey" or
// "GenerateDataKeyPair.RSA_2048". REQUIRES: q < kQuotaCount.
std::string_view QuotaName(QuotaId q);
std::optional<QuotaId> FindQuota(std::string_view name);
// AWS's default rate of q in region, in requests per second (some quotas
// are higher or lower in some Regions).
double DefaultRate(QuotaId q, std::string_view region);

// Per-quota overrides from the config file, by QuotaId; unset keeps AWS's
// default. An unknown quota name or a rate outside
// [KmsThrottlingConfig::kMinRate, kMaxRate] is an error naming the setting.
using QuotaOverrides = std::array<std::optional<double>, kQuotaCount>;
Result<QuotaOverrides> ReadQuotaOverrides(const server::KmsThrottlingConfig& config);

// --- time ---

// The time the buckets run on: nanoseconds from an arbitrary start, never
// going back. Thread-safety: NowNs is called from every worker at once.
class MonotonicClock {
 public:
  virtual ~MonotonicClock() = default;
  virtual int64_t NowNs() const = 0;
};

// std::chrono::steady_clock, the clock a server runs on. Lives forever.
const MonotonicClock& SteadyMonotonicClock();

// --- buckets ---

// A rate as the buckets use it: nanoseconds per token and the bucket's
// depth in nanoseconds (capacity x interval).
struct Rate {
  int64_t interval_ns = 0;
  int64_t depth_ns = 0;
};
// per_second is clamped to [KmsThrottlingConfig::kMinRate, kMaxRate].
Rate MakeRate(double per_second);

// One token bucket. Starts full.
class RateBucket {
 public:
  // Takes cost tokens at now_ns (a MonotonicClock reading) when the
  // bucket holds them; false, taking nothing, when it does not. A now_ns
  // older than an earlier call's (two workers reading the clock and then
  // reaching the bucket in the other order) finds the bucket no fuller
  // than it is.
  bool TryTake(int64_t now_ns, const Rate& rate, uint32_t cost);
  // Puts back tokens taken by TryTake (a request refused by another quota).
  void GiveBack(const Rate& rate, uint32_t cost);

 private:
  // When the bucket will be full again if nothing more is taken.
  std::atomic<int64_t> full_at_ns_{0};
};

// --- what a request takes ---

// One quota a request counts against. region is the account's Region for
// the per-account quotas (a multi-Region operation also counts in another
// Region); store_id names the store for kCustomKeyStoreQuota, which is
// taken only when the requesting account owns the store.
struct Charge {
  QuotaId quota = kSymmetricQuota;
  std::string_view region;
  std::string store_id;
  uint32_t cost = 1;
  // Only if the throttler already keeps this bucket (a store id taken
  // from a request rather than from a key).
  bool known_only = false;
};

// The few charges of one request, without allocating. Adding a charge
// already present (same quota, region and store) does nothing.
class Charges {
 public:
  static constexpr size_t kMax = 6;
  void Add(const Charge& c);
  size_t size() const { return size_; }
  const Charge& operator[](size_t i) const { return items_[i]; }

 private:
  std::array<Charge, kMax> items_{};
  size_t size_ = 0;
};

// --- the throttler ---

class Throttler {
 public:
  // The Regions the server serves (charges in other Regions are not
  // kept), the validated overrides and the time source.
  // REQUIRES: clock outlives the throttler.
  Throttler(std::vector<std::string> regions, const QuotaOverrides& overrides,
            const MonotonicClock& clock = SteadyMonotonicClock());
  ~Throttler();
  Throttler(const Throttler&) = delete;
  Throttler& operator=(const Throttler&) = delete;

  // Takes every charge of account's request, at the clock's time now, or
  // none: ThrottlingException with AWS's message when any quota is
  // exhausted. A custom key store charge counts only when account owns the
  // store (the owner AdmitStore made its bucket with, or account itself
  // for a charge that is not known_only).
  Status Admit(std::string_view account, const Charges& charges);

  // Takes one token from the quota of custom key store store_id, owned by
  // owner_account, for an authorized use of one of its keys in region:
  // ThrottlingException when the store's quota is exhausted. REQUIRES:
  // store_id comes from a key the server holds, not from a request.
  Status AdmitStore(std::string_view store_id, std::string_view owner_account,
                    std::string_view region);

  // The rate in force for q in region (for tests and the docs' table);
  // 0 for a Region the server does not serve.
  double RateOf(QuotaId q, std::string_view region) const;

  uint64_t id() const { return id_; }

  // Limits on the kept state: accounts x Regions and custom key stores.
  // Past them a new account or store is not throttled (logged once); a
  // server never comes near them, they only bound memory.
  static constexpr size_t kMaxAccounts = 100000;
  static constexpr size_t kMaxStores = 10000;

 private:
  struct AccountBuckets;
  struct StoreBucket;
  template <typename T>
  class BucketMap;

  // Index of region in regions_, or -1.
  int RegionIndex(std::string_view region) const;
  RateBucket* Find(std::string_view account, const Charge& c, const Rate** rate);
  // The account's buckets, through a one-entry cache per thread (a worker
  // mostly serves the same accounts in a row), so that the common case
  // takes no lock.
  AccountBuckets* BucketsOf(std::string_view account);

  // Unique per throttler, never reused: tells the per-thread caches
  // whose entries they hold.
  const uint64_t id_;
  const MonotonicClock& clock_;
  const std::vector<std::string> regions_;
  // rates_[region index][quota]; the custom key store rate is in every
  // row (it does not vary by Region).
  std::vector<std::array<Rate, kQuotaCount>> rates_;
  std::unique_ptr<BucketMap<AccountBuckets>> accounts_;
  std::unique_ptr<BucketMap<StoreBucket>> stores_;
};

// --- the KMS side ---

// How an operation is charged; nullptr for an operation with no quota.
struct OperationRule;
const OperationRule* RuleFor(std::string_view operation);

// The charges of one request before its handler runs: the operation's
// quota, and for the cryptographic operations the shared quota of the
// key's type, found through the key cache (a key that cannot be resolved
// counts as symmetric; the handler then answers its error). A key's custom
// key store is not among them (StoreQuotaScope). With cache_owner != 0
// what a key id or key ARN resolved to is kept in a small per-thread cache
// tagged cache_owner, under the caller's account, the request's Region and
// the reference (a key's spec never changes, so entries need no
// invalidation).
Charges ChargesFor(Kms& kms, const server::RequestContext& ctx, const OperationRule& rule,
                   const json::Value& in, uint64_t cache_owner = 0);

// The hook in front of every KMS handler: Admit with ChargesFor against
// the caller's account, at the throttler's clock.
Status AdmitRequest(Throttler& throttler, Kms& kms, const server::RequestContext& ctx,
                    const OperationRule& rule, const json::Value& in);

// The second hook, after authorization: while a scope is open on a
// thread (the handler wrapper opens one around each cryptographic
// operation when throttling is on), Charge takes from the custom key store
// of each key the caller was authorized to use, once per store and
// request. Handlers run synchronously on the thread that called them.
class StoreQuotaScope {
 public:
  // Charges nothing when throttler or rule is null, or when rule is not a
  // cryptographic operation on a key.
  StoreQuotaScope(Throttler* throttler, const OperationRule* rule);
  ~StoreQuotaScope();
  StoreQuotaScope(const StoreQuotaScope&) = delete;
  StoreQuotaScope& operator=(const StoreQuotaScope&) = delete;

  // ThrottlingException when key is in a custom key store whose quota is
  // exhausted; OK otherwise (no open scope, a key outside any store, a
  // store already charged for this request).
  static Status Charge(Kms& kms, const server::RequestContext& ctx, const KeyEntry& key);

 private:
  Throttler* previous_;
};

}  // namespace rampart::kms::internal
