// IAM access advisor: the last-accessed store (migration component
// "advisor") and the reports built on it.
//
// For each (account, entity, service namespace, action) the store keeps the
// last time an authenticated principal attempted the action, and from
// which region. The entity is an IAM user's ARN, the role's ARN for a role
// session (userIdentity.sessionContext.sessionIssuer), or the account's root
// ARN. AWS reports attempts, allowed or denied, by authenticated principals
// only ("Amazon Web Services does not report unauthenticated requests",
// TrackedActionLastAccessed in the IAM API reference), so a record whose
// error is an authentication failure is not counted.
//
// The same records feed the store from the server's audit sink (every
// request) and from `rampart advisor ingest` (CloudTrail files written
// elsewhere).
//
// Thread-safety: free functions; the Database serialises writers.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/audit/event.h"
#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/store/store.h"

namespace rampart::audit {

// AWS's tracking period for last-accessed data: 400 days.
inline constexpr int64_t kTrackingPeriodMs = int64_t{400} * 24 * 3600 * 1000;

// One authenticated attempt, as the store keeps it.
struct AccessRecord {
  std::string account_id;  // the entity's account
  std::string entity_arn;  // user, role or root ARN
  std::string service;     // IAM namespace, e.g. "kms"
  std::string action;      // eventName, e.g. "Encrypt"
  int64_t time_ms = 0;     // eventTime
  std::string region;      // awsRegion
};

// Creates or upgrades the advisor tables.
Status MigrateAdvisor(store::Database& db);

// The access a CloudTrail record (one element of "Records") stands for, or
// nullopt when it does not count: no authenticated IAM user, role session
// or root identity; an authentication failure; an unknown event source; a
// malformed field. Never fails otherwise: records are hostile input.
std::optional<AccessRecord> AccessRecordFromEvent(const json::Value& record);
// The same for an event the audit trail just built (no JSON involved).
std::optional<AccessRecord> AccessRecordOf(const Event& event);

// Upserts the records: per distinct key, the latest time (and its region)
// wins over what is stored. One statement per distinct key.
Status RecordAccess(store::Tx& tx, std::span<const AccessRecord> records);

// For the server's audit sink: the access records of events being stored,
// upserted inside the same transaction (call it next to InsertEvents).
// Partial records (complete == false) are skipped: their complete version
// follows.
Status RecordAccessOfEvents(store::Tx& tx, std::span<const Event> events);

// The stored rows of some entities of one account (every entity when
// entity_arns is empty), at or after since_ms.
Result<std::vector<AccessRecord>> AccessOfEntities(store::Tx& tx, std::string_view account_id,
                                                   std::span<const std::string> entity_arns,
                                                   int64_t since_ms);

// ---- CloudTrail log files (advisor_ingest.cc) ----

// The access records of one log file's content: gzip (detected by its
// magic bytes) or plain JSON {"Records": [...]}. Records that do not count
// are skipped (*skipped counts them); a file that is not such a document is
// an error naming the problem.
Result<std::vector<AccessRecord>> ParseTrailLog(std::string_view bytes, size_t* skipped);

// Limits on hostile files: compressed and uncompressed size.
inline constexpr size_t kMaxLogFileBytes = 64 * 1024 * 1024;
inline constexpr size_t kMaxInflatedBytes = 256 * 1024 * 1024;

struct IngestReport {
  size_t files = 0;                 // files read and stored
  size_t records = 0;               // access records stored
  size_t skipped = 0;               // records that did not count
  std::vector<std::string> errors;  // "<path>: <problem>", one per bad file
};

// Reads every *.json.gz and *.json file under dir (recursively, in path
// order) and stores their access records, one transaction per file.
Result<IngestReport> IngestDirectory(store::Database& db, const std::string& dir);

}  // namespace rampart::audit

namespace rampart::audit {

// ---- propose-scp (advisor_propose.cc) ----

// The services to deny under an Organizations entity path: those its SCPs
// allow now that no principal of any account under the path attempted
// within unused_days before now_ms.
struct ScpProposal {
  std::string target_id;            // the OU, account or root to attach to
  std::vector<std::string> used;    // allowed and accessed in the window
  std::vector<std::string> unused;  // allowed and not accessed: denied
  // SCP documents denying "ns:*" for every unused namespace, each within
  // the 5,120-character SCP quota; several when one does not fit.
  std::vector<std::string> policies;
};
// Errors: InvalidInput for a path that names nothing in its organization,
// or an organization without SCPs enabled.
Result<ScpProposal> ProposeScp(store::Database& db, std::string_view entity_path, int64_t now_ms,
                               int unused_days);

}  // namespace rampart::audit
