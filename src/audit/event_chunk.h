// Chunks of audit events: how the event store packs many events into one
// row (docs/audit.md, "How events are stored").
//
// A chunk holds up to kChunkEvents events in one row. Format 1 (current)
// is one binary blob in `records` (the layout is in event_chunk.cc): every
// member of each Event, strings that repeat within the chunk (account,
// identity, user agent, ...) written once and referenced after. The blob's
// first byte is its version: version 2 (written since session 7) also
// skips members equal to the previous event's and stores UUID ids in 16
// bytes; version 1 blobs are still read. Format 0
// (before migration 5) has `meta`, a JSON array with one entry per event
// carrying the columns lookups filter on, and `records`, the events'
// CloudTrail JSON records concatenated in the same order. Lookups read the
// postings (account, attribute, value) -> chunk, then decode only the
// chunks they need; a record is rendered to JSON only when returned.
// Chunks are written through ChunkBuilder, one event at a time: the audit
// sink keeps one builder per worker thread, so events are encoded where
// they are built and the writer only stores finished chunks.
//
// Thread-safety: free functions; safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rampart/audit/event_store.h"
#include "rampart/core/status.h"
#include "rampart/store/store.h"

namespace rampart::audit::internal {

// Events per chunk: large enough that the per-row and per-posting costs
// are spread thin, small enough that a lookup decodes little it discards.
inline constexpr size_t kChunkEvents = 64;
// The most resources a decoded event may name. BuildEvent names at most
// one per known input member and output object (19 today); a stored event
// with more is damage.
inline constexpr size_t kMaxEventResources = 64;
// The most event time one chunk spans (events queued during a long outage
// of the database, or recovered after a crash, go to several chunks).
inline constexpr int64_t kMaxChunkSpanMs = 10 * 60 * 1000;

// A seq is (chunk << kSeqShift) | index of the event in its chunk.
inline constexpr int kSeqShift = 20;
inline constexpr int64_t SeqOf(int64_t chunk, size_t index) {
  return (chunk << kSeqShift) | static_cast<int64_t>(index);
}
inline constexpr int64_t ChunkOfSeq(int64_t seq) { return seq >> kSeqShift; }
// The seq that follows every event of chunk.
inline constexpr int64_t LastSeqOf(int64_t chunk) { return SeqOf(chunk, (1u << kSeqShift) - 1); }

// The attributes postings index; the numbers are stored, never reuse one.
enum class Attr : int64_t {
  kAll = 0,  // every event of the account, value ""
  kEventName = 1,
  kReadOnly = 2,  // "true" / "false"
  kUsername = 3,
  kAccessKeyId = 4,
  kEventSource = 5,
  kResourceType = 6,
  kResourceName = 7,
};

// One (account, attribute, value) an event is found under.
struct PostingKey {
  std::string_view account;
  Attr attr;
  std::string_view value;
  friend bool operator==(const PostingKey&, const PostingKey&) = default;
};

// Every posting of the event, into out (cleared first; reusing it saves an
// allocation per event): kAll, its name, read-only flag and source, and its
// user name, access key and resources when it has them, in that order.
void PostingsOf(const Event& ev, std::vector<PostingKey>& out);

// Whether the event is found under (attr, value) in its account.
bool Matches(const Event& ev, Attr attr, std::string_view value);

// The row formats of audit_chunks.format.
enum class ChunkFormat : int64_t { kJson = 0, kBinary = 1 };

struct EncodedChunk {
  std::string meta;     // empty in the binary format
  std::string records;  // the binary blob
  int64_t min_time = 0;
  int64_t max_time = 0;
};
// Encodes in the binary format. REQUIRES: !events.empty().
EncodedChunk EncodeChunk(std::span<const Event> events);

// One posting of a chunk: the (account, attribute, value) its events are
// found under, and the times of the first and last of those events.
struct ChunkPosting {
  std::string account;
  Attr attr = Attr::kAll;
  std::string value;
  int64_t min_time = 0;
  int64_t max_time = 0;
};

// A chunk ready to be stored: its binary blob and its postings.
struct BuiltChunk {
  EncodedChunk encoded;
  std::vector<ChunkPosting> postings;
  size_t events = 0;
  bool complete = true;
};

// Builds a chunk one event at a time: each Add encodes the event into the
// chunk's blob and folds its postings in, so nothing refers to the event
// afterwards (the caller may reuse or free it at once). The encoding is the
// one EncodeChunk writes (EncodeChunk is this builder run over a span).
//
// Thread-safety: none; one owner at a time.
class ChunkBuilder {
 public:
  ChunkBuilder();
  ~ChunkBuilder();
  ChunkBuilder(ChunkBuilder&&) noexcept;
  ChunkBuilder& operator=(ChunkBuilder&&) noexcept;

  // Whether an event at time_ms may join: the chunk holds fewer than
  // kChunkEvents events and would still span at most kMaxChunkSpanMs.
  bool Fits(int64_t time_ms) const;
  // What the caller knows of an event that spares the encoder work. Wrong
  // hints corrupt the chunk: when unsure, give none.
  struct Hints {
    // Exactly the string members (MemberBit) whose value differs from the
    // previous event added to this builder, as BuildEventInto reports them
    // for an event it rebuilt from that one: the encoder then compares
    // nothing. Ignored for a chunk's first event.
    const uint64_t* changed = nullptr;
    // The 16 bytes whose lowercase UUID text ev.event_id is
    // (NewEventIdInto's): not parsed back from the text.
    const uint8_t* event_id_uuid = nullptr;
  };
  void Add(const Event& ev, const Hints& hints);
  void Add(const Event& ev) { Add(ev, Hints{}); }
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The finished chunk (complete as given); the builder is empty after.
  // REQUIRES: !empty().
  BuiltChunk Take(bool complete = true);

 private:
  struct State;
  size_t count_ = 0;
  int64_t min_time_ = 0;
  int64_t max_time_ = 0;
  std::unique_ptr<State> state_;
};

// Stores the chunks of one transaction (event_store.cc). Each chunk is a
// new row, numbered after every stored chunk. A posting that consecutive
// complete chunks of the same writer share is stored once, as one row
// covering the run (audit_postings.chunks: the chunks chunk - chunks + 1 to
// chunk all hold events found under it), so a group commit of many chunks
// of alike events writes a handful of postings instead of several per
// chunk. An incomplete chunk (the record of a request in flight) gets no
// postings at all: lookups need not see it, and its completion deletes
// just its row.
//
// Thread-safety: none; lives inside one transaction.
class ChunkWriter {
 public:
  explicit ChunkWriter(store::Tx& tx);
  ~ChunkWriter();
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Numbers the chunk and folds its postings into the runs. The chunk
  // must stay alive and unchanged until Finish.
  Status Add(const BuiltChunk& chunk);
  // Inserts the chunks added since the last Finish and their postings, a
  // few rows per statement. REQUIRED before the transaction commits.
  Status Finish();

 private:
  struct Run;

  store::Tx& tx_;
  int64_t next_chunk_ = 0;  // 0: not read yet
  std::vector<std::pair<int64_t, const BuiltChunk*>> chunks_;  // number, chunk
  // Open runs by unambiguous key (account length, account, attribute,
  // value), and runs that ended.
  std::vector<Run> runs_;
  std::unordered_map<std::string, size_t> run_index_;
  std::vector<Run> ended_;
  std::string scratch_key_;
};

// Decodes a stored chunk of either format; stored data is checked like
// input (a damaged row gives an error, never a crash). JSON-format events
// come back with their record in stored_record.
Result<std::vector<Event>> DecodeChunk(ChunkFormat format, std::string_view meta,
                                       std::string_view records);

// The milliseconds a version 7 UUID (NewEventId) carries, or -1 when id is
// not one.
int64_t EventIdMillis(std::string_view id);

// The event store's migrations, oldest first (tests migrate old schemas).
std::span<const store::Migration> EventStoreMigrations();

}  // namespace rampart::audit::internal
