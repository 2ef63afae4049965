// StoreAuditSink: synchronous records for mutations, group commit for reads.
#include "rampart/audit/store_sink.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <iterator>
#include <optional>
#include <utility>

#include "audit/event_chunk.h"
#include "rampart/audit/advisor.h"
#include "rampart/audit/event_store.h"
#include "rampart/core/ids.h"
#include "rampart/core/log.h"
#include "rampart/core/thread_name.h"

namespace rampart::audit {
namespace {

// The request being served on this thread between Begin and Record. Its
// hook writes a first version of the record into any transaction the
// handler commits.
class PendingRequest final : public store::WriteHook {
 public:
  void Arm(const server::AuditRecord& rec, const StoreAuditSink::Options& options) {
    rec_ = rec;
    options_ = &options;
    NewEventIdInto(rec.time, event_id_, event_id_uuid_);
    joined_ = false;
    scope_.emplace(this);
  }
  void Disarm() { scope_.reset(); }
  bool armed() const { return scope_.has_value(); }
  bool joined() const { return joined_; }
  // Valid until the next Arm on this thread.
  const std::string& event_id() const { return event_id_; }
  const uint8_t* event_id_uuid() const { return event_id_uuid_; }

  Status BeforeCommit(store::Tx& tx) override {
    Event ev = BuildEvent(rec_, {event_id_, options_->default_region, options_->fallback_account});
    ev.complete = false;
    // A second transaction of the same request replaces the first version.
    RETURN_IF_ERROR(InsertEvents(tx, std::span<const Event>(&ev, 1), /*replace=*/joined_));
    joined_ = true;
    return Status::Ok();
  }

 private:
  server::AuditRecord rec_{};
  const StoreAuditSink::Options* options_ = nullptr;
  std::string event_id_;
  uint8_t event_id_uuid_[ids::kUuidBytes] = {};  // the bytes event_id_ spells
  bool joined_ = false;
  std::optional<store::ScopedWriteHook> scope_;
};

thread_local PendingRequest pending;

// The event each Record builds, reused so that its strings keep their
// storage from one request to the next (BuildEventInto assigns them all),
// and the number of builds into it: BuildEventInto's mask of changed
// members describes build n against build n - 1, so the thread's chunk
// may use it when the last event it took was build n - 1 (ThreadChunk::
// last_build).
thread_local Event scratch_event;
thread_local uint64_t scratch_builds = 0;

// The identity, operation and error members AccessRecordOf reads.
constexpr uint64_t kAccessMembers =
    MemberBit(EventMember::kIdentityType) | MemberBit(EventMember::kIdentityArn) |
    MemberBit(EventMember::kIdentityRoleArn) | MemberBit(EventMember::kIdentityAccountId) |
    MemberBit(EventMember::kEventName) | MemberBit(EventMember::kEventSource) |
    MemberBit(EventMember::kRegion) | MemberBit(EventMember::kErrorCode);

// The last-accessed data of a run of events. Consecutive events mostly
// share their (entity, action, region): only a change of group costs an
// AccessRecordOf; within a group the latest time is kept. RecordAccess keeps
// the latest record per key anyway, so a group that comes back later just
// adds a second record for it.
class AccessTracker {
 public:
  // changed: as ChunkBuilder::Add's, against the previous event added here.
  void Add(const Event& ev, const uint64_t* changed = nullptr) {
    const EventIdentity& id = ev.identity;
    // The mask compares with the previous event added; it stands for a
    // comparison with the group only when that event set the group.
    const bool after_group_event = last_set_group_;
    last_set_group_ = id.kind == EventIdentity::Kind::kPrincipal;
    if (!last_set_group_) return;
    bool by_mask = changed != nullptr && after_group_event && ev.has_error == group_has_error_;
    bool same = have_group_ && (by_mask ? (*changed & kAccessMembers) == 0 : SameGroup(ev));
    group_has_error_ = ev.has_error;
    if (same) {
      // AccessRecordOf's time: whole seconds, none before the epoch.
      if (current_ != kNone && ev.time_ms >= 0) {
        records_[current_].time_ms =
            std::max(records_[current_].time_ms, ev.time_ms - ev.time_ms % 1000);
        return;
      }
      if (current_ != kNone || !retry_on_time_) return;
    }
    StartGroup(ev);
  }
  std::vector<AccessRecord> Take() {
    have_group_ = false;
    return std::exchange(records_, {});
  }

 private:
  static constexpr size_t kNone = SIZE_MAX;
  // Every member AccessRecordOf reads besides the time, so that one event
  // stands for its whole group.
  static std::array<std::string_view, 8> MembersOf(const Event& ev) {
    const EventIdentity& id = ev.identity;
    return {id.type,       id.arn,          id.role_arn, id.account_id,
            ev.event_name, ev.event_source, ev.region,   ev.has_error ? std::string_view(ev.error_code) : std::string_view()};
  }
  bool SameGroup(const Event& ev) const {
    std::array<std::string_view, 8> now = MembersOf(ev);
    for (size_t i = 0; i < now.size(); ++i) {
      if (group_[i] != now[i]) return false;
    }
    return true;
  }
  void StartGroup(const Event& ev) {
    std::array<std::string_view, 8> now = MembersOf(ev);
    for (size_t i = 0; i < now.size(); ++i) group_[i].assign(now[i]);
    have_group_ = true;
    std::optional<AccessRecord> r = AccessRecordOf(ev);
    // A record refused only for its time may count for a later event.
    retry_on_time_ = !r && ev.time_ms < 0;
    current_ = r ? records_.size() : kNone;
    if (r) records_.push_back(std::move(*r));
  }

  std::vector<AccessRecord> records_;
  std::array<std::string, 8> group_;
  bool have_group_ = false;
  bool group_has_error_ = false;  // the last event of the group's
  bool last_set_group_ = false;   // the last event added was a principal's
  bool retry_on_time_ = false;
  size_t current_ = kNone;
};

// Each sink's number, for the threads' caches of their open chunk: a new
// sink never takes the number of a destroyed one, even at the same address.
std::atomic<uint64_t> next_sink_id{1};

}  // namespace

struct StoreAuditSink::ThreadChunk {
  explicit ThreadChunk(std::thread::id thread) : owner(thread) {}
  const std::thread::id owner;
  std::mutex mu;                     // taken by the owner and by Flush
  internal::ChunkBuilder builder;    // guarded by mu
  AccessTracker access;              // guarded by mu
  size_t queued = 0;                 // guarded by mu: Record calls queued
  // guarded by mu: the thread's scratch build (scratch_builds) that is the
  // builder's last event, or 0 when its last event is no such build.
  uint64_t last_build = 0;
};

struct StoreAuditSink::QueuedChunk {
  internal::BuiltChunk chunk;
  std::vector<AccessRecord> access;
};

StoreAuditSink::StoreAuditSink(store::Database& db, Options options)
    : db_(db), options_(std::move(options)), id_(next_sink_id.fetch_add(1)) {}

StoreAuditSink::~StoreAuditSink() { Stop(); }

void StoreAuditSink::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    SetCurrentThreadName("audit-writer");
    Run();
  });
}

void StoreAuditSink::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  Status st = Flush();
  if (!st.ok()) log::Error("audit flush failed", {{"error", st.ToString()}});
}

void StoreAuditSink::Begin(const server::AuditRecord& record) { pending.Arm(record, options_); }

void StoreAuditSink::Record(const server::AuditRecord& record) {
  // Without Begin (a request that failed before routing), the thread's
  // own id buffer; BuildEventInto copies the id before the next request.
  thread_local std::string fresh_id;
  thread_local uint8_t fresh_uuid[ids::kUuidBytes];
  std::string_view event_id;
  const uint8_t* event_id_uuid = nullptr;
  bool joined = false;
  if (pending.armed()) {
    event_id = pending.event_id();
    event_id_uuid = pending.event_id_uuid();
    joined = pending.joined();
    pending.Disarm();
  } else {
    NewEventIdInto(record.time, fresh_id, fresh_uuid);
    event_id = fresh_id;
    event_id_uuid = fresh_uuid;
  }
  Event& ev = scratch_event;
  uint64_t changed =
      BuildEventInto(record, {event_id, options_.default_region, options_.fallback_account}, ev);
  const uint64_t build = ++scratch_builds;
  std::vector<Event> owner_copies = ResourceOwnerCopies(record, ev);
  // Copies give the caller's event a fresh shared id after the build: the
  // mask must say so, as it must for any member changed after it.
  if (!owner_copies.empty()) changed |= MemberBit(EventMember::kSharedEventId);
  // A mutating call's record is written before its response, except for
  // unauthenticated callers (web identity token exchanges, which change
  // nothing stored until they succeed, and whose flood must not cost a
  // synchronous write each): those join the group commit.
  const bool authenticated =
      record.principal != nullptr && record.principal->type != "WebIdentityUser";
  bool sync = joined || (authenticated && !ev.read_only);
  if (!sync && Enqueue(ev, owner_copies, {changed, build, event_id_uuid})) return;
  // The caller's record and the resource owners' copies are stored
  // together, with the last-accessed data of the caller's entity (the
  // copies show the caller as another account and count for nobody).
  std::vector<Event> events;
  events.reserve(1 + owner_copies.size());
  events.push_back(ev);
  for (Event& copy : owner_copies) events.push_back(std::move(copy));
  WriteNow(events, /*replace=*/joined);
}

StoreAuditSink::ThreadChunk& StoreAuditSink::ChunkOfThisThread() {
  struct Cache {
    uint64_t sink = 0;
    ThreadChunk* chunk = nullptr;
  };
  thread_local Cache cache;
  if (cache.sink == id_) return *cache.chunk;
  std::lock_guard lock(threads_mu_);
  std::thread::id me = std::this_thread::get_id();
  auto it = std::find_if(threads_.begin(), threads_.end(),
                         [&](const std::unique_ptr<ThreadChunk>& t) { return t->owner == me; });
  if (it == threads_.end()) {
    threads_.push_back(std::make_unique<ThreadChunk>(me));
    it = std::prev(threads_.end());
  }
  cache = {id_, it->get()};
  return **it;
}

bool StoreAuditSink::Enqueue(const Event& ev, std::span<const Event> copies, BuildHints hints) {
  ThreadChunk& tc = ChunkOfThisThread();
  std::lock_guard lock(tc.mu);
  const size_t events = 1 + copies.size();
  // A record never spans two chunks: the caller's event and the owners'
  // copies are stored in one transaction. One too large for any chunk (a
  // request touching resources of more than 63 other accounts) is written
  // synchronously instead.
  if (events > internal::kChunkEvents) return false;
  size_t waiting = tc.builder.size() + sealed_events_.load(std::memory_order_relaxed);
  if (waiting + events > options_.max_queue) return false;
  // The copies carry the caller's time (ResourceOwnerCopies), so checking
  // that time and the room for all of them decides for the whole record.
  if (!tc.builder.empty() &&
      (tc.builder.size() + events > internal::kChunkEvents || !tc.builder.Fits(ev.time_ms))) {
    Seal(tc);
  }
  // The mask describes ev against the thread's previous build: usable when
  // that build is the last event this chunk took (not written
  // synchronously, not followed by copies, its chunk not sealed since).
  const bool after_last = !tc.builder.empty() && tc.last_build != 0 &&
                          hints.build == tc.last_build + 1;
  const uint64_t* changed = after_last ? &hints.changed : nullptr;
  tc.builder.Add(ev, {changed, hints.event_id_uuid});
  tc.access.Add(ev, changed);
  for (const Event& copy : copies) {
    tc.builder.Add(copy);
    tc.access.Add(copy);
  }
  tc.last_build = copies.empty() ? hints.build : 0;
  ++tc.queued;
  if (tc.builder.size() >= internal::kChunkEvents) Seal(tc);
  return true;
}

void StoreAuditSink::Seal(ThreadChunk& tc) {
  QueuedChunk queued{tc.builder.Take(), tc.access.Take()};
  std::lock_guard lock(mu_);
  size_t events = sealed_events_.load(std::memory_order_relaxed) + queued.chunk.events;
  sealed_events_.store(events, std::memory_order_relaxed);
  sealed_.push_back(std::move(queued));
  // Half full: commit now rather than at the end of the interval.
  if (events >= EarlyFlushAt()) wake_.notify_one();
}

void StoreAuditSink::WriteNow(std::span<const Event> events, bool replace) {
  // replace only ever matches the caller's record: copies have fresh ids.
  AccessTracker tracker;
  for (const Event& ev : events) tracker.Add(ev);
  std::vector<AccessRecord> access = tracker.Take();
  Status st = db_.Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(InsertEvents(tx, events, replace));
    return RecordAccess(tx, access);
  });
  if (!st.ok()) {
    log::Error("audit record not stored",
               {{"event_id", events.front().event_id}, {"error", st.ToString()}});
    return;
  }
  std::lock_guard lock(mu_);
  ++sync_writes_;
}

Status StoreAuditSink::WriteChunks(std::span<QueuedChunk> chunks) {
  if (chunks.empty()) return Status::Ok();
  std::vector<AccessRecord> access;
  for (QueuedChunk& q : chunks) {
    access.insert(access.end(), std::make_move_iterator(q.access.begin()),
                  std::make_move_iterator(q.access.end()));
    q.access.clear();
  }
  Status st = db_.Write([&](store::Tx& tx) -> Status {
    internal::ChunkWriter writer(tx);
    for (const QueuedChunk& q : chunks) RETURN_IF_ERROR(writer.Add(q.chunk));
    RETURN_IF_ERROR(writer.Finish());
    return RecordAccess(tx, access);
  });
  if (!st.ok() && !chunks.empty()) {
    // Keep the last-accessed data with the chunks for the next attempt.
    chunks.front().access = std::move(access);
  }
  return st;
}

Status StoreAuditSink::Flush() {
  std::lock_guard flush_lock(flush_mu_);
  // First every thread's partial chunk is sealed, so that a record is never
  // left waiting for its thread to fill a chunk. Sealing puts it in sealed_
  // behind the thread's earlier chunks (under the thread's mu), so each
  // thread's chunks are written in the order of its records, and a chunk a
  // thread seals while this runs is taken by this flush too.
  {
    std::lock_guard threads_lock(threads_mu_);
    for (const std::unique_ptr<ThreadChunk>& tc : threads_) {
      std::lock_guard lock(tc->mu);
      if (!tc->builder.empty()) Seal(*tc);
    }
  }
  std::vector<QueuedChunk> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(sealed_);
    sealed_events_.store(0, std::memory_order_relaxed);
  }
  Status st = WriteChunks(batch);
  if (!st.ok()) {
    // Put them back for the next attempt rather than lose them.
    std::lock_guard lock(mu_);
    size_t events = sealed_events_.load(std::memory_order_relaxed);
    for (const QueuedChunk& q : batch) events += q.chunk.events;
    sealed_events_.store(events, std::memory_order_relaxed);
    sealed_.insert(sealed_.begin(), std::make_move_iterator(batch.begin()),
                   std::make_move_iterator(batch.end()));
  }
  return st;
}

size_t StoreAuditSink::EarlyFlushAt() const { return std::max<size_t>(1, options_.max_queue / 2); }

void StoreAuditSink::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.flush_interval, [this] {
      return stopping_ || sealed_events_.load(std::memory_order_relaxed) >= EarlyFlushAt();
    });
    lock.unlock();
    Status st = Flush();
    if (!st.ok()) log::Error("audit group commit failed", {{"error", st.ToString()}});
    lock.lock();
  }
}

size_t StoreAuditSink::synchronous_writes() const {
  std::lock_guard lock(mu_);
  return sync_writes_;
}

size_t StoreAuditSink::queued_writes() const {
  std::lock_guard lock(threads_mu_);
  size_t total = 0;
  for (const std::unique_ptr<ThreadChunk>& tc : threads_) {
    std::lock_guard chunk_lock(tc->mu);
    total += tc->queued;
  }
  return total;
}

}  // namespace rampart::audit
