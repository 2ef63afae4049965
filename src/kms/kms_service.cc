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

const store::Migration kMigrations[] = {{1, kSchemaV1}};

}  // namespace

KmsService::KmsService(store::Database& db, const SecretBytes& root_key,
                       const iam::EngineAuthorizer& authorizer)
    : kms_(std::make_unique<internal::Kms>(db, root_key, authorizer)) {}

KmsService::~KmsService() = default;

Status KmsService::Migrate(store::Database& db) { return db.Migrate("kms", kMigrations); }

void KmsService::InvalidateCache() { kms_->cache.InvalidateAll(); }

void KmsService::Register(server::Registry& registry) {
  for (auto table : {internal::KeyBindings, internal::CryptoBindings, internal::PolicyBindings,
                     internal::AliasBindings, internal::TagBindings,
                     internal::AsymmetricBindings, internal::RotationBindings}) {
    for (const internal::Binding& b : table()) {
      registry.Add("kms", b.operation,
                   [kms = kms_.get(), h = b.handler](server::RequestContext& ctx,
                                                      const json::Value& in) {
                     return h(*kms, ctx, in);
                   });
    }
  }
}

}  // namespace rampart::kms
