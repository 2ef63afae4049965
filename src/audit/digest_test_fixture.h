// Shared by the digest tests (digest_test.cc, digest_retry_test.cc): an
// organization view, file helpers and DigestChainTest, a trail with log
// file validation over an in-memory database and a trail directory.
// GoogleTest wants one fixture type per suite across files, hence a named
// namespace rather than an anonymous one.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "rampart/audit/digest.h"
#include "audit/digest_io.h"
#include "audit/trails_internal.h"
#include "rampart/audit/delivery.h"
#include "rampart/audit/digest_validate.h"
#include "rampart/audit/event_store.h"
#include "rampart/audit/signing_keys.h"
#include "rampart/core/encoding.h"
#include "rampart/crypto/digest.h"

namespace rampart::audit::digest_testing {

namespace fs = std::filesystem;

inline constexpr std::string_view kAccount = "111122223333";  // the management account
inline constexpr std::string_view kMember = "444455556666";
inline constexpr std::string_view kOrg = "o-abcdef1234";

// kAccount manages kOrg, whose member is kMember.
class FakeOrganizations final : public iam::OrganizationView {
 public:
  Result<iam::OrgPlacement> PlacementOf(std::string_view account) const override {
    iam::OrgPlacement p;
    if (account == kAccount || account == kMember) p.org_id = std::string(kOrg);
    p.management = account == kAccount;
    return p;
  }
};

inline TimePoint At(int64_t seconds) { return TimePoint(std::chrono::seconds(seconds)); }

inline std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A trail with validation on, delivering through TrailDelivery with a
// DigestWriter, on a clock the test moves.
class DigestChainTest : public ::testing::Test {
 protected:
  static constexpr int kPeriod = 10;

  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rampart_digest_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto db = store::OpenSqlite({.path = ":memory:"});
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    ASSERT_TRUE(MigrateEventStore(*db_).ok());
    ASSERT_TRUE(SigningKeys::Migrate(*db_).ok());
    ASSERT_TRUE(DigestWriter::Migrate(*db_).ok());
    keys_ = std::make_unique<SigningKeys>(*db_, root_, SigningKeys::Options{});
    digests_ = std::make_unique<DigestWriter>(
        *db_, *keys_,
        DigestWriter::Options{.trails_dir = dir_.string(), .period = std::chrono::seconds(kPeriod)});
    delivery_ = std::make_unique<TrailDelivery>(
        *db_, clock_,
        TrailDelivery::Options{
            .trails_dir = dir_.string(), .digests = digests_.get(), .organizations = &orgs_});
    internal::TrailRow t;
    t.account_id = std::string(kAccount);
    t.home_region = "us-east-1";
    t.name = "audit-trail";
    t.bucket = "logs";
    t.logging = true;
    t.multi_region = true;
    t.start_logging_time = Now();
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) -> Status {
      RETURN_IF_ERROR(internal::InsertTrail(tx, t));
      return SetLogFileValidation(tx, t.account_id, t.name, true, t.start_logging_time);
    }).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  int64_t Now() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch())
        .count();
  }

  void AddEvent(std::string_view region, std::string_view account = kAccount,
                std::string_view source = "iam.amazonaws.com") {
    Event ev;
    ev.event_id = "ev-" + std::to_string(++events_);
    ev.account_id = std::string(account);
    ev.time_ms = Now() * 1000;
    ev.event_name = "CreateUser";
    ev.event_source = std::string(source);
    ev.region = std::string(region);
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return InsertEvent(tx, ev); }).ok());
  }

  // One period: an event (unless quiet), a delivery, then the clock moves
  // and the next delivery writes the digest.
  void Period(bool quiet = false) {
    if (!quiet) AddEvent("us-east-1");
    ASSERT_TRUE(delivery_->DeliverOnce().ok());
    clock_.Advance(std::chrono::seconds(kPeriod));
    ASSERT_TRUE(delivery_->DeliverOnce().ok());
  }

  ValidateReport Validate() {
    ValidateOptions o;
    o.trail_dir = (dir_ / "logs").string();
    auto keys = keys_->List("us-east-1", 0, INT64_MAX / 2);
    EXPECT_TRUE(keys.ok());
    o.keys = *keys;
    auto r = ValidateTrailDir(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : ValidateReport{};
  }

  // Digest keys under the bucket, oldest first.
  std::vector<std::string> DigestKeys() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "logs")) {
      std::string p = e.path().string();
      if (p.ends_with(".json.gz") && p.find("CloudTrail-Digest") != std::string::npos) {
        out.push_back(fs::relative(e.path(), dir_ / "logs").generic_string());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  json::Value ReadDigest(const std::string& key) {
    auto text = internal::GunzipBytes(ReadFile(dir_ / "logs" / key), 1 << 20);
    EXPECT_TRUE(text.ok());
    auto v = json::Parse(*text);
    EXPECT_TRUE(v.ok());
    return *v;
  }

  // Log files under the bucket, by key, oldest first.
  std::vector<std::string> LogKeys() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_ / "logs")) {
      std::string p = e.path().string();
      if (p.ends_with(".json.gz") && p.find("CloudTrail-Digest") == std::string::npos) {
        out.push_back(fs::relative(e.path(), dir_ / "logs").generic_string());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // The eventIDs of every record in every log file.
  std::vector<std::string> DeliveredEventIds() {
    std::vector<std::string> ids;
    for (const std::string& key : LogKeys()) {
      auto text = internal::GunzipBytes(ReadFile(dir_ / "logs" / key), 1 << 20);
      EXPECT_TRUE(text.ok());
      auto doc = json::Parse(*text);
      EXPECT_TRUE(doc.ok());
      for (const json::Value& r : doc->find("Records")->as_array()) {
        ids.emplace_back(r.get_string("eventID"));
      }
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  void Exec(std::string_view sql) {
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return tx.Exec(sql); }).ok()) << sql;
  }

  int64_t DeliveredSeq() {
    int64_t seq = 0;
    EXPECT_TRUE(db_->Read([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT delivered_seq FROM audit_trails"));
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) seq = s->Int(0);
      return Status::Ok();
    }).ok());
    return seq;
  }

  // Statuses by location (s3://logs/<key>).
  static std::map<std::string, std::string> Statuses(const ValidateReport& r) {
    std::map<std::string, std::string> out;
    for (const ChainReport& c : r.chains) {
      for (const FileReport& f : c.files) {
        out[f.location] = std::string(FileStatusName(f.status));
      }
    }
    return out;
  }

  fs::path dir_;
  FakeOrganizations orgs_;
  OffsetClock clock_;
  SecretBytes root_{std::string(32, 'r')};
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<SigningKeys> keys_;
  std::unique_ptr<DigestWriter> digests_;
  std::unique_ptr<TrailDelivery> delivery_;
  int events_ = 0;
};

}  // namespace rampart::audit::digest_testing
