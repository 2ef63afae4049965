// audit_trails: storage and validation of trails.
#include <cctype>

#include "audit/trails_internal.h"
#include "rampart/audit/event_store.h"

namespace rampart::audit::internal {
namespace {

constexpr std::string_view kColumns =
    "account_id, home_region, name, bucket, prefix, include_global, multi_region, logging, "
    "event_selectors, created_at, start_logging_time, stop_logging_time, latest_delivery_time, "
    "latest_delivery_attempt, latest_delivery_error, delivered_seq, organization_id";

bool Alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

TrailRow ReadRow(const store::Statement& s) {
  TrailRow r;
  r.account_id = s.Text(0);
  r.home_region = s.Text(1);
  r.name = s.Text(2);
  r.bucket = s.Text(3);
  r.prefix = s.Text(4);
  r.include_global = s.Int(5) != 0;
  r.multi_region = s.Int(6) != 0;
  r.logging = s.Int(7) != 0;
  r.event_selectors = s.Text(8);
  r.created_at = s.Int(9);
  r.start_logging_time = s.Int(10);
  r.stop_logging_time = s.Int(11);
  r.latest_delivery_time = s.Int(12);
  r.latest_delivery_attempt = s.Int(13);
  r.latest_delivery_error = s.Text(14);
  r.delivered_seq = s.Int(15);
  r.organization_id = s.Text(16);
  return r;
}

Result<std::vector<TrailRow>> Query(store::Tx& tx, std::string_view where,
                                    std::initializer_list<std::string_view> args) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT " + std::string(kColumns) +
                                      " FROM audit_trails " + std::string(where) +
                                      " ORDER BY account_id, name"));
  int i = 1;
  for (std::string_view a : args) s->Bind(i++, a);
  std::vector<TrailRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    out.push_back(ReadRow(*s));
  }
  return out;
}

void BindRow(store::Statement& s, const TrailRow& r) {
  s.Bind(1, r.account_id).Bind(2, r.home_region).Bind(3, r.name).Bind(4, r.bucket);
  s.Bind(5, r.prefix).Bind(6, int64_t{r.include_global}).Bind(7, int64_t{r.multi_region});
  s.Bind(8, int64_t{r.logging}).Bind(9, r.event_selectors).Bind(10, r.created_at);
  s.Bind(11, r.start_logging_time).Bind(12, r.stop_logging_time);
  s.Bind(13, r.latest_delivery_time).Bind(14, r.latest_delivery_attempt);
  s.Bind(15, r.latest_delivery_error).Bind(16, r.delivered_seq).Bind(17, r.organization_id);
}

}  // namespace

std::string TrailRow::Arn() const {
  return "arn:aws:cloudtrail:" + home_region + ":" + account_id + ":trail/" + name;
}

bool ValidTrailName(std::string_view name) {
  if (name.size() < 3 || name.size() > 128) return false;
  if (!Alnum(name.front()) || !Alnum(name.back())) return false;
  bool previous_separator = false;
  for (char c : name) {
    bool separator = c == '.' || c == '_' || c == '-';
    if (!separator && !Alnum(c)) return false;
    if (separator && previous_separator) return false;
    previous_separator = separator;
  }
  return true;
}

bool ValidBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(name.front()) || !lower_alnum(name.back())) return false;
  for (char c : name) {
    if (!lower_alnum(c) && c != '.' && c != '-') return false;
  }
  return name.find("..") == std::string_view::npos;
}

bool ValidKeyPrefix(std::string_view prefix) {
  if (prefix.size() > 200 || prefix.starts_with('/')) return false;
  size_t start = 0;
  while (start <= prefix.size()) {
    size_t slash = prefix.find('/', start);
    std::string_view seg = prefix.substr(start, slash == std::string_view::npos
                                                    ? std::string_view::npos
                                                    : slash - start);
    if (seg == "." || seg == "..") return false;
    for (char c : seg) {
      if (!Alnum(c) && c != '-' && c != '_' && c != '.' && c != '!' && c != '*' && c != '\'' &&
          c != '(' && c != ')') {
        return false;
      }
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

json::Value DefaultSelectors() {
  json::Value sel = json::Value::MakeObject();
  sel.set("ReadWriteType", "All");
  sel.set("IncludeManagementEvents", true);
  sel.set("DataResources", json::Value::MakeArray());
  sel.set("ExcludeManagementEventSources", json::Value::MakeArray());
  json::Value list = json::Value::MakeArray();
  list.push(std::move(sel));
  return list;
}

bool SelectorsMatch(const TrailRow& trail, bool read_only, std::string_view event_source) {
  if (trail.event_selectors.empty()) return true;
  auto parsed = json::Parse(trail.event_selectors);
  if (!parsed.ok() || !parsed->is_array()) return true;
  for (const json::Value& sel : parsed->as_array()) {
    const json::Value* include = sel.find("IncludeManagementEvents");
    if (include != nullptr && include->is_bool() && !include->as_bool()) continue;
    std::string_view rw = sel.get_string("ReadWriteType");
    if (rw == "ReadOnly" && !read_only) continue;
    if (rw == "WriteOnly" && read_only) continue;
    bool excluded = false;
    if (const json::Value* ex = sel.find("ExcludeManagementEventSources");
        ex != nullptr && ex->is_array()) {
      for (const json::Value& s : ex->as_array()) {
        excluded = excluded || (s.is_string() && s.as_string() == event_source);
      }
    }
    if (!excluded) return true;
  }
  return false;
}

Result<std::optional<TrailRow>> LoadTrail(store::Tx& tx, std::string_view account,
                                          std::string_view region, std::string_view name) {
  ASSIGN_OR_RETURN(auto rows,
                   Query(tx, "WHERE account_id = ? AND name = ?", {account, name}));
  if (rows.empty()) return std::optional<TrailRow>();
  // A single-region trail is only visible in its home region.
  if (!rows[0].multi_region && rows[0].home_region != region) return std::optional<TrailRow>();
  return std::optional<TrailRow>(std::move(rows[0]));
}

Result<std::vector<TrailRow>> LoadTrails(store::Tx& tx, std::string_view account,
                                         std::string_view region) {
  return Query(tx, "WHERE account_id = ? AND (home_region = ? OR multi_region = 1)",
               {account, region});
}

Result<std::vector<TrailRow>> LoadOrganizationTrails(store::Tx& tx, std::string_view org_id,
                                                     std::string_view region) {
  if (org_id.empty()) return std::vector<TrailRow>();
  return Query(tx, "WHERE organization_id = ? AND (home_region = ? OR multi_region = 1)",
               {org_id, region});
}

Result<std::vector<TrailRow>> LoadTrailsToDeliver(store::Tx& tx) {
  return Query(tx,
               "WHERE logging = 1 OR (stop_logging_time > 0 AND "
               "stop_logging_time >= latest_delivery_attempt)",
               {});
}

Result<bool> TrailNameTaken(store::Tx& tx, std::string_view account, std::string_view name) {
  ASSIGN_OR_RETURN(auto rows, Query(tx, "WHERE account_id = ? AND name = ?", {account, name}));
  return !rows.empty();
}

Status InsertTrail(store::Tx& tx, const TrailRow& row) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare("INSERT INTO audit_trails (" + std::string(kColumns) +
                                      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  BindRow(*s, row);
  return s->Run();
}

Status UpdateTrailRow(store::Tx& tx, const TrailRow& row) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare(
      "UPDATE audit_trails SET account_id = ?, home_region = ?, name = ?, bucket = ?, "
      "prefix = ?, include_global = ?, multi_region = ?, logging = ?, event_selectors = ?, "
      "created_at = ?, start_logging_time = ?, stop_logging_time = ?, "
      "latest_delivery_time = ?, latest_delivery_attempt = ?, latest_delivery_error = ?, "
      "delivered_seq = ?, organization_id = ? WHERE account_id = ? AND name = ?"));
  BindRow(*s, row);
  s->Bind(18, row.account_id).Bind(19, row.name);
  return s->Run();
}

Status DeleteTrailRow(store::Tx& tx, const TrailRow& row) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare("DELETE FROM audit_trails WHERE account_id = ? AND name = ?"));
  return s->Bind(1, row.account_id).Bind(2, row.name).Run();
}

Result<int64_t> MaxEventSeq(store::Tx& tx) { return audit::MaxEventSeq(tx); }

}  // namespace rampart::audit::internal
