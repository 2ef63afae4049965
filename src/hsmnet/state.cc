#include "hsmnet/state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "hsmnet/rules.h"
#include "rampart/crypto/password.h"
#include "rampart/crypto/random.h"

namespace rampart::hsmnet {
namespace {

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE hsm_users (
  name TEXT PRIMARY KEY,
  role INTEGER NOT NULL,
  password_hash TEXT NOT NULL,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  password_version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE hsm_keys (
  key_id BLOB PRIMARY KEY,
  kind INTEGER NOT NULL,
  algorithm INTEGER NOT NULL,
  usage INTEGER NOT NULL,
  label TEXT NOT NULL,
  app_id BLOB NOT NULL,
  owner TEXT NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX hsm_keys_owner ON hsm_keys(owner);
CREATE TABLE hsm_key_shares (
  key_id BLOB NOT NULL,
  user_name TEXT NOT NULL,
  PRIMARY KEY (key_id, user_name)
);
CREATE INDEX hsm_key_shares_user ON hsm_key_shares(user_name);
)sql";

// Tombstones of deleted users (kind 0) and keys (kind 1), so that a node
// catching up from a peer can tell "deleted there" from "never sent there".
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE hsm_tombstones (
  kind INTEGER NOT NULL,
  name BLOB NOT NULL,
  PRIMARY KEY (kind, name)
);
)sql";

// Whether the owner asked for the key to be extractable (WrapKey and
// WrapKeyWithPublicKey are refused otherwise, whatever the token's
// CKA_EXTRACTABLE says while the key travels to the peers). Keys made
// before this column count as not extractable.
constexpr std::string_view kSchemaV3 = R"sql(
ALTER TABLE hsm_keys ADD COLUMN extractable INTEGER NOT NULL DEFAULT 0;
)sql";

constexpr store::Migration kMigrations[] = {{1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3}};

constexpr int64_t kUserTombstone = 0;
constexpr int64_t kKeyTombstone = 1;

Status SetTombstone(store::Tx& tx, int64_t kind, std::string_view name, bool present) {
  ASSIGN_OR_RETURN(auto st, tx.Prepare(present ? "INSERT OR IGNORE INTO hsm_tombstones (kind, name) VALUES (?, ?)"
                                               : "DELETE FROM hsm_tombstones WHERE kind = ? AND name = ?"));
  return st->Bind(1, kind).BindBlob(2, name).Run();
}

constexpr std::string_view kKeyColumns =
    "k.key_id, k.kind, k.algorithm, k.usage, k.label, k.app_id, k.owner, k.extractable";

KeyInfo ReadKey(store::Statement& st) {
  KeyInfo k;
  k.key_id = st.Text(0);
  k.kind = static_cast<uint8_t>(st.Int(1));
  k.algorithm = static_cast<uint8_t>(st.Int(2));
  k.usage = static_cast<uint8_t>(st.Int(3));
  k.label = st.Text(4);
  k.app_id = st.Text(5);
  k.owner = st.Text(6);
  return k;
}

// A random positive 62-bit number.
Result<int64_t> FirstPasswordVersion() {
  ASSIGN_OR_RETURN(std::string bytes, crypto::RandomBytes(8));
  uint64_t v = 0;
  for (char c : bytes) v = (v << 8) | static_cast<unsigned char>(c);
  return static_cast<int64_t>(v >> 2) + 1;
}

Result<std::optional<UserRecord>> FindUserTx(store::Tx& tx, std::string_view name) {
  ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT role, failed_logins, password_version FROM "
                                       "hsm_users WHERE name = ?"));
  st->Bind(1, name);
  ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) return std::optional<UserRecord>();
  UserRecord u;
  u.name = std::string(name);
  u.role = static_cast<Role>(st->Int(0));
  u.failed_logins = st->Int(1);
  u.password_version = st->Int(2);
  return std::optional<UserRecord>(std::move(u));
}

Result<int64_t> CountRows(store::Tx& tx, std::string_view sql, std::string_view arg) {
  ASSIGN_OR_RETURN(auto st, tx.Prepare(sql));
  st->Bind(1, arg);
  ASSIGN_OR_RETURN(bool row, st->Step());
  return row ? st->Int(0) : int64_t{0};
}

// A new user row. A random first password version: sessions check it on
// every request, so a session of a deleted user cannot continue as a new
// user of the same name (whose versions start somewhere else).
Status InsertUser(store::Tx& tx, std::string_view name, Role role, std::string_view hash) {
  ASSIGN_OR_RETURN(auto st, tx.Prepare("INSERT INTO hsm_users (name, role, password_hash, "
                                       "password_version) VALUES (?, ?, ?, ?)"));
  ASSIGN_OR_RETURN(int64_t version, FirstPasswordVersion());
  st->Bind(1, name).Bind(2, int64_t{static_cast<uint8_t>(role)}).Bind(3, hash);
  RETURN_IF_ERROR(st->Bind(4, version).Run());
  return SetTombstone(tx, kUserTombstone, name, false);
}

// A user's row and the shares granted to it, leaving a tombstone.
Status DropUserRows(store::Tx& tx, std::string_view name) {
  ASSIGN_OR_RETURN(auto shares, tx.Prepare("DELETE FROM hsm_key_shares WHERE user_name = ?"));
  RETURN_IF_ERROR(shares->Bind(1, name).Run());
  ASSIGN_OR_RETURN(auto del, tx.Prepare("DELETE FROM hsm_users WHERE name = ?"));
  RETURN_IF_ERROR(del->Bind(1, name).Run());
  return SetTombstone(tx, kUserTombstone, name, true);
}

// The iteration count of a "pbkdf2-sha256$<iterations>$..." hash.
std::optional<uint64_t> HashIterations(std::string_view hash) {
  hash.remove_prefix(std::string_view("pbkdf2-sha256$").size());
  size_t end = hash.find('$');
  if (end == 0 || end == std::string_view::npos || end > 9) return std::nullopt;
  uint64_t n = 0;
  for (char c : hash.substr(0, end)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

Status NoSuchUser(std::string_view name) {
  return Status::Error(ErrorCode::kNotFound, "no user named " + std::string(name));
}

// The DataDirLock's file: every node holds a shared lock on kPresenceByte;
// an exclusive lock on kCounterByte serialises the increments of the
// arrival counter, kept as 8 little-endian bytes at the file's start.
constexpr off_t kPresenceByte = 0;
constexpr off_t kCounterByte = 1;

int LockByte(int fd, int command, short type, off_t byte) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  return fcntl(fd, command, &fl);
}

// The arrival counter; 0 for a new (empty) file, nullopt when unreadable.
std::optional<uint64_t> ReadArrivals(int fd) {
  unsigned char bytes[8] = {};
  ssize_t n = pread(fd, bytes, sizeof(bytes), 0);
  if (n == 0) return uint64_t{0};
  if (n != static_cast<ssize_t>(sizeof(bytes))) return std::nullopt;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | bytes[i];
  return v;
}

bool WriteArrivals(int fd, uint64_t v) {
  unsigned char bytes[8];
  for (unsigned char& b : bytes) {
    b = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
  return pwrite(fd, bytes, sizeof(bytes), 0) == static_cast<ssize_t>(sizeof(bytes));
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <typename Record>
using RecordMap = std::unordered_map<std::string, Record, StringHash, std::equal_to<>>;

// A bound on each map of the cache (a full map is emptied and refilled).
constexpr size_t kMaxCachedRecords = 65536;
// A generation no Put matches: the lookup bypassed the cache.
constexpr uint64_t kNoPut = ~uint64_t{0};

}  // namespace

Result<std::unique_ptr<DataDirLock>> DataDirLock::Open(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Error(ErrorCode::kUnavailable, "cannot open " + path + ": " + std::strerror(errno));
  }
  // Present first, then counted: whoever finds the count unchanged and
  // nobody present may trust what it cached.
  bool ok = LockByte(fd, F_OFD_SETLK, F_RDLCK, kPresenceByte) == 0 &&
            LockByte(fd, F_OFD_SETLKW, F_WRLCK, kCounterByte) == 0;
  std::optional<uint64_t> arrivals = ok ? ReadArrivals(fd) : std::nullopt;
  // An unreadable counter (a damaged file) starts again from 1.
  uint64_t mine = arrivals.value_or(0) + 1;
  ok = ok && WriteArrivals(fd, mine) && LockByte(fd, F_OFD_SETLK, F_UNLCK, kCounterByte) == 0;
  if (!ok) {
    std::string error = std::strerror(errno);
    close(fd);
    return Status::Error(ErrorCode::kUnavailable, "cannot lock " + path + ": " + error);
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(fd, mine));
}

DataDirLock::~DataDirLock() { close(fd_); }

bool DataDirLock::Alone() {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kPresenceByte;
  fl.l_len = 1;
  // Our own lock does not conflict with a lock we could place ourselves.
  if (fcntl(fd_, F_OFD_GETLK, &fl) != 0 || fl.l_type != F_UNLCK) return false;
  std::optional<uint64_t> arrivals = ReadArrivals(fd_);
  if (!arrivals) return false;
  if (*arrivals != seen_arrivals_) {
    // Someone came (and maybe went) since the last look: say so once.
    seen_arrivals_ = *arrivals;
    return false;
  }
  return true;
}

// Copies of the user and key records FindUser and FindKey read, by name
// and by key id. generation_ moves on whenever something is forgotten: a
// lookup that missed notes it before reading the database, and Put keeps
// the row only when it has not moved since, so a row read before a write
// committed cannot come back after that write forgot it.
//
// Thread-safety: thread-safe (one mutex; Alone() runs under it too).
class HsmState::RecordCache {
 public:
  explicit RecordCache(DataDirLock* lock) : lock_(lock) {}

  // The cached copy, or nullopt with *generation set for the Put after a
  // database read.
  std::optional<UserRecord> GetUser(std::string_view name, uint64_t* generation) {
    return Get(users_, name, generation);
  }
  std::optional<KeyRecord> GetKey(std::string_view key_id, uint64_t* generation) {
    return Get(keys_, key_id, generation);
  }
  void PutUser(const UserRecord& user, uint64_t generation) { Put(users_, user.name, user, generation); }
  void PutKey(const KeyRecord& key, uint64_t generation) { Put(keys_, key.info.key_id, key, generation); }

  void ForgetUser(std::string_view name) { Forget(users_, name); }
  void ForgetKey(std::string_view key_id) { Forget(keys_, key_id); }
  void ForgetAllKeys() {
    std::lock_guard<std::mutex> lock(mu_);
    keys_.clear();
    ++generation_;
  }

 private:
  // REQUIRES: mu_ held. Empties the cache when another process uses the
  // data directory, or did since the last look.
  bool UsableLocked() {
    if (lock_ == nullptr || lock_->Alone()) return true;
    users_.clear();
    keys_.clear();
    ++generation_;
    return false;
  }

  template <typename Record>
  std::optional<Record> Get(const RecordMap<Record>& map, std::string_view id, uint64_t* generation) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!UsableLocked()) {
      *generation = kNoPut;
      return std::nullopt;
    }
    *generation = generation_;
    auto it = map.find(id);
    if (it == map.end()) return std::nullopt;
    return it->second;
  }

  template <typename Record>
  void Put(RecordMap<Record>& map, const std::string& id, const Record& record, uint64_t generation) {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation != generation_) return;
    if (map.size() >= kMaxCachedRecords) map.clear();
    map.insert_or_assign(id, record);
  }

  template <typename Record>
  void Forget(RecordMap<Record>& map, std::string_view id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map.find(id);
    if (it != map.end()) map.erase(it);
    ++generation_;
  }

  DataDirLock* const lock_;
  std::mutex mu_;
  uint64_t generation_ = 0;        // guarded by mu_
  RecordMap<UserRecord> users_;    // guarded by mu_
  RecordMap<KeyRecord> keys_;      // guarded by mu_
};

HsmState::HsmState(store::Database& db, Options options, std::unique_ptr<Outbox> outbox)
    : db_(db),
      options_(options),
      cache_(std::make_unique<RecordCache>(options.data_dir_lock)),
      outbox_(std::move(outbox)) {}

HsmState::~HsmState() = default;

Result<std::unique_ptr<HsmState>> HsmState::Open(store::Database& db, Options options) {
  RETURN_IF_ERROR(db.Migrate("hsmnet", kMigrations));
  ASSIGN_OR_RETURN(auto outbox, Outbox::Open(db));
  return std::unique_ptr<HsmState>(new HsmState(db, options, std::move(outbox)));
}

Status HsmState::Bootstrap(std::string_view name, std::string_view password) {
  int64_t users = 0;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT COUNT(*) FROM hsm_users"));
    ASSIGN_OR_RETURN(bool row, st->Step());
    if (row) users = st->Int(0);
    return Status::Ok();
  }));
  if (users > 0) return Status::Ok();
  Status st = CreateUser(name, password, Role::kOfficer);
  // Another node sharing the database may have bootstrapped meanwhile.
  if (!st.ok() && st.message().find("already exists") != std::string::npos) return Status::Ok();
  return st;
}

Status HsmState::WriteQueued(const std::function<Status(store::Tx&)>& fn, PeerQueue* queue,
                            Outbox::Kind kind, std::string_view name) {
  if (queue == nullptr) return db_.Write(fn);
  Status written = db_.Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(fn(tx));
    return outbox_->AddIn(tx, *queue, kind, name);
  });
  if (!written.ok()) queue->seqs.clear();
  return written;
}

Status HsmState::WriteUser(std::string_view name, bool drops_shares,
                           const std::function<Status(store::Tx&)>& fn, PeerQueue* queue, Outbox::Kind kind) {
  Status written = WriteQueued(fn, queue, kind, name);
  // After the commit: a lookup racing with the write cannot put the old
  // row back (RecordCache's generations).
  cache_->ForgetUser(name);
  if (drops_shares) cache_->ForgetAllKeys();
  return written;
}

Status HsmState::WriteKey(std::string_view key_id, const std::function<Status(store::Tx&)>& fn,
                          PeerQueue* queue, Outbox::Kind kind) {
  Status written = WriteQueued(fn, queue, kind, key_id);
  cache_->ForgetKey(key_id);
  return written;
}

Status HsmState::CreateUser(std::string_view name, std::string_view password, Role role, PeerQueue* queue) {
  if (!ValidUserName(name)) return Status::Validation("user names are 1 to 32 of [A-Za-z0-9_.-]");
  if (!ValidPassword(password)) return Status::Validation("passwords are 8 to 128 bytes");
  ASSIGN_OR_RETURN(std::string hash, crypto::HashPassword(password, options_.password_iterations));
  return WriteUser(name, /*drops_shares=*/false, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, FindUserTx(tx, name));
    if (existing) return Status::Validation("user " + std::string(name) + " already exists");
    return InsertUser(tx, name, role, hash);
  }, queue, Outbox::Kind::kPutUser);
}

Status HsmState::DeleteUser(std::string_view name, PeerQueue* queue) {
  return WriteUser(name, /*drops_shares=*/true, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto user, FindUserTx(tx, name));
    if (!user) return NoSuchUser(name);
    ASSIGN_OR_RETURN(int64_t owned, CountRows(tx, "SELECT COUNT(*) FROM hsm_keys WHERE owner = ?", name));
    if (owned > 0) return Status::Validation("the user owns keys; destroy them first");
    if (user->role == Role::kOfficer) {
      ASSIGN_OR_RETURN(int64_t officers,
                       CountRows(tx, "SELECT COUNT(*) FROM hsm_users WHERE role = 0 AND name <> ?", name));
      if (officers == 0) return Status::Validation("the last crypto officer cannot be deleted");
    }
    return DropUserRows(tx, name);
  }, queue, Outbox::Kind::kDeleteUser);
}

Status HsmState::ChangePassword(std::string_view name, std::string_view password, PeerQueue* queue) {
  if (!ValidPassword(password)) return Status::Validation("passwords are 8 to 128 bytes");
  ASSIGN_OR_RETURN(std::string hash, crypto::HashPassword(password, options_.password_iterations));
  return WriteUser(name, /*drops_shares=*/false, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare(
        "UPDATE hsm_users SET password_hash = ?, failed_logins = 0, "
        "password_version = password_version + 1 WHERE name = ?"));
    RETURN_IF_ERROR(st->Bind(1, hash).Bind(2, name).Run());
    return st->Changes() == 1 ? Status::Ok() : NoSuchUser(name);
  }, queue, Outbox::Kind::kPutUser);
}

Result<std::vector<UserInfo>> HsmState::ListUsers() {
  std::vector<UserInfo> out;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT name, role, failed_logins FROM hsm_users ORDER BY name"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, st->Step());
      if (!row || out.size() >= kMaxListed) break;
      out.push_back({st->Text(0), static_cast<Role>(st->Int(1)),
                     st->Int(2) >= options_.max_failed_logins});
    }
    return Status::Ok();
  }));
  return out;
}

Result<std::optional<UserRecord>> HsmState::FindUser(std::string_view name) {
  uint64_t generation = kNoPut;
  if (std::optional<UserRecord> hit = cache_->GetUser(name, &generation)) return hit;
  ASSIGN_OR_RETURN(std::optional<UserRecord> found, LoadUser(name));
  // Unknown names are not remembered: clients choose them.
  if (found) cache_->PutUser(*found, generation);
  return found;
}

Result<std::optional<UserRecord>> HsmState::LoadUser(std::string_view name) {
  std::optional<UserRecord> out;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(out, FindUserTx(tx, name));
    return Status::Ok();
  }));
  return out;
}

Result<LoginOutcome> HsmState::Login(std::string_view name, std::string_view password, Role role,
                                     UserRecord* user) {
  Result<LoginOutcome> outcome = CheckLogin(name, password, role, user);
  cache_->ForgetUser(name);  // its failed_logins moved
  return outcome;
}

Result<LoginOutcome> HsmState::CheckLogin(std::string_view name, std::string_view password, Role role,
                                          UserRecord* user) {
  std::optional<UserRecord> found;
  std::string hash;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(found, FindUserTx(tx, name));
    ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT password_hash FROM hsm_users WHERE name = ?"));
    ASSIGN_OR_RETURN(bool row, st->Bind(1, name).Step());
    if (row) hash = st->Text(0);
    return Status::Ok();
  }));
  if (!found) {
    // Spend the same time as a real check so that names cannot be probed.
    (void)crypto::VerifyPassword(password, "pbkdf2-sha256$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA");
    return LoginOutcome::kBadPassword;
  }
  // Count the attempt before checking it, in one statement, so that
  // parallel connections cannot get more guesses than the limit between
  // the check and the count.
  bool reserved = false;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare("UPDATE hsm_users SET failed_logins = failed_logins + 1 "
                                         "WHERE name = ? AND failed_logins < ?"));
    RETURN_IF_ERROR(st->Bind(1, name).Bind(2, int64_t{options_.max_failed_logins}).Run());
    reserved = st->Changes() == 1;
    return Status::Ok();
  }));
  if (!reserved) {
    (void)crypto::VerifyPassword(password, "pbkdf2-sha256$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA");
    return LoginOutcome::kLocked;
  }
  bool good = found->role == role && crypto::VerifyPassword(password, hash);
  if (good) {
    RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto st, tx.Prepare("UPDATE hsm_users SET failed_logins = 0 WHERE name = ?"));
      return st->Bind(1, name).Run();
    }));
  }
  if (!good) {
    return found->failed_logins + 1 >= options_.max_failed_logins ? LoginOutcome::kLocked
                                                                  : LoginOutcome::kBadPassword;
  }
  *user = std::move(*found);
  user->failed_logins = 0;
  return LoginOutcome::kOk;
}

Status HsmState::AddKey(const KeyInfo& key, bool extractable, PeerQueue* queue) {
  return WriteKey(key.key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare("INSERT INTO hsm_keys (key_id, kind, algorithm, usage, label, "
                                         "app_id, owner, created, extractable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    st->BindBlob(1, key.key_id).Bind(2, int64_t{key.kind}).Bind(3, int64_t{key.algorithm});
    st->Bind(4, int64_t{key.usage}).Bind(5, key.label).BindBlob(6, key.app_id).Bind(7, key.owner);
    st->Bind(8, static_cast<int64_t>(std::time(nullptr)));
    RETURN_IF_ERROR(st->Bind(9, int64_t{extractable ? 1 : 0}).Run());
    return SetTombstone(tx, kKeyTombstone, key.key_id, false);
  }, queue, Outbox::Kind::kPutKey);
}

Result<std::optional<KeyRecord>> HsmState::FindKey(std::string_view key_id) {
  uint64_t generation = kNoPut;
  if (std::optional<KeyRecord> hit = cache_->GetKey(key_id, &generation)) return hit;
  ASSIGN_OR_RETURN(std::optional<KeyRecord> found, LoadKey(key_id));
  if (found) cache_->PutKey(*found, generation);
  return found;
}

Result<std::optional<KeyRecord>> HsmState::LoadKey(std::string_view key_id) {
  std::optional<KeyRecord> out;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT " + std::string(kKeyColumns) +
                                         " FROM hsm_keys k WHERE k.key_id = ?"));
    ASSIGN_OR_RETURN(bool row, st->BindBlob(1, key_id).Step());
    if (!row) return Status::Ok();
    out.emplace();
    out->info = ReadKey(*st);
    out->extractable = st->Int(7) != 0;
    ASSIGN_OR_RETURN(auto shares, tx.Prepare("SELECT user_name FROM hsm_key_shares WHERE key_id = ? "
                                             "ORDER BY user_name"));
    shares->BindBlob(1, key_id);
    while (true) {
      ASSIGN_OR_RETURN(bool more, shares->Step());
      if (!more) break;
      out->shared_with.push_back(shares->Text(0));
    }
    return Status::Ok();
  }));
  return out;
}

Result<std::vector<KeyInfo>> HsmState::ListKeys(std::string_view user, bool all_keys) {
  std::vector<KeyInfo> out;
  std::string sql = "SELECT " + std::string(kKeyColumns) + " FROM hsm_keys k";
  if (!all_keys) {
    sql += " WHERE k.owner = ?1 OR k.key_id IN (SELECT key_id FROM hsm_key_shares WHERE user_name = ?1)";
  }
  sql += " ORDER BY k.created, k.key_id";
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare(sql));
    if (!all_keys) st->Bind(1, user);
    while (out.size() < kMaxListed) {
      ASSIGN_OR_RETURN(bool row, st->Step());
      if (!row) break;
      out.push_back(ReadKey(*st));
      out.back().owned = out.back().owner == user;
    }
    return Status::Ok();
  }));
  return out;
}

Status HsmState::ClearExtractable(std::string_view key_id) {
  return WriteKey(key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare("UPDATE hsm_keys SET extractable = 0 WHERE key_id = ?"));
    return st->BindBlob(1, key_id).Run();
  });
}

Status HsmState::DeleteKey(std::string_view key_id, PeerQueue* queue) {
  return WriteKey(key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto shares, tx.Prepare("DELETE FROM hsm_key_shares WHERE key_id = ?"));
    RETURN_IF_ERROR(shares->BindBlob(1, key_id).Run());
    ASSIGN_OR_RETURN(auto del, tx.Prepare("DELETE FROM hsm_keys WHERE key_id = ?"));
    RETURN_IF_ERROR(del->BindBlob(1, key_id).Run());
    return SetTombstone(tx, kKeyTombstone, key_id, true);
  }, queue, Outbox::Kind::kDestroyKey);
}

Status HsmState::SetShare(std::string_view key_id, std::string_view user, bool share, PeerQueue* queue) {
  return WriteKey(key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto target, FindUserTx(tx, user));
    if (!target) return NoSuchUser(user);
    if (target->role != Role::kCryptoUser) {
      return Status::Validation("keys can only be shared with crypto users");
    }
    ASSIGN_OR_RETURN(auto st, tx.Prepare(share ? "INSERT INTO hsm_key_shares (key_id, user_name) SELECT key_id, ?1 "
                                                 "FROM hsm_keys WHERE key_id = ?2 AND owner <> ?1 AND NOT EXISTS "
                                                 "(SELECT 1 FROM hsm_key_shares WHERE key_id = ?2 AND user_name = ?1)"
                                               : "DELETE FROM hsm_key_shares WHERE user_name = ?1 AND key_id = ?2"));
    st->Bind(1, user).BindBlob(2, key_id);
    RETURN_IF_ERROR(st->Run());
    if (share && st->Changes() == 0) {
      return Status::Validation("the key is already shared with that user, or they own it");
    }
    return Status::Ok();
  }, queue, Outbox::Kind::kSetShares);
}

Result<std::optional<std::string>> HsmState::PasswordHash(std::string_view name) {
  std::optional<std::string> out;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT password_hash FROM hsm_users WHERE name = ?"));
    ASSIGN_OR_RETURN(bool row, st->Bind(1, name).Step());
    if (row) out = st->Text(0);
    return Status::Ok();
  }));
  return out;
}

Status HsmState::PutUser(std::string_view name, Role role, std::string_view hash) {
  if (!ValidUserName(name)) return Status::Validation("user names are 1 to 32 of [A-Za-z0-9_.-]");
  if (hash.size() > 512 || hash.rfind("pbkdf2-sha256$", 0) != 0) {
    return Status::Validation("not a PBKDF2 password hash");
  }
  std::optional<uint64_t> iterations = HashIterations(hash);
  if (!iterations || *iterations < options_.password_iterations) {
    return Status::Validation("the password hash has fewer PBKDF2 iterations than this node requires");
  }
  return WriteUser(name, /*drops_shares=*/false, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, FindUserTx(tx, name));
    if (!existing) return InsertUser(tx, name, role, hash);
    ASSIGN_OR_RETURN(auto st, tx.Prepare(
        "UPDATE hsm_users SET role = ?1, password_hash = ?2, failed_logins = 0, "
        "password_version = password_version + 1 WHERE name = ?3 AND (role <> ?1 OR password_hash <> ?2)"));
    st->Bind(1, int64_t{static_cast<uint8_t>(role)}).Bind(2, hash).Bind(3, name);
    return st->Run();
  });
}

Status HsmState::RemoveUser(std::string_view name) {
  return WriteUser(name, /*drops_shares=*/true, [&](store::Tx& tx) -> Status {
    return DropUserRows(tx, name);
  });
}

Result<bool> HsmState::WasDeleted(bool key, std::string_view name) {
  bool found = false;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto st, tx.Prepare("SELECT 1 FROM hsm_tombstones WHERE kind = ? AND name = ?"));
    ASSIGN_OR_RETURN(found, st->Bind(1, key ? kKeyTombstone : kUserTombstone).BindBlob(2, name).Step());
    return Status::Ok();
  }));
  return found;
}

Status HsmState::SetShares(std::string_view key_id, const std::vector<std::string>& users) {
  return WriteKey(key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto find, tx.Prepare("SELECT 1 FROM hsm_keys WHERE key_id = ?"));
    ASSIGN_OR_RETURN(bool exists, find->BindBlob(1, key_id).Step());
    if (!exists) return Status::Error(ErrorCode::kNotFound, "no such key");
    ASSIGN_OR_RETURN(auto clear, tx.Prepare("DELETE FROM hsm_key_shares WHERE key_id = ?"));
    RETURN_IF_ERROR(clear->BindBlob(1, key_id).Run());
    for (const std::string& user : users) {
      ASSIGN_OR_RETURN(auto st, tx.Prepare(
          "INSERT OR IGNORE INTO hsm_key_shares (key_id, user_name) SELECT key_id, ?1 FROM hsm_keys "
          "WHERE key_id = ?2 AND owner <> ?1 AND EXISTS (SELECT 1 FROM hsm_users WHERE name = ?1 AND role = 1)"));
      RETURN_IF_ERROR(st->Bind(1, user).BindBlob(2, key_id).Run());
    }
    return Status::Ok();
  });
}

}  // namespace rampart::hsmnet
