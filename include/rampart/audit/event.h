// CloudTrail event records built from the dispatcher's server::AuditRecord.
//
// BuildEvent turns one finished request into an Event: what CloudTrail's
// record holds (eventVersion 1.09: userIdentity, eventTime, eventSource,
// ..., requestParameters and responseElements) in a compact form, plus the
// columns LookupEvents filters on. RenderRecord writes the JSON record. Request and response members are converted with the service's
// AWS model: names become lowerCamelCase, timestamps ISO 8601, blobs are
// left out, and every member whose shape the model marks "sensitive" (plus
// a fixed list of secret-bearing names, whatever the model says) is
// replaced by kHiddenValue, so that no plaintext, secret key, password,
// private key or secret string ever reaches a record.
//
// Thread-safety: free functions over immutable tables; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/server/audit.h"

namespace rampart::audit {

inline constexpr std::string_view kHiddenValue = "HIDDEN_DUE_TO_SECURITY_REASONS";
inline constexpr std::string_view kEventVersion = "1.09";

// A resource an event names, as LookupEvents reports it.
struct EventResource {
  std::string type;  // e.g. AWS::IAM::User
  std::string name;  // the name or ARN the request used
};

// Who made the call, as the record's userIdentity shows it.
struct EventIdentity {
  enum class Kind : uint8_t {
    kPrincipal = 0,   // an authenticated principal (or a known key's owner)
    kUnknown = 1,     // nobody could be identified: {"type": "Unknown"}
    kAwsAccount = 2,  // a resource owner's copy: {"type": "AWSAccount"}
  };
  Kind kind = Kind::kUnknown;
  std::string type;  // CloudTrail's userIdentity.type: Root, IAMUser, AssumedRole
  std::string principal_id;
  std::string arn;
  std::string account_id;
  std::string access_key_id;
  std::string user_name;
  // sessionContext: present for role sessions and other temporary credentials.
  bool has_session = false;
  std::string role_arn;  // the role behind an AssumedRole session
  int64_t session_issued_s = 0;
  bool mfa = false;
  std::string source_identity;
};

// One event, in the compact form it is queued and stored in; the CloudTrail
// JSON record is rendered from it only when read (RenderRecord). The first
// group of members are also the columns lookups filter on.
struct Event {
  std::string event_id;
  std::string account_id;  // recipientAccountId: whose trail holds it
  int64_t time_ms = 0;     // eventTime, milliseconds since the epoch
  std::string event_name;
  std::string event_source;
  bool read_only = false;
  std::string username;  // LookupEvents' Username
  std::string access_key_id;
  std::vector<EventResource> resources;
  // False for the record written inside the request's own transaction,
  // before the response was known.
  bool complete = true;

  std::string region;  // awsRegion
  EventIdentity identity;
  std::string source_ip;
  std::string user_agent;
  bool has_error = false;
  std::string error_code;
  std::string error_message;
  // requestParameters and responseElements as JSON text, already converted
  // and redacted (ToCloudTrailElements); empty means null.
  std::string request_parameters;
  std::string response_elements;
  std::string request_id;
  std::string shared_event_id;  // cross-account calls: the id all copies share
  bool secure_transport = false;
  std::string tls_version;
  std::string tls_cipher;
  std::string host;
  // A record stored before events were kept in this form: its JSON text,
  // returned as is by RenderRecord; the members above then hold only the
  // lookup columns and the region.
  std::string stored_record;
};

// The event's CloudTrail record as JSON text.
std::string RenderRecord(const Event& event);

struct EventOptions {
  std::string_view event_id;          // a fresh UUID
  std::string_view default_region;    // when the request named none
  std::string_view fallback_account;  // recipient when nobody could be identified
};

// Event's string members, numbered for masks of members (MemberBit).
enum class EventMember : uint8_t {
  kEventId, kAccountId, kEventName, kEventSource, kUsername, kAccessKeyId, kRegion,
  kIdentityType, kIdentityPrincipalId, kIdentityArn, kIdentityAccountId,
  kIdentityAccessKeyId, kIdentityUserName, kIdentityRoleArn, kIdentitySourceIdentity,
  kSourceIp, kUserAgent, kErrorCode, kErrorMessage, kRequestParameters, kResponseElements,
  kRequestId, kSharedEventId, kTlsVersion, kTlsCipher, kHost, kStoredRecord,
};
inline constexpr size_t kEventMembers = static_cast<size_t>(EventMember::kStoredRecord) + 1;
inline constexpr uint64_t MemberBit(EventMember m) {
  return uint64_t{1} << static_cast<unsigned>(m);
}

Event BuildEvent(const server::AuditRecord& rec, const EventOptions& options);
// The same into an existing event, every member assigned: an event reused
// for many requests keeps its strings' storage and stops allocating.
// Returns the string members whose value changed (MemberBit of each), and
// only those: a member left equal to what ev held is not reassigned. So a
// caller that reuses one event for a run of alike requests learns what
// differs from the previous one without comparing again (the audit sink's
// chunk encoder writes only those).
uint64_t BuildEventInto(const server::AuditRecord& rec, const EventOptions& options, Event& ev);

// The records of a cross-account call for the accounts whose resources it
// used (rec.resource_accounts), as CloudTrail delivers them: the same
// event under a new eventID with that recipientAccountId, the caller shown
// as {"type": "AWSAccount", principalId, accountId}, and a sharedEventID
// that the caller's own record (caller_event) also gets. None when the call
// was denied: AWS records a denied cross-account call only for the caller.
std::vector<Event> ResourceOwnerCopies(const server::AuditRecord& rec, Event& caller_event);

// A fresh event id: a UUID in version 7 layout (48-bit millisecond time,
// then 74 random bits from OpenSSL's CSPRNG, buffered per thread), so that
// ids of events stored together sort together and the event-id index grows
// at its end instead of at random places. Lowercase 8-4-4-4-12 text.
std::string NewEventId(TimePoint time);
// The same into out, reusing its storage (no allocation once out has held
// an id): the audit sink's hot path. uuid, when given, receives the id's 16
// bytes (the text is their lowercase 8-4-4-4-12 form), so that the chunk
// encoder need not parse them back.
void NewEventIdInto(TimePoint time, std::string& out, uint8_t* uuid = nullptr);

// Whether CloudTrail marks the operation read-only (Get*, List*,
// Describe*, Lookup*, KMS cryptographic operations, ...).
bool IsReadOnly(std::string_view service, std::string_view operation);

// "<signing name>.amazonaws.com".
std::string EventSource(std::string_view service);
void AssignEventSource(std::string_view service, std::string& out);

// A decoded input (output when is_output) converted to CloudTrail's form
// per the operation's model, as JSON text; empty (null in the record) when
// the service or operation is unknown or nothing is left.
std::string ToCloudTrailElements(std::string_view service, std::string_view operation,
                                 const json::Value& value, bool is_output);

// "UserName" -> "userName", "KMSKeyId" -> "kmsKeyId", "ARN" -> "arn".
std::string LowerCamel(std::string_view name);

// Whether a member name always carries a secret, whatever the model says.
bool IsSecretMemberName(std::string_view name);

}  // namespace rampart::audit
