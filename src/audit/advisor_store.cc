// The last-accessed store: records from CloudTrail events, the upsert and
// the reads the reports make.
#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "audit/advisor_internal.h"
#include "rampart/audit/advisor.h"
#include "rampart/audit/advisor_services.h"
#include "rampart/protocol/internal.h"

namespace rampart::audit {
namespace {

// Without ROWID tricks or vendor functions, so that another backend can
// hold the same tables. The primary key serves both the upsert and the
// per-entity and per-account reads.
constexpr store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE advisor_last_access (
  account_id TEXT NOT NULL,
  entity_arn TEXT NOT NULL,
  service TEXT NOT NULL,
  action TEXT NOT NULL,
  last_ms INTEGER NOT NULL,
  region TEXT NOT NULL,
  PRIMARY KEY (account_id, entity_arn, service, action)
);
CREATE TABLE advisor_jobs (
  job_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  owner_arn TEXT NOT NULL,
  kind TEXT NOT NULL,
  granularity TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  completed_ms INTEGER NOT NULL,
  report TEXT NOT NULL
);
CREATE INDEX advisor_jobs_created ON advisor_jobs (created_ms);
)sql"},
};

// Error codes of requests that failed authentication: AWS does not report
// unauthenticated requests.
constexpr std::string_view kAuthFailureCodes[] = {
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "InvalidToken",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "RequestExpired",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
};

constexpr size_t kMaxArn = 2048;
constexpr size_t kMaxAction = 128;
constexpr size_t kMaxRegion = 64;

bool IsAccountId(std::string_view s) {
  return s.size() == 12 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsActionName(std::string_view s) {
  return !s.empty() && s.size() <= kMaxAction && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool IsRegion(std::string_view s) {
  return s.size() <= kMaxRegion && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

// The string member of an object, or empty (also for non-objects and
// members of other types).
std::string_view StringOf(const json::Value* v, std::string_view key) {
  if (v == nullptr || !v->is_object()) return {};
  const json::Value* m = v->find(key);
  return m != nullptr && m->is_string() ? std::string_view(m->as_string()) : std::string_view();
}

const json::Value* ObjectOf(const json::Value* v, std::string_view key) {
  if (v == nullptr || !v->is_object()) return nullptr;
  const json::Value* m = v->find(key);
  return m != nullptr && m->is_object() ? m : nullptr;
}

// The entity ARN of an identity: the user, the role behind a role session,
// or the root user.
std::string_view EntityOf(const json::Value* identity) {
  std::string_view type = StringOf(identity, "type");
  if (type == "IAMUser" || type == "Root") return StringOf(identity, "arn");
  if (type != "AssumedRole") return {};
  const json::Value* issuer = ObjectOf(ObjectOf(identity, "sessionContext"), "sessionIssuer");
  if (StringOf(issuer, "type") != "Role") return {};
  return StringOf(issuer, "arn");
}

std::optional<int64_t> EventTimeMs(std::string_view text) {
  std::optional<json::Value> epoch = protocol::internal::ParseIso8601(text);
  if (!epoch || !epoch->is_number()) return std::nullopt;
  double seconds = epoch->as_double();
  // Years 1970 to 9999: keeps the millisecond arithmetic in range.
  if (!(seconds >= 0 && seconds < 253402300800.0)) return std::nullopt;
  return static_cast<int64_t>(std::llround(seconds * 1000));
}

// What the last-accessed data needs of an event, from a record or an Event.
struct AccessFields {
  std::string_view error_code;
  std::string_view entity;
  std::string_view account;
  std::string_view action;
  std::string_view region;
  std::string_view event_source;
  std::optional<int64_t> time_ms;
};

std::optional<AccessRecord> AccessRecordOfFields(const AccessFields& f) {
  for (std::string_view code : kAuthFailureCodes) {
    if (f.error_code == code) return std::nullopt;
  }
  if (f.entity.empty() || f.entity.size() > kMaxArn || !f.entity.starts_with("arn:")) {
    return std::nullopt;
  }
  if (!IsAccountId(f.account) || !IsActionName(f.action) || !IsRegion(f.region)) {
    return std::nullopt;
  }
  std::string service = NamespaceOfEventSource(f.event_source);
  if (service.empty() || !f.time_ms) return std::nullopt;
  return AccessRecord{std::string(f.account), std::string(f.entity), std::move(service),
                      std::string(f.action),  *f.time_ms,           std::string(f.region)};
}

}  // namespace

Status MigrateAdvisor(store::Database& db) { return db.Migrate("advisor", kMigrations); }

std::optional<AccessRecord> AccessRecordFromEvent(const json::Value& record) {
  if (!record.is_object()) return std::nullopt;
  const json::Value* identity = ObjectOf(&record, "userIdentity");
  return AccessRecordOfFields({StringOf(&record, "errorCode"), EntityOf(identity),
                               StringOf(identity, "accountId"), StringOf(&record, "eventName"),
                               StringOf(&record, "awsRegion"), StringOf(&record, "eventSource"),
                               EventTimeMs(StringOf(&record, "eventTime"))});
}

std::optional<AccessRecord> AccessRecordOf(const Event& ev) {
  const EventIdentity& id = ev.identity;
  if (id.kind != EventIdentity::Kind::kPrincipal) return std::nullopt;
  std::string_view entity;
  if (id.type == "IAMUser" || id.type == "Root") entity = id.arn;
  if (id.type == "AssumedRole") entity = id.role_arn;
  // Whole seconds, as the record's eventTime (and so ingested logs) carry.
  int64_t time_ms = ev.time_ms >= 0 ? ev.time_ms - ev.time_ms % 1000 : -1;
  return AccessRecordOfFields({ev.has_error ? std::string_view(ev.error_code) : "", entity,
                               id.account_id, ev.event_name, ev.region, ev.event_source,
                               time_ms >= 0 ? std::optional<int64_t>(time_ms) : std::nullopt});
}

Status RecordAccess(store::Tx& tx, std::span<const AccessRecord> records) {
  if (records.empty()) return Status::Ok();
  // The latest record of each key: one statement per distinct key.
  using Key = std::tuple<std::string_view, std::string_view, std::string_view, std::string_view>;
  std::map<Key, const AccessRecord*> latest;
  for (const AccessRecord& r : records) {
    const AccessRecord*& slot = latest[Key(r.account_id, r.entity_arn, r.service, r.action)];
    if (slot == nullptr || r.time_ms > slot->time_ms) slot = &r;
  }
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare("INSERT INTO advisor_last_access (account_id, entity_arn, service, action, "
                 "last_ms, region) VALUES (?, ?, ?, ?, ?, ?) "
                 "ON CONFLICT (account_id, entity_arn, service, action) DO UPDATE SET "
                 "region = CASE WHEN excluded.last_ms > advisor_last_access.last_ms "
                 "THEN excluded.region ELSE advisor_last_access.region END, "
                 "last_ms = CASE WHEN excluded.last_ms > advisor_last_access.last_ms "
                 "THEN excluded.last_ms ELSE advisor_last_access.last_ms END"));
  for (const auto& entry : latest) {
    const AccessRecord& r = *entry.second;
    RETURN_IF_ERROR(q->Reset());
    q->Bind(1, r.account_id).Bind(2, r.entity_arn).Bind(3, r.service).Bind(4, r.action);
    q->Bind(5, r.time_ms).Bind(6, r.region);
    RETURN_IF_ERROR(q->Run());
  }
  return Status::Ok();
}

Status RecordAccessOfEvents(store::Tx& tx, std::span<const Event> events) {
  std::vector<AccessRecord> records;
  for (const Event& ev : events) {
    if (!ev.complete) continue;
    std::optional<AccessRecord> r = AccessRecordOf(ev);
    if (r) records.push_back(std::move(*r));
  }
  return RecordAccess(tx, records);
}

Result<std::vector<AccessRecord>> AccessOfEntities(store::Tx& tx, std::string_view account_id,
                                                   std::span<const std::string> entity_arns,
                                                   int64_t since_ms) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT entity_arn, service, action, last_ms, region "
                                      "FROM advisor_last_access WHERE account_id = ? "
                                      "AND last_ms >= ? ORDER BY entity_arn, service, action"));
  q->Bind(1, account_id).Bind(2, since_ms);
  std::vector<AccessRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    std::string entity = q->Text(0);
    if (!entity_arns.empty() &&
        std::find(entity_arns.begin(), entity_arns.end(), entity) == entity_arns.end()) {
      continue;
    }
    out.push_back({std::string(account_id), std::move(entity), q->Text(1), q->Text(2), q->Int(3),
                   q->Text(4)});
  }
  return out;
}

}  // namespace rampart::audit
