// Shared pieces of the KMS handler files (src/kms/kms_*.cc). Not a public
// interface.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/crypto/pkey.h"
#include "rampart/iam/engine.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/server/context.h"
#include "rampart/store/store.h"
#include "kms/kms_sm2.h"

namespace rampart::kms::internal {

inline constexpr std::string_view kEnabled = "Enabled";
inline constexpr std::string_view kDisabled = "Disabled";
inline constexpr std::string_view kPendingDeletion = "PendingDeletion";
inline constexpr std::string_view kPendingImport = "PendingImport";
// A multi-Region primary key scheduled for deletion while replicas remain:
// its waiting period starts when the last replica is deleted.
inline constexpr std::string_view kPendingReplicaDeletion = "PendingReplicaDeletion";

// One row of kms_keys: a key in one region. A multi-Region key has one row
// per region with the same key id; they share key material, spec, usage,
// origin and rotation settings (kept equal in every row), and each has its
// own policy, description, state, tags, aliases and grants.
struct KeyRow {
  std::string key_id;  // UUID, or "mrk-" + 32 hex digits for multi-Region keys
  std::string account_id;
  std::string region;
  std::string description;
  std::string key_spec;   // SYMMETRIC_DEFAULT, HMAC_256, ...
  std::string key_usage;  // ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, SIGN_VERIFY
  std::string origin;     // AWS_KMS or EXTERNAL
  std::string state;      // Enabled, Disabled, PendingDeletion, PendingImport
  std::string policy;     // the key policy document
  int64_t created_at = 0;
  int64_t deletion_date = 0;  // seconds; 0 unless PendingDeletion
  int64_t pending_days = 0;   // 0 unless PendingDeletion
  uint32_t current_version = 1;
  bool rotation_enabled = false;
  int64_t next_rotation = 0;  // seconds; when rotation_enabled
  // EXTERNAL keys: "" (nothing imported yet), KEY_MATERIAL_EXPIRES or
  // KEY_MATERIAL_DOES_NOT_EXPIRE; valid_to in seconds when it expires; a
  // keyed digest of the imported material (a reimport must match it).
  std::string expiration_model;
  int64_t valid_to = 0;
  std::string material_digest;
  bool multi_region = false;
  std::string primary_region;  // multi-Region keys: where the primary is
  std::string Arn() const;
  bool IsReplica() const { return multi_region && primary_region != region; }
};

// A grant on a key (kms_grants). Constraint keys compare without regard
// to case, values exactly (AWS KMS Developer Guide, "Grant constraints").
struct Grant {
  std::string grant_id;  // 64 lowercase hex digits
  std::string key_id;
  std::string name;       // may be empty
  std::string grantee;    // principal ARN
  std::string retiring;   // principal ARN, may be empty
  std::vector<std::string> operations;  // "Encrypt", "Decrypt", ...
  // EncryptionContextEquals / EncryptionContextSubset, when present.
  std::optional<std::vector<std::pair<std::string, std::string>>> context_equals;
  std::optional<std::vector<std::pair<std::string, std::string>>> context_subset;
  int64_t created_at = 0;
  bool Allows(std::string_view operation) const;
};

// A key as the hot path uses it: immutable once built, shared between
// threads. Material versions are unsealed; SecretBytes wipe on release.
struct KeyEntry {
  KeyRow row;
  std::string arn;
  std::shared_ptr<const iam::CompiledPolicy> policy;
  std::map<uint32_t, SecretBytes> material;
  // The key's tags, for aws:ResourceTag/<key> conditions.
  std::vector<std::pair<std::string, std::string>> tags;
  // The key's alias names ("alias/x"), for kms:ResourceAliases.
  std::vector<std::string> aliases;
  // The key's grants, oldest first.
  std::vector<Grant> grants;
  // The condition keys the key brings to every request on it
  // (KeyConditionKeys), prepared once: the entry is rebuilt whenever its
  // row, tags or aliases change, so they are never stale.
  std::vector<iam::PreparedKey> condition_keys;
  // Asymmetric keys: the current material parsed once.
  std::shared_ptr<const crypto::PrivateKey> private_key;
  // SM2 keys: the same key for SM2DSA and SM2PKE.
  std::shared_ptr<const Sm2Key> sm2;
  // Multi-Region keys: every region that holds this key id (sorted),
  // for MultiRegionConfiguration.
  std::vector<std::string> regions;
};
using KeyPtr = std::shared_ptr<const KeyEntry>;

// A bounded cache of KeyEntry by (key id, region), with generations so
// that a load racing an invalidation is not stored. Invalidating a key id
// drops it in every region, since the regions of a multi-Region key share
// material and rotation and list each other. Thread-safe.
class KeyCache {
 public:
  explicit KeyCache(size_t max_entries = 10000) : max_entries_(max_entries) {}
  KeyPtr Get(std::string_view region, std::string_view key_id) const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  void Put(std::string_view region, const std::string& key_id, KeyPtr entry,
           uint64_t generation);
  void Invalidate(std::string_view key_id);
  void InvalidateAll();

 private:
  using Regions = std::vector<std::pair<std::string, KeyPtr>>;
  // Looks keys up by string_view: no string built per request.
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  const size_t max_entries_;
  std::atomic<uint64_t> generation_{1};
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Regions, IdHash, std::equal_to<>> entries_;  // guarded by mu_
};

// Alias name -> key id by "account/region/alias", so that naming a key by
// its alias reads no database. Misses are not cached. Every alias write
// and every key write clears it (with a generation, as KeyCache). Bounded;
// a full cache starts over. Thread-safe.
class AliasCache {
 public:
  explicit AliasCache(size_t max_entries = 10000) : max_entries_(max_entries) {}
  std::optional<std::string> Get(const std::string& key) const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  void Put(const std::string& key, std::string key_id, uint64_t generation);
  void InvalidateAll();

 private:
  const size_t max_entries_;
  std::atomic<uint64_t> generation_{1};
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::string> entries_;  // guarded by mu_
};

// The service's state, shared by every handler.
struct Kms {
  Kms(store::Database& d, const SecretBytes& rk, const iam::EngineAuthorizer& a)
      : db(d), root_key(rk), authorizer(a) {}
  store::Database& db;
  const SecretBytes& root_key;
  const iam::EngineAuthorizer& authorizer;
  KeyCache cache;
  AliasCache aliases;
  // Custom key stores over HSM clusters (kms_custom_key_store.h).
  std::shared_ptr<class CustomKeyStores> cks;
};

using Handler = Result<json::Value> (*)(Kms&, server::RequestContext&, const json::Value&);

// --- keys (kms_keys.cc) ---
// "arn:aws:kms:<region>:<account>:key/<id>"
std::string KeyArn(std::string_view region, std::string_view account, std::string_view key_id);
std::string AliasArn(std::string_view region, std::string_view account, std::string_view alias);
int64_t NowSeconds(const server::RequestContext& ctx);

// Resolves a KeyId input: a key id, a key ARN, an alias name or an alias
// ARN. Bare ids and alias names refer to the caller's account and the
// request's region. NotFoundException as AWS words it.
// allow_alias=false for operations that take only key ids or ARNs.
Result<KeyPtr> ResolveKey(Kms& kms, const server::RequestContext& ctx, std::string_view input,
                          bool allow_alias = true);
// The key by id (any account) in the request's region, loaded through the
// cache; nullptr when it does not exist.
Result<KeyPtr> LoadKey(Kms& kms, const server::RequestContext& ctx, std::string_view key_id);
// The same in another region (multi-Region keys).
Result<KeyPtr> LoadKeyIn(Kms& kms, const server::RequestContext& ctx, std::string_view region,
                         std::string_view key_id);
Status KeyNotFound(std::string_view arn);

// Authorizes action on key by its key policy (see kms_policy.cc).
Status AuthorizeKey(Kms& kms, const server::RequestContext& ctx, const KeyEntry& key,
                    std::string_view action, std::vector<server::ConditionKey> keys = {});

// kms:KeySpec, kms:KeyUsage, kms:KeyOrigin, kms:MultiRegion(KeyType),
// kms:ResourceAliases and aws:ResourceTag/* of key (from its row, aliases
// and tags), for KeyEntry::condition_keys.
std::vector<iam::PreparedKey> KeyConditionKeys(const KeyEntry& key);

// What the key policy (with IAM where it delegates) says about action,
// with keys, the key's condition_keys and kms:CallerAccount; adds
// kms:CallerAccount and kms:RequestAlias (the request's) to keys.
Result<iam::EngineAuthorizer::Verdict> KeyPolicyVerdict(Kms& kms, const server::RequestContext& ctx,
                                                        const KeyEntry& key,
                                                        std::string_view action,
                                                        std::vector<server::ConditionKey>& keys);
// The alias the current request names its key by ("alias/x", from an
// alias name or alias ARN in KeyId), for kms:RequestAlias. Set by the
// handler wrapper for the duration of one handler call on this thread
// (handlers run synchronously on the thread that called them).
class RequestAliasScope {
 public:
  explicit RequestAliasScope(const json::Value& in);
  ~RequestAliasScope();
  RequestAliasScope(const RequestAliasScope&) = delete;
  RequestAliasScope& operator=(const RequestAliasScope&) = delete;
  static std::string_view Current();
};


// --- grants (kms_grants.cc) ---
// The grant of key that lets the caller perform action ("kms:Encrypt")
// given the request's condition keys (the encryption context is read from
// kms:EncryptionContext:<k>), or nullptr.
const Grant* MatchingGrant(const server::RequestContext& ctx, const KeyEntry& key,
                           std::string_view action,
                           std::span<const server::ConditionKey> keys);
// Whether the caller is principal_arn (a user or session ARN, the role of
// a role session, or the account root of the caller's account).
bool CallerIs(const server::RequestContext& ctx, std::string_view principal_arn);
// Reads the grants of key_id in region (ordered by creation).
Status ReadGrantRows(store::Tx& tx, std::string_view region, std::string_view key_id,
                     std::vector<Grant>& out);
// InvalidGrantTokenException unless every entry of in.GrantTokens is a
// token this server issued.
Status CheckGrantTokens(const SecretBytes& root_key, const json::Value& in);

// DisabledException / KMSInvalidStateException unless the key is Enabled.
Status RequireEnabled(const KeyEntry& key);
// KMSInvalidStateException when the key is pending deletion.
Status RequireNotPendingDeletion(const KeyEntry& key);
// InvalidKeyUsageException unless the key's usage is usage.
Status RequireUsage(const KeyEntry& key, std::string_view usage, std::string_view operation);

// Runs fn in a write transaction, then drops the key's cached entries (in
// every region).
Status WriteKey(Kms& kms, std::string_view key_id, const std::function<Status(store::Tx&)>& fn);

// KeyMetadata; regions lists every region of a multi-Region key.
json::Value KeyMetadataJson(const KeyRow& row, std::span<const std::string> regions = {});
// Inserts a key row (and, when sealed is not empty, material version 1).
Status InsertKey(store::Tx& tx, const KeyRow& r, std::string_view sealed);
// The kms:MultiRegion and kms:MultiRegionKeyType condition keys of row.
void AddMultiRegionKeys(const KeyRow& row, std::vector<server::ConditionKey>& keys);

// --- policies (kms_policy.cc) ---
std::string DefaultKeyPolicy(std::string_view account);
// Compiles a key policy (MalformedPolicyDocumentException).
Result<std::shared_ptr<const iam::CompiledPolicy>> CompileKeyPolicy(std::string_view doc,
                                                                    std::string_view key_arn);
// The lockout safety check: the policy must let the caller call
// PutKeyPolicy on key_arn afterwards.
Status CheckLockout(Kms& kms, const server::RequestContext& ctx, const iam::CompiledPolicy& policy,
                    std::string_view key_arn);

// --- key material (kms_material.cc) ---
// New material for a key spec: 32 random bytes for SYMMETRIC_DEFAULT,
// random bytes of the HMAC size for HMAC_*, a PKCS#8 DER private key for
// RSA_* and ECC_*.
Result<SecretBytes> GenerateMaterial(std::string_view key_spec);
// Sealing under the root key, bound to (key id, version).
Result<std::string> SealMaterial(const SecretBytes& root_key, std::string_view key_id,
                                 uint32_t version, const SecretBytes& material);
Result<SecretBytes> UnsealMaterial(const SecretBytes& root_key, std::string_view key_id,
                                   uint32_t version, std::string_view sealed);

bool IsAsymmetric(std::string_view key_spec);

// --- asymmetric keys (kms_asymmetric.cc) ---
// The algorithms a key offers, for KeyMetadata and GetPublicKey.
std::vector<std::string> SigningAlgorithms(const KeyRow& row);
std::vector<std::string> EncryptionAlgorithms(const KeyRow& row);
// RSAES-OAEP Encrypt/Decrypt for an RSA ENCRYPT_DECRYPT key. REQUIRES:
// the caller resolved the key; these authorize and check state.
Result<json::Value> AsymmetricEncrypt(Kms& kms, const server::RequestContext& ctx,
                                      const KeyEntry& key, const json::Value& in);
Result<json::Value> AsymmetricDecrypt(Kms& kms, const server::RequestContext& ctx,
                                      const KeyEntry& key, const json::Value& in);

// --- import (kms_import.cc) ---
// Whether row's imported material has expired at now.
bool ImportExpired(const KeyRow& row, int64_t now);
// Deletes the imported material of the key in region whose ValidTo passed
// (it becomes PendingImport), re-checking in the transaction. Whether it
// did.
Result<bool> ExpireImportedMaterial(Kms& kms, std::string_view region, std::string_view key_id,
                                    int64_t now);
// Deletes the stored material of key_id once no region holds it: no row
// of the key is left or, for imported material, no region has it imported.
Status DeleteUnheldMaterial(store::Tx& tx, std::string_view key_id);
// Whether the key has material in its region: an EXTERNAL key once it was
// imported there (and not deleted or expired since), any other key always.
bool HasKeyMaterial(const KeyEntry& key);
// Deletes import tokens that expired before now.
Status DeleteExpiredImportTokens(Kms& kms, int64_t now);

// --- rotation (kms_rotation.cc) ---
// Whether row is due for automatic rotation at now.
bool RotationDue(const KeyRow& row, int64_t now);
// Adds a new material version and makes it current, unless another
// request rotated the key first. Drops the cached entry.
Status RotateKey(Kms& kms, std::string_view key_id, int64_t now);

// Tags of a key (kms_tags.cc).
using TagList = std::vector<std::pair<std::string, std::string>>;
Result<TagList> ReadTags(const json::Value& in);
Status PutTags(store::Tx& tx, std::string_view region, std::string_view key_id,
               const TagList& tags);
// Deletes the key in region with its aliases, tags, grants and import
// tokens; its material once no region holds the key id. Deleting the last
// replica starts the waiting period of a primary in PendingReplicaDeletion.
Status DeleteKeyRows(store::Tx& tx, std::string_view region, std::string_view key_id,
                     int64_t now);

// The component "kms" schema migrations, oldest first (kms_service.cc).
std::span<const store::Migration> KmsMigrations();

// Handler tables per file, registered by kms_service.cc.
struct Binding {
  std::string_view operation;
  Handler handler;
};
std::vector<Binding> KeyBindings();
std::vector<Binding> CryptoBindings();
std::vector<Binding> PolicyBindings();
std::vector<Binding> AliasBindings();
std::vector<Binding> TagBindings();
std::vector<Binding> AsymmetricBindings();
std::vector<Binding> RotationBindings();
std::vector<Binding> GrantBindings();
std::vector<Binding> ImportBindings();
std::vector<Binding> MultiRegionBindings();

}  // namespace rampart::kms::internal
