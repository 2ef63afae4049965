// BuildEvent and the model-driven conversion of request and response
// members: identities, errors, redaction of sensitive members.
#include "rampart/audit/event.h"

#include <gtest/gtest.h>

#include <set>
#include <string_view>
#include <thread>
#include <vector>

#include "rampart/core/arn.h"

namespace rampart::audit {
namespace {

constexpr std::string_view kAcct = "111122223333";

server::Principal Root() {
  server::Principal p;
  p.account_id = std::string(kAcct);
  p.arn = RootArn(kAcct);
  p.type = "Root";
  p.principal_id = p.account_id;
  p.access_key_id = "AKIAROOTROOTROOTROOT";
  return p;
}

server::Principal User() {
  server::Principal p;
  p.account_id = std::string(kAcct);
  p.arn = "arn:aws:iam::111122223333:user/alice";
  p.type = "IAMUser";
  p.principal_id = "AIDAALICE";
  p.user_name = "alice";
  p.access_key_id = "AKIAALICEALICEALICE1";
  return p;
}

server::Principal Session() {
  server::Principal p;
  p.account_id = std::string(kAcct);
  p.arn = "arn:aws:sts::111122223333:assumed-role/Admin/bob-session";
  p.type = "AssumedRole";
  p.principal_id = "AROAADMIN:bob-session";
  p.access_key_id = "ASIASESSIONSESSION12";
  p.role_arn = "arn:aws:iam::111122223333:role/ops/Admin";
  p.token_issued_at = 1700000000;
  p.mfa_present = true;
  p.source_identity = "bob";
  return p;
}

server::AuditRecord Rec(const server::Principal* p, std::string_view service,
                        std::string_view op, const json::Value* in, const json::Value* out,
                        const Status* err = nullptr) {
  server::AuditRecord r{};
  r.time = TimePoint(std::chrono::seconds(1700000123));
  r.request_id = "req-1";
  r.service = service;
  r.operation = op;
  r.region = "eu-west-1";
  r.principal = p;
  r.access_key_id = p ? std::string_view(p->access_key_id) : std::string_view("AKIAUNKNOWN");
  r.source_ip = "192.0.2.7";
  r.user_agent = "aws-cli/2";
  r.secure_transport = false;
  r.input = in;
  r.output = out;
  r.error = err;
  r.http_status = err ? 400 : 200;
  return r;
}

// An event with its rendered record parsed back, for inspection.
struct BuiltEvent : Event {
  json::Value record;
};

json::Value Parsed(std::string_view text) {
  auto parsed = json::Parse(text);
  EXPECT_TRUE(parsed.ok()) << text;
  return parsed.ok() ? *parsed : json::Value();
}

BuiltEvent Build(const server::AuditRecord& r) {
  BuiltEvent b{BuildEvent(r, {"ev-1", "us-east-1", "999999999999"}), {}};
  b.record = Parsed(RenderRecord(b));
  return b;
}

TEST(AuditEventTest, CommonFieldsOfASuccessfulCall) {
  server::Principal p = Root();
  json::Value in = json::Value::MakeObject();
  in.set("UserName", "alice");
  json::Value out = json::Value::MakeObject();
  BuiltEvent ev = Build(Rec(&p, "iam", "CreateUser", &in, &out));
  const json::Value& r = ev.record;
  EXPECT_EQ(r.get_string("eventVersion"), "1.09");
  EXPECT_EQ(r.get_string("eventTime"), "2023-11-14T22:15:23Z");
  EXPECT_EQ(r.get_string("eventSource"), "iam.amazonaws.com");
  EXPECT_EQ(r.get_string("eventName"), "CreateUser");
  EXPECT_EQ(r.get_string("awsRegion"), "eu-west-1");
  EXPECT_EQ(r.get_string("sourceIPAddress"), "192.0.2.7");
  EXPECT_EQ(r.get_string("userAgent"), "aws-cli/2");
  EXPECT_EQ(r.get_string("requestID"), "req-1");
  EXPECT_EQ(r.get_string("eventID"), "ev-1");
  EXPECT_EQ(r.get_string("eventType"), "AwsApiCall");
  EXPECT_EQ(r.get_string("eventCategory"), "Management");
  EXPECT_EQ(r.get_string("recipientAccountId"), kAcct);
  EXPECT_EQ(*r.find("managementEvent"), json::Value(true));
  EXPECT_EQ(*r.find("readOnly"), json::Value(false));
  EXPECT_EQ(r.find("errorCode"), nullptr);
  EXPECT_EQ(r.find("tlsDetails"), nullptr);
  EXPECT_EQ(r.find("requestParameters")->get_string("userName"), "alice");
  EXPECT_TRUE(r.find("responseElements")->is_null());  // empty output
  EXPECT_EQ(ev.username, "root");
  EXPECT_EQ(ev.time_ms, 1700000123000);
  ASSERT_EQ(ev.resources.size(), 1u);
  EXPECT_EQ(ev.resources[0].type, "AWS::IAM::User");
  EXPECT_EQ(ev.resources[0].name, "alice");
}

TEST(AuditEventTest, IamUserIdentity) {
  server::Principal p = User();
  BuiltEvent ev = Build(Rec(&p, "sts", "GetCallerIdentity", nullptr, nullptr));
  const json::Value* id = ev.record.find("userIdentity");
  EXPECT_EQ(id->get_string("type"), "IAMUser");
  EXPECT_EQ(id->get_string("principalId"), "AIDAALICE");
  EXPECT_EQ(id->get_string("arn"), "arn:aws:iam::111122223333:user/alice");
  EXPECT_EQ(id->get_string("accountId"), kAcct);
  EXPECT_EQ(id->get_string("accessKeyId"), "AKIAALICEALICEALICE1");
  EXPECT_EQ(id->get_string("userName"), "alice");
  EXPECT_EQ(id->find("sessionContext"), nullptr);
  EXPECT_EQ(ev.username, "alice");
  EXPECT_TRUE(ev.read_only);
}

TEST(AuditEventTest, AssumedRoleSessionContext) {
  server::Principal p = Session();
  BuiltEvent ev = Build(Rec(&p, "iam", "ListUsers", nullptr, nullptr));
  const json::Value* id = ev.record.find("userIdentity");
  EXPECT_EQ(id->get_string("type"), "AssumedRole");
  EXPECT_EQ(id->find("userName"), nullptr);
  const json::Value* ctx = id->find("sessionContext");
  ASSERT_NE(ctx, nullptr);
  const json::Value* issuer = ctx->find("sessionIssuer");
  EXPECT_EQ(issuer->get_string("type"), "Role");
  EXPECT_EQ(issuer->get_string("principalId"), "AROAADMIN");
  EXPECT_EQ(issuer->get_string("arn"), "arn:aws:iam::111122223333:role/ops/Admin");
  EXPECT_EQ(issuer->get_string("accountId"), kAcct);
  EXPECT_EQ(issuer->get_string("userName"), "Admin");
  const json::Value* attrs = ctx->find("attributes");
  EXPECT_EQ(attrs->get_string("creationDate"), "2023-11-14T22:13:20Z");
  EXPECT_EQ(attrs->get_string("mfaAuthenticated"), "true");
  EXPECT_EQ(ctx->get_string("sourceIdentity"), "bob");
  EXPECT_EQ(ev.username, "bob-session");
}

TEST(AuditEventTest, ErrorsUseTheWireCodes) {
  server::Principal p = User();
  json::Value in = json::Value::MakeObject();
  in.set("UserName", "bob");
  Status denied = Status::Error(ErrorCode::kAccessDenied, "not allowed");
  BuiltEvent ev = Build(Rec(&p, "iam", "CreateUser", &in, nullptr, &denied));
  EXPECT_EQ(ev.record.get_string("errorCode"), "AccessDenied");
  EXPECT_EQ(ev.record.get_string("errorMessage"), "not allowed");
  EXPECT_TRUE(ev.record.find("responseElements")->is_null());

  BuiltEvent kms = Build(Rec(&p, "kms", "CreateKey", nullptr, nullptr, &denied));
  EXPECT_EQ(kms.record.get_string("errorCode"), "AccessDeniedException");

  Status missing = Status::Modeled("NoSuchEntityException", "no user");
  BuiltEvent modeled = Build(Rec(&p, "iam", "GetUser", &in, nullptr, &missing));
  EXPECT_EQ(modeled.record.get_string("errorCode"), "NoSuchEntityException");

  Status internal = Status::Internal("disk path /secret/x broke");
  BuiltEvent hidden = Build(Rec(&p, "iam", "GetUser", &in, nullptr, &internal));
  EXPECT_EQ(hidden.record.get_string("errorMessage"), "An internal error occurred.");
}

TEST(AuditEventTest, AuthenticationFailureWithUnknownKey) {
  Status bad = Status::Error(ErrorCode::kUnrecognizedClient, "The security token is invalid.");
  server::AuditRecord r = Rec(nullptr, "iam", "ListUsers", nullptr, nullptr, &bad);
  BuiltEvent ev = Build(r);
  const json::Value* id = ev.record.find("userIdentity");
  EXPECT_EQ(id->get_string("type"), "Unknown");
  EXPECT_EQ(id->get_string("accessKeyId"), "AKIAUNKNOWN");
  EXPECT_EQ(ev.record.get_string("errorCode"), "InvalidClientTokenId");
  EXPECT_EQ(ev.account_id, "999999999999");  // the fallback recipient
  EXPECT_EQ(ev.access_key_id, "AKIAUNKNOWN");
}

TEST(AuditEventTest, AuthenticationFailureWithKnownKeyGoesToItsOwner) {
  server::Principal owner = User();
  Status bad = Status::Error(ErrorCode::kInvalidSignature, "mismatch");
  server::AuditRecord r = Rec(nullptr, "iam", "ListUsers", nullptr, nullptr, &bad);
  r.key_owner = &owner;
  BuiltEvent ev = Build(r);
  EXPECT_EQ(ev.account_id, kAcct);
  EXPECT_EQ(ev.record.find("userIdentity")->get_string("arn"), owner.arn);
  EXPECT_EQ(ev.record.get_string("errorCode"), "SignatureDoesNotMatch");
}

TEST(AuditEventTest, TlsDetailsOnlyOverTls) {
  server::Principal p = Root();
  server::AuditRecord r = Rec(&p, "sts", "GetCallerIdentity", nullptr, nullptr);
  r.secure_transport = true;
  r.host = "rampart.example:8443";
  r.tls_version = "TLSv1.3";
  r.tls_cipher = "TLS_AES_256_GCM_SHA384";
  BuiltEvent ev = Build(r);
  const json::Value* tls = ev.record.find("tlsDetails");
  ASSERT_NE(tls, nullptr);
  EXPECT_EQ(tls->get_string("tlsVersion"), "TLSv1.3");
  EXPECT_EQ(tls->get_string("cipherSuite"), "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(tls->get_string("clientProvidedHostHeader"), "rampart.example:8443");
}

TEST(AuditEventTest, SecretAccessKeyIsHidden) {
  server::Principal p = Root();
  json::Value key = json::Value::MakeObject();
  key.set("UserName", "alice");
  key.set("AccessKeyId", "AKIANEWNEWNEWNEWNEW1");
  key.set("SecretAccessKey", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  key.set("Status", "Active");
  key.set("CreateDate", int64_t{1700000000});
  json::Value out = json::Value::MakeObject();
  out.set("AccessKey", key);
  BuiltEvent ev = Build(Rec(&p, "iam", "CreateAccessKey", nullptr, &out));
  std::string text = json::Write(ev.record);
  EXPECT_EQ(text.find("wJalrXUtnFEMI"), std::string::npos) << text;
  const json::Value* ak = ev.record.find("responseElements")->find("accessKey");
  EXPECT_EQ(ak->get_string("secretAccessKey"), kHiddenValue);
  EXPECT_EQ(ak->get_string("accessKeyId"), "AKIANEWNEWNEWNEWNEW1");
  EXPECT_EQ(ak->get_string("createDate"), "2023-11-14T22:13:20Z");
  // The created key is a resource of the event.
  bool found = false;
  for (const auto& r : ev.resources) found = found || r.name == "AKIANEWNEWNEWNEWNEW1";
  EXPECT_TRUE(found);
}

TEST(AuditEventTest, KmsPlaintextNeverRecorded) {
  server::Principal p = Root();
  json::Value in = json::Value::MakeObject();
  in.set("KeyId", "alias/app");
  in.set("Plaintext", "top secret payload");
  json::Value out = json::Value::MakeObject();
  out.set("KeyId", "arn:aws:kms:us-east-1:111122223333:key/k1");
  out.set("CiphertextBlob", std::string("\x01\x02\x03", 3));
  out.set("Plaintext", "top secret payload");
  BuiltEvent ev = Build(Rec(&p, "kms", "Decrypt", &in, &out));
  std::string text = json::Write(ev.record);
  EXPECT_EQ(text.find("top secret"), std::string::npos) << text;
  EXPECT_TRUE(ev.read_only);
  // A read-only call records no responseElements at all.
  EXPECT_TRUE(ev.record.find("responseElements")->is_null());
  EXPECT_EQ(ev.record.find("requestParameters")->get_string("keyId"), "alias/app");
  // Blobs never reach a record, not even wrapped key material.
  json::Value import = json::Value::MakeObject();
  import.set("KeyId", "k1");
  import.set("ImportToken", std::string("\x05\x06", 2));
  import.set("EncryptedKeyMaterial", std::string("\x07\x08", 2));
  BuiltEvent imported = Build(Rec(&p, "kms", "ImportKeyMaterial", &import, nullptr));
  const json::Value* params = imported.record.find("requestParameters");
  EXPECT_EQ(params->get_string("keyId"), "k1");
  EXPECT_EQ(params->find("importToken"), nullptr);
  EXPECT_EQ(params->find("encryptedKeyMaterial"), nullptr);
}

TEST(AuditEventTest, ReadOnlyCallsRecordNoResponseExceptIssuedCredentials) {
  server::Principal p = User();
  json::Value out = json::Value::MakeObject();
  out.set("Account", std::string(kAcct));
  BuiltEvent who = Build(Rec(&p, "sts", "GetCallerIdentity", nullptr, &out));
  EXPECT_TRUE(who.record.find("responseElements")->is_null());
  json::Value creds = json::Value::MakeObject();
  json::Value c = json::Value::MakeObject();
  c.set("AccessKeyId", "ASIAEXAMPLE");
  c.set("SecretAccessKey", "s3cr3t");
  creds.set("Credentials", std::move(c));
  BuiltEvent session = Build(Rec(&p, "sts", "GetSessionToken", nullptr, &creds));
  const json::Value* issued = session.record.find("responseElements")->find("credentials");
  ASSERT_NE(issued, nullptr);
  EXPECT_EQ(issued->get_string("accessKeyId"), "ASIAEXAMPLE");
  EXPECT_EQ(issued->get_string("secretAccessKey"), kHiddenValue);
}

TEST(AuditEventTest, PasswordsAndSecretsHidden) {
  server::Principal p = Root();
  json::Value in = json::Value::MakeObject();
  in.set("UserName", "alice");
  in.set("Password", "Hunter2-Hunter2");
  BuiltEvent login = Build(Rec(&p, "iam", "CreateLoginProfile", &in, nullptr));
  EXPECT_EQ(json::Write(login.record).find("Hunter2"), std::string::npos);

  json::Value sec = json::Value::MakeObject();
  sec.set("Name", "db");
  sec.set("SecretString", "s3cr3t-value");
  BuiltEvent secret = Build(Rec(&p, "secretsmanager", "CreateSecret", &sec, nullptr));
  EXPECT_EQ(json::Write(secret.record).find("s3cr3t-value"), std::string::npos);
  EXPECT_EQ(secret.record.find("requestParameters")->get_string("secretString"), kHiddenValue);
}

TEST(AuditEventTest, UnknownServiceOrOperationHasNoParameters) {
  json::Value in = json::Value::MakeObject();
  in.set("Password", "x");
  EXPECT_EQ(ToCloudTrailElements("nosuch", "Op", in, false), "");
  EXPECT_EQ(ToCloudTrailElements("iam", "NoSuchOp", in, false), "");
  // Members absent from the model are dropped rather than copied.
  json::Value odd = json::Value::MakeObject();
  odd.set("UserName", "a");
  odd.set("NotInModel", "b");
  json::Value conv = Parsed(ToCloudTrailElements("iam", "GetUser", odd, false));
  EXPECT_EQ(conv.get_string("userName"), "a");
  EXPECT_EQ(conv.find("notInModel"), nullptr);
  // Wrong kinds from a hostile value do not crash.
  json::Value wrong = json::Value::MakeObject();
  wrong.set("UserName", json::Value::MakeArray());
  wrong.set("Tags", "not-a-list");
  std::string text = ToCloudTrailElements("iam", "CreateUser", wrong, false);
  EXPECT_TRUE(text.empty() || json::Parse(text).ok()) << text;
}

TEST(AuditEventTest, ReadOnlyClassification) {
  EXPECT_TRUE(IsReadOnly("iam", "GetUser"));
  EXPECT_TRUE(IsReadOnly("iam", "ListRoles"));
  EXPECT_TRUE(IsReadOnly("cloudtrail", "LookupEvents"));
  EXPECT_TRUE(IsReadOnly("cloudtrail", "DescribeTrails"));
  EXPECT_TRUE(IsReadOnly("kms", "Encrypt"));
  EXPECT_TRUE(IsReadOnly("kms", "GenerateDataKey"));
  EXPECT_FALSE(IsReadOnly("kms", "CreateKey"));
  EXPECT_FALSE(IsReadOnly("iam", "CreateUser"));
  EXPECT_FALSE(IsReadOnly("iam", "Encrypt"));
  EXPECT_FALSE(IsReadOnly("", ""));
}

TEST(AuditEventTest, EventIdsAreTimeOrderedUuids) {
  TimePoint t = TimePoint(std::chrono::milliseconds(1700000000123));
  std::string a = NewEventId(t);
  std::string b = NewEventId(t + std::chrono::milliseconds(1));
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a.substr(0, 13), "018bcfe5-687b");  // 0x18bcfe5687b ms
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[14], '7');
  EXPECT_LT(a, b);
  EXPECT_NE(a, NewEventId(t));
}

// The generator behind event ids: version 7 layout with the RFC 9562
// variant, lowercase text, unique over many ids of one millisecond and
// across threads (74 random bits each), and written into a reused string.
TEST(AuditEventTest, EventIdsAreUniqueWellFormedAndReuseTheirString) {
  TimePoint t = TimePoint(std::chrono::milliseconds(1700000000123));
  auto well_formed = [](const std::string& id) {
    if (id.size() != 36) return false;
    for (size_t i = 0; i < id.size(); ++i) {
      bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      char c = id[i];
      if (dash != (c == '-')) return false;
      if (!dash && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return id[14] == '7' && std::string_view("89ab").find(id[19]) != std::string_view::npos;
  };
  constexpr int kEach = 20000;
  std::vector<std::string> ids[2];
  std::thread other([&] {
    std::string id;
    for (int i = 0; i < kEach; ++i) {
      NewEventIdInto(t, id);
      ids[1].push_back(id);
    }
  });
  std::string id;
  NewEventIdInto(t, id);
  const char* storage = id.data();
  for (int i = 0; i < kEach; ++i) {
    NewEventIdInto(t, id);
    ids[0].push_back(id);
  }
  other.join();
  EXPECT_EQ(id.data(), storage);  // the same buffer every time
  std::set<std::string> all;
  for (const std::vector<std::string>& some : ids) {
    for (const std::string& one : some) {
      EXPECT_TRUE(well_formed(one)) << one;
      EXPECT_EQ(one.substr(0, 13), "018bcfe5-687b");
      all.insert(one);
    }
  }
  EXPECT_EQ(all.size(), size_t{2 * kEach});
  // The random part is not a counter: consecutive ids differ in many bits.
  int differing = 0;
  for (size_t i = 15; i < 36; ++i) differing += ids[0][0][i] != ids[0][1][i];
  EXPECT_GT(differing, 8);
}

// The audit sink builds every event into one reused Event: nothing of an
// earlier request (error, TLS details, session, resources, parameters,
// shared id) may survive into the next one's record.
TEST(AuditEventTest, BuildingIntoAReusedEventLeavesNothingBehind) {
  server::Principal session = Session();
  server::Principal root = Root();
  json::Value in = json::Value::MakeObject();
  in.set("UserName", "carol");
  Status denied = Status::Error(ErrorCode::kAccessDenied, "not allowed");
  server::AuditRecord busy = Rec(&session, "iam", "CreateUser", &in, nullptr, &denied);
  busy.secure_transport = true;
  busy.tls_version = "TLSv1.3";
  busy.tls_cipher = "TLS_AES_128_GCM_SHA256";
  busy.host = "iam.example";
  json::Value empty = json::Value::MakeObject();
  std::vector<server::AuditRecord> plain = {
      Rec(&root, "sts", "GetCallerIdentity", &empty, nullptr),
      Rec(nullptr, "iam", "ListUsers", nullptr, nullptr, &denied),
      Rec(&session, "kms", "ListKeys", &empty, nullptr)};
  for (const server::AuditRecord& next : plain) {
    Event reused;
    BuildEventInto(busy, {"ev-0", "us-east-1", "999999999999"}, reused);
    reused.shared_event_id = "shared";
    reused.complete = false;
    reused.stored_record = "{}";
    BuildEventInto(next, {"ev-1", "us-east-1", "999999999999"}, reused);
    Event fresh = BuildEvent(next, {"ev-1", "us-east-1", "999999999999"});
    EXPECT_EQ(RenderRecord(reused), RenderRecord(fresh));
    EXPECT_TRUE(reused.complete);
    EXPECT_EQ(reused.resources.size(), fresh.resources.size());
    EXPECT_EQ(reused.username, fresh.username);
    EXPECT_EQ(reused.access_key_id, fresh.access_key_id);
  }
}

const std::string& MemberOf(const Event& ev, EventMember m) {
  switch (m) {
    case EventMember::kEventId: return ev.event_id;
    case EventMember::kAccountId: return ev.account_id;
    case EventMember::kEventName: return ev.event_name;
    case EventMember::kEventSource: return ev.event_source;
    case EventMember::kUsername: return ev.username;
    case EventMember::kAccessKeyId: return ev.access_key_id;
    case EventMember::kRegion: return ev.region;
    case EventMember::kIdentityType: return ev.identity.type;
    case EventMember::kIdentityPrincipalId: return ev.identity.principal_id;
    case EventMember::kIdentityArn: return ev.identity.arn;
    case EventMember::kIdentityAccountId: return ev.identity.account_id;
    case EventMember::kIdentityAccessKeyId: return ev.identity.access_key_id;
    case EventMember::kIdentityUserName: return ev.identity.user_name;
    case EventMember::kIdentityRoleArn: return ev.identity.role_arn;
    case EventMember::kIdentitySourceIdentity: return ev.identity.source_identity;
    case EventMember::kSourceIp: return ev.source_ip;
    case EventMember::kUserAgent: return ev.user_agent;
    case EventMember::kErrorCode: return ev.error_code;
    case EventMember::kErrorMessage: return ev.error_message;
    case EventMember::kRequestParameters: return ev.request_parameters;
    case EventMember::kResponseElements: return ev.response_elements;
    case EventMember::kRequestId: return ev.request_id;
    case EventMember::kSharedEventId: return ev.shared_event_id;
    case EventMember::kTlsVersion: return ev.tls_version;
    case EventMember::kTlsCipher: return ev.tls_cipher;
    case EventMember::kHost: return ev.host;
    case EventMember::kStoredRecord: return ev.stored_record;
  }
  return ev.stored_record;
}

// BuildEventInto's mask names exactly the string members whose value the
// build changed, whatever came before (the audit sink's chunk encoder
// writes only those): a member reported unchanged must be equal, one
// reported changed must differ.
TEST(AuditEventTest, BuildIntoReportsExactlyTheChangedMembers) {
  server::Principal session = Session();
  server::Principal root = Root();
  server::Principal user = User();
  json::Value in = json::Value::MakeObject();
  in.set("UserName", "carol");
  json::Value out = json::Value::MakeObject();
  json::Value created = json::Value::MakeObject();
  created.set("UserName", "carol");
  out.set("User", std::move(created));
  json::Value empty = json::Value::MakeObject();
  Status denied = Status::Error(ErrorCode::kAccessDenied, "not allowed");
  Status internal = Status::Error(ErrorCode::kInternal, "disk on fire");
  server::AuditRecord tls = Rec(&session, "kms", "ListKeys", &empty, nullptr);
  tls.secure_transport = true;
  tls.tls_version = "TLSv1.3";
  tls.tls_cipher = "TLS_AES_128_GCM_SHA256";
  tls.host = "kms.example";
  server::AuditRecord other_agent = Rec(&root, "sts", "GetCallerIdentity", &empty, nullptr);
  other_agent.user_agent = "boto3/1.26";
  server::AuditRecord no_region = Rec(&user, "iam", "CreateUser", &in, &out);
  no_region.region = "";
  const std::vector<server::AuditRecord> records = {
      Rec(&root, "sts", "GetCallerIdentity", &empty, nullptr),
      Rec(&root, "sts", "GetCallerIdentity", &empty, nullptr),
      other_agent,
      Rec(&user, "iam", "CreateUser", &in, &out),
      no_region,
      Rec(&user, "iam", "CreateUser", &in, nullptr, &denied),
      Rec(&user, "iam", "CreateUser", &in, nullptr, &internal),
      Rec(nullptr, "iam", "ListUsers", nullptr, nullptr, &denied),
      Rec(nullptr, "", "", nullptr, nullptr, &denied),
      tls,
      tls,
      Rec(&session, "kms", "ListKeys", &empty, nullptr),
      Rec(&root, "sts", "GetCallerIdentity", &empty, nullptr),
  };
  Event reused;
  for (size_t i = 0; i < records.size(); ++i) {
    for (const char* id : {"ev-same", "ev-other"}) {
      Event before = reused;
      uint64_t changed = BuildEventInto(records[i], {id, "us-east-1", "999999999999"}, reused);
      for (size_t m = 0; m < kEventMembers; ++m) {
        auto member = static_cast<EventMember>(m);
        bool differs = MemberOf(before, member) != MemberOf(reused, member);
        EXPECT_EQ((changed & MemberBit(member)) != 0, differs)
            << "record " << i << " id " << id << " member " << m;
      }
    }
    // A member set afterwards (as ResourceOwnerCopies sets the shared id)
    // is compared with too.
    reused.shared_event_id = i % 2 ? "shared" : "";
  }
}

TEST(AuditEventTest, LowerCamel) {
  EXPECT_EQ(LowerCamel("UserName"), "userName");
  EXPECT_EQ(LowerCamel("KMSKeyId"), "kmsKeyId");
  EXPECT_EQ(LowerCamel("ARN"), "arn");
  EXPECT_EQ(LowerCamel("MFADevice"), "mfaDevice");
  EXPECT_EQ(LowerCamel("x"), "x");
  EXPECT_EQ(LowerCamel(""), "");
}

TEST(AuditEventTest, SecretNames) {
  EXPECT_TRUE(IsSecretMemberName("SecretAccessKey"));
  EXPECT_TRUE(IsSecretMemberName("NewPassword"));
  EXPECT_TRUE(IsSecretMemberName("PrivateKey"));
  EXPECT_TRUE(IsSecretMemberName("SessionToken"));
  EXPECT_FALSE(IsSecretMemberName("UserName"));
}

}  // namespace
}  // namespace rampart::audit
