// BuildEvent: one CloudTrail record per finished request. Field meanings
// follow CloudTrail's record contents reference (userIdentity element,
// sessionContext, tlsDetails).
#include <array>
#include <chrono>

#include "rampart/audit/event.h"
#include "rampart/core/clock.h"
#include "rampart/core/error_table.h"
#include "rampart/core/ids.h"
#include "rampart/protocol/model.h"
#include "rampart/protocol/protocol.h"

namespace rampart::audit {
namespace {

constexpr std::array<std::string_view, 8> kReadOnlyPrefixes = {
    "Get", "List", "Describe", "Lookup", "Head", "Search", "Simulate", "Validate"};

// KMS cryptographic operations change nothing; CloudTrail marks them read-only.
constexpr std::array<std::string_view, 13> kKmsReadOnly = {
    "Encrypt",         "Decrypt",        "ReEncrypt",   "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",   "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom", "Sign",
    "Verify",          "GenerateMac",    "VerifyMac",   "DeriveSharedSecret"};

// Top-level input members that name a resource, per CloudTrail's
// resource types for LookupEvents.
struct ResourceMember {
  std::string_view service;
  std::string_view member;
  std::string_view type;
};
constexpr std::array<ResourceMember, 14> kResourceMembers = {{
    {"iam", "UserName", "AWS::IAM::User"},
    {"iam", "RoleName", "AWS::IAM::Role"},
    {"iam", "GroupName", "AWS::IAM::Group"},
    {"iam", "PolicyArn", "AWS::IAM::Policy"},
    {"iam", "AccessKeyId", "AWS::IAM::AccessKey"},
    {"iam", "InstanceProfileName", "AWS::IAM::InstanceProfile"},
    {"iam", "SerialNumber", "AWS::IAM::MFADevice"},
    {"sts", "RoleArn", "AWS::IAM::Role"},
    {"kms", "KeyId", "AWS::KMS::Key"},
    {"kms", "AliasName", "AWS::KMS::Alias"},
    {"kms", "TargetKeyId", "AWS::KMS::Key"},
    {"cloudtrail", "Name", "AWS::CloudTrail::Trail"},
    {"cloudtrail", "TrailName", "AWS::CloudTrail::Trail"},
    {"organizations", "AccountId", "AWS::Organizations::Account"},
}};

// Resources created by the call, found in its output.
struct ResourceOutput {
  std::string_view service;
  std::string_view object;
  std::string_view member;
  std::string_view type;
};
constexpr std::array<ResourceOutput, 5> kResourceOutputs = {{
    {"iam", "AccessKey", "AccessKeyId", "AWS::IAM::AccessKey"},
    {"iam", "User", "UserName", "AWS::IAM::User"},
    {"iam", "Role", "RoleName", "AWS::IAM::Role"},
    {"iam", "Policy", "Arn", "AWS::IAM::Policy"},
    {"kms", "KeyMetadata", "Arn", "AWS::KMS::Key"},
}};

int64_t Millis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string IsoFromSeconds(int64_t seconds) {
  return FormatIso8601(TimePoint(std::chrono::seconds(seconds)));
}

std::string_view AfterLast(std::string_view s, char c) {
  size_t pos = s.rfind(c);
  return pos == std::string_view::npos ? s : s.substr(pos + 1);
}

json::Value SessionContext(const server::Principal& p) {
  json::Value ctx = json::Value::MakeObject();
  json::Value issuer = json::Value::MakeObject();
  if (p.type == "AssumedRole") {
    std::string_view id = p.principal_id;
    issuer.set("type", "Role");
    issuer.set("principalId", id.substr(0, id.find(':')));
    issuer.set("arn", p.role_arn);
    issuer.set("accountId", p.account_id);
    issuer.set("userName", AfterLast(p.role_arn, '/'));
  }
  ctx.set("sessionIssuer", std::move(issuer));
  json::Value attributes = json::Value::MakeObject();
  attributes.set("creationDate", IsoFromSeconds(p.token_issued_at));
  attributes.set("mfaAuthenticated", p.mfa_present ? "true" : "false");
  ctx.set("attributes", std::move(attributes));
  if (!p.source_identity.empty()) ctx.set("sourceIdentity", p.source_identity);
  return ctx;
}

json::Value UserIdentity(const server::Principal& p) {
  json::Value id = json::Value::MakeObject();
  id.set("type", p.type);
  id.set("principalId", p.principal_id);
  id.set("arn", p.arn);
  id.set("accountId", p.account_id);
  if (!p.access_key_id.empty()) id.set("accessKeyId", p.access_key_id);
  if (p.type == "IAMUser") id.set("userName", p.user_name);
  if (p.type == "AssumedRole" || p.token_issued_at != 0) id.set("sessionContext", SessionContext(p));
  return id;
}

// The identity CloudTrail records when nobody could be identified.
json::Value UnknownIdentity(std::string_view access_key_id) {
  json::Value id = json::Value::MakeObject();
  id.set("type", "Unknown");
  if (!access_key_id.empty()) id.set("accessKeyId", access_key_id);
  return id;
}

// LookupEvents' Username: the user name, "root", or the role session name.
std::string LookupUsername(const server::Principal& p) {
  if (p.type == "Root") return "root";
  if (p.type == "AssumedRole") return std::string(AfterLast(p.arn, '/'));
  return p.user_name;
}

std::string ErrorCodeText(std::string_view service, const Status& st) {
  if (st.code() == ErrorCode::kServiceModeled) return st.modeled();
  const WireError& wire = WireErrorFor(st.code());
  const protocol::ServiceModel* svc = protocol::FindService(service);
  bool query = svc != nullptr && protocol::ServiceProtocol(*svc) == protocol::Protocol::kQuery;
  return std::string(query ? wire.query_code : wire.json_code);
}

void AddError(json::Value& rec, std::string_view service, const Status& st) {
  rec.set("errorCode", ErrorCodeText(service, st));
  // Internal errors never reveal details, in records as on the wire.
  rec.set("errorMessage",
          st.code() == ErrorCode::kInternal ? std::string("An internal error occurred.")
                                            : st.message());
}

void CollectResources(const server::AuditRecord& rec, std::vector<EventResource>& out) {
  if (rec.input != nullptr && rec.input->is_object()) {
    for (const ResourceMember& r : kResourceMembers) {
      if (r.service != rec.service) continue;
      std::string_view name = rec.input->get_string(r.member);
      if (!name.empty()) out.push_back({std::string(r.type), std::string(name)});
    }
  }
  if (rec.output != nullptr && rec.output->is_object()) {
    for (const ResourceOutput& r : kResourceOutputs) {
      if (r.service != rec.service) continue;
      const json::Value* object = rec.output->find(r.object);
      std::string_view name = object ? object->get_string(r.member) : std::string_view();
      bool seen = false;
      for (const EventResource& e : out) seen = seen || (e.type == r.type && e.name == name);
      if (!name.empty() && !seen) out.push_back({std::string(r.type), std::string(name)});
    }
  }
}

// The record's own "resources" element lists the ARNs among them.
json::Value ResourcesElement(const std::vector<EventResource>& resources,
                             std::string_view account_id) {
  json::Value list = json::Value::MakeArray();
  for (const EventResource& r : resources) {
    if (r.name.rfind("arn:", 0) != 0) continue;
    json::Value e = json::Value::MakeObject();
    e.set("accountId", account_id);
    e.set("type", r.type);
    e.set("ARN", r.name);
    list.push(std::move(e));
  }
  return list;
}

json::Value TlsDetails(const server::AuditRecord& rec) {
  json::Value tls = json::Value::MakeObject();
  if (!rec.tls_version.empty()) tls.set("tlsVersion", rec.tls_version);
  if (!rec.tls_cipher.empty()) tls.set("cipherSuite", rec.tls_cipher);
  if (!rec.host.empty()) tls.set("clientProvidedHostHeader", rec.host);
  return tls;
}

}  // namespace

std::vector<Event> ResourceOwnerCopies(const server::AuditRecord& rec, Event& caller_event) {
  std::vector<Event> copies;
  bool denied = rec.error != nullptr && rec.error->code() == ErrorCode::kAccessDenied;
  if (rec.principal == nullptr || rec.resource_accounts.empty() || denied) return copies;
  std::string shared_id = ids::RequestId();
  caller_event.record.set("sharedEventID", shared_id);
  for (const std::string& owner : rec.resource_accounts) {
    Event copy = caller_event;
    copy.event_id = NewEventId(rec.time);
    copy.account_id = owner;
    copy.username.clear();
    copy.access_key_id.clear();
    json::Value identity = json::Value::MakeObject();
    identity.set("type", "AWSAccount");
    identity.set("principalId", rec.principal->principal_id);
    identity.set("accountId", rec.principal->account_id);
    copy.record.set("userIdentity", std::move(identity));
    copy.record.set("eventID", copy.event_id);
    copy.record.set("recipientAccountId", owner);
    copies.push_back(std::move(copy));
  }
  return copies;
}

std::string NewEventId(TimePoint time) {
  std::string id = ids::RequestId();  // 8-4-4-4-12 random hex
  uint64_t ms = static_cast<uint64_t>(Millis(time)) & 0xFFFFFFFFFFFFull;
  static constexpr char kHex[] = "0123456789abcdef";
  // Positions of the 12 time digits: 0-7 and 9-12; then the version nibble.
  static constexpr std::array<int, 12> kPos = {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12};
  for (int i = 11; i >= 0; --i) {
    id[kPos[i]] = kHex[ms & 0xF];
    ms >>= 4;
  }
  id[14] = '7';
  return id;
}

bool IsReadOnly(std::string_view service, std::string_view operation) {
  for (std::string_view prefix : kReadOnlyPrefixes) {
    if (operation.starts_with(prefix)) return true;
  }
  if (service == "kms") {
    for (std::string_view op : kKmsReadOnly) {
      if (operation == op) return true;
    }
  }
  return false;
}

std::string EventSource(std::string_view service) {
  return std::string(service.empty() ? std::string_view("unknown") : service) + ".amazonaws.com";
}

Event BuildEvent(const server::AuditRecord& rec, const EventOptions& options) {
  Event ev;
  const server::Principal* who = rec.principal ? rec.principal : rec.key_owner;
  ev.event_id = std::string(options.event_id);
  ev.account_id = std::string(who ? std::string_view(who->account_id) : options.fallback_account);
  ev.time_ms = Millis(rec.time);
  ev.event_name = std::string(rec.operation);
  ev.event_source = EventSource(rec.service);
  ev.read_only = IsReadOnly(rec.service, rec.operation);
  ev.username = who ? LookupUsername(*who) : std::string();
  ev.access_key_id = std::string(who ? std::string_view(who->access_key_id) : rec.access_key_id);
  CollectResources(rec, ev.resources);

  json::Value r = json::Value::MakeObject();
  r.set("eventVersion", kEventVersion);
  r.set("userIdentity", who ? UserIdentity(*who) : UnknownIdentity(rec.access_key_id));
  r.set("eventTime", FormatIso8601(rec.time));
  r.set("eventSource", ev.event_source);
  r.set("eventName", ev.event_name);
  r.set("awsRegion", rec.region.empty() ? options.default_region : rec.region);
  r.set("sourceIPAddress", rec.source_ip);
  r.set("userAgent", rec.user_agent);
  if (rec.error != nullptr) AddError(r, rec.service, *rec.error);
  r.set("requestParameters", rec.input ? ToCloudTrailElements(rec.service, rec.operation,
                                                              *rec.input, false)
                                       : json::Value());
  r.set("responseElements", rec.output ? ToCloudTrailElements(rec.service, rec.operation,
                                                              *rec.output, true)
                                       : json::Value());
  r.set("requestID", rec.request_id);
  r.set("eventID", ev.event_id);
  r.set("readOnly", ev.read_only);
  json::Value resources = ResourcesElement(ev.resources, ev.account_id);
  if (!resources.as_array().empty()) r.set("resources", std::move(resources));
  r.set("eventType", "AwsApiCall");
  r.set("managementEvent", true);
  r.set("recipientAccountId", ev.account_id);
  r.set("eventCategory", "Management");
  if (rec.secure_transport) r.set("tlsDetails", TlsDetails(rec));
  ev.record = std::move(r);
  return ev;
}

}  // namespace rampart::audit
