// The audit event store: chunks of events and postings (docs/audit.md).
#include "rampart/audit/event_store.h"

#include <algorithm>
#include <array>
#include <deque>
#include <memory>
#include <tuple>

#include "audit/event_chunk.h"

namespace rampart::audit {
namespace {

// seq orders events by commit (one writer at a time); delivery follows it.
// A record written inside a request's transaction has complete = 0 until
// the dispatcher hands over the finished request.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  account_id TEXT NOT NULL,
  region TEXT NOT NULL,
  event_time INTEGER NOT NULL,
  event_name TEXT NOT NULL,
  event_source TEXT NOT NULL,
  read_only INTEGER NOT NULL,
  username TEXT NOT NULL,
  access_key_id TEXT NOT NULL,
  resources TEXT NOT NULL,
  complete INTEGER NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (account_id, event_time, event_id);
CREATE INDEX audit_events_by_name ON audit_events (account_id, event_name, event_time, event_id);
CREATE INDEX audit_events_by_user ON audit_events (account_id, username, event_time, event_id);
CREATE INDEX audit_events_by_key ON audit_events (account_id, access_key_id, event_time, event_id);
CREATE INDEX audit_events_by_source ON audit_events (account_id, event_source, event_time, event_id);
CREATE TABLE audit_event_resources (
  event_id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  event_time INTEGER NOT NULL,
  resource_type TEXT NOT NULL,
  resource_name TEXT NOT NULL,
  PRIMARY KEY (event_id, resource_type, resource_name)
);
CREATE INDEX audit_resources_by_type
  ON audit_event_resources (account_id, resource_type, event_time, event_id);
CREATE INDEX audit_resources_by_name
  ON audit_event_resources (account_id, resource_name, event_time, event_id);
)sql";

// Version 2: trails (trails_store.cc).
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE audit_trails (
  account_id TEXT NOT NULL,
  home_region TEXT NOT NULL,
  name TEXT NOT NULL,
  bucket TEXT NOT NULL,
  prefix TEXT NOT NULL,
  include_global INTEGER NOT NULL,
  multi_region INTEGER NOT NULL,
  logging INTEGER NOT NULL,
  event_selectors TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  start_logging_time INTEGER NOT NULL,
  stop_logging_time INTEGER NOT NULL,
  latest_delivery_time INTEGER NOT NULL,
  latest_delivery_attempt INTEGER NOT NULL,
  latest_delivery_error TEXT NOT NULL,
  delivered_seq INTEGER NOT NULL,
  PRIMARY KEY (account_id, name)
);
)sql";


// Version 3: events in chunks of up to 64, found through postings
// (account, attribute, value) -> chunk, instead of one row per event with
// five indexes. Existing events become one-event chunks with chunk = their
// old seq; delivered seqs are moved to the new numbering.
constexpr std::string_view kSchemaV3 = R"sql(
CREATE TABLE audit_chunks (
  chunk INTEGER PRIMARY KEY,
  min_time INTEGER NOT NULL,
  max_time INTEGER NOT NULL,
  complete INTEGER NOT NULL,
  meta TEXT NOT NULL,
  records TEXT NOT NULL
);
CREATE INDEX audit_chunks_by_time ON audit_chunks (max_time);
CREATE INDEX audit_chunks_incomplete ON audit_chunks (chunk) WHERE complete = 0;
CREATE TABLE audit_postings (
  account_id TEXT NOT NULL,
  attr INTEGER NOT NULL,
  value TEXT NOT NULL,
  max_time INTEGER NOT NULL,
  chunk INTEGER NOT NULL,
  min_time INTEGER NOT NULL,
  PRIMARY KEY (account_id, attr, value, max_time, chunk)
) WITHOUT ROWID;
CREATE INDEX audit_postings_by_chunk ON audit_postings (chunk);
INSERT INTO audit_chunks (chunk, min_time, max_time, complete, meta, records)
  SELECT seq, event_time, event_time, complete,
         json_array(json_array(event_id, event_time, account_id, region, event_name,
                               event_source, read_only, username, access_key_id,
                               json((SELECT json_group_array(json_array(r.resource_type,
                                                                        r.resource_name))
                                     FROM audit_event_resources r
                                     WHERE r.event_id = e.event_id)),
                               length(CAST(record AS BLOB)))),
         record
  FROM audit_events e;
INSERT OR IGNORE INTO audit_postings (account_id, attr, value, max_time, chunk, min_time)
  SELECT account_id, 0, '', event_time, seq, event_time FROM audit_events
  UNION ALL SELECT account_id, 1, event_name, event_time, seq, event_time FROM audit_events
  UNION ALL SELECT account_id, 2, CASE read_only WHEN 0 THEN 'false' ELSE 'true' END,
                   event_time, seq, event_time FROM audit_events
  UNION ALL SELECT account_id, 3, username, event_time, seq, event_time FROM audit_events
            WHERE username <> ''
  UNION ALL SELECT account_id, 4, access_key_id, event_time, seq, event_time FROM audit_events
            WHERE access_key_id <> ''
  UNION ALL SELECT account_id, 5, event_source, event_time, seq, event_time FROM audit_events
  UNION ALL SELECT r.account_id, 6, r.resource_type, r.event_time, e.seq, r.event_time
            FROM audit_event_resources r JOIN audit_events e ON e.event_id = r.event_id
  UNION ALL SELECT r.account_id, 7, r.resource_name, r.event_time, e.seq, r.event_time
            FROM audit_event_resources r JOIN audit_events e ON e.event_id = r.event_id;
UPDATE audit_trails SET delivered_seq = (delivered_seq << 20) | 1048575 WHERE delivered_seq > 0;
DROP TABLE audit_event_resources;
DROP TABLE audit_events;
)sql";

// Version 4: organization trails (trails.cc) name their organization.
constexpr std::string_view kSchemaV4 = R"sql(
ALTER TABLE audit_trails ADD COLUMN organization_id TEXT NOT NULL DEFAULT '';
)sql";

// Version 5: chunks in the compact binary format (event_chunk.h); rows
// written before keep format 0 (JSON) and are read as they are.
constexpr std::string_view kSchemaV5 = R"sql(
ALTER TABLE audit_chunks ADD COLUMN format INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 6: the last event of the batch a delivery pass is writing
// (delivery.cc), saved before its log files are, so that a retried pass
// writes exactly the same files.
constexpr std::string_view kSchemaV6 = R"sql(
ALTER TABLE audit_trails ADD COLUMN delivering_seq INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 7: a posting may cover a run of consecutive chunks (`chunks`,
// ChunkWriter), and postings are no longer indexed by chunk: the only
// chunks ever deleted are incomplete ones, whose postings are found by
// their primary key (DeleteChunk).
constexpr std::string_view kSchemaV7 = R"sql(
DROP INDEX audit_postings_by_chunk;
ALTER TABLE audit_postings ADD COLUMN chunks INTEGER NOT NULL DEFAULT 1;
)sql";

const store::Migration kMigrations[] = {{1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3},
                                        {4, kSchemaV4}, {5, kSchemaV5}, {6, kSchemaV6},
                                        {7, kSchemaV7}};

struct KeyName {
  std::string_view name;
  LookupKey key;
};
constexpr std::array<KeyName, 8> kKeyNames = {{
    {"EventId", LookupKey::kEventId},
    {"EventName", LookupKey::kEventName},
    {"ReadOnly", LookupKey::kReadOnly},
    {"Username", LookupKey::kUsername},
    {"ResourceType", LookupKey::kResourceType},
    {"ResourceName", LookupKey::kResourceName},
    {"EventSource", LookupKey::kEventSource},
    {"AccessKeyId", LookupKey::kAccessKeyId},
}};

using internal::Attr;

Attr AttrOf(LookupKey key) {
  switch (key) {
    case LookupKey::kEventName: return Attr::kEventName;
    case LookupKey::kReadOnly: return Attr::kReadOnly;
    case LookupKey::kUsername: return Attr::kUsername;
    case LookupKey::kAccessKeyId: return Attr::kAccessKeyId;
    case LookupKey::kEventSource: return Attr::kEventSource;
    case LookupKey::kResourceType: return Attr::kResourceType;
    case LookupKey::kResourceName: return Attr::kResourceName;
    case LookupKey::kEventId:  // found by time (its id carries it), then filtered
    case LookupKey::kNone: return Attr::kAll;
  }
  return Attr::kAll;
}

// ---- writing ----

// Deletes an incomplete chunk. Since migration 7 those have no postings
// (ChunkWriter); one written before may have, its own, which the events
// it holds (given by recovery) find by primary key: the chunk, the
// posting's value and its newest time.
Status DeleteChunk(store::Tx& tx, int64_t chunk, std::span<const Event> events) {
  ASSIGN_OR_RETURN(auto del, tx.Prepare("DELETE FROM audit_chunks WHERE chunk = ?"));
  RETURN_IF_ERROR(del->Bind(1, chunk).Run());
  if (events.empty()) return Status::Ok();
  internal::ChunkBuilder builder;
  for (const Event& ev : events) builder.Add(ev);
  ASSIGN_OR_RETURN(auto del_posting, tx.Prepare(
      "DELETE FROM audit_postings WHERE account_id = ? AND attr = ? AND value = ? "
      "AND max_time = ? AND chunk = ?"));
  for (const internal::ChunkPosting& p : builder.Take().postings) {
    RETURN_IF_ERROR(del_posting->Reset());
    del_posting->Bind(1, p.account).Bind(2, static_cast<int64_t>(p.attr)).Bind(3, p.value);
    RETURN_IF_ERROR(del_posting->Bind(4, p.max_time).Bind(5, chunk).Run());
  }
  return Status::Ok();
}

internal::ChunkFormat FormatOf(int64_t column) {
  return column == static_cast<int64_t>(internal::ChunkFormat::kBinary)
             ? internal::ChunkFormat::kBinary
             : internal::ChunkFormat::kJson;
}

// Removes the incomplete versions of these events (each alone in its
// chunk, written inside its request's transaction). Incomplete chunks are
// only those of requests in flight, so the scan is short.
Status DeleteIncomplete(store::Tx& tx, std::span<const Event> events) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(
      "SELECT chunk, format, meta, records FROM audit_chunks WHERE complete = 0"));
  std::vector<int64_t> doomed;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    ASSIGN_OR_RETURN(std::vector<Event> stored,
                     internal::DecodeChunk(FormatOf(q->Int(1)), q->Text(2), q->Text(3)));
    bool replaced = std::any_of(stored.begin(), stored.end(), [&](const Event& old) {
      return std::any_of(events.begin(), events.end(),
                         [&](const Event& ev) { return ev.event_id == old.event_id; });
    });
    if (replaced) doomed.push_back(q->Int(0));
  }
  // Written by this process for a request it is serving: no postings.
  for (int64_t chunk : doomed) RETURN_IF_ERROR(DeleteChunk(tx, chunk, {}));
  return Status::Ok();
}

// ---- reading ----

// Renders the record: only events a lookup returns pay for it.
StoredEvent ToStored(Event&& ev) {
  std::string record = RenderRecord(ev);
  return {std::move(ev.event_id), ev.time_ms,           std::move(ev.event_name),
          ev.read_only,           std::move(ev.access_key_id), std::move(ev.event_source),
          std::move(ev.username), std::move(ev.resources), std::move(record)};
}

// The events of chunk when it has any in [from_ms, to_ms], else none.
Result<std::vector<Event>> ReadChunk(store::Statement& read, int64_t chunk, int64_t from_ms,
                                     int64_t to_ms) {
  RETURN_IF_ERROR(read.Reset());
  read.Bind(1, chunk).Bind(2, from_ms).Bind(3, to_ms);
  ASSIGN_OR_RETURN(bool row, read.Step());
  if (!row) return std::vector<Event>{};
  return internal::DecodeChunk(FormatOf(read.Int(0)), read.Text(1), read.Text(2));
}

// The most chunks one posting is read as covering. A run never spans more
// than one transaction's chunks, far fewer than this; a larger count is
// damage, and is cut here rather than walked for ever.
constexpr int64_t kMaxRunChunks = int64_t{1} << 20;

// Newest first; ties broken by event id, descending (the NextToken order).
bool Newer(const StoredEvent& a, const StoredEvent& b) {
  return std::tie(a.time_ms, a.event_id) > std::tie(b.time_ms, b.event_id);
}

// Collects the newest events of a lookup, keeping at most limit + 1.
class PageBuilder {
 public:
  PageBuilder(const LookupQuery& q, Attr attr) : q_(q), attr_(attr) {}

  void Consider(std::vector<Event>& events) {
    for (Event& ev : events) {
      if (!Wanted(ev)) continue;
      found_.push_back(ToStored(std::move(ev)));
      std::push_heap(found_.begin(), found_.end(), Newer);
      if (found_.size() > Keep()) {
        std::pop_heap(found_.begin(), found_.end(), Newer);
        found_.pop_back();
      }
    }
  }
  // Whether a chunk whose newest matching event is at max_time could still
  // change the page.
  bool Needs(int64_t max_time) const {
    return found_.size() < Keep() || max_time >= found_.front().time_ms;
  }
  // The oldest time an event may have and still change the page (at
  // least from_ms): chunks whose newest event is older need not be read.
  int64_t NeededFrom(int64_t from_ms) const {
    return found_.size() < Keep() ? from_ms : std::max(from_ms, found_.front().time_ms);
  }
  LookupPage Finish() {
    std::sort(found_.begin(), found_.end(), Newer);
    LookupPage page;
    page.more = found_.size() > static_cast<size_t>(q_.max_results);
    if (page.more) found_.resize(static_cast<size_t>(q_.max_results));
    page.events = std::move(found_);
    return page;
  }

 private:
  size_t Keep() const { return static_cast<size_t>(std::max(q_.max_results, 0)) + 1; }
  bool Wanted(const Event& ev) const {
    if (ev.account_id != q_.account_id || ev.time_ms < q_.start_ms || ev.time_ms > q_.end_ms) {
      return false;
    }
    if (q_.key == LookupKey::kEventId && ev.event_id != q_.value) return false;
    if (!internal::Matches(ev, attr_, q_.value)) return false;
    return !q_.after || std::tie(ev.time_ms, ev.event_id) <
                            std::tie(q_.after->first, q_.after->second);
  }

  const LookupQuery& q_;
  const Attr attr_;
  std::vector<StoredEvent> found_;  // a min-heap by Newer: front() is the oldest kept
};

// Chunks that may hold the lookup's events, newest first: through the
// postings, or for an event id through the chunks around the time the id
// carries (an event is written within minutes of its time).
Result<std::unique_ptr<store::Statement>> CandidateChunks(store::Tx& tx, const LookupQuery& q,
                                                          Attr attr, int64_t upper) {
  // A chunk spans at most kMaxChunkSpanMs, so its newest event is at most
  // that much newer than the id's own event.
  constexpr int64_t kWriteLagMs = internal::kMaxChunkSpanMs;
  std::unique_ptr<store::Statement> s;
  if (q.key == LookupKey::kEventId) {
    int64_t t = internal::EventIdMillis(q.value);
    ASSIGN_OR_RETURN(s, tx.Prepare(
        "SELECT chunk, max_time, 1 FROM audit_chunks WHERE max_time >= ? AND max_time <= ? "
        "AND min_time <= ? ORDER BY max_time DESC, chunk DESC"));
    s->Bind(1, t).Bind(2, t + kWriteLagMs).Bind(3, t);
    return s;
  }
  ASSIGN_OR_RETURN(s, tx.Prepare(
      "SELECT chunk, max_time, chunks FROM audit_postings WHERE account_id = ? AND attr = ? "
      "AND value = ? AND max_time >= ? AND min_time <= ? ORDER BY max_time DESC, chunk DESC"));
  s->Bind(1, q.account_id).Bind(2, static_cast<int64_t>(attr));
  s->Bind(3, attr == Attr::kAll ? std::string_view("") : std::string_view(q.value));
  s->Bind(4, q.start_ms).Bind(5, upper);
  return s;
}

}  // namespace

Status MigrateEventStore(store::Database& db) { return db.Migrate("audit", kMigrations); }

std::span<const store::Migration> internal::EventStoreMigrations() { return kMigrations; }

// ---- ChunkWriter ----

// A posting being built: the same (account, attribute, value) in the
// chunks last - count + 1 to last.
struct internal::ChunkWriter::Run {
  std::string account;
  Attr attr = Attr::kAll;
  std::string value;
  int64_t last = 0;
  int64_t count = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
};

namespace {

// Rows are inserted up to this many per statement: one statement's fixed
// cost (stepping, halting, resetting) is then paid once for them all.
constexpr size_t kRowsPerInsert = 8;

// "<head> VALUES <row>, <row>, ..." with rows rows, for every rows from 1
// to kRowsPerInsert (index rows).
std::array<std::string, kRowsPerInsert + 1> MultiRowInserts(std::string_view head,
                                                            std::string_view row) {
  std::array<std::string, kRowsPerInsert + 1> sql;
  for (size_t rows = 1; rows <= kRowsPerInsert; ++rows) {
    std::string& out = sql[rows];
    out.assign(head);
    out += " VALUES ";
    for (size_t r = 0; r < rows; ++r) {
      if (r > 0) out += ", ";
      out += row;
    }
  }
  return sql;
}

const std::string& InsertChunksSql(size_t rows) {
  static const auto sql = MultiRowInserts(
      "INSERT INTO audit_chunks (chunk, min_time, max_time, complete, meta, records, format)",
      "(?, ?, ?, ?, '', ?, ?)");
  return sql[rows];
}

const std::string& InsertPostingsSql(size_t rows) {
  static const auto sql = MultiRowInserts(
      "INSERT INTO audit_postings (account_id, attr, value, max_time, chunk, min_time, chunks)",
      "(?, ?, ?, ?, ?, ?, ?)");
  return sql[rows];
}

// Inserts items in statements of up to kRowsPerInsert rows; bind(statement,
// first parameter, item) binds one row.
template <typename T, typename BindRow>
Status InsertRows(store::Tx& tx, std::span<const T> items, const std::string& (*sql)(size_t),
                  BindRow bind) {
  while (!items.empty()) {
    size_t rows = std::min(items.size(), kRowsPerInsert);
    ASSIGN_OR_RETURN(auto q, tx.Prepare(sql(rows)));
    int param = 1;
    for (size_t i = 0; i < rows; ++i) param = bind(*q, param, items[i]);
    RETURN_IF_ERROR(q->Run());
    items = items.subspan(rows);
  }
  return Status::Ok();
}

}  // namespace

internal::ChunkWriter::ChunkWriter(store::Tx& tx) : tx_(tx) {}
internal::ChunkWriter::~ChunkWriter() = default;

Status internal::ChunkWriter::Add(const BuiltChunk& built) {
  if (next_chunk_ == 0) {
    // The next number after every stored chunk, as a rowid would be; this
    // writer's chunks then follow one another, which runs rely on.
    ASSIGN_OR_RETURN(auto max, tx_.Prepare("SELECT MAX(chunk) FROM audit_chunks"));
    ASSIGN_OR_RETURN(bool row, max->Step());
    next_chunk_ = row && !max->IsNull(0) ? max->Int(0) + 1 : 1;
  }
  const int64_t chunk = next_chunk_++;
  chunks_.push_back({chunk, &built});
  // An incomplete chunk gets no postings: it is the record of a request
  // still being served, replaced when the request ends, or completed by
  // RecoverIncompleteEvents (which stores its events anew, postings and
  // all) after a crash. Lookups thus never see it; they would have seen it
  // for a few milliseconds at most.
  if (!built.complete) return Status::Ok();
  for (const ChunkPosting& p : built.postings) {
    scratch_key_.clear();
    auto account_size = static_cast<uint32_t>(p.account.size());
    scratch_key_.append(reinterpret_cast<const char*>(&account_size), sizeof account_size);
    scratch_key_ += p.account;
    scratch_key_ += static_cast<char>(p.attr);
    scratch_key_ += p.value;
    auto [it, fresh] = run_index_.try_emplace(scratch_key_, runs_.size());
    if (fresh) {
      runs_.push_back({p.account, p.attr, p.value, chunk, 1, p.min_time, p.max_time});
      continue;
    }
    Run& run = runs_[it->second];
    if (run.last != chunk - 1) {
      // The chunk before did not hold it: the run ends, a new one starts.
      ended_.push_back(run);
      run.count = 0;
      run.min_time = p.min_time;
      run.max_time = p.max_time;
    }
    run.last = chunk;
    ++run.count;
    run.min_time = std::min(run.min_time, p.min_time);
    run.max_time = std::max(run.max_time, p.max_time);
  }
  return Status::Ok();
}

Status internal::ChunkWriter::Finish() {
  using Numbered = std::pair<int64_t, const BuiltChunk*>;
  RETURN_IF_ERROR(InsertRows<Numbered>(
      tx_, chunks_, InsertChunksSql, [](store::Statement& q, int i, const Numbered& c) {
        const EncodedChunk& enc = c.second->encoded;
        q.Bind(i, c.first).Bind(i + 1, enc.min_time).Bind(i + 2, enc.max_time);
        q.Bind(i + 3, int64_t{c.second->complete}).BindBlob(i + 4, enc.records);
        q.Bind(i + 5, static_cast<int64_t>(ChunkFormat::kBinary));
        return i + 6;
      }));
  auto bind_run = [](store::Statement& q, int i, const Run& run) {
    q.Bind(i, run.account).Bind(i + 1, static_cast<int64_t>(run.attr)).Bind(i + 2, run.value);
    q.Bind(i + 3, run.max_time).Bind(i + 4, run.last).Bind(i + 5, run.min_time);
    q.Bind(i + 6, run.count);
    return i + 7;
  };
  RETURN_IF_ERROR(InsertRows<Run>(tx_, ended_, InsertPostingsSql, bind_run));
  RETURN_IF_ERROR(InsertRows<Run>(tx_, runs_, InsertPostingsSql, bind_run));
  chunks_.clear();
  ended_.clear();
  runs_.clear();
  run_index_.clear();
  return Status::Ok();
}

std::optional<LookupKey> ParseLookupKey(std::string_view name) {
  for (const KeyName& k : kKeyNames) {
    if (k.name == name) return k.key;
  }
  return std::nullopt;
}

Status InsertEvents(store::Tx& tx, std::span<const Event> events, bool replace) {
  if (events.empty()) return Status::Ok();
  if (replace) RETURN_IF_ERROR(DeleteIncomplete(tx, events));
  // A run of complete events fills chunks; an incomplete one stays alone
  // so that its completion replaces exactly it. A chunk also spans at most
  // kMaxChunkSpanMs of event time (ChunkBuilder::Fits), so that a lookup by
  // event id (whose time is known) reads only the chunks whose newest event
  // is at most that much later.
  internal::ChunkBuilder builder;
  std::deque<internal::BuiltChunk> built;  // alive until the writer's Finish
  internal::ChunkWriter writer(tx);
  for (const Event& ev : events) {
    if (!builder.empty() && (!ev.complete || !builder.Fits(ev.time_ms))) {
      RETURN_IF_ERROR(writer.Add(built.emplace_back(builder.Take())));
    }
    builder.Add(ev);
    if (!ev.complete) RETURN_IF_ERROR(writer.Add(built.emplace_back(builder.Take(false))));
  }
  if (!builder.empty()) RETURN_IF_ERROR(writer.Add(built.emplace_back(builder.Take())));
  return writer.Finish();
}

Status InsertEvent(store::Tx& tx, const Event& ev) {
  return InsertEvents(tx, std::span<const Event>(&ev, 1), /*replace=*/true);
}

Result<int64_t> MaxEventSeq(store::Tx& tx) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT MAX(chunk) FROM audit_chunks"));
  ASSIGN_OR_RETURN(bool row, s->Step());
  if (!row || s->IsNull(0)) return int64_t{0};
  return internal::LastSeqOf(s->Int(0));
}

Result<LookupPage> LookupEvents(store::Database& db, const LookupQuery& q) {
  Attr attr = AttrOf(q.key);
  int64_t upper = q.after ? std::min(q.end_ms, q.after->first) : q.end_ms;
  if (q.key == LookupKey::kEventId && internal::EventIdMillis(q.value) < 0) return LookupPage{};
  PageBuilder builder(q, attr);
  Status st = db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto candidates, CandidateChunks(tx, q, attr, upper));
    // A chunk of a run may hold no event of the time range, or none that
    // could still change the page: its row's times say so before decoding.
    ASSIGN_OR_RETURN(auto read, tx.Prepare(
        "SELECT format, meta, records FROM audit_chunks WHERE chunk = ? AND max_time >= ? "
        "AND min_time <= ?"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, candidates->Step());
      // Postings come newest first, and a run's chunks are no newer than
      // its posting: past this one, no chunk can change the page.
      if (!row || !builder.Needs(candidates->Int(1))) break;
      const int64_t last = candidates->Int(0);
      if (last <= 0) continue;  // no chunk has such a number: damage
      const int64_t count = std::clamp<int64_t>(candidates->Int(2), 1, kMaxRunChunks);
      const int64_t first = std::max<int64_t>(1, last - count + 1);
      for (int64_t chunk = last; chunk >= first; --chunk) {
        ASSIGN_OR_RETURN(std::vector<Event> events,
                         ReadChunk(*read, chunk, builder.NeededFrom(q.start_ms), upper));
        builder.Consider(events);
      }
    }
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  return builder.Finish();
}

Result<std::vector<SequencedEvent>> EventsAfter(store::Database& db, int64_t after_seq,
                                                int limit) {
  std::vector<SequencedEvent> out;
  Status st = db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare(
        "SELECT chunk, format, meta, records FROM audit_chunks "
        "WHERE chunk >= ? AND complete = 1 ORDER BY chunk"));
    s->Bind(1, internal::ChunkOfSeq(after_seq));
    while (static_cast<int>(out.size()) < limit) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      int64_t chunk = s->Int(0);
      ASSIGN_OR_RETURN(std::vector<Event> events,
                       internal::DecodeChunk(FormatOf(s->Int(1)), s->Text(2), s->Text(3)));
      for (size_t i = 0; i < events.size() && static_cast<int>(out.size()) < limit; ++i) {
        int64_t seq = internal::SeqOf(chunk, i);
        if (seq <= after_seq) continue;
        Event& ev = events[i];
        std::string record = RenderRecord(ev);
        out.push_back({seq, std::move(ev.account_id), std::move(ev.region), ev.read_only,
                       std::move(ev.event_source), ev.time_ms, std::move(record)});
      }
    }
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  return out;
}

Status RecoverIncompleteEvents(store::Database& db) {
  return db.Write([](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(
        "SELECT chunk, format, meta, records FROM audit_chunks WHERE complete = 0 "
        "ORDER BY chunk"));
    std::vector<std::pair<int64_t, size_t>> chunks;  // chunk, its first event in events
    std::vector<Event> events;
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      chunks.emplace_back(q->Int(0), events.size());
      ASSIGN_OR_RETURN(std::vector<Event> decoded,
                       internal::DecodeChunk(FormatOf(q->Int(1)), q->Text(2), q->Text(3)));
      for (Event& ev : decoded) events.push_back(std::move(ev));
    }
    for (size_t i = 0; i < chunks.size(); ++i) {
      size_t end = i + 1 < chunks.size() ? chunks[i + 1].second : events.size();
      std::span<const Event> held(events.data() + chunks[i].second, end - chunks[i].second);
      RETURN_IF_ERROR(DeleteChunk(tx, chunks[i].first, held));
    }
    for (Event& ev : events) ev.complete = true;
    // Kept as they are, now complete, at the end of the delivery order.
    return InsertEvents(tx, events, /*replace=*/false);
  });
}

}  // namespace rampart::audit
