// The TLS listener's pieces: certificate names for client rules, loading
// the server context from PEM files, the tls/tls_listen/client_names
// config keys, and rule choice by certificate name.
#include "tls_server.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "rampart/proxy/config.h"
#include "rampart/proxy/policy.h"
#include "tls_test_certs.h"

namespace rampart::proxy {
namespace {

namespace fs = std::filesystem;
using tls_test::CertPtr;
using tls_test::KeyPtr;
using tls_test::MakeCert;
using tls_test::NewKey;

// PEM files in a fresh directory: a CA, a server certificate and key it
// signed, and a key of another pair.
class TlsFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rampart-tls-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    KeyPtr ca_key = NewKey();
    CertPtr ca = MakeCert(ca_key.get(), {"test CA"}, "", nullptr, nullptr, true);
    KeyPtr server_key = NewKey();
    CertPtr server = MakeCert(server_key.get(), {"proxy.test"}, "DNS:proxy.test", ca.get(), ca_key.get());
    KeyPtr other_key = NewKey();
    WriteCert("ca.pem", ca.get());
    WriteCert("server.pem", server.get());
    WriteKey("server.key", server_key.get());
    WriteKey("other.key", other_key.get());
  }
  void TearDown() override { fs::remove_all(dir_); }

  void WriteCert(const std::string& name, X509* cert) {
    FILE* f = std::fopen((dir_ / name).c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_X509(f, cert);
    std::fclose(f);
  }
  void WriteKey(const std::string& name, EVP_PKEY* key, const EVP_CIPHER* cipher = nullptr) {
    FILE* f = std::fopen((dir_ / name).c_str(), "w");
    ASSERT_NE(f, nullptr);
    static char pass[] = "secret";
    PEM_write_PrivateKey(f, key, cipher, nullptr, 0, nullptr, cipher != nullptr ? pass : nullptr);
    std::fclose(f);
  }
  void WriteText(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  TlsSettings Settings(const std::string& cert, const std::string& key, const std::string& ca = "") {
    TlsSettings s;
    s.cert_file = (dir_ / cert).string();
    s.key_file = (dir_ / key).string();
    if (!ca.empty()) s.client_ca_file = (dir_ / ca).string();
    return s;
  }
  std::string LoadError(const TlsSettings& s) {
    auto r = TlsServerContext::Load(s);
    return r.ok() ? "" : r.status().message();
  }

  // A config with a TLS listener (files from this directory) and `extra` keys.
  Result<std::shared_ptr<const Config>> Parse(const std::string& tls, const std::string& extra) {
    std::string text = R"({"listen": "127.0.0.1:3128", "allowed_clients": ["10.0.0.0/8"],)";
    if (!tls.empty()) text += R"( "tls_listen": "127.0.0.1:3129", "tls": )" + tls + ",";
    text += extra + "}";
    return ParseConfig(text, dir_.string());
  }
  std::string ParseError(const std::string& tls, const std::string& extra) {
    auto r = Parse(tls, extra);
    return r.ok() ? "" : r.status().message();
  }

  fs::path dir_;
};

constexpr const char* kTls = R"({"cert_file": "server.pem", "key_file": "server.key", "client_ca_file": "ca.pem"})";

TEST(CertificateNames, DnsSansInOrderLowercasedAndNoCommonName) {
  KeyPtr key = NewKey();
  CertPtr cert = MakeCert(key.get(), {"first-cn", "Runner-7"},
                          "DNS:B.clients.test,IP:10.0.0.1,DNS:a.clients.test,email:x@y.test,DNS:b.clients.test");
  // RFC 6125/9525: with a DNS-ID present the CN names nothing.
  EXPECT_EQ(CertificateNames(cert.get()), (std::vector<std::string>{"b.clients.test", "a.clients.test"}));
}

TEST(CertificateNames, LastCommonNameOnlyWithoutDnsSans) {
  KeyPtr key = NewKey();
  CertPtr plain = MakeCert(key.get(), {"first-cn", "Runner-7"}, "");
  EXPECT_EQ(CertificateNames(plain.get()), (std::vector<std::string>{"runner-7"}));
  // Other kinds of subjectAltName do not replace the CN.
  CertPtr other_sans = MakeCert(key.get(), {"Runner-7"}, "IP:10.0.0.1,email:x@y.test");
  EXPECT_EQ(CertificateNames(other_sans.get()), (std::vector<std::string>{"runner-7"}));
  // A DNS SAN that cannot be a rule name still rules out the CN.
  CertPtr bad_san = MakeCert(key.get(), {"runner-7"}, "DNS:" + std::string(kMaxCertNameBytes + 1, 'a'));
  EXPECT_TRUE(CertificateNames(bad_san.get()).empty());
}

TEST(CertificateNames, SkipsNamesThatCannotBeRuleNames) {
  KeyPtr key = NewKey();
  std::string long_name(kMaxCertNameBytes + 1, 'a');
  CertPtr cert = MakeCert(key.get(), {"cn.test"}, "DNS:" + long_name + ",DNS:ok.test,DNS:bad name.test");
  EXPECT_EQ(CertificateNames(cert.get()), (std::vector<std::string>{"ok.test"}));
  CertPtr spaced = MakeCert(key.get(), {"has space"}, "");
  EXPECT_TRUE(CertificateNames(spaced.get()).empty());
  CertPtr utf8 = MakeCert(key.get(), {"b\xC3\xBC" "cher"}, "");
  EXPECT_TRUE(CertificateNames(utf8.get()).empty());
  CertPtr none = MakeCert(key.get(), {}, "");
  EXPECT_TRUE(CertificateNames(none.get()).empty());
  EXPECT_TRUE(CertificateNames(nullptr).empty());
  EXPECT_TRUE(PeerCertificateNames(nullptr).empty());
}

TEST_F(TlsFiles, LoadsAGoodChainKeyAndClientCas) {
  auto ctx = TlsServerContext::Load(Settings("server.pem", "server.key", "ca.pem"));
  ASSERT_TRUE(ctx.ok()) << ctx.status().message();
  EXPECT_NE((*ctx)->get(), nullptr);
  EXPECT_TRUE(TlsServerContext::Load(Settings("server.pem", "server.key")).ok());
}

TEST_F(TlsFiles, ClientTrustFollowsTheClientCasAndRequirement) {
  auto trust = [&](const TlsSettings& s) {
    auto ctx = TlsServerContext::Load(s);
    return ctx.ok() ? (*ctx)->client_trust() : "error: " + ctx.status().message();
  };
  TlsSettings base = Settings("server.pem", "server.key", "ca.pem");
  std::string first = trust(base);
  EXPECT_EQ(first.rfind("requested:", 0), 0u) << first;
  EXPECT_EQ(trust(base), first);  // the same files, loaded again
  EXPECT_EQ(trust(Settings("server.pem", "server.key")), "none");
  TlsSettings required = base;
  required.require_client_cert = true;
  EXPECT_EQ(trust(required), "required:" + first.substr(std::string("requested:").size()));
  // Another CA, or one more in the bundle: other trust.
  KeyPtr key = NewKey();
  CertPtr ca2 = MakeCert(key.get(), {"second CA"}, "", nullptr, nullptr, true);
  WriteCert("ca2.pem", ca2.get());
  std::string second = trust(Settings("server.pem", "server.key", "ca2.pem"));
  EXPECT_EQ(second.rfind("requested:", 0), 0u) << second;
  EXPECT_NE(second, first);
  fs::copy_file(dir_ / "ca.pem", dir_ / "both.pem");
  {
    std::ofstream out(dir_ / "both.pem", std::ios::app);
    std::ifstream in(dir_ / "ca2.pem");
    out << in.rdbuf();
  }
  std::string both = trust(Settings("server.pem", "server.key", "both.pem"));
  EXPECT_NE(both, first);
  EXPECT_NE(both, second);
}

TEST_F(TlsFiles, LoadErrorsNameTheKey) {
  EXPECT_EQ(LoadError(Settings("server.pem", "other.key")),
            "config: tls.key_file: does not match the certificate in tls.cert_file");
  EXPECT_EQ(LoadError(Settings("missing.pem", "server.key")),
            "config: tls.cert_file: cannot open " + (dir_ / "missing.pem").string());
  WriteText("junk.pem", "not a certificate\n");
  EXPECT_EQ(LoadError(Settings("junk.pem", "server.key")).rfind("config: tls.cert_file: no PEM certificate in", 0), 0u);
  EXPECT_EQ(LoadError(Settings("server.pem", "junk.pem")).rfind("config: tls.key_file: no unencrypted PEM private key", 0),
            0u);
  EXPECT_EQ(LoadError(Settings("server.pem", "server.key", "junk.pem")),
            "config: tls.client_ca_file: no PEM certificate in " + (dir_ / "junk.pem").string());
}

TEST_F(TlsFiles, EncryptedKeyIsRefusedWithoutPrompting) {
  KeyPtr key = NewKey();
  WriteKey("encrypted.key", key.get(), EVP_aes_128_cbc());
  EXPECT_EQ(LoadError(Settings("server.pem", "encrypted.key")).rfind("config: tls.key_file: no unencrypted PEM private key", 0),
            0u);
}

TEST_F(TlsFiles, ConfigBuildsTheContextAndResolvesFiles) {
  auto cfg = Parse(kTls, R"("client_rules": [{"name": "b", "client_names": ["Build-7", "ci.test"], "allow": ["a.test"]}])");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  const Config& c = **cfg;
  EXPECT_EQ(c.tls_listen.size(), 1u);
  EXPECT_NE(c.tls.context, nullptr);
  EXPECT_EQ(c.tls.cert_file, (dir_ / "server.pem").string());
  EXPECT_FALSE(c.tls.require_client_cert);
  EXPECT_EQ(c.client_rules[0].client_names, (std::vector<std::string>{"build-7", "ci.test"}));
  EXPECT_TRUE(c.client_rules[0].clients.empty());
}

TEST_F(TlsFiles, ConfigErrorsNameTheKey) {
  EXPECT_EQ(ParseError("", R"("tls_listen": "127.0.0.1:3129")"), "config: tls_listen: needs tls (cert_file and key_file)");
  EXPECT_EQ(ParseError("", R"("tls": {"cert_file": "server.pem", "key_file": "server.key"})"),
            "config: tls: applies only with tls_listen");
  EXPECT_EQ(ParseError(R"({"key_file": "server.key"})", "\"workers\": 1"), "config: tls.cert_file: is required");
  EXPECT_EQ(ParseError(R"({"cert_file": "server.pem", "key_file": "server.key", "require_client_cert": true})",
                       "\"workers\": 1"),
            "config: tls.require_client_cert: needs tls.client_ca_file");
  EXPECT_EQ(ParseError(R"({"cert_file": "server.pem", "key_file": "server.key", "ciphers": "x"})", "\"workers\": 1"),
            "config: tls.ciphers: unknown key");
  EXPECT_EQ(ParseError(R"({"cert_file": "server.pem", "key_file": "other.key"})", "\"workers\": 1"),
            "config: tls.key_file: does not match the certificate in tls.cert_file");
  EXPECT_EQ(ParseError(kTls, R"("client_rules": [{"client_names": ["*.clients.test"]}])"),
            "config: client_rules[0].client_names: '*.clients.test': wildcards are not supported; names match exactly");
  EXPECT_EQ(ParseError(kTls, R"("client_rules": [{"client_names": ["a b"]}])"),
            "config: client_rules[0].client_names: 'a b' must be printable ASCII without spaces");
  EXPECT_EQ(ParseError(kTls, R"("client_rules": [{"client_names": [""]}])"),
            "config: client_rules[0].client_names: names must be 1..253 characters");
  EXPECT_EQ(ParseError(kTls, R"("client_rules": [{"client_names": ["x"]}, {"client_names": ["X"]}])"),
            "config: client_rules[1].client_names: 'x' is also in client_rules[0]");
  // Without client certificates being asked for, a name could never match.
  EXPECT_EQ(ParseError(R"({"cert_file": "server.pem", "key_file": "server.key"})",
                       R"("client_rules": [{"client_names": ["x"]}])"),
            "config: client_rules[0].client_names: need tls_listen with tls.client_ca_file");
  EXPECT_EQ(ParseError("", R"("client_rules": [{"client_names": ["x"]}])"),
            "config: client_rules[0].client_names: need tls_listen with tls.client_ca_file");
}

TEST_F(TlsFiles, CertificateNameRuleBeatsCidrRuleThenGlobal) {
  auto cfg = Parse(kTls, R"("allow": ["global.test"], "client_rules": [
      {"name": "by-cidr", "clients": ["10.1.0.0/16"], "allow": ["cidr.test"]},
      {"name": "by-name", "client_names": ["build-7"], "allow": ["name.test"], "allowed_ports": [443]},
      {"name": "by-san", "client_names": ["ci.clients.test"], "allow": ["san.test"]}])");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  const Config& c = **cfg;
  IpAddress in_cidr = *ParseIp("10.1.2.3");
  IpAddress elsewhere = *ParseIp("10.2.0.1");
  std::vector<std::string> builder = {"build-7"};
  std::string matched;
  EXPECT_EQ(c.RuleFor(in_cidr, builder, &matched), &c.client_rules[1]);
  EXPECT_EQ(matched, "build-7");
  // The first listed name in certificate order decides (SANs come first).
  std::vector<std::string> both = {"ci.clients.test", "build-7"};
  EXPECT_EQ(c.RuleFor(elsewhere, both, &matched), &c.client_rules[2]);
  EXPECT_EQ(matched, "ci.clients.test");
  // Names no rule lists fall back to the CIDR rule, then to the global lists.
  std::vector<std::string> unknown = {"someone-else"};
  EXPECT_EQ(c.RuleFor(in_cidr, unknown, &matched), &c.client_rules[0]);
  EXPECT_EQ(matched, "");
  EXPECT_EQ(c.RuleFor(elsewhere, unknown, &matched), nullptr);

  Host name_test = *NormalizeHost("name.test");
  Decision d = CheckDestination(c, in_cidr, builder, name_test, 443);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.client_rule, "by-name");
  EXPECT_EQ(d.client_cert, "build-7");
  d = CheckDestination(c, in_cidr, builder, name_test, 80);  // the rule's ports
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "port 80 not allowed");
  d = CheckDestination(c, in_cidr, builder, *NormalizeHost("cidr.test"), 443);
  EXPECT_FALSE(d.allowed);
  d = CheckDestination(c, in_cidr, unknown, *NormalizeHost("cidr.test"), 443);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.client_rule, "by-cidr");
  EXPECT_EQ(d.client_cert, "");
  d = CheckDestination(c, elsewhere, unknown, *NormalizeHost("global.test"), 443);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.client_rule, "");
}

}  // namespace
}  // namespace rampart::proxy
