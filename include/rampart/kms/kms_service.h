// KMS (JSON 1.1, signing name "kms", target prefix TrentService): customer
// managed keys, their key policies, grants, aliases and tags, imported key
// material (Origin EXTERNAL), the symmetric cryptographic operations
// (AES-256-GCM, ciphertext format in include/rampart/kms/ciphertext.h),
// RSA, ECC and SM2 signing, RSA and SM2 encryption, HMAC, multi-Region
// keys across the regions the server serves, and scheduled deletion and
// rotation (docs/kms.md).
//
// Key material is generated with OpenSSL and stored sealed under the
// server's root key (AES-256-GCM, bound to the key id and material
// version). Each key's metadata, compiled key policy and unsealed material
// are cached in memory (bounded, wiped on eviction) so that the hot path
// reads no database; every write to a key drops its entry.
//
// Every operation on a key is authorized by the key policy as a resource
// policy that must allow on its own (the default policy delegates to the
// account's IAM policies), through iam::EngineAuthorizer::Allowed, or else
// by a grant to the caller.
//
// Keys may also live in custom key stores over HSM clusters (Origin
// AWS_CLOUDHSM, src/kms/kms_custom_key_store.h), whose symmetric
// operations run inside the HSMs.
//
// Thread-safety: KmsService is thread-safe; handlers run concurrently
// with each other and with the scheduler thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "rampart/core/clock.h"

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/server/context.h"
#include "rampart/server/config.h"
#include "rampart/store/store.h"

namespace rampart::kms {

namespace internal {
struct Kms;
class Scheduler;
class Throttler;
class MonotonicClock;
}

// What one pass of the scheduled work did.
struct SweepCounts {
  int deleted = 0;  // keys whose deletion date had passed
  int rotated = 0;  // keys whose automatic rotation was due
  int expired_imports = 0;  // EXTERNAL keys whose imported material expired
};

class KmsService {
 public:
  // REQUIRES: db, root_key and authorizer outlive the service; Migrate(db)
  // succeeded.
  KmsService(store::Database& db, const SecretBytes& root_key,
             const iam::EngineAuthorizer& authorizer);
  ~KmsService();
  KmsService(const KmsService&) = delete;
  KmsService& operator=(const KmsService&) = delete;

  // Creates or upgrades the KMS tables (component "kms").
  static Status Migrate(store::Database& db);

  // Adds the KMS handlers. REQUIRES: this outlives registry use.
  void Register(server::Registry& registry);

  // The HSM clusters custom key stores may use (the server config's hsm
  // section). Without it, CreateCustomKeyStore finds no cluster.
  // REQUIRES: hsm outlives the service; called before handlers run.
  void SetHsmConfig(const server::HsmConfig* hsm);

  // Forgets every cached key (after a development-mode reset).
  void InvalidateCache();

  // Request throttling with AWS's default request quotas and config's
  // overrides, per account in each of regions (src/kms/kms_throttle.h,
  // docs/kms-throttling.md); off unless config.enabled. An unknown quota
  // name or a rate out of range is an error even when off.
  // The buckets run on clock (steady_clock when null; tests pass their
  // own). REQUIRES: called before Register; clock outlives the service.
  Status SetThrottling(const server::KmsThrottlingConfig& config,
                       const std::vector<std::string>& regions,
                       const internal::MonotonicClock* clock = nullptr);

  // Scheduled work, one pass at `now`: deletes every key whose deletion
  // date has passed, rotates every enabled key whose automatic rotation is
  // due and deletes imported material past its ValidTo (and expired import
  // tokens), each key in its own write transaction that re-checks the key
  // first (a concurrent CancelKeyDeletion or rotation wins). A key whose
  // work fails is skipped and retried on the next pass.
  Result<SweepCounts> SweepOnce(TimePoint now);

  // Starts one background thread that calls SweepOnce(clock.Now()) every
  // interval; StopScheduler (and the destructor) wakes and joins it.
  // REQUIRES: clock outlives the thread; Start and Stop from one thread.
  void StartScheduler(const Clock& clock, std::chrono::milliseconds interval);
  void StopScheduler();

 private:
  std::unique_ptr<internal::Kms> kms_;
  std::unique_ptr<internal::Scheduler> scheduler_;
  std::shared_ptr<internal::Throttler> throttler_;  // null: no throttling
};

}  // namespace rampart::kms
