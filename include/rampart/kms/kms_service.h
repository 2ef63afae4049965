// KMS (JSON 1.1, signing name "kms", target prefix TrentService): customer
// managed keys, their key policies, aliases and tags, and the symmetric
// cryptographic operations (AES-256-GCM, ciphertext format in
// include/rampart/kms/ciphertext.h) and HMAC.
//
// Key material is generated with OpenSSL and stored sealed under the
// server's root key (AES-256-GCM, bound to the key id and material
// version). Each key's metadata, compiled key policy and unsealed material
// are cached in memory (bounded, wiped on eviction) so that the hot path
// reads no database; every write to a key drops its entry.
//
// Every operation on a key is authorized by the key policy as a resource
// policy that must allow on its own (the default policy delegates to the
// account's IAM policies), through iam::EngineAuthorizer::Allowed.
//
// Thread-safety: KmsService is thread-safe; handlers run concurrently.
#pragma once

#include <memory>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/server/context.h"
#include "rampart/store/store.h"

namespace rampart::kms {

namespace internal {
struct Kms;
}

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

  // Forgets every cached key (after a development-mode reset).
  void InvalidateCache();

 private:
  std::unique_ptr<internal::Kms> kms_;
};

}  // namespace rampart::kms
