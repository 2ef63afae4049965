// PeerNames: configured peer subjects against certificate subjects.
#include "hsmnet/peer_names.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rampart::hsmnet {
namespace {

using Name = std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)>;

// A certificate subject made attribute by attribute, as a CA would.
Name Subject(const std::vector<std::pair<std::string, std::string>>& entries, int type = MBSTRING_UTF8) {
  Name name(X509_NAME_new(), X509_NAME_free);
  for (const auto& e : entries) {
    EXPECT_EQ(X509_NAME_add_entry_by_txt(name.get(), e.first.c_str(), type,
                                         reinterpret_cast<const unsigned char*>(e.second.data()),
                                         static_cast<int>(e.second.size()), -1, 0),
              1);
  }
  return name;
}

TEST(PeerNamesTest, MatchesTheWholeSubject) {
  auto names = PeerNames::Parse({"/CN=node-a", "/O=Example/CN=node-b"});
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_TRUE(names->Matches(Subject({{"CN", "node-a"}}).get()));
  EXPECT_TRUE(names->Matches(Subject({{"O", "Example"}, {"CN", "node-b"}}).get()));
  // PrintableString in the certificate, UTF8String in the config: equal.
  EXPECT_TRUE(names->Matches(Subject({{"CN", "node-a"}}, MBSTRING_ASC).get()));
  EXPECT_FALSE(names->Matches(Subject({{"CN", "node-b"}}).get()));  // O missing
  EXPECT_FALSE(names->Matches(Subject({{"CN", "node-b"}, {"O", "Example"}}).get()));  // order
  EXPECT_FALSE(names->Matches(Subject({{"CN", "node-a"}, {"OU", "x"}}).get()));  // extra attribute
  EXPECT_FALSE(names->Matches(Subject({{"CN", "node-a2"}}).get()));
  EXPECT_FALSE(names->Matches(nullptr));
  EXPECT_FALSE(PeerNames().Matches(Subject({{"CN", "node-a"}}).get()));
}

TEST(PeerNamesTest, ASlashInsideAValueIsNotAnotherAttribute) {
  // The one-line text of this subject is "/O=Example/CN=node-b" too.
  auto names = PeerNames::Parse({"/O=Example/CN=node-b"});
  ASSERT_TRUE(names.ok());
  EXPECT_FALSE(names->Matches(Subject({{"O", "Example/CN=node-b"}}).get()));
}

TEST(PeerNamesTest, LongSubjectsAreComparedWhole) {
  // Past the 256 bytes a one-line buffer keeps, only the end differs.
  std::vector<std::pair<std::string, std::string>> entries;
  std::string text;
  for (char c : std::string("abcd")) {
    entries.emplace_back("OU", std::string(60, c));
    text += "/OU=" + std::string(60, c);
  }
  auto names = PeerNames::Parse({text + "/CN=node-a"});
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  auto with_cn = [&](const std::string& cn) {
    auto all = entries;
    all.emplace_back("CN", cn);
    return Subject(all);
  };
  EXPECT_TRUE(names->Matches(with_cn("node-a").get()));
  EXPECT_FALSE(names->Matches(with_cn("node-a-but-longer").get()));
  EXPECT_FALSE(names->Matches(with_cn("evil").get()));
}

TEST(PeerNamesTest, MalformedEntriesAreRefused) {
  for (const char* bad : {"", "CN=node-a", "/", "/CN", "/CN=", "/=x", "/CN=a/", "/NOPE=x", "/CN=a//O=b"}) {
    auto names = PeerNames::Parse({bad});
    EXPECT_FALSE(names.ok()) << bad;
    if (!names.ok()) {
      EXPECT_NE(names.status().message().find("peer_subjects"), std::string::npos);
    }
  }
  EXPECT_TRUE(PeerNames::Parse({"/2.5.4.3=node-a"}).ok());  // a dotted OID
  EXPECT_TRUE(PeerNames::Parse({"/commonName=node-a"}).ok());
}

}  // namespace
}  // namespace rampart::hsmnet
