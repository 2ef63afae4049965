#include <gtest/gtest.h>

#include "rampart/hsmnet/client.h"

namespace rampart::hsmnet {
namespace {

TEST(ClientConfigTest, ParsesNodesAndFiles) {
  ClientConfig c;
  std::string error;
  ASSERT_TRUE(ParseClientConfig("# comment\n\nnode = 10.0.0.1:9443\nnode=[::1]:9444\n"
                                "cert = /c.pem\nkey = /k.pem\nca = /ca.pem\ntimeout_ms = 2500\n",
                                c, &error))
      << error;
  EXPECT_EQ(c.nodes, (std::vector<std::string>{"10.0.0.1:9443", "[::1]:9444"}));
  EXPECT_EQ(c.cert_file, "/c.pem");
  EXPECT_EQ(c.key_file, "/k.pem");
  EXPECT_EQ(c.ca_file, "/ca.pem");
  EXPECT_EQ(c.timeout_ms, 2500);
}

TEST(ClientConfigTest, RefusesBadLinesAndMissingNames) {
  const char* kBad[] = {
      "node = nohost\ncert = c\nkey = k\nca = a\n",         // no port
      "node = h:port\ncert = c\nkey = k\nca = a\n",         // port not a number
      "node = h:1\ncert = c\nkey = k\nca = a\nbogus = 1\n",  // unknown name
      "node = h:1\ncert = c\nkey = k\nca = a\ntimeout_ms = 0\n",
      "node = h:1\ncert = c\nkey = k\nca = a\ntimeout_ms = 99999999\n",
      "node = h:1\ncert = c\nkey = k\n",  // no ca
      "cert = c\nkey = k\nca = a\n",      // no node
      "node h:1\n",                       // no '='
  };
  for (const char* text : kBad) {
    ClientConfig c;
    std::string error;
    EXPECT_FALSE(ParseClientConfig(text, c, &error)) << text;
    EXPECT_FALSE(error.empty());
  }
}

TEST(ClientConfigTest, CreateFailsWithoutCertificates) {
  ClientConfig c;
  c.nodes = {"127.0.0.1:1"};
  c.cert_file = "/nonexistent/c.pem";
  c.key_file = "/nonexistent/k.pem";
  c.ca_file = "/nonexistent/ca.pem";
  std::string error;
  EXPECT_EQ(Client::Create(c, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace rampart::hsmnet
