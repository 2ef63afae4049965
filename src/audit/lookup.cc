// CloudTrail LookupEvents: one lookup attribute, a time range, newest
// first, MaxResults 1-50 with an opaque NextToken.
#include "audit/lookup.h"

#include <chrono>
#include <cmath>

#include "rampart/audit/event_store.h"
#include "rampart/core/encoding.h"

namespace rampart::audit {
namespace {

constexpr int kDefaultMaxResults = 50;
constexpr size_t kMaxTokenBytes = 4096;

Status InvalidAttributes(std::string message) {
  return Status::Modeled("InvalidLookupAttributesException", std::move(message));
}

Status InvalidToken() {
  return Status::Modeled("InvalidNextTokenException", "The NextToken is invalid.");
}

int64_t MillisFromSeconds(const json::Value& v) {
  return static_cast<int64_t>(std::floor(v.as_double() * 1000.0));
}

Status ParseAttributes(const json::Value& in, LookupQuery& q) {
  const json::Value* attrs = in.find("LookupAttributes");
  if (attrs == nullptr || !attrs->is_array() || attrs->as_array().empty()) return Status::Ok();
  if (attrs->as_array().size() > 1) {
    return InvalidAttributes("Only one lookup attribute may be specified.");
  }
  const json::Value& attr = attrs->as_array().front();
  auto key = ParseLookupKey(attr.get_string("AttributeKey"));
  if (!key) return InvalidAttributes("The lookup attribute key is not supported.");
  q.key = *key;
  q.value = std::string(attr.get_string("AttributeValue"));
  if (q.key == LookupKey::kReadOnly && q.value != "true" && q.value != "false") {
    return InvalidAttributes("The ReadOnly attribute value must be true or false.");
  }
  return Status::Ok();
}

Status ParseTimes(const json::Value& in, LookupQuery& q) {
  const json::Value* start = in.find("StartTime");
  const json::Value* end = in.find("EndTime");
  if (start != nullptr && start->is_number()) q.start_ms = MillisFromSeconds(*start);
  if (end != nullptr && end->is_number()) q.end_ms = MillisFromSeconds(*end);
  if (q.start_ms > q.end_ms) {
    return Status::Modeled("InvalidTimeRangeException",
                           "The start time of the lookup must not be after its end time.");
  }
  return Status::Ok();
}

}  // namespace

std::string EncodeLookupToken(const LookupQuery& q, int64_t time_ms, std::string_view event_id) {
  json::Value t = json::Value::MakeObject();
  t.set("t", time_ms);
  t.set("id", event_id);
  t.set("k", static_cast<int64_t>(q.key));
  t.set("v", q.value);
  return Base64Encode(json::Write(t));
}

Status DecodeLookupToken(std::string_view token, LookupQuery& q) {
  if (token.size() > kMaxTokenBytes) return InvalidToken();
  auto raw = Base64Decode(token);
  if (!raw) return InvalidToken();
  auto parsed = json::Parse(*raw, {.max_depth = 2, .max_bytes = kMaxTokenBytes});
  if (!parsed.ok() || !parsed->is_object()) return InvalidToken();
  const json::Value* t = parsed->find("t");
  const json::Value* k = parsed->find("k");
  const json::Value* id = parsed->find("id");
  if (t == nullptr || !t->is_int() || k == nullptr || !k->is_int() || id == nullptr ||
      !id->is_string()) {
    return InvalidToken();
  }
  // A token only continues the lookup that issued it.
  if (k->as_int() != static_cast<int64_t>(q.key) || parsed->get_string("v") != q.value) {
    return InvalidToken();
  }
  q.after = std::make_pair(t->as_int(), id->as_string());
  return Status::Ok();
}

Result<LookupQuery> ParseLookupInput(const json::Value& in, std::string_view account_id) {
  LookupQuery q;
  q.account_id = std::string(account_id);
  q.max_results = kDefaultMaxResults;
  RETURN_IF_ERROR(ParseAttributes(in, q));
  RETURN_IF_ERROR(ParseTimes(in, q));
  if (const json::Value* max = in.find("MaxResults"); max != nullptr && max->is_int()) {
    if (max->as_int() < 1 || max->as_int() > 50) {
      return Status::Modeled("InvalidMaxResultsException",
                             "MaxResults must be between 1 and 50.");
    }
    q.max_results = static_cast<int>(max->as_int());
  }
  std::string_view token = in.get_string("NextToken");
  if (!token.empty()) RETURN_IF_ERROR(DecodeLookupToken(token, q));
  return q;
}

json::Value LookupOutput(const LookupQuery& q, const LookupPage& page) {
  json::Value events = json::Value::MakeArray();
  for (const StoredEvent& e : page.events) {
    json::Value ev = json::Value::MakeObject();
    ev.set("EventId", e.event_id);
    ev.set("EventName", e.event_name);
    ev.set("ReadOnly", e.read_only ? "true" : "false");
    if (!e.access_key_id.empty()) ev.set("AccessKeyId", e.access_key_id);
    ev.set("EventTime", static_cast<double>(e.time_ms) / 1000.0);
    ev.set("EventSource", e.event_source);
    if (!e.username.empty()) ev.set("Username", e.username);
    json::Value resources = json::Value::MakeArray();
    for (const EventResource& r : e.resources) {
      json::Value res = json::Value::MakeObject();
      res.set("ResourceType", r.type);
      res.set("ResourceName", r.name);
      resources.push(std::move(res));
    }
    ev.set("Resources", std::move(resources));
    ev.set("CloudTrailEvent", e.record);
    events.push(std::move(ev));
  }
  json::Value out = json::Value::MakeObject();
  out.set("Events", std::move(events));
  if (page.more && !page.events.empty()) {
    out.set("NextToken", EncodeLookupToken(q, page.events.back().time_ms,
                                           page.events.back().event_id));
  }
  return out;
}

Result<json::Value> HandleLookupEvents(store::Database& db, server::RequestContext& ctx,
                                       const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("cloudtrail:LookupEvents", "*"));
  ASSIGN_OR_RETURN(LookupQuery q, ParseLookupInput(in, ctx.principal().account_id));
  // Rampart records management events only; there are no Insights events.
  if (in.get_string("EventCategory") == "insight") {
    json::Value out = json::Value::MakeObject();
    out.set("Events", json::Value::MakeArray());
    return out;
  }
  ASSIGN_OR_RETURN(LookupPage page, LookupEvents(db, q));
  return LookupOutput(q, page);
}

}  // namespace rampart::audit
