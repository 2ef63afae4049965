// The server config file: the "audit" and "kms" sections and unknown keys.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "rampart/server/config.h"

namespace rampart::server {
namespace {

// Writes text to a config file of this test and loads it over cfg.
Status Load(std::string_view text, Config& cfg) {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("rampart_config_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path);
    out << text;
  }
  Status st = LoadConfigFile(path.string(), cfg);
  std::filesystem::remove(path);
  return st;
}

TEST(ConfigFileTest, DefaultsAreCloudTrailsAndKmsIntervals) {
  Config cfg;
  ASSERT_TRUE(Load("{}", cfg).ok());
  EXPECT_EQ(cfg.audit.delivery_interval, std::chrono::seconds(300));
  EXPECT_EQ(cfg.audit.digest_interval, std::chrono::seconds(3600));
  EXPECT_EQ(cfg.audit.signing_key_rotation, std::chrono::seconds(30 * 86400));
  EXPECT_EQ(cfg.kms.scheduler_interval, std::chrono::milliseconds(60000));
}

TEST(ConfigFileTest, ReadsAuditAndKmsSections) {
  Config cfg;
  Status st = Load(R"({"audit": {"delivery_interval_seconds": 1, "digest_interval_seconds": 3,
                                 "signing_key_rotation_seconds": 120},
                       "kms": {"scheduler_interval_ms": 50}})",
                   cfg);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cfg.audit.delivery_interval, std::chrono::seconds(1));
  EXPECT_EQ(cfg.audit.digest_interval, std::chrono::seconds(3));
  EXPECT_EQ(cfg.audit.signing_key_rotation, std::chrono::seconds(120));
  EXPECT_EQ(cfg.kms.scheduler_interval, std::chrono::milliseconds(50));
}

TEST(ConfigFileTest, ASectionMaySetOneKeyAndKeepsTheOtherDefaults) {
  Config cfg;
  ASSERT_TRUE(Load(R"({"audit": {"digest_interval_seconds": 600}})", cfg).ok());
  EXPECT_EQ(cfg.audit.digest_interval, std::chrono::seconds(600));
  EXPECT_EQ(cfg.audit.delivery_interval, std::chrono::seconds(300));
}

TEST(ConfigFileTest, RangesAreEnforcedWithTheSettingsName) {
  struct Case {
    std::string_view text, message;
  };
  const Case cases[] = {
      {R"({"audit": {"delivery_interval_seconds": 0}})",
       "audit.delivery_interval_seconds must be an integer from 1 to 300"},
      {R"({"audit": {"delivery_interval_seconds": 301}})",
       "audit.delivery_interval_seconds must be an integer from 1 to 300"},
      {R"({"audit": {"digest_interval_seconds": 3601}})",
       "audit.digest_interval_seconds must be an integer from 1 to 3600"},
      {R"({"audit": {"signing_key_rotation_seconds": 59}})",
       "audit.signing_key_rotation_seconds must be an integer from 60 to 31622400"},
      {R"({"audit": {"digest_interval_seconds": "60"}})",
       "audit.digest_interval_seconds must be an integer from 1 to 3600"},
      {R"({"audit": {"digest_interval_seconds": 1.5}})",
       "audit.digest_interval_seconds must be an integer from 1 to 3600"},
      {R"({"kms": {"scheduler_interval_ms": 9}})",
       "kms.scheduler_interval_ms must be an integer from 10 to 3600000"},
      {R"({"kms": {"scheduler_interval_ms": 99999999999999999}})",
       "kms.scheduler_interval_ms must be an integer from 10 to 3600000"},
  };
  for (const Case& c : cases) {
    Config cfg;
    Status st = Load(c.text, cfg);
    EXPECT_FALSE(st.ok()) << c.text;
    EXPECT_NE(st.message().find(c.message), std::string::npos) << st.message();
    EXPECT_EQ(cfg.audit.delivery_interval, std::chrono::seconds(300));  // untouched
  }
}

TEST(ConfigFileTest, UnknownKeysAndWrongTypesAreRefused) {
  Config cfg;
  Status st = Load(R"({"audit": {"delivery_interval": 5}})", cfg);
  EXPECT_NE(st.message().find("unknown key 'audit.delivery_interval'"), std::string::npos)
      << st.message();
  st = Load(R"({"kms": {"scheduler_ms": 5}})", cfg);
  EXPECT_NE(st.message().find("unknown key 'kms.scheduler_ms'"), std::string::npos);
  st = Load(R"({"audit": [1]})", cfg);
  EXPECT_NE(st.message().find("audit must be an object"), std::string::npos);
  st = Load(R"({"trail_delivery_seconds": 5})", cfg);
  EXPECT_NE(st.message().find("unknown key 'trail_delivery_seconds'"), std::string::npos);
}

TEST(ConfigFileTest, KmsThrottlingIsOffByDefaultAndReadsOverrides) {
  Config cfg;
  ASSERT_TRUE(Load("{}", cfg).ok());
  EXPECT_FALSE(cfg.kms.throttling.enabled);
  EXPECT_TRUE(cfg.kms.throttling.quotas.empty());
  Status st = Load(R"({"kms": {"scheduler_interval_ms": 50, "throttling": {"enabled": true,
                       "quotas": {"CryptographicOperationsSymmetric": 100, "CreateKey": 2,
                                  "GetParametersForImport": 0.25}}}})",
                   cfg);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(cfg.kms.throttling.enabled);
  EXPECT_EQ(cfg.kms.scheduler_interval, std::chrono::milliseconds(50));
  using Quotas = std::vector<std::pair<std::string, double>>;
  EXPECT_EQ(cfg.kms.throttling.quotas, (Quotas{{"CryptographicOperationsSymmetric", 100},
                                               {"CreateKey", 2},
                                               {"GetParametersForImport", 0.25}}));
}

TEST(ConfigFileTest, KmsThrottlingRefusesBadShapesAndRates) {
  struct Case {
    std::string_view text, message;
  };
  const Case cases[] = {
      {R"({"kms": {"throttling": true}})", "kms.throttling must be an object"},
      {R"({"kms": {"throttling": {"enabled": "yes"}}})",
       "kms.throttling.enabled must be true or false"},
      {R"({"kms": {"throttling": {"enable": true}}})", "unknown key 'kms.throttling.enable'"},
      {R"({"kms": {"throttling": {"quotas": [1]}}})", "kms.throttling.quotas must be an object"},
      {R"({"kms": {"throttling": {"quotas": {"CreateKey": 0}}}})",
       "kms.throttling.quotas.CreateKey must be a number from 0.01 to 1000000"},
      {R"({"kms": {"throttling": {"quotas": {"CreateKey": 1000001}}}})",
       "kms.throttling.quotas.CreateKey must be a number from 0.01 to 1000000"},
      {R"({"kms": {"throttling": {"quotas": {"CreateKey": "5"}}}})",
       "kms.throttling.quotas.CreateKey must be a number from 0.01 to 1000000"},
      {R"({"kms": {"throttling": {"quotas": {"CreateKey": -2}}}})",
       "kms.throttling.quotas.CreateKey must be a number from 0.01 to 1000000"},
      {R"({"kms": {"throttling": {}, "scheduler": 5}})", "unknown key 'kms.scheduler'"},
      {R"({"kms": 5})", "kms must be an object"},
  };
  for (const Case& c : cases) {
    Config cfg;
    Status st = Load(c.text, cfg);
    EXPECT_FALSE(st.ok()) << c.text;
    EXPECT_NE(st.message().find(c.message), std::string::npos) << st.message();
    EXPECT_FALSE(cfg.kms.throttling.enabled);  // untouched
  }
}

}  // namespace
}  // namespace rampart::server
