// Internal: KMS custom key stores over Rampart HSM clusters (AWS CloudHSM
// key stores in AWS's terms; docs/kms.md, "Custom key stores").
//
// A custom key store names one HSM cluster of the server config
// (server::HsmConfig) and holds the kmsuser password, sealed under the root
// key. Connecting opens every member of the cluster logged in with that
// password; KMS keys created in the store (Origin AWS_CLOUDHSM) are
// non-extractable AES-256 keys inside the cluster, and their symmetric
// operations run in the HSM. Not a public interface.
//
// Thread-safety: CustomKeyStores is thread-safe; the connected clusters are
// shared (an operation in flight keeps its cluster alive after a
// disconnect).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kms/kms_internal.h"
#include "rampart/hsm/cluster.h"
#include "rampart/kms/ciphertext.h"
#include "rampart/server/config.h"

namespace rampart::kms::internal {

inline constexpr std::string_view kCloudHsmOrigin = "AWS_CLOUDHSM";
// Material versions of HSM-backed keys carry this bit in the ciphertext
// header, so a blob says by itself that its key lives in an HSM.
inline constexpr uint32_t kHsmMaterialBit = 0x80000000u;

// One row of kms_custom_key_stores.
struct StoreRow {
  std::string store_id;  // cks-<17 hex digits>
  std::string account_id;
  std::string region;
  std::string name;
  std::string cluster_id;
  std::string trust_anchor;
  std::string sealed_password;
  std::string state;       // CONNECTED, DISCONNECTED, FAILED, ...
  std::string error_code;  // ConnectionErrorCode when FAILED
  int64_t created_at = 0;
};

// Where a KMS key of a custom key store lives.
struct HsmKeyRef {
  std::string store_id;
  std::string hsm_key_id;  // the CKA_ID, raw bytes
};

class CustomKeyStores {
 public:
  CustomKeyStores(store::Database& db, const SecretBytes& root_key)
      : db_(db), root_key_(root_key) {}

  // REQUIRES: cfg outlives this; set before handlers run.
  void SetHsmConfig(const server::HsmConfig* cfg) { hsm_ = cfg; }
  const server::HsmConfig* hsm() const { return hsm_; }
  store::Database& db() { return db_; }
  const SecretBytes& root_key() const { return root_key_; }

  // Whether account_id may use cluster_id: the cluster exists in the config
  // and names the account in its "accounts", or has no such list and the
  // account is the management account. A cluster an account may not use
  // is, for that account, a cluster that does not exist.
  Result<bool> ClusterVisibleTo(std::string_view cluster_id, std::string_view account_id);

  // The connected cluster of a store, reconnecting lazily after a restart
  // when the store is CONNECTED in the database; nullptr when the store is
  // not connected.
  Result<std::shared_ptr<hsm::Cluster>> Connected(const StoreRow& row);
  // Opens the store's cluster with its password: the new state and error
  // code (CONNECTED and "" on success).
  std::pair<std::string, std::string> Connect(const StoreRow& row);
  // Disconnects: runs persist (which records DISCONNECTED) and forgets the
  // cluster while no connection is being made, so that a request racing
  // the disconnection cannot reconnect the store lazily. In-flight
  // operations finish on the cluster they hold.
  Status Disconnect(std::string_view store_id, const std::function<Status()>& persist);
  void DisconnectAll();

  // Destroys, best effort, the HSM keys of store_id whose KMS keys were
  // deleted (their waiting period ended), and forgets them. Runs when a
  // store connects and before it disconnects, as AWS deletes the key
  // material of deleted keys from the cluster on a best-effort basis.
  void DestroyOrphanKeys(const std::string& store_id, hsm::Cluster& cluster);

  // The HSM location of a KMS key (cached; immutable once created).
  Result<HsmKeyRef> KeyLocation(std::string_view key_id);
  void ForgetKey(std::string_view key_id);

 private:
  store::Database& db_;
  const SecretBytes& root_key_;
  std::pair<std::string, std::string> ConnectLocked(const StoreRow& row);
  // Whether the database still says the store is CONNECTED.
  Result<bool> StoredAsConnected(std::string_view store_id);

  const server::HsmConfig* hsm_ = nullptr;
  // Serialises connecting, so that one store never opens its cluster twice.
  std::mutex connect_mu_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<hsm::Cluster>, std::less<>> clusters_;  // guarded by mu_
  std::map<std::string, HsmKeyRef, std::less<>> keys_;                          // guarded by mu_
};

// Reads a store by id, scoped to the caller's account and region
// (CustomKeyStoreNotFoundException otherwise).
Result<StoreRow> ReadStore(store::Tx& tx, const server::RequestContext& ctx, std::string_view id);

// kms_custom_key_store_keys.cc: the branches of CreateKey, DescribeKey,
// the symmetric operations and GenerateRandom for keys in a store.
Result<json::Value> CreateKeyInCustomKeyStore(Kms& kms, server::RequestContext& ctx,
                                              const json::Value& in);
// Adds CustomKeyStoreId and CloudHsmClusterId to an AWS_CLOUDHSM key's
// metadata, and KeyState Unavailable while its store is not connected.
Status AddCustomKeyStoreMetadata(Kms& kms, const KeyRow& row, json::Value& metadata);
// AES-GCM in the HSM under key, in the ciphertext format with the HSM bit.
Result<std::string> SealBlobInHsm(Kms& kms, const KeyEntry& key, std::string_view plaintext,
                                  const EncryptionContext& context);
Result<SecretBytes> OpenBlobInHsm(Kms& kms, const KeyEntry& key, const ParsedBlob& blob,
                                  const EncryptionContext& context);
// n bytes from the RNG of the store's cluster.
Result<std::string> RandomFromCustomKeyStore(Kms& kms, const server::RequestContext& ctx,
                                             std::string_view store_id, size_t n);

std::vector<Binding> CustomKeyStoreBindings();
Status MigrateCustomKeyStores(store::Database& db);

}  // namespace rampart::kms::internal
