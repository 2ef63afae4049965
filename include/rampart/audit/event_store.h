// The audit tables (migration component "audit"): storing CloudTrail events
// and looking them up the way CloudTrail's LookupEvents does. Events are
// stored in chunks with postings per attribute value (docs/audit.md).
//
// Thread-safety: free functions; the Database serialises writers.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rampart/audit/event.h"
#include "rampart/core/status.h"
#include "rampart/store/store.h"

namespace rampart::audit {

// Creates or upgrades the audit tables.
Status MigrateEventStore(store::Database& db);

// Inserts the event, or replaces the one with the same event id (a partial
// record written inside the request's transaction is completed this way).
Status InsertEvent(store::Tx& tx, const Event& event);
// Inserts many events, packed into chunks of up to 64 (one row each, plus
// one posting per distinct account/attribute/value and run of consecutive
// chunks holding it; see internal::ChunkWriter).
// replace: as InsertEvent, for events written incomplete before; without
// it the event ids must be new. Incomplete events are stored one per
// chunk, without postings: lookups do not see them until completed.
Status InsertEvents(store::Tx& tx, std::span<const Event> events, bool replace);

// The highest seq stored so far (0 when none): a new trail starts after it.
Result<int64_t> MaxEventSeq(store::Tx& tx);

// LookupEvents' attribute keys.
enum class LookupKey { kNone, kEventId, kEventName, kReadOnly, kUsername, kResourceType,
                       kResourceName, kEventSource, kAccessKeyId };

// Parses an AttributeKey; nullopt when unknown.
std::optional<LookupKey> ParseLookupKey(std::string_view name);

struct LookupQuery {
  std::string account_id;
  LookupKey key = LookupKey::kNone;
  std::string value;  // for kReadOnly: "true" or "false"
  int64_t start_ms = 0;
  int64_t end_ms = INT64_MAX;
  int max_results = 50;
  // Continue after this (time, event id), exclusive; from a NextToken.
  std::optional<std::pair<int64_t, std::string>> after;
};

struct StoredEvent {
  std::string event_id;
  int64_t time_ms = 0;
  std::string event_name;
  bool read_only = false;
  std::string access_key_id;
  std::string event_source;
  std::string username;
  std::vector<EventResource> resources;
  std::string record;  // the CloudTrail record as JSON text (RenderRecord)
};

struct LookupPage {
  std::vector<StoredEvent> events;  // newest first
  bool more = false;                // another page follows the last event
};

Result<LookupPage> LookupEvents(store::Database& db, const LookupQuery& query);

// Events of every account with seq > after_seq, in insertion order, at most
// limit of them; for log file delivery. seq is returned with each; seqs
// grow with commit order but are not consecutive.
struct SequencedEvent {
  int64_t seq = 0;
  std::string account_id;
  std::string region;
  bool read_only = false;
  std::string event_source;
  int64_t time_ms = 0;
  std::string record;
};
Result<std::vector<SequencedEvent>> EventsAfter(store::Database& db, int64_t after_seq,
                                                int limit);

// Completes records left incomplete by a crash (the request's transaction
// committed, the process died before the response): they are kept as they
// are, marked complete and moved to the end of the delivery order.
Status RecoverIncompleteEvents(store::Database& db);

}  // namespace rampart::audit
