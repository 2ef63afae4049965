// Delivery retries after lost progress (a retried file is rewritten byte
// for byte, whatever changed in between) and the digest tables' migrations.
#include "audit/digest_test_fixture.h"

namespace rampart::audit {
namespace {

using namespace digest_testing;

// Review finding: a delivery whose log file was written but whose digest
// entry (or progress) was not recorded wrote the same events again, as a
// second file, on the next pass.
TEST_F(DigestChainTest, RetriedDeliveryDoesNotDuplicateEvents) {
  AddEvent("us-east-1");
  AddEvent("us-east-1");
  // Recording the file for the digest fails after the file was written.
  Exec("ALTER TABLE audit_digest_pending RENAME TO pending_elsewhere");
  ASSERT_TRUE(delivery_->DeliverOnce().ok());  // the failure is logged, not returned
  ASSERT_EQ(LogKeys().size(), 1u);
  EXPECT_EQ(DeliveredSeq(), 0);  // not advanced: the events are delivered again
  Exec("ALTER TABLE pending_elsewhere RENAME TO audit_digest_pending");
  AddEvent("us-east-1");
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  // The same file again, with exactly the events it held; the third event
  // recorded meanwhile goes to a file of its own.
  ASSERT_EQ(LogKeys().size(), 2u);
  EXPECT_EQ(DeliveredEventIds(), (std::vector<std::string>{"ev-1", "ev-2", "ev-3"}));

  // A pass whose progress was lost (a crash before it was saved).
  int64_t before = DeliveredSeq();
  AddEvent("us-east-1");
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  Exec("UPDATE audit_trails SET delivered_seq = " + std::to_string(before));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  EXPECT_EQ(LogKeys().size(), 3u);
  EXPECT_EQ(DeliveredEventIds(), (std::vector<std::string>{"ev-1", "ev-2", "ev-3", "ev-4"}));

  // The digest lists each file once, with the hash of what it holds now.
  clock_.Advance(std::chrono::seconds(kPeriod));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  auto keys = DigestKeys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(ReadDigest(keys[0]).find("logFiles")->as_array().size(), 3u);
  ValidateReport r = Validate();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.valid_logs, 3);
}

// Review finding: a pass whose progress was lost after a digest had listed
// its file rewrote that file on retry with the events recorded since, and
// validation then called it modified.
TEST_F(DigestChainTest, RetryAfterDigestKeepsListedFileIntact) {
  AddEvent("us-east-1");
  int64_t before = DeliveredSeq();
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  ASSERT_EQ(LogKeys().size(), 1u);
  // The hour ends and its digest lists the file.
  clock_.Advance(std::chrono::seconds(kPeriod));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  ASSERT_EQ(DigestKeys().size(), 1u);
  // The pass's progress turns out lost; an event arrives before the retry.
  Exec("UPDATE audit_trails SET delivered_seq = " + std::to_string(before));
  AddEvent("us-east-1");
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  EXPECT_EQ(LogKeys().size(), 2u);
  EXPECT_EQ(DeliveredEventIds(), (std::vector<std::string>{"ev-1", "ev-2"}));
  clock_.Advance(std::chrono::seconds(kPeriod));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  ValidateReport r = Validate();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.invalid_logs, 0);
  // The retried file is listed again by the second digest, with the same
  // hash: three listings of two files, all valid.
  EXPECT_EQ(r.valid_logs, 3);
}

// Review caveat of session 5: a retried batch used to select its events
// with the trail's configuration at retry time, so a change in between
// (here: global service events turned off) rewrote a file a digest already
// listed with fewer events, and validation called it modified.
TEST_F(DigestChainTest, RetryAfterTrailChangeKeepsListedFileIntact) {
  AddEvent("us-east-1", kAccount, "kms.amazonaws.com");  // names the file
  AddEvent("us-east-1");                                 // a global (IAM) event
  int64_t before = DeliveredSeq();
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  ASSERT_EQ(LogKeys().size(), 1u);
  clock_.Advance(std::chrono::seconds(kPeriod));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  ASSERT_EQ(DigestKeys().size(), 1u);
  // The pass's progress turns out lost, and the trail stops taking global
  // events before the retry.
  Exec("UPDATE audit_trails SET delivered_seq = " + std::to_string(before));
  Exec("UPDATE audit_trails SET include_global = 0");
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  EXPECT_EQ(LogKeys().size(), 1u);
  EXPECT_EQ(DeliveredEventIds(), (std::vector<std::string>{"ev-1", "ev-2"}));
  // Later batches follow the new configuration.
  AddEvent("us-east-1");
  AddEvent("us-east-1", kAccount, "kms.amazonaws.com");
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  EXPECT_EQ(DeliveredEventIds(), (std::vector<std::string>{"ev-1", "ev-2", "ev-4"}));
  clock_.Advance(std::chrono::seconds(kPeriod));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  ValidateReport r = Validate();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.invalid_logs, 0);
  EXPECT_EQ(r.valid_logs, 3);  // the first file twice, the last once
}

// Review finding: audit_delivery_batches kept one row per trail, so each
// batch of a pass replaced the row of the batch before. A pass of more
// than one batch (delivery reads at most 5000 events at a time) whose
// progress was lost then retried its first batch with the configuration of
// the moment, and rewrote a file a digest already listed with other bytes.
TEST_F(DigestChainTest, RetryOfASeveralBatchPassKeepsEveryListedFileIntact) {
  constexpr int kEvents = 5001;  // a full first batch, and one event in a second
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) -> Status {
    for (int i = 1; i <= kEvents; ++i) {
      Event ev;
      ev.event_id = "ev-" + std::to_string(++events_);
      ev.account_id = std::string(kAccount);
      ev.time_ms = Now() * 1000;
      ev.event_name = "CreateKey";
      // The second event is global (IAM): the file of the first batch holds
      // it only while the trail takes global events.
      ev.event_source = i == 2 ? "iam.amazonaws.com" : "kms.amazonaws.com";
      ev.region = "us-east-1";
      RETURN_IF_ERROR(InsertEvent(tx, ev));
    }
    return Status::Ok();
  }).ok());
  auto batch_rows = [&] {
    int64_t n = -1;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT COUNT(*) FROM audit_delivery_batches"));
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) n = s->Int(0);
      return Status::Ok();
    }).ok());
    return n;
  };
  int64_t before = DeliveredSeq();
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  std::vector<std::string> logs = LogKeys();
  ASSERT_EQ(logs.size(), 2u);  // one file per batch
  EXPECT_EQ(batch_rows(), 2);
  std::map<std::string, std::string> bytes;
  for (const std::string& key : logs) bytes[key] = ReadFile(dir_ / "logs" / key);
  clock_.Advance(std::chrono::seconds(kPeriod));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  ASSERT_EQ(DigestKeys().size(), 1u);
  // The pass's progress turns out lost, and the trail stops taking global
  // events before the retry.
  Exec("UPDATE audit_trails SET delivered_seq = " + std::to_string(before));
  Exec("UPDATE audit_trails SET include_global = 0");
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  EXPECT_EQ(LogKeys(), logs);
  for (const std::string& key : logs) {
    EXPECT_EQ(ReadFile(dir_ / "logs" / key), bytes[key]) << key;
  }
  // The next batch drops the rows of the delivered ones.
  AddEvent("us-east-1", kAccount, "kms.amazonaws.com");
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  EXPECT_EQ(LogKeys().size(), 3u);
  EXPECT_EQ(batch_rows(), 1);
  clock_.Advance(std::chrono::seconds(kPeriod));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  ValidateReport r = Validate();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.invalid_logs, 0);
  EXPECT_EQ(r.valid_logs, 5);  // both files of the pass twice, the last once
}

// Session 6 caveat: a retried batch was written where the trail pointed at
// retry time, so a bucket or key prefix changed in between left the listed
// file in the old place and put its events in a second file in the new
// one. A retry now rewrites the file where the failed pass put it, and the
// digest chain goes on in the new bucket (as CloudTrail's: each digest
// names its predecessor's bucket, and the aws CLI follows it).
TEST_F(DigestChainTest, RetryAfterBucketChangeRewritesTheFileInItsPlace) {
  AddEvent("us-east-1");
  int64_t before = DeliveredSeq();
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  std::vector<std::string> logs = LogKeys();
  ASSERT_EQ(logs.size(), 1u);
  std::string bytes = ReadFile(dir_ / "logs" / logs[0]);
  clock_.Advance(std::chrono::seconds(kPeriod));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  ASSERT_EQ(DigestKeys().size(), 1u);
  // The pass's progress turns out lost, and the trail is pointed at another
  // bucket and prefix before the retry.
  Exec("UPDATE audit_trails SET delivered_seq = " + std::to_string(before));
  Exec("UPDATE audit_trails SET bucket = 'moved', prefix = 'p'");
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  EXPECT_EQ(LogKeys(), logs);
  EXPECT_EQ(ReadFile(dir_ / "logs" / logs[0]), bytes);
  EXPECT_FALSE(fs::exists(dir_ / "moved")) << "the retry wrote a second copy";
  // New events go to the new place, and so do the chain's next digests.
  AddEvent("us-east-1");
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  clock_.Advance(std::chrono::seconds(kPeriod));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  EXPECT_EQ(LogKeys(), logs);
  int moved_logs = 0, moved_digests = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "moved")) {
    std::string key = fs::relative(e.path(), dir_ / "moved").generic_string();
    if (!key.ends_with(".json.gz")) continue;
    EXPECT_TRUE(key.starts_with("p/AWSLogs/")) << key;
    ++(key.find("CloudTrail-Digest") == std::string::npos ? moved_logs : moved_digests);
  }
  EXPECT_EQ(moved_logs, 1);
  EXPECT_EQ(moved_digests, 1);
  // Validating from the new bucket follows the chain back into the old one:
  // the retried file is listed by both digests, in the old bucket.
  ValidateOptions o;
  o.trail_dir = (dir_ / "moved").string();
  auto keys = keys_->List("us-east-1", 0, INT64_MAX / 2);
  ASSERT_TRUE(keys.ok());
  o.keys = *keys;
  auto r = ValidateTrailDir(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->valid_digests, 2);
  EXPECT_EQ(r->invalid_logs, 0);
  EXPECT_EQ(r->valid_logs, 3);
  std::map<std::string, std::string> statuses = Statuses(*r);
  EXPECT_EQ(statuses["s3://logs/" + logs[0]], "valid");
}

// Migration 5 adds each saved batch's destination, NULL for the rows saved
// before it; a retry of such a row goes where the trail points then.
TEST(DigestMigrationTest, Version5KeepsSavedBatchesWithoutADestination) {
  auto opened = store::OpenSqlite({.path = ":memory:"});
  ASSERT_TRUE(opened.ok());
  store::Database& db = **opened;
  constexpr std::string_view kVersion4 = R"sql(
CREATE TABLE audit_delivery_batches (account_id TEXT NOT NULL, trail_name TEXT NOT NULL,
  start_seq INTEGER NOT NULL, end_seq INTEGER NOT NULL, taken TEXT NOT NULL,
  PRIMARY KEY (account_id, trail_name, start_seq));
INSERT INTO audit_delivery_batches VALUES ('111122223333', 't1', 10, 20, '1,2');
)sql";
  const store::Migration old[] = {{1, "CREATE TABLE unused_v1 (x INTEGER);"},
                                  {2, "CREATE TABLE unused_v2 (x INTEGER);"},
                                  {3, "CREATE TABLE unused_v3 (x INTEGER);"},
                                  {4, kVersion4}};
  ASSERT_TRUE(db.Migrate("audit_digest", old).ok());
  ASSERT_TRUE(DigestWriter::Migrate(db).ok());
  ASSERT_TRUE(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT end_seq, taken, bucket IS NULL, prefix IS NULL, "
                                        "organization_id IS NULL FROM audit_delivery_batches"));
    ASSIGN_OR_RETURN(bool row, s->Step());
    EXPECT_TRUE(row);
    EXPECT_EQ(s->Int(0), 20);
    EXPECT_EQ(s->Text(1), "1,2");
    EXPECT_EQ(s->Int(2), 1);
    EXPECT_EQ(s->Int(3), 1);
    EXPECT_EQ(s->Int(4), 1);
    return Status::Ok();
  }).ok());
}

// Migration 4 keys the saved batches by their start as well, keeping the
// rows of version 3.
TEST(DigestMigrationTest, Version4KeepsSavedBatchesAndAllowsOnePerBatch) {
  auto opened = store::OpenSqlite({.path = ":memory:"});
  ASSERT_TRUE(opened.ok());
  store::Database& db = **opened;
  // Versions 1 and 2 do not touch this table; version 3 as it was.
  constexpr std::string_view kVersion3 = R"sql(
CREATE TABLE audit_delivery_batches (account_id TEXT NOT NULL, trail_name TEXT NOT NULL,
  start_seq INTEGER NOT NULL, end_seq INTEGER NOT NULL, taken TEXT NOT NULL,
  PRIMARY KEY (account_id, trail_name));
INSERT INTO audit_delivery_batches VALUES ('111122223333', 't1', 10, 20, '1,2');
)sql";
  const store::Migration old[] = {{1, "CREATE TABLE unused_v1 (x INTEGER);"},
                                  {2, "CREATE TABLE unused_v2 (x INTEGER);"},
                                  {3, kVersion3}};
  ASSERT_TRUE(db.Migrate("audit_digest", old).ok());
  ASSERT_TRUE(DigestWriter::Migrate(db).ok());
  ASSERT_TRUE(db.Write([](store::Tx& tx) {
    return tx.Exec("INSERT INTO audit_delivery_batches (account_id, trail_name, start_seq, "
                   "end_seq, taken) VALUES ('111122223333', 't1', 20, 30, '5')");
  }).ok());
  std::vector<std::string> rows;
  ASSERT_TRUE(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT start_seq, end_seq, taken FROM "
                                        "audit_delivery_batches ORDER BY start_seq"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      rows.push_back(std::to_string(s->Int(0)) + "-" + std::to_string(s->Int(1)) + ":" +
                     std::string(s->Text(2)));
    }
    return Status::Ok();
  }).ok());
  EXPECT_EQ(rows, (std::vector<std::string>{"10-20:1,2", "20-30:5"}));
}

// Databases written before organization trails had digests: migration 2
// keeps their chains going (each chain lists its trail's own account).
TEST(DigestMigrationTest, Version2KeepsChainsAndPendingFiles) {
  auto opened = store::OpenSqlite({.path = ":memory:"});
  ASSERT_TRUE(opened.ok());
  store::Database& db = **opened;
  constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE audit_log_validation (account_id TEXT NOT NULL, trail_name TEXT NOT NULL,
  enabled_at INTEGER NOT NULL, PRIMARY KEY (account_id, trail_name));
CREATE TABLE audit_digest_chains (account_id TEXT NOT NULL, trail_name TEXT NOT NULL,
  region TEXT NOT NULL, last_end INTEGER NOT NULL, prev_bucket TEXT NOT NULL,
  prev_object TEXT NOT NULL, prev_hash TEXT NOT NULL, prev_signature TEXT NOT NULL,
  PRIMARY KEY (account_id, trail_name, region));
CREATE TABLE audit_digest_pending (id INTEGER PRIMARY KEY, account_id TEXT NOT NULL,
  trail_name TEXT NOT NULL, region TEXT NOT NULL, bucket TEXT NOT NULL, object TEXT NOT NULL,
  hash TEXT NOT NULL, oldest_ms INTEGER NOT NULL, newest_ms INTEGER NOT NULL,
  delivered_at INTEGER NOT NULL);
CREATE INDEX audit_digest_pending_by_trail ON audit_digest_pending (account_id, trail_name, region, id);
INSERT INTO audit_digest_chains VALUES ('111122223333', 't1', 'eu-west-1', 100, 'b', 'k', 'h', 's');
INSERT INTO audit_digest_pending (account_id, trail_name, region, bucket, object, hash, oldest_ms,
  newest_ms, delivered_at) VALUES ('111122223333', 't1', 'eu-west-1', 'b', 'log', 'x', 1, 2, 3);
)sql";
  const store::Migration version1[] = {{1, kVersion1}};
  ASSERT_TRUE(db.Migrate("audit_digest", version1).ok());
  ASSERT_TRUE(DigestWriter::Migrate(db).ok());
  ASSERT_TRUE(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto c, tx.Prepare("SELECT log_account, organization_id, last_end, "
                                        "prev_object, prev_signature FROM audit_digest_chains"));
    ASSIGN_OR_RETURN(bool row, c->Step());
    EXPECT_TRUE(row);
    EXPECT_EQ(c->Text(0), "111122223333");
    EXPECT_EQ(c->Text(1), "");
    EXPECT_EQ(c->Int(2), 100);
    EXPECT_EQ(c->Text(3), "k");
    EXPECT_EQ(c->Text(4), "s");
    ASSIGN_OR_RETURN(auto p, tx.Prepare("SELECT log_account, object FROM audit_digest_pending"));
    ASSIGN_OR_RETURN(row, p->Step());
    EXPECT_TRUE(row);
    EXPECT_EQ(p->Text(0), "111122223333");
    EXPECT_EQ(p->Text(1), "log");
    return Status::Ok();
  }).ok());
}

}  // namespace
}  // namespace rampart::audit
