// KMS keys: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
// UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion; key lookup
// by id, ARN or alias, the key cache loader and key-state checks.
//
// A key pending deletion whose DeletionDate has passed is deleted by the
// scheduler (kms_scheduler.cc) or, if that comes first, the next time
// anything looks it up; it is hidden from ListKeys from its DeletionDate.
#include <algorithm>
#include <cctype>
#include <chrono>

#include "kms/kms_custom_key_store.h"
#include "kms/kms_internal.h"
#include "rampart/core/arn.h"
#include "rampart/core/ids.h"

namespace rampart::kms::internal {

std::string KeyArn(std::string_view region, std::string_view account, std::string_view key_id) {
  return "arn:aws:kms:" + std::string(region) + ":" + std::string(account) + ":key/" +
         std::string(key_id);
}

std::string AliasArn(std::string_view region, std::string_view account, std::string_view alias) {
  return "arn:aws:kms:" + std::string(region) + ":" + std::string(account) + ":" +
         std::string(alias);
}

std::string KeyRow::Arn() const { return KeyArn(region, account_id, key_id); }

int64_t NowSeconds(const server::RequestContext& ctx) {
  return std::chrono::duration_cast<std::chrono::seconds>(ctx.time().time_since_epoch()).count();
}

Status KeyNotFound(std::string_view arn) {
  return Status::Modeled("NotFoundException", "Key '" + std::string(arn) + "' does not exist");
}

namespace {

constexpr std::string_view kKeyColumns =
    "key_id, account_id, region, description, key_spec, key_usage, origin, state, policy, "
    "created_at, deletion_date, pending_days, current_version, rotation_enabled, next_rotation, "
    "expiration_model, valid_to, material_digest, multi_region, primary_region";

KeyRow ReadKeyRow(const store::Statement& q) {
  KeyRow r;
  r.key_id = q.Text(0);
  r.account_id = q.Text(1);
  r.region = q.Text(2);
  r.description = q.Text(3);
  r.key_spec = q.Text(4);
  r.key_usage = q.Text(5);
  r.origin = q.Text(6);
  r.state = q.Text(7);
  r.policy = q.Text(8);
  r.created_at = q.Int(9);
  r.deletion_date = q.Int(10);
  r.pending_days = q.Int(11);
  r.current_version = static_cast<uint32_t>(q.Int(12));
  r.rotation_enabled = q.Int(13) != 0;
  r.next_rotation = q.Int(14);
  r.expiration_model = q.Text(15);
  r.valid_to = q.Int(16);
  r.material_digest = q.Text(17);
  r.multi_region = q.Int(18) != 0;
  r.primary_region = q.Text(19);
  return r;
}

bool Expired(const KeyRow& r, int64_t now) {
  return r.state == kPendingDeletion && r.deletion_date <= now;
}

// ASCII only (std::isxdigit is a locale call per character).
bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool IsHex(std::string_view s) { return std::all_of(s.begin(), s.end(), IsHexDigit); }

// A KMS key id: a lowercase or uppercase UUID (8-4-4-4-12 hex), or a
// multi-Region key id, "mrk-" and 32 hex digits.
bool IsKeyId(std::string_view s) {
  if (s.size() == 36 && s.starts_with("mrk-")) return IsHex(s.substr(4));
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (c == '-')) return false;
    if (!dash && !IsHexDigit(c)) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct LoadedRows {
  std::optional<KeyRow> row;
  std::vector<std::pair<uint32_t, std::string>> sealed;
  TagList tags;
  std::vector<Grant> grants;
  std::vector<std::string> aliases;
  std::vector<std::string> regions;
};

Status ReadTagRows(store::Tx& tx, std::string_view region, std::string_view key_id,
                   TagList& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT tag_key, tag_value FROM kms_tags WHERE key_id = ? "
                                      "AND region = ?"));
  q->Bind(1, key_id).Bind(2, region);
  while (true) {
    ASSIGN_OR_RETURN(bool more, q->Step());
    if (!more) return Status::Ok();
    out.emplace_back(q->Text(0), q->Text(1));
  }
}

Status ReadRegions(store::Tx& tx, const KeyRow& row, std::vector<std::string>& out) {
  if (!row.multi_region) return Status::Ok();
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT region FROM kms_keys WHERE key_id = ? AND "
                                      "account_id = ? ORDER BY region"));
  q->Bind(1, row.key_id).Bind(2, row.account_id);
  while (true) {
    ASSIGN_OR_RETURN(bool more, q->Step());
    if (!more) return Status::Ok();
    out.push_back(q->Text(0));
  }
}

Result<LoadedRows> ReadKeyRows(store::Database& db, std::string_view region,
                               std::string_view key_id) {
  LoadedRows out;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kKeyColumns) +
                                        " FROM kms_keys WHERE key_id = ? AND region = ?"));
    q->Bind(1, key_id).Bind(2, region);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    out.row = ReadKeyRow(*q);
    RETURN_IF_ERROR(ReadRegions(tx, *out.row, out.regions));
    ASSIGN_OR_RETURN(auto m,
                     tx.Prepare("SELECT version, sealed FROM kms_key_material WHERE key_id = ?"));
    m->Bind(1, key_id);
    while (true) {
      ASSIGN_OR_RETURN(bool more, m->Step());
      if (!more) break;
      out.sealed.emplace_back(static_cast<uint32_t>(m->Int(0)), m->Text(1));
    }
    RETURN_IF_ERROR(ReadTagRows(tx, region, key_id, out.tags));
    ASSIGN_OR_RETURN(auto a, tx.Prepare("SELECT alias_name FROM kms_aliases WHERE key_id = ? "
                                        "AND region = ? ORDER BY alias_name"));
    a->Bind(1, key_id).Bind(2, region);
    while (true) {
      ASSIGN_OR_RETURN(bool more, a->Step());
      if (!more) break;
      out.aliases.push_back(a->Text(0));
    }
    return ReadGrantRows(tx, region, key_id, out.grants);
  }));
  return out;
}

Result<KeyPtr> BuildEntry(Kms& kms, LoadedRows rows) {
  auto entry = std::make_shared<KeyEntry>();
  entry->row = std::move(*rows.row);
  entry->arn = entry->row.Arn();
  entry->tags = std::move(rows.tags);
  entry->grants = std::move(rows.grants);
  entry->aliases = std::move(rows.aliases);
  entry->regions = std::move(rows.regions);
  entry->condition_keys = KeyConditionKeys(*entry);
  ASSIGN_OR_RETURN(entry->policy, CompileKeyPolicy(entry->row.policy, entry->arn));
  for (const auto& [version, sealed] : rows.sealed) {
    ASSIGN_OR_RETURN(SecretBytes m, UnsealMaterial(kms.root_key, entry->row.key_id, version, sealed));
    entry->material.emplace(version, std::move(m));
  }
  if (IsAsymmetric(entry->row.key_spec)) {
    auto current = entry->material.find(entry->row.current_version);
    if (current == entry->material.end()) return Status::Internal("key material missing");
    ASSIGN_OR_RETURN(crypto::PrivateKey pkey, crypto::PrivateKey::FromPkcs8(current->second));
    entry->private_key = std::make_shared<const crypto::PrivateKey>(std::move(pkey));
    if (entry->row.key_spec == "SM2") {
      ASSIGN_OR_RETURN(entry->sm2, Sm2Key::FromPkcs8(current->second));
    }
  }
  return KeyPtr(std::move(entry));
}

Status PurgeKey(Kms& kms, std::string_view region, std::string_view key_id, int64_t now) {
  return WriteKey(kms, key_id,
                  [&](store::Tx& tx) { return DeleteKeyRows(tx, region, key_id, now); });
}

Result<std::string> AliasTarget(Kms& kms, std::string_view account, std::string_view region,
                                std::string_view alias) {
  std::string cache_key = std::string(account) + "/" + std::string(region) + "/" +
                          std::string(alias);
  if (auto hit = kms.aliases.Get(cache_key)) return *std::move(hit);
  const uint64_t generation = kms.aliases.generation();
  std::string key_id;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT key_id FROM kms_aliases WHERE account_id = ? "
                                        "AND region = ? AND alias_name = ?"));
    q->Bind(1, account).Bind(2, region).Bind(3, alias);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) key_id = q->Text(0);
    return Status::Ok();
  }));
  if (key_id.empty()) {
    return Status::Modeled("NotFoundException",
                           "Alias '" + AliasArn(region, account, alias) + "' is not found.");
  }
  kms.aliases.Put(cache_key, key_id, generation);
  return key_id;
}

// The operations on a key that another account may call, given the key
// policy's permission: "Cross-account use: Yes" in the API reference.
// The others (key management: policies, tags, state, deletion, import,
// replication, ...) only reach the caller's own keys.
bool AllowsCrossAccount(std::string_view operation) {
  static constexpr std::string_view kCrossAccount[] = {
      "CreateGrant", "Decrypt", "DescribeKey", "Encrypt", "GenerateDataKey",
      "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
      "GenerateDataKeyWithoutPlaintext", "GenerateMac", "GetKeyRotationStatus", "GetPublicKey",
      "ListGrants", "ReEncrypt", "RetireGrant", "RevokeGrant", "Sign", "Verify", "VerifyMac"};
  return std::find(std::begin(kCrossAccount), std::end(kCrossAccount), operation) !=
         std::end(kCrossAccount);
}

Status InvalidKeyId(std::string_view input) {
  return Status::Modeled("NotFoundException", "Invalid keyId '" + std::string(input) + "'");
}

}  // namespace

Result<KeyPtr> LoadKey(Kms& kms, const server::RequestContext& ctx, std::string_view key_id) {
  return LoadKeyIn(kms, ctx, ctx.region(), key_id);
}

Result<KeyPtr> LoadKeyIn(Kms& kms, const server::RequestContext& ctx, std::string_view region,
                         std::string_view key_id) {
  const int64_t now = NowSeconds(ctx);
  KeyPtr cached = kms.cache.Get(region, key_id);
  if (cached && !Expired(cached->row, now) && !RotationDue(cached->row, now) &&
      !ImportExpired(cached->row, now)) {
    return cached;
  }
  uint64_t generation = kms.cache.generation();
  ASSIGN_OR_RETURN(LoadedRows rows, ReadKeyRows(kms.db, region, key_id));
  if (!rows.row) return KeyPtr();
  if (Expired(*rows.row, now)) {
    RETURN_IF_ERROR(PurgeKey(kms, region, key_id, now));
    return KeyPtr();
  }
  // Imported material past its ValidTo is deleted before any use.
  if (ImportExpired(*rows.row, now)) {
    RETURN_IF_ERROR(ExpireImportedMaterial(kms, region, key_id, now).status());
    generation = kms.cache.generation();
    ASSIGN_OR_RETURN(rows, ReadKeyRows(kms.db, region, key_id));
    if (!rows.row) return KeyPtr();
  }
  // Automatic rotation happens at the first use after it fell due.
  if (RotationDue(*rows.row, now)) {
    RETURN_IF_ERROR(RotateKey(kms, key_id, now));
    generation = kms.cache.generation();
    ASSIGN_OR_RETURN(rows, ReadKeyRows(kms.db, region, key_id));
    if (!rows.row) return KeyPtr();
  }
  ASSIGN_OR_RETURN(KeyPtr entry, BuildEntry(kms, std::move(rows)));
  kms.cache.Put(region, std::string(key_id), entry, generation);
  return entry;
}

Result<KeyPtr> ResolveKey(Kms& kms, const server::RequestContext& ctx, std::string_view input,
                          bool allow_alias) {
  std::string account = ctx.principal().account_id;
  std::string region(ctx.region());
  std::string key_id;
  if (input.starts_with("arn:")) {
    auto arn = Arn::Parse(input);
    if (!arn || arn->service != "kms") return InvalidKeyId(input);
    // Keys are regional: a request reaches only the keys of its region.
    if (arn->region != ctx.region()) {
      return Status::Modeled("NotFoundException", "Invalid arn " + arn->region);
    }
    account = arn->account;
    region = arn->region;
    if (arn->resource.starts_with("key/")) {
      key_id = arn->resource.substr(4);
    } else if (allow_alias && arn->resource.starts_with("alias/")) {
      ASSIGN_OR_RETURN(key_id, AliasTarget(kms, account, region, arn->resource));
    } else {
      return InvalidKeyId(input);
    }
  } else if (input.starts_with("alias/")) {
    if (!allow_alias) return InvalidKeyId(input);
    ASSIGN_OR_RETURN(key_id, AliasTarget(kms, account, region, input));
  } else {
    key_id = std::string(input);
  }
  if (!IsKeyId(key_id)) return InvalidKeyId(input);
  // Key ids are hex, dashes and "mrk-": ASCII, lowered in place.
  for (char& c : key_id) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  ASSIGN_OR_RETURN(KeyPtr key, LoadKeyIn(kms, ctx, region, key_id));
  if (!key || key->row.account_id != account || key->row.region != region) {
    return KeyNotFound(KeyArn(region, account, key_id));
  }
  // Another account's key, for an operation that only works on the
  // caller's own keys whatever the key policy says.
  if (account != ctx.principal().account_id && !AllowsCrossAccount(ctx.operation())) {
    return KeyNotFound(key->arn);
  }
  return key;
}

Status RequireNotPendingDeletion(const KeyEntry& key) {
  if (key.row.state == kPendingDeletion) {
    return Status::Modeled("KMSInvalidStateException", key.arn + " is pending deletion.");
  }
  if (key.row.state == kPendingReplicaDeletion) {
    return Status::Modeled("KMSInvalidStateException",
                           key.arn + " is pending replica deletion.");
  }
  return Status::Ok();
}

Status RequireEnabled(const KeyEntry& key) {
  RETURN_IF_ERROR(RequireNotPendingDeletion(key));
  if (key.row.state == kPendingImport) {
    return Status::Modeled("KMSInvalidStateException", key.arn + " is pending import.");
  }
  if (key.row.state == kDisabled) {
    return Status::Modeled("DisabledException", key.arn + " is disabled.");
  }
  return Status::Ok();
}

Status RequireUsage(const KeyEntry& key, std::string_view usage, std::string_view operation) {
  if (key.row.key_usage == usage) return Status::Ok();
  return Status::Modeled("InvalidKeyUsageException",
                         key.arn + " key usage is " + key.row.key_usage +
                             " which is not valid for " + std::string(operation) + ".");
}

Status WriteKey(Kms& kms, std::string_view key_id, const std::function<Status(store::Tx&)>& fn) {
  Status st = kms.db.Write(fn);
  // Also after a failed write: a rollback leaves the row as cached, and
  // dropping an entry is always safe. A deleted key takes its aliases.
  kms.cache.Invalidate(key_id);
  kms.aliases.InvalidateAll();
  return st;
}

namespace {

// After a region of a multi-Region key is deleted: the material goes with
// the last region that holds it, and a primary waiting for its replicas to go starts its
// own waiting period when none is left (AWS KMS Developer Guide,
// "Deleting multi-Region keys").
Status AfterRegionDeleted(store::Tx& tx, std::string_view key_id, int64_t now) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT region, state, pending_days FROM kms_keys "
                                      "WHERE key_id = ?"));
  q->Bind(1, key_id);
  std::vector<std::pair<std::string, int64_t>> waiting;  // region, days
  int remaining = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool more, q->Step());
    if (!more) break;
    ++remaining;
    if (q->Text(1) == kPendingReplicaDeletion) waiting.emplace_back(q->Text(0), q->Int(2));
  }
  RETURN_IF_ERROR(DeleteUnheldMaterial(tx, key_id));
  if (remaining != 1 || waiting.size() != 1) return Status::Ok();
  ASSIGN_OR_RETURN(auto u, tx.Prepare("UPDATE kms_keys SET state = ?, deletion_date = ? "
                                      "WHERE key_id = ? AND region = ?"));
  u->Bind(1, kPendingDeletion).Bind(2, now + waiting[0].second * 86400);
  u->Bind(3, key_id).Bind(4, waiting[0].first);
  return u->Run();
}

}  // namespace

Status DeleteKeyRows(store::Tx& tx, std::string_view region, std::string_view key_id,
                     int64_t now) {
  for (std::string_view sql : {"DELETE FROM kms_aliases WHERE key_id = ? AND region = ?",
                               "DELETE FROM kms_grants WHERE key_id = ? AND region = ?",
                               "DELETE FROM kms_import_tokens WHERE key_id = ? AND region = ?",
                               "DELETE FROM kms_tags WHERE key_id = ? AND region = ?",
                               "DELETE FROM kms_keys WHERE key_id = ? AND region = ?"}) {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
    q->Bind(1, key_id).Bind(2, region);
    RETURN_IF_ERROR(q->Run());
  }
  return AfterRegionDeleted(tx, key_id, now);
}

void AddMultiRegionKeys(const KeyRow& row, std::vector<server::ConditionKey>& keys) {
  keys.push_back({"kms:MultiRegion", {row.multi_region ? "true" : "false"}});
  if (row.multi_region) {
    keys.push_back({"kms:MultiRegionKeyType", {row.IsReplica() ? "REPLICA" : "PRIMARY"}});
  }
}

namespace {

json::Value MultiRegionConfiguration(const KeyRow& row, std::span<const std::string> regions) {
  json::Value primary = json::Value::MakeObject();
  primary.set("Arn", KeyArn(row.primary_region, row.account_id, row.key_id));
  primary.set("Region", row.primary_region);
  json::Value replicas = json::Value::MakeArray();
  for (const std::string& region : regions) {
    if (region == row.primary_region) continue;
    json::Value r = json::Value::MakeObject();
    r.set("Arn", KeyArn(region, row.account_id, row.key_id));
    r.set("Region", region);
    replicas.push(std::move(r));
  }
  json::Value config = json::Value::MakeObject();
  config.set("MultiRegionKeyType", row.IsReplica() ? "REPLICA" : "PRIMARY");
  config.set("PrimaryKey", std::move(primary));
  config.set("ReplicaKeys", std::move(replicas));
  return config;
}

}  // namespace

json::Value KeyMetadataJson(const KeyRow& row, std::span<const std::string> regions) {
  json::Value m = json::Value::MakeObject();
  m.set("AWSAccountId", row.account_id);
  m.set("KeyId", row.key_id);
  m.set("Arn", row.Arn());
  m.set("CreationDate", row.created_at);
  m.set("Enabled", row.state == kEnabled);
  m.set("Description", row.description);
  m.set("KeyUsage", row.key_usage);
  m.set("KeyState", row.state);
  if (row.state == kPendingDeletion) {
    m.set("DeletionDate", row.deletion_date);
    m.set("PendingDeletionWindowInDays", row.pending_days);
  } else if (row.state == kPendingReplicaDeletion) {
    m.set("PendingDeletionWindowInDays", row.pending_days);
  }
  m.set("Origin", row.origin);
  if (!row.expiration_model.empty()) {
    m.set("ExpirationModel", row.expiration_model);
    if (row.valid_to != 0) m.set("ValidTo", row.valid_to);
  }
  m.set("KeyManager", "CUSTOMER");
  m.set("CustomerMasterKeySpec", row.key_spec);
  m.set("KeySpec", row.key_spec);
  if (row.key_usage == "ENCRYPT_DECRYPT") {
    json::Value algs = json::Value::MakeArray();
    for (std::string& a : EncryptionAlgorithms(row)) algs.push(std::move(a));
    m.set("EncryptionAlgorithms", std::move(algs));
  } else if (row.key_usage == "SIGN_VERIFY") {
    json::Value algs = json::Value::MakeArray();
    for (std::string& a : SigningAlgorithms(row)) algs.push(std::move(a));
    m.set("SigningAlgorithms", std::move(algs));
  } else if (row.key_usage == "GENERATE_VERIFY_MAC") {
    json::Value algs = json::Value::MakeArray();
    algs.push("HMAC_SHA_" + row.key_spec.substr(5));
    m.set("MacAlgorithms", std::move(algs));
  }
  m.set("MultiRegion", row.multi_region);
  if (row.multi_region) m.set("MultiRegionConfiguration", MultiRegionConfiguration(row, regions));
  return m;
}

namespace {

// The key usages each key spec supports (AWS KMS Developer Guide, "Key
// spec reference"). SM2 signs or encrypts (KEY_AGREEMENT is not part of
// this API version).
Status CheckSpecAndUsage(std::string_view spec, std::string_view usage) {
  bool sm2 = spec == "SM2";
  bool symmetric = spec == "SYMMETRIC_DEFAULT";
  bool hmac = spec.starts_with("HMAC_");
  bool rsa = spec.starts_with("RSA_");
  bool ecc = spec.starts_with("ECC_");
  if ((symmetric && usage == "ENCRYPT_DECRYPT") || (hmac && usage == "GENERATE_VERIFY_MAC") ||
      ((rsa || sm2) && (usage == "ENCRYPT_DECRYPT" || usage == "SIGN_VERIFY")) ||
      (ecc && usage == "SIGN_VERIFY")) {
    return Status::Ok();
  }
  return Status::Validation("KeyUsage " + std::string(usage) + " is not compatible with KeySpec " +
                            std::string(spec) + ".");
}

Result<KeyRow> ReadNewKey(const server::RequestContext& ctx, const json::Value& in) {
  KeyRow row;
  row.account_id = ctx.principal().account_id;
  row.region = std::string(ctx.region());
  row.description = std::string(in.get_string("Description"));
  std::string_view spec = in.get_string("KeySpec");
  std::string_view legacy = in.get_string("CustomerMasterKeySpec");
  if (!spec.empty() && !legacy.empty()) {
    return Status::Validation(
        "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
        "CustomerMasterKeySpec parameter is deprecated. Use KeySpec instead.");
  }
  row.key_spec = std::string(!spec.empty() ? spec : !legacy.empty() ? legacy : "SYMMETRIC_DEFAULT");
  std::string_view usage = in.get_string("KeyUsage");
  row.key_usage = std::string(!usage.empty() ? usage : "ENCRYPT_DECRYPT");
  std::string_view origin = in.get_string("Origin");
  row.origin = std::string(!origin.empty() ? origin : "AWS_KMS");
  if (row.origin == "EXTERNAL") {
    // This API version imports material into symmetric encryption keys only.
    if (row.key_spec != "SYMMETRIC_DEFAULT") {
      return Status::Modeled("UnsupportedOperationException",
                             "KeySpec " + row.key_spec + " is not supported for Origin EXTERNAL.");
    }
  } else if (row.origin != "AWS_KMS") {
    return Status::Error(ErrorCode::kNotImplemented,
                         "CreateKey with Origin " + row.origin + " is not implemented yet.");
  }
  for (std::string_view member : {"CustomKeyStoreId", "XksKeyId"}) {
    if (in.find(member) != nullptr) {
      return Status::Error(ErrorCode::kNotImplemented,
                           "CreateKey with " + std::string(member) + " is not implemented yet.");
    }
  }
  if (const json::Value* mr = in.find("MultiRegion"); mr && mr->is_bool() && mr->as_bool()) {
    // With Origin EXTERNAL the material is imported into each region
    // (kms_import.cc, kms_multi_region.cc).
    row.multi_region = true;
    row.primary_region = row.region;
  }
  RETURN_IF_ERROR(CheckSpecAndUsage(row.key_spec, row.key_usage));
  if (row.key_spec == "SM2") RETURN_IF_ERROR(RequireSm2Region(row.region));
  row.state = std::string(row.origin == "EXTERNAL" ? kPendingImport : kEnabled);
  row.created_at = NowSeconds(ctx);
  row.current_version = 1;
  return row;
}

}  // namespace

Status InsertKey(store::Tx& tx, const KeyRow& r, std::string_view sealed) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO kms_keys (" + std::string(kKeyColumns) +
                                      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                                      "?, ?, ?, ?)"));
  q->Bind(1, r.key_id).Bind(2, r.account_id).Bind(3, r.region).Bind(4, r.description);
  q->Bind(5, r.key_spec).Bind(6, r.key_usage).Bind(7, r.origin).Bind(8, r.state);
  q->Bind(9, r.policy).Bind(10, r.created_at).Bind(11, r.deletion_date);
  q->Bind(12, r.pending_days).Bind(13, static_cast<int64_t>(r.current_version));
  q->Bind(14, int64_t{r.rotation_enabled ? 1 : 0}).Bind(15, r.next_rotation);
  q->Bind(16, r.expiration_model).Bind(17, r.valid_to).Bind(18, r.material_digest);
  q->Bind(19, int64_t{r.multi_region ? 1 : 0}).Bind(20, r.primary_region);
  RETURN_IF_ERROR(q->Run());
  if (sealed.empty()) return Status::Ok();  // EXTERNAL: material comes by import
  ASSIGN_OR_RETURN(auto m, tx.Prepare("INSERT INTO kms_key_material (key_id, version, sealed, "
                                      "created_at) VALUES (?, ?, ?, ?)"));
  m->Bind(1, r.key_id).Bind(2, int64_t{1}).BindBlob(3, sealed).Bind(4, r.created_at);
  return m->Run();
}

namespace {

// "mrk-" and 32 random lowercase hex digits (AWS KMS Developer Guide,
// "Multi-Region key identifiers").
Result<std::string> NewMultiRegionKeyId() {
  ASSIGN_OR_RETURN(std::string uuid, ids::SecureUuid());
  std::string hex;
  for (char c : uuid) {
    if (c != '-') hex.push_back(c);
  }
  return "mrk-" + Lower(hex);
}

bool BoolMember(const json::Value& in, std::string_view name) {
  const json::Value* v = in.find(name);
  return v != nullptr && v->is_bool() && v->as_bool();
}

Result<json::Value> CreateKey(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  if (in.get_string("Origin") == kCloudHsmOrigin || in.find("CustomKeyStoreId") != nullptr) {
    return CreateKeyInCustomKeyStore(kms, ctx, in);
  }
  ASSIGN_OR_RETURN(KeyRow row, ReadNewKey(ctx, in));
  std::vector<server::ConditionKey> keys = {{"kms:KeySpec", {row.key_spec}},
                                            {"kms:KeyUsage", {row.key_usage}},
                                            {"kms:KeyOrigin", {row.origin}},
                                            {"kms:CallerAccount", {row.account_id}}};
  AddMultiRegionKeys(row, keys);
  RETURN_IF_ERROR(ctx.Authorize("kms:CreateKey", "*", keys));
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  if (row.multi_region) {
    ASSIGN_OR_RETURN(row.key_id, NewMultiRegionKeyId());
  } else {
    ASSIGN_OR_RETURN(row.key_id, ids::SecureUuid());
  }
  const json::Value* policy = in.find("Policy");
  row.policy = policy != nullptr && policy->is_string() ? policy->as_string()
                                                          : DefaultKeyPolicy(row.account_id);
  ASSIGN_OR_RETURN(auto compiled, CompileKeyPolicy(row.policy, row.Arn()));
  if (policy != nullptr && !BoolMember(in, "BypassPolicyLockoutSafetyCheck")) {
    RETURN_IF_ERROR(CheckLockout(kms, ctx, *compiled, row.Arn()));
  }
  std::string sealed;
  if (row.origin == "AWS_KMS") {
    ASSIGN_OR_RETURN(SecretBytes material, GenerateMaterial(row.key_spec));
    ASSIGN_OR_RETURN(sealed, SealMaterial(kms.root_key, row.key_id, 1, material));
  }
  RETURN_IF_ERROR(WriteKey(kms, row.key_id, [&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(InsertKey(tx, row, sealed));
    return PutTags(tx, row.region, row.key_id, tags);
  }));
  json::Value out = json::Value::MakeObject();
  const std::string regions[] = {row.region};
  out.set("KeyMetadata", KeyMetadataJson(row, regions));
  return out;
}

Result<json::Value> DescribeKey(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId")));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:DescribeKey"));
  json::Value metadata = KeyMetadataJson(key->row, key->regions);
  RETURN_IF_ERROR(AddCustomKeyStoreMetadata(kms, key->row, metadata));
  json::Value out = json::Value::MakeObject();
  out.set("KeyMetadata", std::move(metadata));
  return out;
}

Result<json::Value> ListKeys(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("kms:ListKeys", "*"));
  int64_t limit = 100;
  if (const json::Value* l = in.find("Limit"); l != nullptr && l->is_int()) limit = l->as_int();
  std::string marker(in.get_string("Marker"));
  if (!marker.empty() && !IsKeyId(marker)) {
    return Status::Modeled("InvalidMarkerException", "Invalid marker.");
  }
  const int64_t now = NowSeconds(ctx);
  std::vector<std::string> ids;
  bool truncated = false;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(
                                 "SELECT key_id FROM kms_keys WHERE account_id = ? AND region = ? "
                                 "AND key_id >= ? AND NOT (state = ? AND deletion_date <= ?) "
                                 "ORDER BY key_id LIMIT ?"));
    q->Bind(1, ctx.principal().account_id).Bind(2, ctx.region()).Bind(3, marker);
    q->Bind(4, kPendingDeletion).Bind(5, now).Bind(6, limit + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return Status::Ok();
      ids.push_back(q->Text(0));
    }
  }));
  std::string next;
  if (static_cast<int64_t>(ids.size()) > limit) {
    truncated = true;
    next = ids.back();
    ids.pop_back();
  }
  json::Value list = json::Value::MakeArray();
  for (const std::string& id : ids) {
    json::Value k = json::Value::MakeObject();
    k.set("KeyId", id);
    k.set("KeyArn", KeyArn(ctx.region(), ctx.principal().account_id, id));
    list.push(std::move(k));
  }
  json::Value out = json::Value::MakeObject();
  out.set("Keys", std::move(list));
  out.set("Truncated", truncated);
  if (truncated) out.set("NextMarker", next);
  return out;
}

// Sets the key's state (and deletion columns) in one statement.
Status SetState(Kms& kms, const KeyEntry& key, std::string_view state, int64_t deletion_date,
                int64_t pending_days) {
  return WriteKey(kms, key.row.key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE kms_keys SET state = ?, deletion_date = ?, "
                                        "pending_days = ? WHERE key_id = ? AND region = ?"));
    q->Bind(1, state).Bind(2, deletion_date).Bind(3, pending_days).Bind(4, key.row.key_id);
    q->Bind(5, key.row.region);
    return q->Run();
  });
}

Result<json::Value> SetEnabled(Kms& kms, server::RequestContext& ctx, const json::Value& in,
                               bool enable) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, enable ? "kms:EnableKey" : "kms:DisableKey"));
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  if (key->row.state == kPendingImport) {
    return Status::Modeled("KMSInvalidStateException", key->arn + " is pending import.");
  }
  RETURN_IF_ERROR(SetState(kms, *key, enable ? kEnabled : kDisabled, 0, 0));
  return json::Value::MakeObject();
}

Result<json::Value> EnableKey(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  return SetEnabled(kms, ctx, in, true);
}

Result<json::Value> DisableKey(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  return SetEnabled(kms, ctx, in, false);
}

Result<json::Value> UpdateKeyDescription(Kms& kms, server::RequestContext& ctx,
                                         const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:UpdateKeyDescription"));
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  std::string description(in.get_string("Description"));
  RETURN_IF_ERROR(WriteKey(kms, key->row.key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE kms_keys SET description = ? WHERE key_id = ? "
                                        "AND region = ?"));
    q->Bind(1, description).Bind(2, key->row.key_id).Bind(3, key->row.region);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

// AWS KMS: a waiting period of 7 to 30 days, 30 when not given.
Result<int64_t> PendingWindow(const json::Value& in) {
  const json::Value* d = in.find("PendingWindowInDays");
  if (d == nullptr || !d->is_int()) return int64_t{30};
  int64_t days = d->as_int();
  std::string prefix = "1 validation error detected: Value '" + std::to_string(days) +
                       "' at 'pendingWindowInDays' failed to satisfy constraint: Member must "
                       "have value ";
  if (days < 7) return Status::Validation(prefix + "greater than or equal to 7");
  if (days > 30) return Status::Validation(prefix + "less than or equal to 30");
  return days;
}

Result<json::Value> ScheduleKeyDeletion(Kms& kms, server::RequestContext& ctx,
                                        const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:ScheduleKeyDeletion"));
  ASSIGN_OR_RETURN(int64_t days, PendingWindow(in));
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  json::Value out = json::Value::MakeObject();
  out.set("KeyId", key->arn);
  // A primary with replicas waits for them to be deleted; its own waiting
  // period starts then (DeleteKeyRows).
  if (key->row.multi_region && !key->row.IsReplica() && key->regions.size() > 1) {
    RETURN_IF_ERROR(SetState(kms, *key, kPendingReplicaDeletion, 0, days));
    out.set("KeyState", kPendingReplicaDeletion);
    out.set("PendingWindowInDays", days);
    return out;
  }
  int64_t deletion = NowSeconds(ctx) + days * 86400;
  RETURN_IF_ERROR(SetState(kms, *key, kPendingDeletion, deletion, days));
  out.set("DeletionDate", deletion);
  out.set("KeyState", kPendingDeletion);
  out.set("PendingWindowInDays", days);
  return out;
}

Result<json::Value> CancelKeyDeletion(Kms& kms, server::RequestContext& ctx,
                                      const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:CancelKeyDeletion"));
  if (key->row.state != kPendingDeletion && key->row.state != kPendingReplicaDeletion) {
    return Status::Modeled("KMSInvalidStateException", key->arn + " is not pending deletion.");
  }
  // A key whose deletion is cancelled comes back disabled (AWS KMS
  // Developer Guide, "Scheduling and canceling key deletion").
  // An imported key without material goes back to waiting for it.
  RETURN_IF_ERROR(SetState(kms, *key, HasKeyMaterial(*key) ? kDisabled : kPendingImport, 0, 0));
  json::Value out = json::Value::MakeObject();
  out.set("KeyId", key->arn);
  return out;
}

}  // namespace

std::vector<Binding> KeyBindings() {
  return {{"CreateKey", CreateKey},
          {"DescribeKey", DescribeKey},
          {"ListKeys", ListKeys},
          {"EnableKey", EnableKey},
          {"DisableKey", DisableKey},
          {"UpdateKeyDescription", UpdateKeyDescription},
          {"ScheduleKeyDeletion", ScheduleKeyDeletion},
          {"CancelKeyDeletion", CancelKeyDeletion}};
}

}  // namespace rampart::kms::internal
