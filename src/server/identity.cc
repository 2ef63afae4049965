#include "rampart/server/identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "rampart/core/arn.h"
#include "rampart/core/ids.h"
#include "rampart/core/json.h"
#include "rampart/core/log.h"
#include "rampart/crypto/aead.h"
#include "rampart/crypto/digest.h"
#include "rampart/crypto/random.h"

namespace rampart::server {
namespace {

constexpr store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE accounts (
  account_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  is_management INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE access_keys (
  access_key_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(account_id) ON DELETE CASCADE,
  principal_arn TEXT NOT NULL,
  principal_type TEXT NOT NULL,
  principal_id TEXT NOT NULL,
  user_name TEXT NOT NULL DEFAULT '',
  secret_sealed BLOB NOT NULL,
  status TEXT NOT NULL DEFAULT 'Active',
  created_at INTEGER NOT NULL
);
)sql"},
    // Temporary credentials of STS sessions: the secret sealed like an
    // access key's, the session token only as its SHA-256.
    {2, R"sql(
CREATE TABLE sts_sessions (
  access_key_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  principal_arn TEXT NOT NULL,
  principal_type TEXT NOT NULL,
  principal_id TEXT NOT NULL,
  role_arn TEXT NOT NULL,
  secret_sealed BLOB NOT NULL,
  token_hash BLOB NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX sts_sessions_by_expiry ON sts_sessions (expires_at);
)sql"},
    // GetSessionToken sessions act as an IAM user; the rest of a session's
    // context (MFA, source identity, session tags and policies) is one JSON
    // object, read whenever the session's credential is loaded.
    {3, R"sql(
ALTER TABLE sts_sessions ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
ALTER TABLE sts_sessions ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
)sql"},
    // Organizations' CloseAccount: a closed account's keys and sessions no
    // longer authenticate.
    {4, R"sql(
ALTER TABLE accounts ADD COLUMN closed_at INTEGER;
)sql"},
};

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status WriteFile0600(const std::string& path, std::string_view data, bool exclusive) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) return Status::Internal("cannot create " + path);
  ::fchmod(fd, 0600);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n <= 0) {
      ::close(fd);
      return Status::Internal("cannot write " + path);
    }
    off += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  return synced ? Status::Ok() : Status::Internal("cannot sync " + path);
}

Result<SecretBytes> ReadKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("cannot open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return Status::Internal(path + " must be mode 0600 (readable by its owner only)");
  }
  SecretBytes key(64);
  ssize_t n = ::read(fd, key.mutable_data(), key.size());
  ::close(fd);
  if (n != 32) return Status::Internal(path + " must hold exactly 32 bytes");
  return SecretBytes(key.reveal().substr(0, 32));
}

}  // namespace

Status CredentialStore::Migrate(store::Database& db) { return db.Migrate("identity", kMigrations); }

Result<std::shared_ptr<const Credential>> CredentialStore::Find(std::string_view access_key_id) {
  uint64_t generation = 0;
  {
    std::shared_lock lock(mu_);
    auto it = cache_.find(std::string(access_key_id));
    if (it != cache_.end()) return it->second;
    generation = generation_;
  }
  ASSIGN_OR_RETURN(auto cred, Load(access_key_id));
  std::unique_lock lock(mu_);
  if (generation != generation_) return cred;
  if (cache_.size() >= max_cached_) EvictLocked();
  cache_.emplace(std::string(access_key_id), cred);
  return cred;
}

size_t CredentialStore::cached_count() {
  std::shared_lock lock(mu_);
  return cache_.size();
}

void CredentialStore::EvictLocked() {
  // Ended sessions first (they can only answer ExpiredToken, which a
  // reload answers as well); if that frees too little, start over: every
  // entry reloads on its next use.
  const TimePoint now = std::chrono::system_clock::now();
  std::erase_if(cache_, [&](const auto& entry) {
    const Credential& c = *entry.second;
    return !c.session_token_hash.empty() && c.expires_at < now;
  });
  if (cache_.size() >= max_cached_ / 2) cache_.clear();
}

namespace {

// Long-term keys first, then STS session keys; both queries start with the
// same four principal columns and end with the sealed secret. Keys of a
// closed account are not found.
constexpr std::string_view kAccessKeySql =
    "SELECT account_id, principal_arn, principal_type, principal_id, secret_sealed, user_name "
    "FROM access_keys WHERE access_key_id = ? AND status = 'Active' AND account_id NOT IN "
    "(SELECT account_id FROM accounts WHERE closed_at IS NOT NULL)";
constexpr std::string_view kSessionKeySql =
    "SELECT account_id, principal_arn, principal_type, principal_id, secret_sealed, role_arn, "
    "token_hash, expires_at, issued_at, user_name, attributes FROM sts_sessions "
    "WHERE access_key_id = ? AND account_id NOT IN "
    "(SELECT account_id FROM accounts WHERE closed_at IS NOT NULL)";

json::Value StringsJson(const std::vector<std::string>& values) {
  json::Value a = json::Value::MakeArray();
  for (const std::string& v : values) a.push(v);
  return a;
}

std::vector<std::string> StringsOf(const json::Value* a) {
  std::vector<std::string> out;
  if (a == nullptr || !a->is_array()) return out;
  for (const json::Value& v : a->as_array()) {
    if (v.is_string()) out.push_back(v.as_string());
  }
  return out;
}

// The session context columns beyond the principal's identity, as stored
// in sts_sessions.attributes.
std::string SessionAttributes(const Principal& p) {
  json::Value a = json::Value::MakeObject();
  if (p.mfa_present) a.set("mfa", true);
  if (!p.source_identity.empty()) a.set("source_identity", p.source_identity);
  if (!p.session_tags.empty()) {
    json::Value tags = json::Value::MakeArray();
    for (const auto& [k, v] : p.session_tags) tags.push(StringsJson({k, v}));
    a.set("tags", std::move(tags));
  }
  if (!p.transitive_tag_keys.empty()) a.set("transitive", StringsJson(p.transitive_tag_keys));
  if (p.has_session_policies) a.set("policies", StringsJson(p.session_policies));
  return json::Write(a);
}

Status ReadSessionAttributes(std::string_view text, Principal& p) {
  auto parsed = json::Parse(text);
  if (!parsed.ok() || !parsed->is_object()) return Status::Internal("corrupt session attributes");
  const json::Value& a = *parsed;
  if (const json::Value* m = a.find("mfa"); m != nullptr && m->is_bool()) p.mfa_present = m->as_bool();
  p.source_identity = std::string(a.get_string("source_identity"));
  if (const json::Value* tags = a.find("tags"); tags != nullptr && tags->is_array()) {
    for (const json::Value& t : tags->as_array()) {
      std::vector<std::string> kv = StringsOf(&t);
      if (kv.size() == 2) p.session_tags.emplace_back(std::move(kv[0]), std::move(kv[1]));
    }
  }
  p.transitive_tag_keys = StringsOf(a.find("transitive"));
  if (const json::Value* policies = a.find("policies"); policies != nullptr) {
    p.has_session_policies = true;
    p.session_policies = StringsOf(policies);
  }
  return Status::Ok();
}

// Runs sql for the key; on a row, fills the shared columns and returns true.
Result<bool> ReadKeyRow(store::Tx& tx, std::string_view sql, std::string_view access_key_id,
                        Credential& cred, std::string& sealed,
                        std::unique_ptr<store::Statement>& q) {
  ASSIGN_OR_RETURN(q, tx.Prepare(sql));
  q->Bind(1, access_key_id);
  ASSIGN_OR_RETURN(bool found, q->Step());
  if (!found) return false;
  Principal& p = cred.principal;
  p.account_id = q->Text(0);
  p.arn = q->Text(1);
  p.type = q->Text(2);
  p.principal_id = q->Text(3);
  p.access_key_id = std::string(access_key_id);
  sealed = q->Text(4);
  return true;
}

}  // namespace

Result<std::shared_ptr<const Credential>> CredentialStore::Load(std::string_view access_key_id) {
  auto cred = std::make_shared<Credential>();
  bool found = false;
  std::string sealed;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    std::unique_ptr<store::Statement> q;
    ASSIGN_OR_RETURN(found, ReadKeyRow(tx, kAccessKeySql, access_key_id, *cred, sealed, q));
    if (found) {
      cred->principal.user_name = q->Text(5);
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(found, ReadKeyRow(tx, kSessionKeySql, access_key_id, *cred, sealed, q));
    if (found) {
      Principal& p = cred->principal;
      p.role_arn = q->Text(5);
      cred->session_token_hash = q->Text(6);
      cred->expires_at = TimePoint(std::chrono::seconds(q->Int(7)));
      p.token_issued_at = q->Int(8);
      p.user_name = q->Text(9);
      return ReadSessionAttributes(q->Text(10), p);
    }
    return Status::Ok();
  }));
  if (!found) {
    return Status::Error(ErrorCode::kUnrecognizedClient,
                         "The security token included in the request is invalid.");
  }
  auto secret = crypto::AeadOpen(root_key_, sealed, access_key_id);
  if (!secret.ok()) return Status::Internal("access key secret does not unseal");
  cred->secret = std::move(secret).value();
  return std::shared_ptr<const Credential>(std::move(cred));
}

Status CredentialStore::CreateAccount(std::string_view account_id, std::string_view name,
                                      bool management) {
  return db_.Write(
      [&](store::Tx& tx) -> Status { return InsertAccount(tx, account_id, name, management); });
}

Status CredentialStore::InsertAccount(store::Tx& tx, std::string_view account_id,
                                      std::string_view name, bool management) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(
      "INSERT INTO accounts (account_id, name, is_management, created_at) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (account_id) DO NOTHING"));
  q->Bind(1, account_id).Bind(2, name).Bind(3, int64_t{management ? 1 : 0}).Bind(4, NowSeconds());
  return q->Run();
}

Status CredentialStore::MarkAccountClosed(store::Tx& tx, std::string_view account_id,
                                          int64_t closed_at) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE accounts SET closed_at = ? WHERE account_id = ?"));
  q->Bind(1, closed_at).Bind(2, account_id);
  return q->Run();
}

Status CredentialStore::AddAccessKey(const Principal& p, const SecretBytes& secret) {
  return db_.Write([&](store::Tx& tx) { return InsertAccessKey(tx, p, secret); });
}

Status CredentialStore::InsertAccessKey(store::Tx& tx, const Principal& p,
                                        const SecretBytes& secret) {
  ASSIGN_OR_RETURN(std::string sealed, crypto::AeadSeal(root_key_, secret.reveal(), p.access_key_id));
  ASSIGN_OR_RETURN(auto q, tx.Prepare(
      "INSERT INTO access_keys (access_key_id, account_id, principal_arn, principal_type, "
      "principal_id, user_name, secret_sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  q->Bind(1, p.access_key_id).Bind(2, p.account_id).Bind(3, p.arn).Bind(4, p.type);
  q->Bind(5, p.principal_id).Bind(6, p.user_name).BindBlob(7, sealed).Bind(8, NowSeconds());
  return q->Run();
}

Status CredentialStore::AddSessionKey(const Principal& p, const SecretBytes& secret,
                                     std::string_view token_hash, int64_t issued_at,
                                     int64_t expires_at) {
  if (token_hash.size() != 32) return Status::Internal("session token hash must be SHA-256");
  ASSIGN_OR_RETURN(std::string sealed, crypto::AeadSeal(root_key_, secret.reveal(), p.access_key_id));
  return db_.Write([&](store::Tx& tx) -> Status {
    // Sessions that ended a day ago can never authenticate again.
    ASSIGN_OR_RETURN(auto purge, tx.Prepare("DELETE FROM sts_sessions WHERE expires_at < ?"));
    purge->Bind(1, issued_at - 86400);
    RETURN_IF_ERROR(purge->Run());
    ASSIGN_OR_RETURN(auto q, tx.Prepare(
        "INSERT INTO sts_sessions (access_key_id, account_id, principal_arn, principal_type, "
        "principal_id, role_arn, secret_sealed, token_hash, issued_at, expires_at, user_name, "
        "attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    std::string attributes = SessionAttributes(p);
    q->Bind(1, p.access_key_id).Bind(2, p.account_id).Bind(3, p.arn).Bind(4, p.type);
    q->Bind(5, p.principal_id).Bind(6, p.role_arn).BindBlob(7, sealed).BindBlob(8, token_hash);
    q->Bind(9, issued_at).Bind(10, expires_at).Bind(11, p.user_name).Bind(12, attributes);
    return q->Run();
  });
}

Status CheckSessionToken(const Credential& cred, std::string_view token, TimePoint now) {
  static constexpr std::string_view kInvalid =
      "The security token included in the request is invalid.";
  if (cred.session_token_hash.empty()) {
    // Long-term keys carry no session token.
    if (!token.empty()) return Status::Error(ErrorCode::kInvalidToken, std::string(kInvalid));
    return Status::Ok();
  }
  if (token.empty() || !ConstantTimeEquals(crypto::Sha256(token), cred.session_token_hash)) {
    return Status::Error(ErrorCode::kInvalidToken, std::string(kInvalid));
  }
  if (now > cred.expires_at) {
    return Status::Error(ErrorCode::kExpiredToken,
                         "The security token included in the request is expired");
  }
  return Status::Ok();
}

Result<std::string> CredentialStore::ManagementAccount() {
  std::string id;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT account_id FROM accounts WHERE is_management = 1"));
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) id = q->Text(0);
    return Status::Ok();
  }));
  return id;
}

void CredentialStore::InvalidateCache() {
  std::unique_lock lock(mu_);
  ++generation_;
  cache_.clear();
}

Result<SecretBytes> LoadOrCreateRootKey(const std::string& data_dir) {
  std::string path = data_dir + "/root.key";
  if (!std::filesystem::exists(path)) {
    ASSIGN_OR_RETURN(std::string fresh, crypto::RandomBytes(32));
    SecretBytes key(fresh);
    std::fill(fresh.begin(), fresh.end(), '\0');
    RETURN_IF_ERROR(WriteFile0600(path, key.reveal(), /*exclusive=*/true));
    log::Info("created root key", {{"path", path}});
  }
  return ReadKeyFile(path);
}

Result<BootstrapResult> Bootstrap(CredentialStore& creds, const std::string& data_dir, bool dev) {
  BootstrapResult out;
  out.credentials_file = data_dir + "/credentials";
  ASSIGN_OR_RETURN(out.account_id, creds.ManagementAccount());
  if (!out.account_id.empty()) return out;

  Principal root;
  SecretBytes secret;
  if (dev) {
    root.account_id = std::string(kDevAccountId);
    root.access_key_id = std::string(kDevAccessKeyId);
    secret = SecretBytes(kDevSecretKey);
  } else {
    ASSIGN_OR_RETURN(root.account_id, ids::AccountId());
    ASSIGN_OR_RETURN(root.access_key_id, ids::AccessKeyId("AKIA"));
    ASSIGN_OR_RETURN(secret, ids::SecretAccessKey());
  }
  root.arn = RootArn(root.account_id);
  root.type = "Root";
  root.principal_id = root.account_id;
  RETURN_IF_ERROR(creds.CreateAccount(root.account_id, "management", /*management=*/true));
  RETURN_IF_ERROR(creds.AddAccessKey(root, secret));

  std::string file = "[default]\naws_access_key_id = " + root.access_key_id +
                     "\naws_secret_access_key = " + std::string(secret.reveal()) + "\n";
  Status written = WriteFile0600(out.credentials_file, file, /*exclusive=*/false);
  std::fill(file.begin(), file.end(), '\0');
  RETURN_IF_ERROR(written);
  out.account_id = root.account_id;
  out.access_key_id = root.access_key_id;
  out.created = true;
  return out;
}

}  // namespace rampart::server
