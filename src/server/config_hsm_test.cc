// The "hsm" section of the server config.
#include <gtest/gtest.h>

#include <fstream>

#include "rampart/core/json.h"
#include "rampart/server/config.h"

namespace rampart::server {
namespace {

Status Parse(std::string_view text, HsmConfig& out) {
  auto doc = json::Parse(text);
  EXPECT_TRUE(doc.ok()) << text;
  if (!doc.ok()) return doc.status();
  return ParseHsmConfig(*doc, out);
}

constexpr std::string_view kGood = R"({
  "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["a", "b"]}],
  "backends": [
    {"name": "a", "module": "/usr/lib/softhsm/libsofthsm2.so", "token_label": "t1", "pin_file": "/p"},
    {"name": "b", "module": "/usr/lib/softhsm/libsofthsm2.so", "slot": 7, "pin_env": "B_PIN"}
  ]})";

TEST(HsmConfigTest, ParsesBackendsAndClusters) {
  HsmConfig cfg;
  ASSERT_TRUE(Parse(kGood, cfg).ok());
  ASSERT_EQ(cfg.backends.size(), 2u);
  EXPECT_EQ(cfg.backends[0].token_label, "t1");
  EXPECT_EQ(cfg.backends[0].pin_file, "/p");
  EXPECT_EQ(cfg.backends[1].slot, 7u);
  EXPECT_EQ(cfg.backends[1].pin_env, "B_PIN");
  const HsmClusterConfig* c = cfg.FindCluster("cluster-1a2b3c4d5e6");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->min_members, 2);  // the default, as CloudHSM's two HSMs
  EXPECT_EQ(c->members, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(cfg.FindBackend("c"), nullptr);
  EXPECT_TRUE(c->accounts.empty());  // the management account only
}

TEST(HsmConfigTest, NetworkHsmNodesAreBackends) {
  HsmConfig cfg;
  ASSERT_TRUE(Parse(R"({
    "backends": [{"name": "n1", "network_config": "/etc/n1.conf", "network_user": "kmsuser", "pin_file": "/p"}],
    "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["n1"], "min_members": 1}]})",
                    cfg)
                  .ok());
  EXPECT_EQ(cfg.backends[0].network_config, "/etc/n1.conf");
  EXPECT_EQ(cfg.backends[0].network_user, "kmsuser");
  EXPECT_TRUE(cfg.backends[0].module.empty());
  const char* bad[] = {
      R"({"backends": [{"name": "n1", "network_config": "/c", "pin_file": "/p"}]})",
      R"({"backends": [{"name": "n1", "network_user": "kmsuser", "pin_file": "/p"}]})",
      R"({"backends": [{"name": "n1", "network_config": "/c", "network_user": "kmsuser"}]})",
      R"({"backends": [{"name": "n1", "network_config": "/c", "network_user": "kmsuser", "pin_file": "/p",
                        "module": "/m"}]})",
      R"({"backends": [{"name": "n1", "network_config": "/c", "network_user": "kmsuser", "pin_file": "/p",
                        "token_label": "t"}]})",
      R"({"backends": [{"name": "n1", "network_config": "/c",
                        "network_user": "a-user-name-that-is-far-too-long-for-it", "pin_file": "/p"}]})",
  };
  for (const char* text : bad) {
    HsmConfig out;
    EXPECT_EQ(Parse(text, out).code(), ErrorCode::kValidation) << text;
  }
}

TEST(HsmConfigTest, ClusterNamesTheAccountsThatMayUseIt) {
  HsmConfig cfg;
  ASSERT_TRUE(Parse(R"({
    "backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"}],
    "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["a"], "min_members": 1,
                  "accounts": ["123456789012", "210987654321"]}]})",
                    cfg)
                  .ok());
  EXPECT_EQ(cfg.clusters[0].accounts, (std::vector<std::string>{"123456789012", "210987654321"}));
}

TEST(HsmConfigTest, RejectsMistakes) {
  const char* bad[] = {
      R"([])",
      R"({"backend": []})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p", "typo": 1}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin": "1234"}]})",
      R"({"backends": [{"name": "a", "module": "relative.so", "token_label": "t", "pin_file": "/p"}]})",
      R"({"backends": [{"name": "a", "module": "/m", "pin_file": "/p"}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t"}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p", "pin_env": "E"}]})",
      R"({"backends": [{"name": "a b", "module": "/m", "token_label": "t", "pin_file": "/p"}]})",
      R"({"backends": [{"name": "a", "module": "/m", "slot": -1, "pin_file": "/p"}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"},
                       {"name": "a", "module": "/m", "token_label": "u", "pin_file": "/p"}]})",
      R"({"clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["nobody"]}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"}],
          "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["a"]}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"}],
          "clusters": [{"id": "cluster-SHOUT", "members": ["a"], "min_members": 1}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"}],
          "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["a", "a"], "min_members": 1}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"}],
          "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["a"], "min_members": 0}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"}],
          "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["a"], "min_members": 1, "accounts": []}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"}],
          "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["a"], "min_members": 1,
                        "accounts": ["12345678901"]}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"}],
          "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["a"], "min_members": 1,
                        "accounts": ["12345678901x"]}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"}],
          "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["a"], "min_members": 1,
                        "accounts": ["123456789012", "123456789012"]}]})",
      R"({"backends": [{"name": "a", "module": "/m", "token_label": "t", "pin_file": "/p"}],
          "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["a"], "min_members": 1,
                        "accounts": "123456789012"}]})",
  };
  for (const char* text : bad) {
    HsmConfig cfg;
    Status st = Parse(text, cfg);
    EXPECT_EQ(st.code(), ErrorCode::kValidation) << text;
    EXPECT_TRUE(cfg.backends.empty() && cfg.clusters.empty()) << text;
  }
}

TEST(HsmConfigTest, ConfigFileCarriesTheSection) {
  std::string path = ::testing::TempDir() + "/rampart-hsm-config.json";
  std::ofstream(path) << R"({"data_dir": "/tmp/x", "hsm": )" << kGood << "}";
  Config cfg;
  ASSERT_TRUE(LoadConfigFile(path, cfg).ok());
  EXPECT_EQ(cfg.hsm.backends.size(), 2u);
  std::ofstream(path) << R"({"hsm": {"backends": [{"name": "a"}]}})";
  Config bad;
  Status st = LoadConfigFile(path, bad);
  EXPECT_EQ(st.code(), ErrorCode::kValidation);
  EXPECT_NE(st.message().find("module must be an absolute path"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace rampart::server

namespace rampart::server {
namespace {

TEST(RootKeyConfigTest, ParsesAndRejects) {
  std::string path = ::testing::TempDir() + "/rampart-root-key-config.json";
  std::ofstream(path) << R"({"root_key": {"backend": "hsm1", "key_label": "rampart-root"}})";
  Config cfg;
  ASSERT_TRUE(LoadConfigFile(path, cfg).ok());
  ASSERT_TRUE(cfg.root_key.has_value());
  EXPECT_EQ(cfg.root_key->backend, "hsm1");
  EXPECT_EQ(cfg.root_key->key_label, "rampart-root");
  for (const char* bad : {R"({"root_key": "hsm1"})", R"({"root_key": {"backend": "hsm1"}})",
                          R"({"root_key": {"backend": "hsm1", "key_label": "k", "pin": "1"}})",
                          R"({"root_key": {"backend": "no spaces", "key_label": "k"}})"}) {
    std::ofstream(path) << bad;
    Config c;
    EXPECT_EQ(LoadConfigFile(path, c).code(), ErrorCode::kValidation) << bad;
    EXPECT_FALSE(c.root_key.has_value()) << bad;
  }
}

}  // namespace
}  // namespace rampart::server
