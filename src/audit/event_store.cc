// audit_events: CloudTrail events and their lookup columns.
#include "rampart/audit/event_store.h"

#include <array>
#include <memory>

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

const store::Migration kMigrations[] = {{1, kSchemaV1}, {2, kSchemaV2}};

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

std::string ResourcesText(const std::vector<EventResource>& resources) {
  json::Value list = json::Value::MakeArray();
  for (const EventResource& r : resources) {
    json::Value e = json::Value::MakeObject();
    e.set("ResourceType", r.type);
    e.set("ResourceName", r.name);
    list.push(std::move(e));
  }
  return json::Write(list);
}

std::vector<EventResource> ParseResources(const std::string& text) {
  std::vector<EventResource> out;
  auto parsed = json::Parse(text);
  if (!parsed.ok() || !parsed->is_array()) return out;
  for (const json::Value& e : parsed->as_array()) {
    out.push_back({std::string(e.get_string("ResourceType")),
                   std::string(e.get_string("ResourceName"))});
  }
  return out;
}

// The column an attribute filters on; resource attributes filter on the
// resources table, which then drives the query.
std::string_view AttributeColumn(LookupKey key) {
  switch (key) {
    case LookupKey::kEventId: return "e.event_id";
    case LookupKey::kEventName: return "e.event_name";
    case LookupKey::kReadOnly: return "e.read_only";
    case LookupKey::kUsername: return "e.username";
    case LookupKey::kEventSource: return "e.event_source";
    case LookupKey::kAccessKeyId: return "e.access_key_id";
    case LookupKey::kResourceType: return "r.resource_type";
    case LookupKey::kResourceName: return "r.resource_name";
    case LookupKey::kNone: return "";
  }
  return "";
}

// Each lookup is an equality on (account, attribute) and a range on
// (time, event id), newest first, so that it walks one index backwards
// (see the indexes above) and stops after a page.
std::string LookupSql(const LookupQuery& q) {
  bool by_resource = q.key == LookupKey::kResourceType || q.key == LookupKey::kResourceName;
  std::string_view t = by_resource ? "r" : "e";
  std::string sql =
      "SELECT e.event_id, e.event_time, e.event_name, e.read_only, e.access_key_id, "
      "e.event_source, e.username, e.resources, e.record FROM ";
  sql += by_resource ? "audit_event_resources r JOIN audit_events e ON e.event_id = r.event_id"
                     : "audit_events e";
  std::string table(t);
  sql += " WHERE " + table + ".account_id = ?";
  if (q.key != LookupKey::kNone) sql += " AND " + std::string(AttributeColumn(q.key)) + " = ?";
  sql += " AND " + table + ".event_time >= ? AND " + table + ".event_time <= ?";
  if (q.after) sql += " AND (" + table + ".event_time, " + table + ".event_id) < (?, ?)";
  sql += " ORDER BY " + table + ".event_time DESC, " + table + ".event_id DESC LIMIT ?";
  return sql;
}

}  // namespace

Status MigrateEventStore(store::Database& db) { return db.Migrate("audit", kMigrations); }

std::optional<LookupKey> ParseLookupKey(std::string_view name) {
  for (const KeyName& k : kKeyNames) {
    if (k.name == name) return k.key;
  }
  return std::nullopt;
}

Status InsertEvents(store::Tx& tx, std::span<const Event> events, bool replace) {
  if (events.empty()) return Status::Ok();
  std::unique_ptr<store::Statement> del, del_res, res;
  if (replace) {
    // Delete and insert rather than update, so that a completed record
    // takes a new seq and log file delivery (which skips incomplete rows)
    // sees it.
    ASSIGN_OR_RETURN(del, tx.Prepare("DELETE FROM audit_events WHERE event_id = ?"));
    ASSIGN_OR_RETURN(del_res, tx.Prepare("DELETE FROM audit_event_resources WHERE event_id = ?"));
  }
  ASSIGN_OR_RETURN(auto ins, tx.Prepare(
      "INSERT INTO audit_events (event_id, account_id, region, event_time, event_name, "
      "event_source, read_only, username, access_key_id, resources, complete, record) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  for (const Event& ev : events) {
    if (replace) {
      RETURN_IF_ERROR(del->Reset());
      RETURN_IF_ERROR(del->Bind(1, ev.event_id).Run());
      RETURN_IF_ERROR(del_res->Reset());
      RETURN_IF_ERROR(del_res->Bind(1, ev.event_id).Run());
    }
    RETURN_IF_ERROR(ins->Reset());
    ins->Bind(1, ev.event_id).Bind(2, ev.account_id).Bind(3, ev.record.get_string("awsRegion"));
    ins->Bind(4, ev.time_ms).Bind(5, ev.event_name).Bind(6, ev.event_source);
    ins->Bind(7, int64_t{ev.read_only}).Bind(8, ev.username).Bind(9, ev.access_key_id);
    ins->Bind(10, ev.resources.empty() ? std::string("[]") : ResourcesText(ev.resources));
    ins->Bind(11, int64_t{ev.complete}).Bind(12, json::Write(ev.record));
    RETURN_IF_ERROR(ins->Run());
    if (ev.resources.empty()) continue;
    if (!res) {
      ASSIGN_OR_RETURN(res, tx.Prepare(
          "INSERT INTO audit_event_resources (event_id, account_id, event_time, resource_type, "
          "resource_name) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"));
    }
    for (const EventResource& r : ev.resources) {
      RETURN_IF_ERROR(res->Reset());
      res->Bind(1, ev.event_id).Bind(2, ev.account_id).Bind(3, ev.time_ms);
      res->Bind(4, r.type).Bind(5, r.name);
      RETURN_IF_ERROR(res->Run());
    }
  }
  return Status::Ok();
}

Status InsertEvent(store::Tx& tx, const Event& ev) {
  return InsertEvents(tx, std::span<const Event>(&ev, 1), /*replace=*/true);
}

Result<LookupPage> LookupEvents(store::Database& db, const LookupQuery& q) {
  std::string sql = LookupSql(q);
  LookupPage page;
  Status st = db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare(sql));
    int i = 1;  // the next parameter
    s->Bind(i++, q.account_id);
    if (q.key == LookupKey::kReadOnly) {
      s->Bind(i++, int64_t{q.value == "true"});
    } else if (q.key != LookupKey::kNone) {
      s->Bind(i++, q.value);
    }
    s->Bind(i, q.start_ms).Bind(i + 1, q.end_ms);
    i += 2;
    if (q.after) {
      s->Bind(i, q.after->first).Bind(i + 1, q.after->second);
      i += 2;
    }
    s->Bind(i++, static_cast<int64_t>(q.max_results) + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      if (static_cast<int>(page.events.size()) == q.max_results) {
        page.more = true;
        break;
      }
      page.events.push_back({s->Text(0), s->Int(1), s->Text(2), s->Int(3) != 0, s->Text(4),
                             s->Text(5), s->Text(6), ParseResources(s->Text(7)), s->Text(8)});
    }
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  return page;
}

Result<std::vector<SequencedEvent>> EventsAfter(store::Database& db, int64_t after_seq,
                                                int limit) {
  std::vector<SequencedEvent> out;
  Status st = db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare(
        "SELECT seq, account_id, region, read_only, event_source, event_time, record "
        "FROM audit_events "
        "WHERE seq > ? AND complete = 1 ORDER BY seq LIMIT ?"));
    s->Bind(1, after_seq).Bind(2, static_cast<int64_t>(limit));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back({s->Int(0), s->Text(1), s->Text(2), s->Int(3) != 0, s->Text(4), s->Int(5),
                     s->Text(6)});
    }
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  return out;
}

Status RecoverIncompleteEvents(store::Database& db) {
  return db.Write([](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT event_id FROM audit_events WHERE complete = 0"));
    std::vector<std::string> ids;
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      ids.push_back(q->Text(0));
    }
    ASSIGN_OR_RETURN(auto up, tx.Prepare(
        "UPDATE audit_events SET complete = 1, "
        "seq = (SELECT MAX(seq) FROM audit_events) + 1 WHERE event_id = ?"));
    for (const std::string& id : ids) {
      RETURN_IF_ERROR(up->Reset());
      RETURN_IF_ERROR(up->Bind(1, id).Run());
    }
    return Status::Ok();
  });
}

}  // namespace rampart::audit
