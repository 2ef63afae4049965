// The storage floor: one small SQL interface that every service room uses.
//
// Service code writes portable SQL (positional '?' parameters, TEXT/INTEGER/
// BLOB columns, no vendor functions) so that a PostgreSQL backend can sit
// behind the same interface. Each service owns its tables through versioned
// migrations applied at start-up.
//
// Thread-safety: Database is thread-safe; a Tx and the Statements it hands
// out belong to the calling thread for the duration of the callback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "rampart/core/status.h"

namespace rampart::store {

// A prepared statement inside a transaction. Parameters are 1-based,
// columns 0-based, as in SQL APIs generally.
class Statement {
 public:
  virtual ~Statement() = default;
  virtual Statement& Bind(int index, int64_t value) = 0;
  virtual Statement& Bind(int index, std::string_view text) = 0;
  virtual Statement& BindBlob(int index, std::string_view bytes) = 0;
  virtual Statement& BindNull(int index) = 0;
  // Advances to the next row: true when a row is available, false when done.
  virtual Result<bool> Step() = 0;
  // Runs to completion (for statements that return no rows).
  virtual Status Run() = 0;
  virtual bool IsNull(int column) const = 0;
  virtual int64_t Int(int column) const = 0;
  virtual std::string Text(int column) const = 0;  // also for BLOB columns
  virtual Status Reset() = 0;  // clears bindings too
  // Rows changed by the last Run/Step of an INSERT/UPDATE/DELETE.
  virtual int64_t Changes() const = 0;
};

class Tx {
 public:
  virtual ~Tx() = default;
  virtual Result<std::unique_ptr<Statement>> Prepare(std::string_view sql) = 0;
  virtual Status Exec(std::string_view sql) = 0;  // one or more statements, no parameters
};

struct Migration {
  int version;            // 1, 2, 3 ... applied in order, once
  std::string_view sql;   // DDL and data changes
};

class Database {
 public:
  virtual ~Database() = default;
  // Runs fn inside a write transaction. Commits (durably: the commit is on
  // disk before Write returns OK) when fn returns OK, rolls back otherwise
  // and returns fn's status.
  virtual Status Write(const std::function<Status(Tx&)>& fn) = 0;
  // Runs fn inside a read-only snapshot; may run concurrently with writes.
  virtual Status Read(const std::function<Status(Tx&)>& fn) = 0;
  // Applies the component's migrations not yet applied, each in its own
  // transaction, recording them in a schema_migrations table.
  virtual Status Migrate(std::string_view component, std::span<const Migration> migrations) = 0;
  // Deletes every row of every table except the migration bookkeeping
  // (development mode reset).
  virtual Status WipeAllData() = 0;
};

struct SqliteOptions {
  std::string path;              // file path; ":memory:" for tests
  int busy_timeout_ms = 5000;
  int read_connections = 4;
  bool full_sync = true;         // synchronous=FULL: commits survive power loss, not just crashes
};

Result<std::unique_ptr<Database>> OpenSqlite(const SqliteOptions& options);

// A per-thread hook that Database::Write runs inside a write transaction
// that changed rows, on the writing thread, just before COMMIT: whatever the
// hook writes commits atomically with the change (the audit room uses it so
// that a mutation and its audit record are one transaction). The hook must
// not call Write or Read itself; its error rolls the transaction back.
class WriteHook {
 public:
  virtual ~WriteHook() = default;
  virtual Status BeforeCommit(Tx& tx) = 0;
};

// Installs a hook for the calling thread for the scope's lifetime (the
// previous hook is restored on destruction). nullptr uninstalls.
class ScopedWriteHook {
 public:
  explicit ScopedWriteHook(WriteHook* hook);
  ~ScopedWriteHook();
  ScopedWriteHook(const ScopedWriteHook&) = delete;
  ScopedWriteHook& operator=(const ScopedWriteHook&) = delete;

 private:
  WriteHook* previous_;
};

// The calling thread's hook, or nullptr.
WriteHook* CurrentWriteHook();

}  // namespace rampart::store
