// Chunk encoding: meta entries are
//   [event_id, time_ms, account, region, event_name, event_source,
//    read_only (0/1), username, access_key_id, [[type, name], ...], record bytes]
#include "audit/event_chunk.h"

#include <algorithm>

#include "rampart/core/json.h"

namespace rampart::audit::internal {
namespace {

constexpr size_t kMetaFields = 11;

json::Value MetaEntry(const PackedEvent& ev) {
  json::Value resources = json::Value::MakeArray();
  for (const EventResource& r : ev.resources) {
    json::Value pair = json::Value::MakeArray();
    pair.push(r.type);
    pair.push(r.name);
    resources.push(std::move(pair));
  }
  json::Value e = json::Value::MakeArray();
  e.push(ev.event_id);
  e.push(ev.time_ms);
  e.push(ev.account_id);
  e.push(ev.region);
  e.push(ev.event_name);
  e.push(ev.event_source);
  e.push(int64_t{ev.read_only});
  e.push(ev.username);
  e.push(ev.access_key_id);
  e.push(std::move(resources));
  e.push(static_cast<int64_t>(ev.record.size()));
  return e;
}

Status Damaged(std::string_view what) {
  return Status::Internal("damaged audit chunk: " + std::string(what));
}

bool AllStrings(const json::Array& a, std::initializer_list<size_t> positions) {
  return std::all_of(positions.begin(), positions.end(),
                     [&](size_t i) { return a[i].is_string(); });
}

Result<std::vector<EventResource>> DecodeResources(const json::Value& v) {
  if (!v.is_array()) return Damaged("resources");
  std::vector<EventResource> out;
  for (const json::Value& pair : v.as_array()) {
    if (!pair.is_array() || pair.as_array().size() != 2 || !pair.as_array()[0].is_string() ||
        !pair.as_array()[1].is_string()) {
      return Damaged("resource");
    }
    out.push_back({pair.as_array()[0].as_string(), pair.as_array()[1].as_string()});
  }
  return out;
}

}  // namespace

std::vector<PostingKey> PostingsOf(const PackedEvent& ev) {
  std::vector<PostingKey> out = {
      {ev.account_id, Attr::kAll, ""},
      {ev.account_id, Attr::kEventName, ev.event_name},
      {ev.account_id, Attr::kReadOnly, ev.read_only ? "true" : "false"},
      {ev.account_id, Attr::kEventSource, ev.event_source},
  };
  if (!ev.username.empty()) out.push_back({ev.account_id, Attr::kUsername, ev.username});
  if (!ev.access_key_id.empty()) {
    out.push_back({ev.account_id, Attr::kAccessKeyId, ev.access_key_id});
  }
  for (const EventResource& r : ev.resources) {
    out.push_back({ev.account_id, Attr::kResourceType, r.type});
    out.push_back({ev.account_id, Attr::kResourceName, r.name});
  }
  return out;
}

bool Matches(const PackedEvent& ev, Attr attr, std::string_view value) {
  switch (attr) {
    case Attr::kAll: return true;
    case Attr::kEventName: return ev.event_name == value;
    case Attr::kReadOnly: return (ev.read_only ? "true" : "false") == value;
    case Attr::kUsername: return ev.username == value;
    case Attr::kAccessKeyId: return ev.access_key_id == value;
    case Attr::kEventSource: return ev.event_source == value;
    case Attr::kResourceType:
      return std::any_of(ev.resources.begin(), ev.resources.end(),
                         [&](const EventResource& r) { return r.type == value; });
    case Attr::kResourceName:
      return std::any_of(ev.resources.begin(), ev.resources.end(),
                         [&](const EventResource& r) { return r.name == value; });
  }
  return false;
}

EncodedChunk EncodeChunk(std::span<const PackedEvent> events) {
  EncodedChunk out;
  out.min_time = events.front().time_ms;
  out.max_time = events.front().time_ms;
  json::Value meta = json::Value::MakeArray();
  size_t bytes = 0;
  for (const PackedEvent& ev : events) bytes += ev.record.size();
  out.records.reserve(bytes);
  for (const PackedEvent& ev : events) {
    meta.push(MetaEntry(ev));
    out.records += ev.record;
    out.min_time = std::min(out.min_time, ev.time_ms);
    out.max_time = std::max(out.max_time, ev.time_ms);
  }
  out.meta = json::Write(meta);
  return out;
}

Result<std::vector<PackedEvent>> DecodeChunk(std::string_view meta, std::string_view records) {
  auto parsed = json::Parse(meta);
  if (!parsed.ok() || !parsed->is_array()) return Damaged("meta");
  std::vector<PackedEvent> out;
  out.reserve(parsed->as_array().size());
  size_t offset = 0;
  for (const json::Value& v : parsed->as_array()) {
    if (!v.is_array() || v.as_array().size() != kMetaFields) return Damaged("entry");
    const json::Array& a = v.as_array();
    if (!AllStrings(a, {0, 2, 3, 4, 5, 7, 8}) || !a[1].is_int() || !a[6].is_int() ||
        !a[10].is_int()) {
      return Damaged("entry fields");
    }
    int64_t length = a[10].as_int();
    if (length < 0 || static_cast<uint64_t>(length) > records.size() - offset) {
      return Damaged("record length");
    }
    ASSIGN_OR_RETURN(std::vector<EventResource> resources, DecodeResources(a[9]));
    PackedEvent ev;
    ev.event_id = a[0].as_string();
    ev.time_ms = a[1].as_int();
    ev.account_id = a[2].as_string();
    ev.region = a[3].as_string();
    ev.event_name = a[4].as_string();
    ev.event_source = a[5].as_string();
    ev.read_only = a[6].as_int() != 0;
    ev.username = a[7].as_string();
    ev.access_key_id = a[8].as_string();
    ev.resources = std::move(resources);
    ev.record = std::string(records.substr(offset, static_cast<size_t>(length)));
    offset += static_cast<size_t>(length);
    out.push_back(std::move(ev));
  }
  if (offset != records.size()) return Damaged("trailing records");
  return out;
}

int64_t EventIdMillis(std::string_view id) {
  // xxxxxxxx-xxxx-7xxx-...: 48 bits of milliseconds in the first 12 hex digits.
  if (id.size() != 36 || id[8] != '-' || id[13] != '-' || id[14] != '7') return -1;
  int64_t ms = 0;
  for (size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12}) {
    char c = id[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    ms = ms * 16 + d;
  }
  return ms;
}

}  // namespace rampart::audit::internal
