// Access advisor: records from CloudTrail events, the last-accessed upsert,
// the namespaces policies allow, log file parsing (hostile files too), the
// SCP proposal's size split, and report jobs' ownership and expiry.
#include "rampart/audit/advisor.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>

#include "audit/advisor_internal.h"
#include "rampart/audit/advisor_services.h"

namespace rampart::audit {
namespace {

constexpr std::string_view kAcct = "111122223333";

json::Value TrailEvent(std::string_view identity_json, std::string_view extra = "") {
  std::string text = R"({"eventVersion":"1.09","eventTime":"2025-01-02T03:04:05Z",)"
                     R"("eventSource":"kms.amazonaws.com","eventName":"Encrypt",)"
                     R"("awsRegion":"eu-west-1","userIdentity":)" +
                     std::string(identity_json) + std::string(extra) + "}";
  auto v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? std::move(v).value() : json::Value();
}

constexpr std::string_view kUser =
    R"({"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/dev/alice","accountId":"111122223333"})";
constexpr std::string_view kSession =
    R"({"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/ops/s1",)"
    R"("accountId":"111122223333","sessionContext":{"sessionIssuer":{"type":"Role",)"
    R"("arn":"arn:aws:iam::111122223333:role/ops","accountId":"111122223333"}}})";

TEST(AdvisorRecordTest, UserEventBecomesARecord) {
  auto r = AccessRecordFromEvent(TrailEvent(kUser));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->account_id, kAcct);
  EXPECT_EQ(r->entity_arn, "arn:aws:iam::111122223333:user/dev/alice");
  EXPECT_EQ(r->service, "kms");
  EXPECT_EQ(r->action, "Encrypt");
  EXPECT_EQ(r->region, "eu-west-1");
  EXPECT_EQ(r->time_ms, int64_t{1735787045} * 1000);
}

TEST(AdvisorRecordTest, RoleSessionCountsForTheRole) {
  auto r = AccessRecordFromEvent(TrailEvent(kSession));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->entity_arn, "arn:aws:iam::111122223333:role/ops");
}

TEST(AdvisorRecordTest, RootCounts) {
  auto r = AccessRecordFromEvent(TrailEvent(
      R"({"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"})"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->entity_arn, "arn:aws:iam::111122223333:root");
}

TEST(AdvisorRecordTest, DeniedAttemptsCountAuthenticationFailuresDoNot) {
  EXPECT_TRUE(
      AccessRecordFromEvent(TrailEvent(kUser, R"(,"errorCode":"AccessDenied")")).has_value());
  EXPECT_FALSE(AccessRecordFromEvent(TrailEvent(kUser, R"(,"errorCode":"SignatureDoesNotMatch")"))
                   .has_value());
  EXPECT_FALSE(AccessRecordFromEvent(TrailEvent(kUser, R"(,"errorCode":"InvalidClientTokenId")"))
                   .has_value());
}

TEST(AdvisorRecordTest, HostileOrForeignRecordsAreSkipped) {
  EXPECT_FALSE(AccessRecordFromEvent(json::Value("x")).has_value());
  EXPECT_FALSE(AccessRecordFromEvent(TrailEvent(R"({"type":"Unknown"})")).has_value());
  EXPECT_FALSE(AccessRecordFromEvent(TrailEvent(R"({"type":"AWSService"})")).has_value());
  EXPECT_FALSE(AccessRecordFromEvent(TrailEvent(R"([1,2])")).has_value());
  // Session without an issuer, bad account id, unknown service, bad time.
  EXPECT_FALSE(AccessRecordFromEvent(
                   TrailEvent(R"({"type":"AssumedRole","arn":"arn:x","accountId":"111122223333"})"))
                   .has_value());
  EXPECT_FALSE(
      AccessRecordFromEvent(
          TrailEvent(R"({"type":"IAMUser","arn":"arn:aws:iam::1:user/a","accountId":"1"})"))
          .has_value());
  json::Value bad_source = TrailEvent(kUser);
  bad_source.set("eventSource", "nothing.example.com");
  EXPECT_FALSE(AccessRecordFromEvent(bad_source).has_value());
  json::Value bad_time = TrailEvent(kUser);
  bad_time.set("eventTime", "yesterday");
  EXPECT_FALSE(AccessRecordFromEvent(bad_time).has_value());
  json::Value bad_action = TrailEvent(kUser);
  bad_action.set("eventName", "Drop'; --");
  EXPECT_FALSE(AccessRecordFromEvent(bad_action).has_value());
}

TEST(AdvisorServicesTest, EventSourcesMapToNamespaces) {
  EXPECT_EQ(NamespaceOfEventSource("kms.amazonaws.com"), "kms");
  EXPECT_EQ(NamespaceOfEventSource("IAM.amazonaws.com"), "iam");
  EXPECT_EQ(NamespaceOfEventSource("monitoring.amazonaws.com"), "cloudwatch");
  EXPECT_EQ(NamespaceOfEventSource("nonexistent.amazonaws.com"), "");
  EXPECT_EQ(NamespaceOfEventSource(".amazonaws.com"), "");
  EXPECT_EQ(NamespaceOfEventSource("kms"), "");
  ASSERT_NE(FindServiceName("sts"), nullptr);
  EXPECT_EQ(FindServiceName("sts")->name, "AWS Security Token Service");
  EXPECT_GT(ServiceNames().size(), 200u);
}

NamespaceSet Allowed(std::string_view doc) {
  std::string docs[] = {std::string(doc)};
  return AllowedNamespaces(docs, iam::PolicyKind::kIdentity);
}

TEST(AdvisorServicesTest, AllowedNamespacesFollowActions) {
  NamespaceSet all = Allowed(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})");
  EXPECT_EQ(all.size(), ServiceNames().size());
  NamespaceSet some = Allowed(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","KMS:Encrypt"],"Resource":"*"}]})");
  EXPECT_EQ(some, (NamespaceSet{"kms", "s3"}));
  NamespaceSet not_iam = Allowed(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]})");
  EXPECT_FALSE(not_iam.contains("iam"));
  EXPECT_TRUE(not_iam.contains("kms"));
  // NotAction of some actions of a service still allows its others.
  NamespaceSet partial = Allowed(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iam:Get*","Resource":"*"}]})");
  EXPECT_TRUE(partial.contains("iam"));
}

TEST(AdvisorServicesTest, OnlyUnconditionalFullDenialsRemoveAService) {
  NamespaceSet denied = Allowed(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},)"
      R"({"Effect":"Deny","Action":"kms:*","Resource":"*"},)"
      R"({"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}},)"
      R"({"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]})");
  EXPECT_FALSE(denied.contains("kms"));
  EXPECT_TRUE(denied.contains("s3"));
  EXPECT_TRUE(denied.contains("sts"));
  EXPECT_TRUE(Allowed("not json").empty());
}

TEST(AdvisorServicesTest, LevelsIntersect) {
  NamespaceSet levels[] = {{"iam", "kms", "s3"}, {"kms", "s3"}, {"s3", "sts"}};
  EXPECT_EQ(IntersectLevels(levels), (NamespaceSet{"s3"}));
  EXPECT_TRUE(IntersectLevels({}).empty());
}

class AdvisorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::OpenSqlite({.path = ":memory:"});
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    ASSERT_TRUE(MigrateAdvisor(*db_).ok());
  }
  void Record(std::vector<AccessRecord> records) {
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return RecordAccess(tx, records); }).ok());
  }
  std::vector<AccessRecord> Read(int64_t since = 0) {
    std::vector<AccessRecord> out;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
                     ASSIGN_OR_RETURN(out, AccessOfEntities(tx, kAcct, {}, since));
                     return Status::Ok();
                   })
                    .ok());
    return out;
  }
  std::unique_ptr<store::Database> db_;
};

AccessRecord Rec(std::string entity, std::string service, std::string action, int64_t t,
                 std::string region) {
  return {std::string(kAcct), std::move(entity), std::move(service), std::move(action), t,
          std::move(region)};
}

TEST_F(AdvisorStoreTest, LatestAccessWinsWithItsRegion) {
  Record({Rec("arn:u", "kms", "Encrypt", 2000, "eu-west-1"),
          Rec("arn:u", "kms", "Encrypt", 1000, "us-east-1")});
  Record({Rec("arn:u", "kms", "Encrypt", 1500, "ap-south-1")});  // older: ignored
  auto rows = Read();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].time_ms, 2000);
  EXPECT_EQ(rows[0].region, "eu-west-1");
  Record({Rec("arn:u", "kms", "Encrypt", 3000, "us-west-2"),
          Rec("arn:u", "kms", "Decrypt", 10, "us-west-2")});
  rows = Read();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].action, "Encrypt");
  EXPECT_EQ(rows[1].time_ms, 3000);
  EXPECT_EQ(rows[1].region, "us-west-2");
  EXPECT_EQ(Read(100).size(), 1u);  // Decrypt at 10 is before the window
}

TEST_F(AdvisorStoreTest, SummaryPerService) {
  Record({Rec("arn:a", "kms", "Encrypt", 2000, "r1"), Rec("arn:b", "kms", "Decrypt", 3000, "r2"),
          Rec("arn:a", "iam", "GetUser", 500, "r1")});
  auto summary = advisor::Summarize(Read());
  ASSERT_EQ(summary.size(), 2u);
  const advisor::ServiceAccess& kms = summary.at("kms");
  EXPECT_EQ(kms.time_ms, 3000);
  EXPECT_EQ(kms.entity, "arn:b");
  EXPECT_EQ(kms.region, "r2");
  EXPECT_EQ(kms.entities.size(), 2u);
  EXPECT_EQ(kms.actions.size(), 2u);
  EXPECT_EQ(kms.entity_last.at("arn:a"), 2000);
}

TEST_F(AdvisorStoreTest, JobsBelongToTheirOwnerAndExpire) {
  advisor::Job job{"11111111-2222-3333-4444-555555555555",
                   std::string(kAcct),
                   "arn:owner",
                   std::string(advisor::kServiceJob),
                   "SERVICE_LEVEL",
                   1000,
                   1000,
                   json::Value::MakeObject()};
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return advisor::InsertJob(tx, job); }).ok());
  EXPECT_TRUE(advisor::FindOwnJob(*db_, job.job_id, "arn:owner", advisor::kServiceJob, 2000).ok());
  auto other = advisor::FindOwnJob(*db_, job.job_id, "arn:other", advisor::kServiceJob, 2000);
  EXPECT_EQ(other.status().modeled(), "NoSuchEntityException");
  auto kind = advisor::FindOwnJob(*db_, job.job_id, "arn:owner", advisor::kOrganizationsJob, 2000);
  EXPECT_EQ(kind.status().modeled(), "NoSuchEntityException");
  auto late = advisor::FindOwnJob(*db_, job.job_id, "arn:owner", advisor::kServiceJob,
                                  1000 + advisor::kJobLifetimeMs + 1);
  EXPECT_EQ(late.status().modeled(), "NoSuchEntityException");
  auto unknown = advisor::FindOwnJob(*db_, "nope", "arn:owner", advisor::kServiceJob, 2000);
  EXPECT_EQ(unknown.status().modeled(), "NoSuchEntityException");
}

std::string Gzip(std::string_view data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(AdvisorIngestTest, ParsesPlainAndGzipLogs) {
  std::string log = "{\"Records\":[" + json::Write(TrailEvent(kUser)) + "," +
                    json::Write(TrailEvent(kSession)) + R"(,{"eventName":"x"},7]})";
  size_t skipped = 0;
  auto plain = ParseTrailLog(log, &skipped);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->size(), 2u);
  EXPECT_EQ(skipped, 2u);
  auto gz = ParseTrailLog(Gzip(log), nullptr);
  ASSERT_TRUE(gz.ok()) << gz.status().ToString();
  EXPECT_EQ(gz->size(), 2u);
}

TEST(AdvisorIngestTest, HostileFilesAreErrorsNotCrashes) {
  std::string gz = Gzip(R"({"Records":[]})");
  EXPECT_FALSE(ParseTrailLog(gz.substr(0, gz.size() / 2), nullptr).ok());  // truncated
  std::string corrupt = gz;
  corrupt[12] = static_cast<char>(corrupt[12] ^ 0x55);
  EXPECT_FALSE(ParseTrailLog(corrupt, nullptr).ok());
  EXPECT_FALSE(ParseTrailLog("\x1f\x8b", nullptr).ok());
  EXPECT_FALSE(ParseTrailLog("{\"Records\":[", nullptr).ok());
  EXPECT_FALSE(ParseTrailLog("[]", nullptr).ok());
  EXPECT_FALSE(ParseTrailLog(R"({"Records":{}})", nullptr).ok());
  EXPECT_FALSE(ParseTrailLog("", nullptr).ok());
  EXPECT_TRUE(ParseTrailLog(R"({"Records":[]})", nullptr).ok());
}

TEST(AdvisorProposeTest, DenialsSplitWithinTheScpQuota) {
  std::vector<std::string> all;
  for (const ServiceName& s : ServiceNames()) all.emplace_back(s.ns);
  // Every known service fits in one policy today; longer lists must split.
  EXPECT_EQ(advisor::DenyServicesScps(all).size(), 1u);
  for (int i = 0; i < 300; ++i) all.push_back("zz-synthetic-service-" + std::to_string(i));
  std::vector<std::string> policies = advisor::DenyServicesScps(all);
  ASSERT_GT(policies.size(), 1u);
  std::vector<std::string> denied;
  for (const std::string& p : policies) {
    EXPECT_LE(p.size(), iam::org::kMaxScpCharacters);
    EXPECT_TRUE(iam::org::CompileScp(p, "p-test").ok()) << p;
    auto doc = json::Parse(p);
    ASSERT_TRUE(doc.ok());
    for (const json::Value& a : doc->find("Statement")->as_array()[0].find("Action")->as_array()) {
      denied.push_back(a.as_string());
    }
  }
  ASSERT_EQ(denied.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(denied[i], all[i] + ":*");
  EXPECT_TRUE(advisor::DenyServicesScps({}).empty());
  std::string one[] = {"kms"};
  EXPECT_EQ(advisor::DenyServicesScps(one).size(), 1u);
}

}  // namespace
}  // namespace rampart::audit

namespace rampart::audit {
namespace {

// The records the audit sink builds feed the store: a role session's call,
// a denied call, and an authentication failure with a known key.
TEST_F(AdvisorStoreTest, EventsFromTheAuditSinkFeedTheStore) {
  server::Principal session;
  session.account_id = std::string(kAcct);
  session.type = "AssumedRole";
  session.arn = "arn:aws:sts::111122223333:assumed-role/ops/s1";
  session.role_arn = "arn:aws:iam::111122223333:role/ops";
  session.principal_id = "AROAEXAMPLE:s1";
  session.token_issued_at = 1700000000;
  server::Principal user;
  user.account_id = std::string(kAcct);
  user.type = "IAMUser";
  user.arn = "arn:aws:iam::111122223333:user/bob";
  user.user_name = "bob";
  json::Value input = json::Value::MakeObject();
  Status denied = Status::Error(ErrorCode::kAccessDenied, "no");
  Status bad_signature = Status::Error(ErrorCode::kInvalidSignature, "no");
  TimePoint t = TimePoint(std::chrono::seconds(1700000100));
  auto build = [&](const server::Principal* p, const server::Principal* owner,
                   std::string_view service, std::string_view op, const Status* error) {
    server::AuditRecord rec{t,      "req", service, op,      "eu-west-1", p,   "AKIA", "1.2.3.4",
                            "test", false, &input,  nullptr, error,       200, owner,  ""};
    return BuildEvent(rec, {"id", "us-east-1", kAcct});
  };
  std::vector<Event> events = {build(&session, nullptr, "kms", "ListKeys", nullptr),
                               build(&user, nullptr, "iam", "ListUsers", &denied),
                               build(nullptr, &user, "sts", "GetCallerIdentity", &bad_signature)};
  Event partial = build(&user, nullptr, "organizations", "ListRoots", nullptr);
  partial.complete = false;
  events.push_back(partial);
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return RecordAccessOfEvents(tx, events); }).ok());
  auto rows = Read();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].entity_arn, "arn:aws:iam::111122223333:role/ops");
  EXPECT_EQ(rows[0].service, "kms");
  EXPECT_EQ(rows[0].action, "ListKeys");
  EXPECT_EQ(rows[0].region, "eu-west-1");
  EXPECT_EQ(rows[0].time_ms, int64_t{1700000100} * 1000);
  EXPECT_EQ(rows[1].entity_arn, "arn:aws:iam::111122223333:user/bob");
  EXPECT_EQ(rows[1].service, "iam");
  // The sink's direct reading of an event and the reading of its rendered
  // record (what ingested log files give) agree, refusals included.
  for (const Event& ev : events) {
    auto record = json::Parse(RenderRecord(ev));
    ASSERT_TRUE(record.ok());
    std::optional<AccessRecord> direct = AccessRecordOf(ev);
    std::optional<AccessRecord> from_json = AccessRecordFromEvent(*record);
    ASSERT_EQ(direct.has_value(), from_json.has_value()) << ev.event_name;
    if (!direct) continue;
    EXPECT_EQ(direct->entity_arn, from_json->entity_arn);
    EXPECT_EQ(direct->account_id, from_json->account_id);
    EXPECT_EQ(direct->service, from_json->service);
    EXPECT_EQ(direct->action, from_json->action);
    EXPECT_EQ(direct->region, from_json->region);
    EXPECT_EQ(direct->time_ms, from_json->time_ms);
  }
}

}  // namespace
}  // namespace rampart::audit
