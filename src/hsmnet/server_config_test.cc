// LoadServerConfig: the replication settings and their mistakes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "rampart/hsmnet/server.h"

namespace rampart::hsmnet {
namespace {

class ServerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hsmnet-config-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The required members plus `extra` (JSON members, with a leading comma).
  Status Load(const std::string& extra, ServerConfig& c) {
    std::string path = (dir_ / "node.json").string();
    std::ofstream(path) << R"({"cert": "s.pem", "key": "s.key", "ca": "ca.pem", "token_label": "t",
                               "pin_file": "pin", "officer_password_file": "pw")"
                        << extra << "}";
    return LoadServerConfig(path, c);
  }

  std::filesystem::path dir_;
};

constexpr char kPeers[] = R"(, "peers": ["127.0.0.1:9444"], "replication_password_file": "r.pw")";

TEST_F(ServerConfigTest, PeersNeedPeerSubjects) {
  ServerConfig c;
  Status st = Load(kPeers, c);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("peers need peer_subjects"), std::string::npos) << st.message();
  ServerConfig ok;
  ASSERT_TRUE(Load(std::string(kPeers) + R"(, "peer_subjects": ["/O=Example/CN=node-b"])", ok).ok());
  EXPECT_EQ(ok.peer_subjects, (std::vector<std::string>{"/O=Example/CN=node-b"}));
  EXPECT_FALSE(ok.bootstrap_cluster);
  // Without peers, nothing to check.
  ServerConfig alone;
  EXPECT_TRUE(Load("", alone).ok());
}

TEST_F(ServerConfigTest, PeerSubjectsAndBootstrapAreChecked) {
  for (const char* bad : {R"(, "peer_subjects": ["CN=node-b"])", R"(, "peer_subjects": ["/XX=node-b"])",
                          R"(, "peer_subjects": "/CN=node-b")", R"(, "peer_subjects": [7])",
                          R"(, "bootstrap_cluster": "yes")"}) {
    ServerConfig c;
    EXPECT_FALSE(Load(std::string(kPeers) + bad, c).ok()) << bad;
  }
  ServerConfig c;
  ASSERT_TRUE(Load(std::string(kPeers) + R"(, "peer_subjects": ["/CN=b"], "bootstrap_cluster": true)", c).ok());
  EXPECT_TRUE(c.bootstrap_cluster);
}

TEST_F(ServerConfigTest, ListPageSizeIsOneToFiveHundred) {
  ServerConfig defaults;
  ASSERT_TRUE(Load("", defaults).ok());
  EXPECT_EQ(defaults.list_page_size, 500u);
  ServerConfig small;
  ASSERT_TRUE(Load(R"(, "list_page_size": 2)", small).ok());
  EXPECT_EQ(small.list_page_size, 2u);
  for (const char* bad : {R"(, "list_page_size": 0)", R"(, "list_page_size": 501)", R"(, "list_page_size": "2")"}) {
    ServerConfig c;
    Status st = Load(bad, c);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find("list_page_size"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace rampart::hsmnet
