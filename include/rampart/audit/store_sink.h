// StoreAuditSink: the server's AuditSink. Turns every finished request into
// a CloudTrail event and stores it in the audit tables, together with the
// access advisor's last-accessed data (docs/access-advisor.md).
//
// Durability (docs/audit.md):
//  - a request whose handler changed the database gets a first version of
//    its record written inside that same transaction (store::WriteHook), so
//    the mutation and its record commit together; the complete record
//    (with responseElements or the error) replaces it synchronously, before
//    the response is sent;
//  - any other authenticated call that is not read-only (e.g. a denied
//    CreateUser) is also written synchronously before Record returns;
//  - read-only calls and authentication failures are queued and
//    group-committed by a background thread within flush_interval (at most
//    1 s), and flushed by Stop(). When the queue is full the caller writes
//    its record itself.
//
// Thread-safety: Begin/Record are called concurrently from worker threads;
// Begin and its Record run on the same thread. Start/Stop from one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "rampart/audit/advisor.h"
#include "rampart/audit/event.h"
#include "rampart/audit/event_store.h"
#include "rampart/server/audit.h"
#include "rampart/store/store.h"

namespace rampart::audit {

class StoreAuditSink final : public server::AuditSink {
 public:
  struct Options {
    std::string default_region = "us-east-1";
    // Recipient of records nobody could be identified in (unknown keys).
    std::string fallback_account;
    std::chrono::milliseconds flush_interval{200};
    // Records waiting for group commit; past it, Record writes
    // synchronously (backpressure). Each queued record holds its Event
    // (under 1 KB for most calls), so this bounds the memory a burst can take.
    size_t max_queue = 8192;
  };

  // REQUIRES: db outlives the sink; MigrateEventStore(db) and
  // MigrateAdvisor(db) succeeded.
  StoreAuditSink(store::Database& db, Options options);
  ~StoreAuditSink() override;
  StoreAuditSink(const StoreAuditSink&) = delete;
  StoreAuditSink& operator=(const StoreAuditSink&) = delete;

  // Starts the group-commit thread; Stop() flushes and joins it.
  void Start();
  void Stop();

  void Begin(const server::AuditRecord& record) override;
  void Record(const server::AuditRecord& record) override;

  // Writes every queued record now.
  Status Flush();

  // Counters for tests and metrics.
  size_t synchronous_writes() const;
  size_t queued_writes() const;

 private:
  void Run();
  // Stores the events and the access advisor's last-accessed data they
  // carry in one transaction.
  Status WriteBatch(std::vector<Event>& batch);
  // Queues a request's records (its own and the resource owners' copies)
  // for group commit, or writes them now, in one transaction, when sync or
  // the queue is full.
  void Store(std::vector<Event> events, bool sync, bool replace);
  // Moves the events to the group-commit queue unless that would overfill
  // it (then they stay where they are and the result is false).
  bool Enqueue(std::span<Event> events);
  // replace: a partial version of the caller's record may exist (see
  // InsertEvent).
  void WriteNow(std::span<const Event> events, bool replace);

  store::Database& db_;
  const Options options_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  // The queue length that wakes the writer before its interval ends.
  size_t EarlyFlushAt() const;
  std::vector<Event> queue_;  // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  size_t sync_writes_ = 0;        // guarded by mu_
  size_t queued_writes_ = 0;      // guarded by mu_
  std::mutex flush_mu_;           // one batch writer at a time, in order
  // The previous batch's emptied vector, reused as the next queue.
  std::vector<Event> spare_queue_;  // guarded by flush_mu_
  std::thread thread_;
};

}  // namespace rampart::audit
