// KmsService: tables, the key cache and handler registration.
#include "rampart/kms/kms_service.h"

#include "kms/kms_internal.h"

namespace rampart::kms {
namespace internal {

KeyPtr KeyCache::Get(std::string_view key_id) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(std::string(key_id));
  return it == entries_.end() ? nullptr : it->second;
}

void KeyCache::Put(const std::string& key_id, KeyPtr entry, uint64_t generation) {
  std::unique_lock lock(mu_);
  if (generation != generation_.load(std::memory_order_acquire)) return;
  // Bounded: a full cache starts over (entries are rebuilt on demand).
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_[key_id] = std::move(entry);
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

const store::Migration kMigrations[] = {{1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3}};

}  // namespace

Status KmsService::Migrate(store::Database& db) { return db.Migrate("kms", kMigrations); }

void KmsService::InvalidateCache() {
  kms_->cache.InvalidateAll();
  kms_->aliases.InvalidateAll();
}

void KmsService::Register(server::Registry& registry) {
  for (auto table : {internal::KeyBindings, internal::CryptoBindings, internal::PolicyBindings,
                     internal::AliasBindings, internal::TagBindings,
                     internal::AsymmetricBindings, internal::RotationBindings,
                     internal::GrantBindings, internal::ImportBindings}) {
    for (const internal::Binding& b : table()) {
      registry.Add("kms", b.operation,
                   [kms = kms_.get(), h = b.handler](server::RequestContext& ctx,
                                                      const json::Value& in)
                                         -> Result<json::Value> {
                     RETURN_IF_ERROR(internal::CheckGrantTokens(kms->root_key, in));
                     internal::RequestAliasScope alias(in);
                     return h(*kms, ctx, in);
                   });
    }
  }
}

}  // namespace rampart::kms
