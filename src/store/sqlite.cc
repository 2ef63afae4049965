// SQLite backend of the storage floor: WAL, foreign keys, busy timeout, one
// writer connection (SQLite has one writer anyway) and a small pool of
// reader connections.
#include <sqlite3.h>

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rampart/core/log.h"
#include "rampart/store/store.h"

namespace rampart::store {
namespace {

Status SqlError(sqlite3* db, std::string_view what) {
  // The message stays in our logs; clients only ever see a generic error.
  log::Error("sqlite error", {{"op", what}, {"detail", db ? sqlite3_errmsg(db) : "open failed"}});
  int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
    return Status::Error(ErrorCode::kUnavailable, "storage busy");
  }
  return Status::Internal(std::string("storage error: ") + std::string(what));
}

// The prepared statements of one connection, kept by their SQL text for
// the next transaction that asks for the same text: compiling a statement
// costs more than running a short one. Bounded; an entry is handed out to
// one Statement at a time (the same text asked for twice at once gets an
// uncached second statement).
//
// Thread-safety: none; a connection is used by one thread at a time.
class StatementCache {
 public:
  struct Entry {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };

  StatementCache() = default;
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache() { Clear(); }

  // An idle entry for sql, marked in use, or null.
  Entry* Take(std::string_view sql) {
    auto it = entries_.find(sql);
    if (it == entries_.end() || it->second.in_use) return nullptr;
    it->second.in_use = true;
    return &it->second;
  }

  // Keeps a freshly prepared stmt for sql, marked in use; null when the
  // text is already cached (and busy) or every entry is busy.
  Entry* Add(std::string_view sql, sqlite3_stmt* stmt) {
    if (entries_.find(sql) != entries_.end()) return nullptr;
    if (entries_.size() >= kMaxEntries && !EvictIdle()) return nullptr;
    Entry& e = entries_[std::string(sql)];
    e.stmt = stmt;
    e.in_use = true;
    return &e;
  }

  void Clear() {
    for (auto& entry : entries_) sqlite3_finalize(entry.second.stmt);
    entries_.clear();
  }

 private:
  static constexpr size_t kMaxEntries = 512;

  bool EvictIdle() {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.in_use) continue;
      sqlite3_finalize(it->second.stmt);
      entries_.erase(it);
      return true;
    }
    return false;
  }

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  // Node-based: entries stay put while others are added or evicted.
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
};

class SqliteStatement final : public Statement {
 public:
  // entry: where stmt came from in the connection's cache, or null for a
  // statement of its own.
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt, StatementCache::Entry* entry)
      : db_(db), stmt_(stmt), entry_(entry) {}
  ~SqliteStatement() override {
    if (entry_ == nullptr) {
      sqlite3_finalize(stmt_);
      return;
    }
    // Back to the cache, holding no row, lock or bound value.
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    entry_->in_use = false;
  }

  Statement& Bind(int i, int64_t v) override {
    Note(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Statement& Bind(int i, std::string_view t) override {
    Note(sqlite3_bind_text(stmt_, i, t.data(), static_cast<int>(t.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& BindBlob(int i, std::string_view b) override {
    Note(sqlite3_bind_blob(stmt_, i, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& BindNull(int i) override {
    Note(sqlite3_bind_null(stmt_, i));
    return *this;
  }

  Result<bool> Step() override {
    if (bind_error_) return SqlError(db_, "bind");
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (rc == SQLITE_CONSTRAINT) {
      return Status::Error(ErrorCode::kValidation, "constraint violation");
    }
    return SqlError(db_, "step");
  }

  Status Run() override {
    while (true) {
      ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return Status::Ok();
    }
  }

  bool IsNull(int c) const override { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  int64_t Int(int c) const override { return sqlite3_column_int64(stmt_, c); }
  std::string Text(int c) const override {
    const void* p = sqlite3_column_blob(stmt_, c);
    int n = sqlite3_column_bytes(stmt_, c);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }
  Status Reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    bind_error_ = false;
    return Status::Ok();
  }
  int64_t Changes() const override { return sqlite3_changes64(db_); }

 private:
  void Note(int rc) {
    if (rc != SQLITE_OK) bind_error_ = true;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  StatementCache::Entry* entry_;
  bool bind_error_ = false;
};

class SqliteTx final : public Tx {
 public:
  // REQUIRES: cache belongs to db's connection and outlives the statements.
  SqliteTx(sqlite3* db, StatementCache& cache) : db_(db), cache_(cache) {}
  Result<std::unique_ptr<Statement>> Prepare(std::string_view sql) override {
    if (StatementCache::Entry* e = cache_.Take(sql)) {
      return std::unique_ptr<Statement>(new SqliteStatement(db_, e->stmt, e));
    }
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqlError(db_, "prepare");
    if (stmt == nullptr) return SqlError(db_, "prepare");  // no statement in the text
    return std::unique_ptr<Statement>(new SqliteStatement(db_, stmt, cache_.Add(sql, stmt)));
  }
  Status Exec(std::string_view sql) override {
    std::string s(sql);
    if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      return SqlError(db_, "exec");
    }
    return Status::Ok();
  }

 private:
  sqlite3* db_;
  StatementCache& cache_;
};

struct Conn {
  sqlite3* db = nullptr;
  StatementCache statements;
  ~Conn() {
    statements.Clear();
    sqlite3_close_v2(db);
  }
};

Result<std::unique_ptr<Conn>> OpenConn(const SqliteOptions& o, bool writer) {
  auto c = std::make_unique<Conn>();
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(o.path.c_str(), &c->db, flags, nullptr) != SQLITE_OK) {
    return SqlError(c->db, "open");
  }
  sqlite3_busy_timeout(c->db, o.busy_timeout_ms);
  SqliteTx tx(c->db, c->statements);
  RETURN_IF_ERROR(tx.Exec("PRAGMA foreign_keys=ON;"));
  if (writer) {
    RETURN_IF_ERROR(tx.Exec("PRAGMA journal_mode=WAL;"));
    RETURN_IF_ERROR(tx.Exec(o.full_sync ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;"));
  }
  return c;
}

class SqliteDatabase final : public Database {
 public:
  static Result<std::unique_ptr<Database>> Open(const SqliteOptions& o) {
    auto db = std::unique_ptr<SqliteDatabase>(new SqliteDatabase());
    ASSIGN_OR_RETURN(db->writer_, OpenConn(o, true));
    // An in-memory database is private to its connection: share the writer.
    bool memory = o.path == ":memory:";
    for (int i = 0; !memory && i < o.read_connections; ++i) {
      ASSIGN_OR_RETURN(auto c, OpenConn(o, false));
      db->idle_readers_.push_back(std::move(c));
    }
    db->memory_ = memory;
    SqliteTx tx(db->writer_->db, db->writer_->statements);
    RETURN_IF_ERROR(tx.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER "
        "NOT NULL, applied_at INTEGER NOT NULL, PRIMARY KEY (component, version));"));
    return std::unique_ptr<Database>(std::move(db));
  }

  Status Write(const std::function<Status(Tx&)>& fn) override {
    std::lock_guard lock(write_mu_);
    WriteHook* hook = CurrentWriteHook();
    if (hook == nullptr) return RunTx(*writer_, "BEGIN IMMEDIATE;", fn);
    // The thread's hook joins transactions that changed rows (see store.h).
    sqlite3* db = writer_->db;
    return RunTx(*writer_, "BEGIN IMMEDIATE;", [&](Tx& tx) -> Status {
      sqlite3_int64 before = sqlite3_total_changes64(db);
      RETURN_IF_ERROR(fn(tx));
      if (sqlite3_total_changes64(db) == before) return Status::Ok();
      return hook->BeforeCommit(tx);
    });
  }

  Status Read(const std::function<Status(Tx&)>& fn) override {
    if (memory_) return Write(fn);
    std::unique_ptr<Conn> conn = TakeReader();
    if (!conn) return Write(fn);  // pool exhausted: fall back to the writer
    Status st = RunTx(*conn, "BEGIN;", fn);
    ReturnReader(std::move(conn));
    return st;
  }

  Status Migrate(std::string_view component, std::span<const Migration> migrations) override {
    for (const Migration& m : migrations) {
      Status st = Write([&](Tx& tx) -> Status {
        ASSIGN_OR_RETURN(auto q, tx.Prepare(
            "SELECT 1 FROM schema_migrations WHERE component = ? AND version = ?"));
        q->Bind(1, component).Bind(2, static_cast<int64_t>(m.version));
        ASSIGN_OR_RETURN(bool applied, q->Step());
        if (applied) return Status::Ok();
        RETURN_IF_ERROR(tx.Exec(m.sql));
        ASSIGN_OR_RETURN(auto ins, tx.Prepare(
            "INSERT INTO schema_migrations (component, version, applied_at) "
            "VALUES (?, ?, strftime('%s','now'))"));
        ins->Bind(1, component).Bind(2, static_cast<int64_t>(m.version));
        return ins->Run();
      });
      RETURN_IF_ERROR(st);
    }
    return Status::Ok();
  }

  Status WipeAllData() override {
    return Write([](Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto q, tx.Prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
          "AND name <> 'schema_migrations'"));
      std::vector<std::string> tables;
      while (true) {
        ASSIGN_OR_RETURN(bool row, q->Step());
        if (!row) break;
        tables.push_back(q->Text(0));
      }
      RETURN_IF_ERROR(tx.Exec("PRAGMA defer_foreign_keys=ON;"));
      for (const auto& t : tables) RETURN_IF_ERROR(tx.Exec("DELETE FROM \"" + t + "\";"));
      return Status::Ok();
    });
  }

 private:
  SqliteDatabase() = default;

  // BEGIN, COMMIT and ROLLBACK go through the statement cache too.
  static Status RunTx(Conn& conn, const char* begin, const std::function<Status(Tx&)>& fn) {
    SqliteTx tx(conn.db, conn.statements);
    RETURN_IF_ERROR(RunSql(tx, begin));
    Status st = fn(tx);
    if (!st.ok()) {
      (void)RunSql(tx, "ROLLBACK;");
      return st;
    }
    Status commit = RunSql(tx, "COMMIT;");
    if (!commit.ok()) (void)RunSql(tx, "ROLLBACK;");
    return commit;
  }

  static Status RunSql(Tx& tx, const char* sql) {
    ASSIGN_OR_RETURN(auto s, tx.Prepare(sql));
    return s->Run();
  }

  std::unique_ptr<Conn> TakeReader() {
    std::lock_guard lock(pool_mu_);
    if (idle_readers_.empty()) return nullptr;
    auto c = std::move(idle_readers_.back());
    idle_readers_.pop_back();
    return c;
  }
  void ReturnReader(std::unique_ptr<Conn> c) {
    std::lock_guard lock(pool_mu_);
    idle_readers_.push_back(std::move(c));
  }

  bool memory_ = false;
  std::mutex write_mu_;
  std::unique_ptr<Conn> writer_;  // guarded by write_mu_
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Conn>> idle_readers_;  // guarded by pool_mu_
};

}  // namespace

Result<std::unique_ptr<Database>> OpenSqlite(const SqliteOptions& options) {
  return SqliteDatabase::Open(options);
}

}  // namespace rampart::store
