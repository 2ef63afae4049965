// KmsService: tables, the key cache and handler registration.
#include "rampart/kms/kms_service.h"

#include "kms/kms_custom_key_store.h"
#include "kms/kms_internal.h"
#include "kms/kms_throttle.h"

namespace rampart::kms {
namespace internal {

KeyPtr KeyCache::Get(std::string_view region, std::string_view key_id) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(key_id);
  if (it == entries_.end()) return nullptr;
  for (const auto& entry : it->second) {
    if (entry.first == region) return entry.second;
  }
  return nullptr;
}

void KeyCache::Put(std::string_view region, const std::string& key_id, KeyPtr entry,
                   uint64_t generation) {
  std::unique_lock lock(mu_);
  if (generation != generation_.load(std::memory_order_acquire)) return;
  // Bounded: a full cache starts over (entries are rebuilt on demand).
  if (entries_.size() >= max_entries_) entries_.clear();
  Regions& regions = entries_[key_id];
  for (auto& existing : regions) {
    if (existing.first == region) {
      existing.second = std::move(entry);
      return;
    }
  }
  regions.emplace_back(std::string(region), std::move(entry));
}

void KeyCache::Invalidate(std::string_view key_id) {
  std::unique_lock lock(mu_);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  entries_.erase(std::string(key_id));
}

void KeyCache::InvalidateAll() {
  std::unique_lock lock(mu_);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  entries_.clear();
}

std::optional<std::string> AliasCache::Get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void AliasCache::Put(const std::string& key, std::string key_id, uint64_t generation) {
  std::unique_lock lock(mu_);
  if (generation != generation_.load(std::memory_order_acquire)) return;
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_[key] = std::move(key_id);
}

void AliasCache::InvalidateAll() {
  std::unique_lock lock(mu_);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  entries_.clear();
}

}  // namespace internal

namespace {

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE kms_keys (
  key_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  region TEXT NOT NULL,
  description TEXT NOT NULL,
  key_spec TEXT NOT NULL,
  key_usage TEXT NOT NULL,
  origin TEXT NOT NULL,
  state TEXT NOT NULL,
  policy TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deletion_date INTEGER NOT NULL,
  pending_days INTEGER NOT NULL,
  current_version INTEGER NOT NULL,
  rotation_enabled INTEGER NOT NULL,
  next_rotation INTEGER NOT NULL
);
CREATE INDEX kms_keys_by_account ON kms_keys (account_id, region, key_id);
CREATE TABLE kms_key_material (
  key_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  sealed BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, version)
);
CREATE TABLE kms_aliases (
  account_id TEXT NOT NULL,
  region TEXT NOT NULL,
  alias_name TEXT NOT NULL,
  key_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, alias_name)
);
CREATE INDEX kms_aliases_by_key ON kms_aliases (key_id);
CREATE TABLE kms_tags (
  key_id TEXT NOT NULL,
  tag_key TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (key_id, tag_key)
);
)sql";

// Grants (kms_grants.cc). operations is a comma-separated list; the
// constraints are JSON objects, NULL when absent.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE kms_grants (
  grant_id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  name TEXT NOT NULL,
  grantee TEXT NOT NULL,
  retiring TEXT NOT NULL,
  operations TEXT NOT NULL,
  context_equals TEXT,
  context_subset TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX kms_grants_by_key ON kms_grants (key_id, created_at);
CREATE INDEX kms_grants_by_retiring ON kms_grants (retiring);
)sql";

// Imported key material (kms_import.cc): the expiration of the current
// import, the digest a reimport must match, and the wrapping keys handed
// out by GetParametersForImport (sealed under the root key).
constexpr std::string_view kSchemaV3 = R"sql(
ALTER TABLE kms_keys ADD COLUMN expiration_model TEXT NOT NULL DEFAULT '';
ALTER TABLE kms_keys ADD COLUMN valid_to INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kms_keys ADD COLUMN material_digest TEXT NOT NULL DEFAULT '';
CREATE TABLE kms_import_tokens (
  token_id TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  wrapping_algorithm TEXT NOT NULL,
  sealed_private_key BLOB NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX kms_import_tokens_by_key ON kms_import_tokens (key_id);
)sql";

// Multi-Region keys: a key id is unique per (account, region) and a
// multi-Region key has one row per region. kms_keys is rebuilt with that
// primary key (and a unique (key_id, region), since ciphertext blobs and
// grant tokens name a key by id and region only; ids are random), and the
// per-region tables that named a key by id alone gain its region.
// Material stays keyed by key id: the regions of a key share it.
constexpr std::string_view kSchemaV4 = R"sql(
CREATE TABLE kms_keys_v4 (
  key_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  region TEXT NOT NULL,
  description TEXT NOT NULL,
  key_spec TEXT NOT NULL,
  key_usage TEXT NOT NULL,
  origin TEXT NOT NULL,
  state TEXT NOT NULL,
  policy TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deletion_date INTEGER NOT NULL,
  pending_days INTEGER NOT NULL,
  current_version INTEGER NOT NULL,
  rotation_enabled INTEGER NOT NULL,
  next_rotation INTEGER NOT NULL,
  expiration_model TEXT NOT NULL DEFAULT '',
  valid_to INTEGER NOT NULL DEFAULT 0,
  material_digest TEXT NOT NULL DEFAULT '',
  multi_region INTEGER NOT NULL DEFAULT 0,
  primary_region TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (account_id, region, key_id)
);
INSERT INTO kms_keys_v4 (key_id, account_id, region, description, key_spec, key_usage, origin,
  state, policy, created_at, deletion_date, pending_days, current_version, rotation_enabled,
  next_rotation, expiration_model, valid_to, material_digest)
SELECT key_id, account_id, region, description, key_spec, key_usage, origin, state, policy,
  created_at, deletion_date, pending_days, current_version, rotation_enabled, next_rotation,
  expiration_model, valid_to, material_digest FROM kms_keys;
DROP TABLE kms_keys;
ALTER TABLE kms_keys_v4 RENAME TO kms_keys;
CREATE UNIQUE INDEX kms_keys_by_id ON kms_keys (key_id, region);
CREATE TABLE kms_tags_v4 (
  region TEXT NOT NULL,
  key_id TEXT NOT NULL,
  tag_key TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (region, key_id, tag_key)
);
INSERT INTO kms_tags_v4 (region, key_id, tag_key, tag_value)
SELECT k.region, t.key_id, t.tag_key, t.tag_value FROM kms_tags t JOIN kms_keys k
  ON k.key_id = t.key_id;
DROP TABLE kms_tags;
ALTER TABLE kms_tags_v4 RENAME TO kms_tags;
ALTER TABLE kms_grants ADD COLUMN region TEXT NOT NULL DEFAULT '';
UPDATE kms_grants SET region = COALESCE(
  (SELECT k.region FROM kms_keys k WHERE k.key_id = kms_grants.key_id), '');
DROP INDEX kms_grants_by_key;
CREATE INDEX kms_grants_by_key ON kms_grants (key_id, region, created_at);
ALTER TABLE kms_import_tokens ADD COLUMN region TEXT NOT NULL DEFAULT '';
UPDATE kms_import_tokens SET region = COALESCE(
  (SELECT k.region FROM kms_keys k WHERE k.key_id = kms_import_tokens.key_id), '');
DROP INDEX kms_aliases_by_key;
CREATE INDEX kms_aliases_by_key ON kms_aliases (key_id, region);
)sql";

const store::Migration kMigrations[] = {
    {1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3}, {4, kSchemaV4}};

}  // namespace

namespace internal {
std::span<const store::Migration> KmsMigrations() { return kMigrations; }
}  // namespace internal

Status KmsService::Migrate(store::Database& db) {
  RETURN_IF_ERROR(db.Migrate("kms", kMigrations));
  return internal::MigrateCustomKeyStores(db);
}

void KmsService::SetHsmConfig(const server::HsmConfig* hsm) {
  if (!kms_->cks) kms_->cks = std::make_shared<internal::CustomKeyStores>(kms_->db, kms_->root_key);
  kms_->cks->SetHsmConfig(hsm);
}

void KmsService::InvalidateCache() {
  kms_->cache.InvalidateAll();
  kms_->aliases.InvalidateAll();
  if (kms_->cks) kms_->cks->DisconnectAll();
}

void KmsService::Register(server::Registry& registry) {
  if (!kms_->cks) kms_->cks = std::make_shared<internal::CustomKeyStores>(kms_->db, kms_->root_key);
  for (auto table : {internal::KeyBindings, internal::CryptoBindings, internal::PolicyBindings,
                     internal::AliasBindings, internal::TagBindings,
                     internal::AsymmetricBindings, internal::RotationBindings,
                     internal::GrantBindings, internal::ImportBindings,
                     internal::MultiRegionBindings, internal::CustomKeyStoreBindings}) {
    for (const internal::Binding& b : table()) {
      // Throttling (kms_throttle.h) comes first: a throttled request does
      // no other work. A key's custom key store is charged later, once the
      // caller is authorized to use the key (StoreQuotaScope).
      const internal::OperationRule* rule =
          throttler_ ? internal::RuleFor(b.operation) : nullptr;
      registry.Add("kms", b.operation,
                   [kms = kms_.get(), h = b.handler, throttler = throttler_, rule](
                       server::RequestContext& ctx, const json::Value& in)
                                         -> Result<json::Value> {
                     if (rule != nullptr) {
                       RETURN_IF_ERROR(internal::AdmitRequest(*throttler, *kms, ctx, *rule, in));
                     }
                     RETURN_IF_ERROR(internal::CheckGrantTokens(kms->root_key, in));
                     internal::RequestAliasScope alias(in);
                     internal::StoreQuotaScope store_quota(throttler.get(), rule);
                     return h(*kms, ctx, in);
                   });
    }
  }
}

}  // namespace rampart::kms
