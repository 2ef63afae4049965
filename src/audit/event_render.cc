// RenderRecord: an Event's CloudTrail record as JSON text, written straight
// from the compact form (no JSON tree). Member order follows CloudTrail's
// records; field meanings follow its record contents reference
// (userIdentity, sessionContext, tlsDetails).
#include <algorithm>
#include <chrono>

#include "rampart/audit/event.h"
#include "rampart/core/clock.h"

namespace rampart::audit {
namespace {

// Appends members of one JSON object, handling the commas.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  void Close() { out_ += '}'; }

  void String(std::string_view key, std::string_view value) {
    Key(key);
    json::WriteString(value, out_);
  }
  void Bool(std::string_view key, bool value) {
    Key(key);
    out_ += value ? "true" : "false";
  }
  // A member whose value is JSON text already (empty: null).
  void Raw(std::string_view key, std::string_view json_text) {
    Key(key);
    out_ += json_text.empty() ? std::string_view("null") : json_text;
  }
  // Starts a member whose value the caller writes next.
  std::string& Open(std::string_view key) {
    Key(key);
    return out_;
  }

 private:
  void Key(std::string_view key) {
    if (!first_) out_ += ',';
    first_ = false;
    json::WriteString(key, out_);
    out_ += ':';
  }

  std::string& out_;
  bool first_ = true;
};

std::string_view AfterLast(std::string_view s, char c) {
  size_t pos = s.rfind(c);
  return pos == std::string_view::npos ? s : s.substr(pos + 1);
}

// Times are clamped to the clock's range so that no stored value overflows
// it (events built from requests are always inside).
// The clock's limit (year 2262): later times would overflow its nanoseconds.
constexpr int64_t kMaxMs =
    std::chrono::duration_cast<std::chrono::milliseconds>(TimePoint::max().time_since_epoch())
        .count();

std::string IsoFromMillis(int64_t ms) {
  return FormatIso8601(TimePoint(std::chrono::milliseconds(std::clamp<int64_t>(ms, 0, kMaxMs))));
}

std::string IsoFromSeconds(int64_t s) {
  return IsoFromMillis(std::clamp<int64_t>(s, 0, kMaxMs / 1000) * 1000);
}

void WriteSessionContext(const EventIdentity& id, std::string& out) {
  ObjectWriter ctx(out);
  {
    ObjectWriter issuer(ctx.Open("sessionIssuer"));
    if (id.type == "AssumedRole") {
      std::string_view principal = id.principal_id;
      issuer.String("type", "Role");
      issuer.String("principalId", principal.substr(0, principal.find(':')));
      issuer.String("arn", id.role_arn);
      issuer.String("accountId", id.account_id);
      issuer.String("userName", AfterLast(id.role_arn, '/'));
    }
    issuer.Close();
  }
  {
    ObjectWriter attributes(ctx.Open("attributes"));
    attributes.String("creationDate", IsoFromSeconds(id.session_issued_s));
    attributes.String("mfaAuthenticated", id.mfa ? "true" : "false");
    attributes.Close();
  }
  if (!id.source_identity.empty()) ctx.String("sourceIdentity", id.source_identity);
  ctx.Close();
}

void WriteIdentity(const EventIdentity& id, std::string& out) {
  ObjectWriter w(out);
  switch (id.kind) {
    case EventIdentity::Kind::kUnknown:
      w.String("type", "Unknown");
      if (!id.access_key_id.empty()) w.String("accessKeyId", id.access_key_id);
      break;
    case EventIdentity::Kind::kAwsAccount:
      w.String("type", "AWSAccount");
      w.String("principalId", id.principal_id);
      w.String("accountId", id.account_id);
      break;
    case EventIdentity::Kind::kPrincipal:
      w.String("type", id.type);
      w.String("principalId", id.principal_id);
      if (id.type == "WebIdentityUser") {
        // AssumeRoleWithWebIdentity's caller: the token's subject and its
        // identity provider (the dispatcher keeps the provider ARN in arn).
        w.String("userName", id.user_name);
        w.String("identityProvider", id.arn);
        break;
      }
      w.String("arn", id.arn);
      w.String("accountId", id.account_id);
      if (!id.access_key_id.empty()) w.String("accessKeyId", id.access_key_id);
      if (id.type == "IAMUser") w.String("userName", id.user_name);
      if (id.has_session) WriteSessionContext(id, w.Open("sessionContext"));
      break;
  }
  w.Close();
}

// The record's own "resources" element lists the ARNs among the resources.
void WriteResources(const Event& ev, ObjectWriter& record) {
  bool any = false;
  for (const EventResource& r : ev.resources) any = any || r.name.starts_with("arn:");
  if (!any) return;
  std::string& out = record.Open("resources");
  out += '[';
  bool first = true;
  for (const EventResource& r : ev.resources) {
    if (!r.name.starts_with("arn:")) continue;
    if (!first) out += ',';
    first = false;
    ObjectWriter e(out);
    e.String("accountId", ev.account_id);
    e.String("type", r.type);
    e.String("ARN", r.name);
    e.Close();
  }
  out += ']';
}

void WriteTlsDetails(const Event& ev, std::string& out) {
  ObjectWriter tls(out);
  if (!ev.tls_version.empty()) tls.String("tlsVersion", ev.tls_version);
  if (!ev.tls_cipher.empty()) tls.String("cipherSuite", ev.tls_cipher);
  if (!ev.host.empty()) tls.String("clientProvidedHostHeader", ev.host);
  tls.Close();
}

}  // namespace

std::string RenderRecord(const Event& ev) {
  if (!ev.stored_record.empty()) return ev.stored_record;
  std::string out;
  out.reserve(768 + ev.request_parameters.size() + ev.response_elements.size());
  ObjectWriter r(out);
  r.String("eventVersion", kEventVersion);
  WriteIdentity(ev.identity, r.Open("userIdentity"));
  r.String("eventTime", IsoFromMillis(ev.time_ms));
  r.String("eventSource", ev.event_source);
  r.String("eventName", ev.event_name);
  r.String("awsRegion", ev.region);
  r.String("sourceIPAddress", ev.source_ip);
  r.String("userAgent", ev.user_agent);
  if (ev.has_error) {
    r.String("errorCode", ev.error_code);
    r.String("errorMessage", ev.error_message);
  }
  r.Raw("requestParameters", ev.request_parameters);
  r.Raw("responseElements", ev.response_elements);
  r.String("requestID", ev.request_id);
  r.String("eventID", ev.event_id);
  r.Bool("readOnly", ev.read_only);
  WriteResources(ev, r);
  r.String("eventType", "AwsApiCall");
  r.Bool("managementEvent", true);
  r.String("recipientAccountId", ev.account_id);
  if (!ev.shared_event_id.empty()) r.String("sharedEventID", ev.shared_event_id);
  r.String("eventCategory", "Management");
  if (ev.secure_transport) WriteTlsDetails(ev, r.Open("tlsDetails"));
  r.Close();
  return out;
}

}  // namespace rampart::audit
