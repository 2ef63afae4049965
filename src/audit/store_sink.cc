// StoreAuditSink: synchronous records for mutations, group commit for reads.
#include "rampart/audit/store_sink.h"

#include <algorithm>
#include <array>
#include <optional>
#include <unordered_map>

#include "rampart/audit/advisor.h"
#include "rampart/audit/event_store.h"
#include "rampart/core/log.h"

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
    event_id_ = NewEventId(rec.time);
    joined_ = false;
    scope_.emplace(this);
  }
  void Disarm() { scope_.reset(); }
  bool armed() const { return scope_.has_value(); }
  bool joined() const { return joined_; }
  const std::string& event_id() const { return event_id_; }

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
  bool joined_ = false;
  std::optional<store::ScopedWriteHook> scope_;
};

thread_local PendingRequest pending;

}  // namespace

StoreAuditSink::StoreAuditSink(store::Database& db, Options options)
    : db_(db), options_(std::move(options)) {}

StoreAuditSink::~StoreAuditSink() { Stop(); }

void StoreAuditSink::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
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
  std::string event_id;
  bool joined = false;
  if (pending.armed()) {
    event_id = pending.event_id();
    joined = pending.joined();
    pending.Disarm();
  } else {
    event_id = NewEventId(record.time);
  }
  Event ev = BuildEvent(record, {event_id, options_.default_region, options_.fallback_account});
  std::vector<Event> owner_copies = ResourceOwnerCopies(record, ev);
  bool sync = joined || (record.principal != nullptr && !ev.read_only);
  // The common case, one read-only record, goes to the queue in one move.
  if (!sync && owner_copies.empty() && Enqueue(std::span<Event>(&ev, 1))) return;
  // The caller's record and the resource owners' copies are stored
  // together, with the last-accessed data of the caller's entity (the
  // copies show the caller as another account and count for nobody).
  std::vector<Event> events;
  events.reserve(1 + owner_copies.size());
  events.push_back(std::move(ev));
  for (Event& copy : owner_copies) events.push_back(std::move(copy));
  Store(std::move(events), sync, /*replace=*/joined);
}

bool StoreAuditSink::Enqueue(std::span<Event> events) {
  std::unique_lock lock(mu_);
  if (queue_.size() + events.size() > options_.max_queue) return false;
  for (Event& ev : events) queue_.push_back(std::move(ev));
  ++queued_writes_;
  // Half full: commit now rather than at the end of the interval.
  if (queue_.size() >= EarlyFlushAt()) wake_.notify_one();
  return true;
}

void StoreAuditSink::Store(std::vector<Event> events, bool sync, bool replace) {
  if (!sync && Enqueue(events)) return;
  WriteNow(events, replace);
}

namespace {

// The events' last-accessed records. The events of a batch mostly repeat a
// few (entity, action, region) combinations: only the latest event of each
// group is read, since RecordAccess keeps the latest time per key anyway.
// The group holds every member AccessRecordOf reads besides the time, so
// one event stands for all of its group.
std::vector<AccessRecord> AccessRecordsOf(std::span<const Event> events) {
  using Group = std::array<std::string_view, 8>;
  struct GroupHash {
    size_t operator()(const Group& g) const {
      size_t h = 0;
      for (std::string_view part : g) h = h * 31 + std::hash<std::string_view>()(part);
      return h;
    }
  };
  std::unordered_map<Group, const Event*, GroupHash> latest;
  // Runs of events from one group are common: the previous event's group
  // is compared before the table is consulted.
  Group prev_group;
  const Event** prev_slot = nullptr;  // element pointers survive rehashing
  for (const Event& ev : events) {
    const EventIdentity& id = ev.identity;
    if (id.kind != EventIdentity::Kind::kPrincipal) continue;
    Group g{id.type,         id.arn,          id.role_arn,  id.account_id,
            ev.event_name,   ev.event_source, ev.region,    ev.error_code};
    if (prev_slot == nullptr || g != prev_group) {
      prev_slot = &latest.try_emplace(g, &ev).first->second;
      prev_group = g;
    }
    if (ev.time_ms > (*prev_slot)->time_ms) *prev_slot = &ev;
  }
  std::vector<AccessRecord> out;
  out.reserve(latest.size());
  for (const auto& entry : latest) {
    if (std::optional<AccessRecord> r = AccessRecordOf(*entry.second)) out.push_back(std::move(*r));
  }
  return out;
}

}  // namespace

void StoreAuditSink::WriteNow(std::span<const Event> events, bool replace) {
  // replace only ever matches the caller's record: copies have fresh ids.
  std::vector<AccessRecord> access = AccessRecordsOf(events);
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

Status StoreAuditSink::WriteBatch(std::vector<Event>& batch) {
  if (batch.empty()) return Status::Ok();
  std::vector<AccessRecord> access = AccessRecordsOf(batch);
  return db_.Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(InsertEvents(tx, batch, /*replace=*/false));
    return RecordAccess(tx, access);
  });
}

Status StoreAuditSink::Flush() {
  std::lock_guard flush_lock(flush_mu_);
  // The written batch's vectors become the next queue, so that the queue
  // keeps its capacity instead of growing (and moving every event) anew
  // after each flush.
  std::vector<Event> batch = std::move(spare_queue_);
  batch.clear();
  {
    std::lock_guard lock(mu_);
    batch.swap(queue_);
  }
  Status st = WriteBatch(batch);
  if (!st.ok()) {
    // Put them back for the next attempt rather than lose them.
    std::lock_guard lock(mu_);
    queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                  std::make_move_iterator(batch.end()));
  }
  batch.clear();
  spare_queue_ = std::move(batch);
  return st;
}

size_t StoreAuditSink::EarlyFlushAt() const { return std::max<size_t>(1, options_.max_queue / 2); }

void StoreAuditSink::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.flush_interval,
                   [this] { return stopping_ || queue_.size() >= EarlyFlushAt(); });
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
  std::lock_guard lock(mu_);
  return queued_writes_;
}

}  // namespace rampart::audit
