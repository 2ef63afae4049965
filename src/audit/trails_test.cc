// Trail validation, event selectors, and log file delivery to disk.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <fstream>
#include <sstream>

#include "audit/trails_internal.h"
#include "rampart/audit/delivery.h"
#include "rampart/audit/event_store.h"

namespace rampart::audit {
namespace {

using internal::TrailRow;

TEST(TrailRulesTest, Names) {
  for (std::string_view ok : {"abc", "My-Trail_1.x", "a1b", "aaaaaaaaaa"}) {
    EXPECT_TRUE(internal::ValidTrailName(ok)) << ok;
  }
  for (std::string_view bad : {"ab", "-abc", "abc-", "a--b", "a._b", "a b c", "abc/", ""}) {
    EXPECT_FALSE(internal::ValidTrailName(bad)) << bad;
  }
  EXPECT_FALSE(internal::ValidTrailName(std::string(129, 'a')));
  EXPECT_TRUE(internal::ValidTrailName(std::string(128, 'a')));
}

TEST(TrailRulesTest, BucketsAndPrefixes) {
  EXPECT_TRUE(internal::ValidBucketName("my-logs.bucket"));
  for (std::string_view bad : {"ab", "Upper", "-x-y", "a..b", "a/b", "../x"}) {
    EXPECT_FALSE(internal::ValidBucketName(bad)) << bad;
  }
  EXPECT_TRUE(internal::ValidKeyPrefix(""));
  EXPECT_TRUE(internal::ValidKeyPrefix("prod/audit"));
  for (std::string_view bad : {"/abs", "a/../b", "..", "a/./b", "sp ace", "a\\b"}) {
    EXPECT_FALSE(internal::ValidKeyPrefix(bad)) << bad;
  }
}

TEST(TrailRulesTest, Selectors) {
  TrailRow t;
  EXPECT_TRUE(internal::SelectorsMatch(t, true, "iam.amazonaws.com"));
  t.event_selectors = R"([{"ReadWriteType":"WriteOnly","IncludeManagementEvents":true}])";
  EXPECT_FALSE(internal::SelectorsMatch(t, true, "iam.amazonaws.com"));
  EXPECT_TRUE(internal::SelectorsMatch(t, false, "iam.amazonaws.com"));
  t.event_selectors = R"([{"ReadWriteType":"ReadOnly","IncludeManagementEvents":true}])";
  EXPECT_TRUE(internal::SelectorsMatch(t, true, "iam.amazonaws.com"));
  EXPECT_FALSE(internal::SelectorsMatch(t, false, "iam.amazonaws.com"));
  t.event_selectors = R"([{"ReadWriteType":"All","IncludeManagementEvents":false}])";
  EXPECT_FALSE(internal::SelectorsMatch(t, false, "iam.amazonaws.com"));
  t.event_selectors =
      R"([{"ReadWriteType":"All","ExcludeManagementEventSources":["kms.amazonaws.com"]}])";
  EXPECT_FALSE(internal::SelectorsMatch(t, true, "kms.amazonaws.com"));
  EXPECT_TRUE(internal::SelectorsMatch(t, true, "iam.amazonaws.com"));
}

std::string Gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr);
  std::string out;
  char buf[4096];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("rampart_delivery_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto db = store::OpenSqlite({.path = ":memory:"});
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    ASSERT_TRUE(MigrateEventStore(*db_).ok());
    delivery_ = std::make_unique<TrailDelivery>(
        *db_, clock_, TrailDelivery::Options{.trails_dir = dir_.string()});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void AddEvent(std::string id, std::string account, std::string region, bool read_only,
                std::string source = "iam.amazonaws.com") {
    Event ev;
    ev.event_id = id;
    ev.account_id = account;
    ev.time_ms = 1700000000000;
    ev.event_name = "Op";
    ev.event_source = source;
    ev.read_only = read_only;
    ev.region = region;
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return InsertEvent(tx, ev); }).ok());
  }
  void AddTrail(TrailRow t) {
    ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return internal::InsertTrail(tx, t); }).ok());
  }
  TrailRow Trail(std::string name, bool multi_region = false) {
    TrailRow t;
    t.account_id = "111122223333";
    t.home_region = "us-east-1";
    t.name = std::move(name);
    t.bucket = "logs";
    t.prefix = "pre";
    t.multi_region = multi_region;
    t.logging = true;
    return t;
  }
  // eventID lists of every delivered file, keyed by path relative to dir_.
  std::map<std::string, std::vector<std::string>> Files() {
    std::map<std::string, std::vector<std::string>> out;
    if (!std::filesystem::exists(dir_)) return out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
      if (!e.is_regular_file()) continue;
      auto doc = json::Parse(Gunzip(e.path().string()));
      EXPECT_TRUE(doc.ok()) << e.path();
      std::vector<std::string> ids;
      for (const json::Value& r : doc->find("Records")->as_array()) {
        ids.emplace_back(r.get_string("eventID"));
      }
      out[std::filesystem::relative(e.path(), dir_).string()] = ids;
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Database> db_;
  SystemClock clock_;
  std::unique_ptr<TrailDelivery> delivery_;
};

TEST_F(DeliveryTest, WritesGzipJsonInCloudTrailLayout) {
  AddTrail(Trail("main"));
  AddEvent("a", "111122223333", "us-east-1", false);
  AddEvent("b", "111122223333", "us-east-1", true);
  AddEvent("other-account", "444455556666", "us-east-1", false);
  AddEvent("other-region", "111122223333", "eu-west-1", false);
  auto n = delivery_->DeliverOnce();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1);
  auto files = Files();
  ASSERT_EQ(files.size(), 1u);
  const std::string& path = files.begin()->first;
  EXPECT_TRUE(path.starts_with("logs/pre/AWSLogs/111122223333/CloudTrail/us-east-1/")) << path;
  EXPECT_NE(path.find("/111122223333_CloudTrail_us-east-1_"), std::string::npos) << path;
  EXPECT_TRUE(path.ends_with(".json.gz")) << path;
  EXPECT_EQ(files.begin()->second, (std::vector<std::string>{"a", "b"}));
  // Nothing new: nothing delivered twice.
  EXPECT_EQ(*delivery_->DeliverOnce(), 0);
  AddEvent("c", "111122223333", "us-east-1", false);
  EXPECT_EQ(*delivery_->DeliverOnce(), 1);
  EXPECT_EQ(Files().size(), 2u);
}

TEST_F(DeliveryTest, MultiRegionTrailWritesAFilePerRegion) {
  AddTrail(Trail("everywhere", true));
  AddEvent("a", "111122223333", "us-east-1", false);
  AddEvent("b", "111122223333", "eu-west-1", false);
  EXPECT_EQ(*delivery_->DeliverOnce(), 2);
  auto files = Files();
  ASSERT_EQ(files.size(), 2u);
  bool eu = false;
  for (const auto& [path, ids] : files) {
    if (path.find("/CloudTrail/eu-west-1/") != std::string::npos) {
      eu = true;
      EXPECT_EQ(ids, std::vector<std::string>{"b"});
    }
  }
  EXPECT_TRUE(eu);
}

TEST_F(DeliveryTest, SelectorsAndGlobalEventsFilter) {
  TrailRow t = Trail("writes");
  t.event_selectors = R"([{"ReadWriteType":"WriteOnly","IncludeManagementEvents":true}])";
  t.include_global = false;
  AddTrail(t);
  AddEvent("iam-write", "111122223333", "us-east-1", false);
  AddEvent("kms-read", "111122223333", "us-east-1", true, "kms.amazonaws.com");
  AddEvent("kms-write", "111122223333", "us-east-1", false, "kms.amazonaws.com");
  EXPECT_EQ(*delivery_->DeliverOnce(), 1);
  EXPECT_EQ(Files().begin()->second, std::vector<std::string>{"kms-write"});
}

TEST_F(DeliveryTest, NotLoggingDeliversNothing) {
  TrailRow t = Trail("idle");
  t.logging = false;
  AddTrail(t);
  AddEvent("a", "111122223333", "us-east-1", false);
  EXPECT_EQ(*delivery_->DeliverOnce(), 0);
  EXPECT_TRUE(Files().empty());
}

TEST_F(DeliveryTest, IncompleteRecordsWaitAndCrashLeftoversAreRecovered) {
  AddTrail(Trail("main"));
  Event partial;
  partial.event_id = "partial";
  partial.account_id = "111122223333";
  partial.event_source = "iam.amazonaws.com";
  partial.region = "us-east-1";
  partial.complete = false;
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) { return InsertEvent(tx, partial); }).ok());
  AddEvent("after", "111122223333", "us-east-1", false);
  EXPECT_EQ(*delivery_->DeliverOnce(), 1);
  EXPECT_EQ(Files().begin()->second, std::vector<std::string>{"after"});
  // After a crash the leftover is completed and delivered later, once.
  ASSERT_TRUE(RecoverIncompleteEvents(*db_).ok());
  EXPECT_EQ(*delivery_->DeliverOnce(), 1);
  std::vector<std::string> all;
  for (const auto& [path, ids] : Files()) all.insert(all.end(), ids.begin(), ids.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::string>{"after", "partial"}));
}

}  // namespace
}  // namespace rampart::audit
