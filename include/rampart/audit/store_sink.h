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
//  - read-only calls and authentication failures are group-committed by a
//    background thread within flush_interval (at most 1 s), and flushed by
//    Stop(). Each worker thread encodes its records straight into a chunk
//    of its own (internal::ChunkBuilder), so the writer receives encoded
//    chunks and their postings, not events: no per-event allocation
//    crosses threads. A full chunk (64 events) is sealed and queued; the
//    writer also takes every thread's partial chunk at each commit. A
//    request's record and its resource owners' copies always share one
//    chunk, hence one transaction. When the queue is full the caller
//    writes its record itself.
//
// Thread-safety: Begin/Record are called concurrently from worker threads;
// Begin and its Record run on the same thread. Start/Stop from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
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
    // Records waiting for group commit in sealed chunks, plus those of the
    // calling thread's open chunk; past it, Record writes synchronously
    // (backpressure). A queued record takes a few hundred bytes encoded, so
    // this bounds the memory a burst can take (each worker's open chunk
    // adds at most 64 records).
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
  // A worker thread's open chunk (defined in store_sink.cc).
  struct ThreadChunk;
  // A sealed chunk waiting for the group commit, with its last-accessed data.
  struct QueuedChunk;

  void Run();
  // Stores the chunks and the access advisor's last-accessed data they
  // carry in one transaction.
  Status WriteChunks(std::span<QueuedChunk> chunks);
  // What the caller knows of the event it built into the thread's reused
  // event: BuildEventInto's mask of changed members, the number of that
  // build on the thread, and the bytes of its event id (NewEventIdInto's).
  struct BuildHints {
    uint64_t changed = 0;
    uint64_t build = 0;
    const uint8_t* event_id_uuid = nullptr;
  };
  // Adds a request's records (its own, then the resource owners' copies)
  // to this thread's open chunk, sealing the chunk first if they do not all
  // fit in it; false (nothing added) when the records waiting for the group
  // commit would then exceed max_queue, or when they are more than a chunk
  // holds. When the chunk's last event is the thread's previous build, the
  // mask spares comparing ev with it; the id's bytes spare parsing it.
  bool Enqueue(const Event& ev, std::span<const Event> copies, BuildHints hints);
  // Moves the thread's open chunk to sealed_. REQUIRES: chunk.mu held.
  void Seal(ThreadChunk& chunk);
  // This thread's open chunk for this sink, made on first use.
  ThreadChunk& ChunkOfThisThread();
  // replace: a partial version of the caller's record may exist (see
  // InsertEvent).
  void WriteNow(std::span<const Event> events, bool replace);

  store::Database& db_;
  const Options options_;
  // Distinguishes this sink in the threads' caches of their open chunk.
  const uint64_t id_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  // The sealed-chunk event count that wakes the writer before its interval ends.
  size_t EarlyFlushAt() const;
  std::vector<QueuedChunk> sealed_;  // guarded by mu_
  // Events in sealed_: written under mu_, read without it by Enqueue.
  std::atomic<size_t> sealed_events_{0};
  bool stopping_ = false;         // guarded by mu_
  size_t sync_writes_ = 0;        // guarded by mu_
  std::mutex flush_mu_;           // one batch writer at a time, in order
  // Lock order: flush_mu_, threads_mu_, ThreadChunk::mu, mu_.
  mutable std::mutex threads_mu_;
  std::vector<std::unique_ptr<ThreadChunk>> threads_;  // guarded by threads_mu_
  std::thread thread_;
};

}  // namespace rampart::audit
