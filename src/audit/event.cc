// BuildEvent: one CloudTrail record per finished request. Field meanings
// follow CloudTrail's record contents reference (userIdentity element,
// sessionContext, tlsDetails).
#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <random>

#include "rampart/audit/event.h"
#include "rampart/core/clock.h"
#include "rampart/core/error_table.h"
#include "rampart/core/ids.h"
#include "rampart/crypto/random.h"
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

// The random part of an event id: 74 bits (RFC 9562's version 7 layout
// leaves 74 of the 128 to choose), drawn from 10 bytes.
constexpr size_t kEventIdRandomBytes = 10;

// The kernel's randomness through std::random_device: only when the DRBG
// fails (it never silently returns weak output), rather than drop a record.
void KernelRandom(uint8_t* out, size_t n) {
  std::random_device kernel;
  for (size_t i = 0; i < n; i += sizeof(uint32_t)) {
    uint32_t v = kernel();
    std::memcpy(out + i, &v, std::min(sizeof v, n - i));
  }
}

// Event ids come from OpenSSL's CSPRNG through crypto's per-thread buffer
// of public random bytes (one DRBG call per few hundred ids; each byte
// used once, and never by both sides of a fork). So ids are as
// unpredictable as the DRBG's output and, with 74 random bits beside the
// millisecond, unique in practice (two ids of one millisecond collide with
// probability 2^-74).
void TakeEventIdRandom(uint8_t out[kEventIdRandomBytes]) {
  static_assert(kEventIdRandomBytes <= crypto::kMaxBufferedPublic);
  if (!crypto::FillPublicRandom(out, kEventIdRandomBytes)) KernelRandom(out, kEventIdRandomBytes);
}

std::string_view AfterLast(std::string_view s, char c) {
  size_t pos = s.rfind(c);
  return pos == std::string_view::npos ? s : s.substr(pos + 1);
}

// Sets an event's string members, each only when its value differs, and
// keeps the mask of those that did (BuildEventInto's result). Assigning
// rather than constructing keeps the strings' storage.
class MemberSetter {
 public:
  // Inlined: most members are short or empty, and comparing them costs
  // less than a call.
  [[gnu::always_inline]] void Set(std::string& member, std::string_view value, EventMember m) {
    if (member.size() == value.size() &&
        (value.empty() || std::memcmp(member.data(), value.data(), value.size()) == 0)) {
      return;
    }
    member.assign(value);
    changed_ |= MemberBit(m);
  }
  void Move(std::string& member, std::string&& value, EventMember m) {
    if (member == value) return;
    member = std::move(value);
    changed_ |= MemberBit(m);
  }
  // "<service>.amazonaws.com" (AssignEventSource) without building it
  // when the member already holds it.
  void SetEventSource(std::string& member, std::string_view service) {
    std::string_view name = service.empty() ? std::string_view("unknown") : service;
    constexpr std::string_view kSuffix = ".amazonaws.com";
    std::string_view now = member;
    if (now.size() == name.size() + kSuffix.size() && now.starts_with(name) &&
        now.ends_with(kSuffix)) {
      return;
    }
    AssignEventSource(service, member);
    changed_ |= MemberBit(EventMember::kEventSource);
  }
  uint64_t changed() const { return changed_; }

 private:
  uint64_t changed_ = 0;
};

void AssignIdentity(const server::Principal& p, EventIdentity& id, MemberSetter& set) {
  id.kind = EventIdentity::Kind::kPrincipal;
  set.Set(id.type, p.type, EventMember::kIdentityType);
  set.Set(id.principal_id, p.principal_id, EventMember::kIdentityPrincipalId);
  set.Set(id.arn, p.arn, EventMember::kIdentityArn);
  set.Set(id.account_id, p.account_id, EventMember::kIdentityAccountId);
  set.Set(id.access_key_id, p.access_key_id, EventMember::kIdentityAccessKeyId);
  // A web identity user's user_name is the token's subject (CloudTrail's
  // userName for WebIdentityUser).
  const bool named = p.type == "IAMUser" || p.type == "WebIdentityUser";
  set.Set(id.user_name, named ? std::string_view(p.user_name) : std::string_view(),
          EventMember::kIdentityUserName);
  id.has_session = p.type == "AssumedRole" || p.token_issued_at != 0;
  set.Set(id.role_arn, p.type == "AssumedRole" ? std::string_view(p.role_arn) : std::string_view(),
          EventMember::kIdentityRoleArn);
  id.session_issued_s = p.token_issued_at;
  id.mfa = p.mfa_present;
  set.Set(id.source_identity, p.source_identity, EventMember::kIdentitySourceIdentity);
}

void AssignUnknownIdentity(std::string_view access_key_id, EventIdentity& id, MemberSetter& set) {
  id.kind = EventIdentity::Kind::kUnknown;
  set.Set(id.type, "Unknown", EventMember::kIdentityType);
  set.Set(id.principal_id, {}, EventMember::kIdentityPrincipalId);
  set.Set(id.arn, {}, EventMember::kIdentityArn);
  set.Set(id.account_id, {}, EventMember::kIdentityAccountId);
  set.Set(id.access_key_id, access_key_id, EventMember::kIdentityAccessKeyId);
  set.Set(id.user_name, {}, EventMember::kIdentityUserName);
  id.has_session = false;
  set.Set(id.role_arn, {}, EventMember::kIdentityRoleArn);
  id.session_issued_s = 0;
  id.mfa = false;
  set.Set(id.source_identity, {}, EventMember::kIdentitySourceIdentity);
}

// LookupEvents' Username: the user name, "root", or the role session name.
std::string_view LookupUsername(const server::Principal& p) {
  if (p.type == "Root") return "root";
  if (p.type == "AssumedRole") return AfterLast(p.arn, '/');
  return p.user_name;
}

std::string ErrorCodeText(std::string_view service, const Status& st) {
  if (st.code() == ErrorCode::kServiceModeled) return st.modeled();
  const WireError& wire = WireErrorFor(st.code());
  const protocol::ServiceModel* svc = protocol::FindService(service);
  bool query = svc != nullptr && protocol::ServiceProtocol(*svc) == protocol::Protocol::kQuery;
  return std::string(query ? wire.query_code : wire.json_code);
}

void AssignError(Event& ev, std::string_view service, const Status* st, MemberSetter& set) {
  ev.has_error = st != nullptr;
  if (st == nullptr) {
    set.Set(ev.error_code, {}, EventMember::kErrorCode);
    set.Set(ev.error_message, {}, EventMember::kErrorMessage);
    return;
  }
  set.Move(ev.error_code, ErrorCodeText(service, *st), EventMember::kErrorCode);
  // Internal errors never reveal details, in records as on the wire.
  set.Set(ev.error_message,
          st->code() == ErrorCode::kInternal ? std::string_view("An internal error occurred.")
                                             : std::string_view(st->message()),
          EventMember::kErrorMessage);
}

// CloudTrail's records carry responseElements only for calls that change
// something (its record contents reference): a Get, List or KMS
// cryptographic call has null there. STS's temporary-credential calls,
// read-only by name, do record what they issued.
bool RecordsResponse(std::string_view service, std::string_view operation, bool read_only) {
  if (!read_only) return true;
  return service == "sts" && (operation == "GetSessionToken" || operation == "GetFederationToken");
}

// requestParameters / responseElements as JSON text; empty for null.
std::string ElementsText(const server::AuditRecord& rec, const json::Value* value,
                         bool is_output) {
  if (value == nullptr) return {};
  return ToCloudTrailElements(rec.service, rec.operation, *value, is_output);
}

void CollectResources(const server::AuditRecord& rec, std::vector<EventResource>& out) {
  if (rec.input != nullptr && rec.input->is_object() && !rec.input->as_object().empty()) {
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

}  // namespace

std::vector<Event> ResourceOwnerCopies(const server::AuditRecord& rec, Event& caller_event) {
  std::vector<Event> copies;
  bool denied = rec.error != nullptr && rec.error->code() == ErrorCode::kAccessDenied;
  if (rec.principal == nullptr || rec.resource_accounts.empty() || denied) return copies;
  caller_event.shared_event_id = ids::RequestId();
  for (const std::string& owner : rec.resource_accounts) {
    Event copy = caller_event;
    copy.event_id = NewEventId(rec.time);
    copy.account_id = owner;
    copy.username.clear();
    copy.access_key_id.clear();
    copy.identity = EventIdentity{};
    copy.identity.kind = EventIdentity::Kind::kAwsAccount;
    copy.identity.type = "AWSAccount";
    copy.identity.principal_id = rec.principal->principal_id;
    copy.identity.account_id = rec.principal->account_id;
    copies.push_back(std::move(copy));
  }
  return copies;
}

std::string NewEventId(TimePoint time) {
  std::string id;
  NewEventIdInto(time, id);
  return id;
}

void NewEventIdInto(TimePoint time, std::string& out, uint8_t* uuid) {
  uint8_t random[kEventIdRandomBytes];
  TakeEventIdRandom(random);
  uint64_t ms = static_cast<uint64_t>(Millis(time)) & 0xFFFFFFFFFFFFull;
  uint8_t b[16];
  for (int i = 5; i >= 0; --i) {
    b[i] = static_cast<uint8_t>(ms);
    ms >>= 8;
  }
  b[6] = static_cast<uint8_t>(0x70 | (random[0] & 0x0F));  // version 7
  b[7] = random[1];
  b[8] = static_cast<uint8_t>(0x80 | (random[2] & 0x3F));  // RFC 9562 variant
  std::memcpy(b + 9, random + 3, 7);
  ids::FormatUuidInto(b, out);  // no allocation once out has held an id
  if (uuid != nullptr) std::memcpy(uuid, b, sizeof b);
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
  std::string out;
  AssignEventSource(service, out);
  return out;
}

void AssignEventSource(std::string_view service, std::string& out) {
  out.assign(service.empty() ? std::string_view("unknown") : service);
  out += ".amazonaws.com";
}

uint64_t BuildEventInto(const server::AuditRecord& rec, const EventOptions& options, Event& ev) {
  const server::Principal* who = rec.principal ? rec.principal : rec.key_owner;
  MemberSetter set;
  set.Set(ev.event_id, options.event_id, EventMember::kEventId);
  set.Set(ev.account_id, who ? std::string_view(who->account_id) : options.fallback_account,
          EventMember::kAccountId);
  ev.time_ms = Millis(rec.time);
  set.Set(ev.event_name, rec.operation, EventMember::kEventName);
  set.SetEventSource(ev.event_source, rec.service);
  ev.read_only = IsReadOnly(rec.service, rec.operation);
  set.Set(ev.username, who ? LookupUsername(*who) : std::string_view(), EventMember::kUsername);
  set.Set(ev.access_key_id, who ? std::string_view(who->access_key_id) : rec.access_key_id,
          EventMember::kAccessKeyId);
  ev.resources.clear();
  CollectResources(rec, ev.resources);
  ev.complete = true;

  set.Set(ev.region, rec.region.empty() ? options.default_region : rec.region,
          EventMember::kRegion);
  if (who != nullptr) {
    AssignIdentity(*who, ev.identity, set);
  } else {
    AssignUnknownIdentity(rec.access_key_id, ev.identity, set);
  }
  set.Set(ev.source_ip, rec.source_ip, EventMember::kSourceIp);
  set.Set(ev.user_agent, rec.user_agent, EventMember::kUserAgent);
  AssignError(ev, rec.service, rec.error, set);
  set.Move(ev.request_parameters, ElementsText(rec, rec.input, false),
           EventMember::kRequestParameters);
  set.Move(ev.response_elements,
           RecordsResponse(rec.service, rec.operation, ev.read_only)
               ? ElementsText(rec, rec.output, true)
               : std::string(),
           EventMember::kResponseElements);
  set.Set(ev.request_id, rec.request_id, EventMember::kRequestId);
  set.Set(ev.shared_event_id, {}, EventMember::kSharedEventId);
  ev.secure_transport = rec.secure_transport;
  bool tls = rec.secure_transport;
  set.Set(ev.tls_version, tls ? rec.tls_version : std::string_view(), EventMember::kTlsVersion);
  set.Set(ev.tls_cipher, tls ? rec.tls_cipher : std::string_view(), EventMember::kTlsCipher);
  set.Set(ev.host, tls ? rec.host : std::string_view(), EventMember::kHost);
  set.Set(ev.stored_record, {}, EventMember::kStoredRecord);
  return set.changed();
}

Event BuildEvent(const server::AuditRecord& rec, const EventOptions& options) {
  Event ev;
  BuildEventInto(rec, options, ev);
  return ev;
}

}  // namespace rampart::audit
