// The TLS listener's pieces: certificate names for client rules, loading
// the server context from PEM files, the tls/tls_listen/client_names
// config keys, and rule choice by certificate name.
#include "tls_server.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
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
    ca_key_ = NewKey();
    ca_ = MakeCert(ca_key_.get(), {"test CA"}, "", nullptr, nullptr, true);
    KeyPtr server_key = NewKey();
    CertPtr server = MakeCert(server_key.get(), {"proxy.test"}, "DNS:proxy.test", ca_.get(), ca_key_.get());
    KeyPtr other_key = NewKey();
    WriteCert("ca.pem", ca_.get());
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

  // A CRL from `issuer` (its name; signed with `signer`) listing
  // `serials`, valid from `from` to `until` seconds from now, in PEM.
  static std::string MakeCrl(X509* issuer, EVP_PKEY* signer, const std::vector<long>& serials, long from = -60,
                             long until = 3600) {
    X509_CRL* crl = X509_CRL_new();
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
    ASN1_TIME* last = ASN1_TIME_adj(nullptr, std::time(nullptr), 0, from);
    ASN1_TIME* next = ASN1_TIME_adj(nullptr, std::time(nullptr), 0, until);
    X509_CRL_set1_lastUpdate(crl, last);
    X509_CRL_set1_nextUpdate(crl, next);
    for (long serial : serials) {
      X509_REVOKED* r = X509_REVOKED_new();
      ASN1_INTEGER* n = ASN1_INTEGER_new();
      ASN1_INTEGER_set(n, serial);
      X509_REVOKED_set_serialNumber(r, n);
      X509_REVOKED_set_revocationDate(r, last);
      ASN1_INTEGER_free(n);
      X509_CRL_add0_revoked(crl, r);
    }
    X509_CRL_sort(crl);
    X509_CRL_sign(crl, signer, EVP_sha256());
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_CRL(bio, crl);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(len));
    BIO_free(bio);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    X509_CRL_free(crl);
    return pem;
  }
  TlsSettings WithCrls(std::vector<std::string> files) {
    TlsSettings s = Settings("server.pem", "server.key", "ca.pem");
    for (auto& f : files) s.client_crl_files.push_back((dir_ / f).string());
    return s;
  }

  fs::path dir_;
  KeyPtr ca_key_;
  CertPtr ca_;
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

TEST_F(TlsFiles, CrlsAddToTheClientTrustAndRevokeCertificates) {
  KeyPtr leaf_key = NewKey();
  CertPtr leaf = MakeCert(leaf_key.get(), {"build-7"}, "", ca_.get(), ca_key_.get());  // serial 7
  WriteText("none-revoked.pem", MakeCrl(ca_.get(), ca_key_.get(), {8}));
  WriteText("revoked.pem", MakeCrl(ca_.get(), ca_key_.get(), {3, 7}));
  auto plain = TlsServerContext::Load(Settings("server.pem", "server.key", "ca.pem"));
  auto clean = TlsServerContext::Load(WithCrls({"none-revoked.pem"}));
  auto revoking = TlsServerContext::Load(WithCrls({"revoked.pem"}));
  ASSERT_TRUE(plain.ok() && clean.ok() && revoking.ok()) << revoking.status().message();
  EXPECT_NE((*clean)->client_trust(), (*plain)->client_trust());
  EXPECT_NE((*clean)->client_trust(), (*revoking)->client_trust());
  EXPECT_EQ((*clean)->client_trust().rfind((*plain)->client_trust() + ":crl:", 0), 0u);

  EXPECT_EQ(VerifyClientCertificate(**plain, leaf.get(), nullptr), "");
  EXPECT_EQ(VerifyClientCertificate(**clean, leaf.get(), nullptr), "");
  EXPECT_EQ(VerifyClientCertificate(**revoking, leaf.get(), nullptr), "certificate revoked");
  // With CRLs, a certificate whose issuer has none does not verify.
  KeyPtr ca2_key = NewKey();
  CertPtr ca2 = MakeCert(ca2_key.get(), {"second CA"}, "", nullptr, nullptr, true);
  WriteCert("both.pem", ca_.get());
  {
    std::ofstream out(dir_ / "both.pem", std::ios::app);
    WriteCert("ca2.pem", ca2.get());
    std::ifstream in(dir_ / "ca2.pem");
    out << in.rdbuf();
  }
  TlsSettings both = WithCrls({"none-revoked.pem"});
  both.client_ca_file = (dir_ / "both.pem").string();
  auto partial = TlsServerContext::Load(both);
  ASSERT_TRUE(partial.ok()) << partial.status().message();
  CertPtr other_leaf = MakeCert(leaf_key.get(), {"ci"}, "", ca2.get(), ca2_key.get());
  EXPECT_EQ(VerifyClientCertificate(**partial, other_leaf.get(), nullptr), "unable to get certificate CRL");
  EXPECT_EQ(VerifyClientCertificate(**partial, leaf.get(), nullptr), "");
  // A certificate from a CA no longer trusted.
  EXPECT_EQ(VerifyClientCertificate(**plain, other_leaf.get(), nullptr), "unable to get local issuer certificate");
}

TEST_F(TlsFiles, ClientStandingWithoutACertificateFollowsTheRequirement) {
  auto asked = TlsServerContext::Load(Settings("server.pem", "server.key", "ca.pem"));
  TlsSettings required_settings = Settings("server.pem", "server.key", "ca.pem");
  required_settings.require_client_cert = true;
  auto required = TlsServerContext::Load(required_settings);
  auto none = TlsServerContext::Load(Settings("server.pem", "server.key"));
  auto again = TlsServerContext::Load(Settings("server.pem", "server.key", "ca.pem"));
  ASSERT_TRUE(asked.ok() && required.ok() && none.ok() && again.ok());
  EXPECT_TRUE((*asked)->asks_client_cert());
  EXPECT_FALSE((*asked)->requires_client_cert());
  EXPECT_TRUE((*required)->requires_client_cert());
  EXPECT_FALSE((*none)->asks_client_cert());
  // No SSL: a connection without a (verified) certificate.
  EXPECT_EQ(ClientStandingLost(nullptr, **asked, asked->get()), "");
  EXPECT_EQ(ClientStandingLost(nullptr, **asked, again->get()), "");
  EXPECT_EQ(ClientStandingLost(nullptr, **asked, none->get()), "");
  EXPECT_EQ(ClientStandingLost(nullptr, **asked, required->get()), "a client certificate is now required");
  EXPECT_EQ(ClientStandingLost(nullptr, **asked, nullptr), "tls settings removed");
}

// A connection's standing is checked once per context it meets, not on
// every request or review under one it already stood under; a lost
// standing is never remembered.
TEST_F(TlsFiles, ClientStandingIsCheckedOncePerContext) {
  TlsSettings required_settings = Settings("server.pem", "server.key", "ca.pem");
  required_settings.require_client_cert = true;
  auto asked = TlsServerContext::Load(Settings("server.pem", "server.key", "ca.pem"));
  auto again = TlsServerContext::Load(Settings("server.pem", "server.key", "ca.pem"));
  auto none = TlsServerContext::Load(Settings("server.pem", "server.key"));
  auto required = TlsServerContext::Load(required_settings);
  ASSERT_TRUE(asked.ok() && again.ok() && none.ok() && required.ok());
  ClientStanding standing(*asked);
  EXPECT_EQ(&standing.handshake(), asked->get());
  EXPECT_EQ(standing.LostUnder(nullptr, *asked), "");  // the handshake's own context
  EXPECT_EQ(standing.checks(), 0u);
  EXPECT_EQ(standing.LostUnder(nullptr, *again), "");
  EXPECT_EQ(standing.checks(), 1u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(standing.LostUnder(nullptr, *again), "");
  EXPECT_EQ(standing.checks(), 1u);
  EXPECT_EQ(standing.LostUnder(nullptr, *none), "");
  EXPECT_EQ(standing.LostUnder(nullptr, *again), "");  // not the last context it stood under
  EXPECT_EQ(standing.checks(), 3u);
  EXPECT_EQ(standing.LostUnder(nullptr, *required), "a client certificate is now required");
  EXPECT_EQ(standing.LostUnder(nullptr, *required), "a client certificate is now required");
  EXPECT_EQ(standing.LostUnder(nullptr, nullptr), "tls settings removed");
  EXPECT_EQ(standing.checks(), 6u);
  // A context freed after the standing held under it: the next one is
  // checked. (The test cannot force the allocator to reuse the freed
  // address; ReloadReview covers reuse, where tcache does hand it back.)
  {
    auto short_lived = TlsServerContext::Load(Settings("server.pem", "server.key"));
    ASSERT_TRUE(short_lived.ok());
    EXPECT_EQ(standing.LostUnder(nullptr, *short_lived), "");
  }
  auto next = TlsServerContext::Load(Settings("server.pem", "server.key"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(standing.LostUnder(nullptr, *next), "");
  EXPECT_EQ(standing.checks(), 8u);
}

TEST_F(TlsFiles, CrlErrorsRejectTheContext) {
  auto error = [&](const std::vector<std::string>& files) { return LoadError(WithCrls(files)); };
  std::string crl_path = (dir_ / "crl.pem").string();
  // Issued by a CA that is not a client CA.
  KeyPtr stranger_key = NewKey();
  CertPtr stranger = MakeCert(stranger_key.get(), {"stranger CA"}, "", nullptr, nullptr, true);
  WriteText("crl.pem", MakeCrl(stranger.get(), stranger_key.get(), {7}));
  EXPECT_EQ(error({"crl.pem"}), "config: tls.client_crl_file: the CRL from CN=stranger CA in " + crl_path +
                                    ": its issuer is not in tls.client_ca_file");
  // The client CA's name, another key.
  WriteText("crl.pem", MakeCrl(ca_.get(), stranger_key.get(), {7}));
  EXPECT_EQ(error({"crl.pem"}), "config: tls.client_crl_file: the CRL from CN=test CA in " + crl_path +
                                    ": its signature does not verify with the CA's key");
  // Out of date, or not yet valid.
  WriteText("crl.pem", MakeCrl(ca_.get(), ca_key_.get(), {7}, -7200, -3600));
  EXPECT_EQ(error({"crl.pem"}).rfind("config: tls.client_crl_file: the CRL from CN=test CA in " + crl_path +
                                         ": expired (next update was due 20",
                                     0),
            0u)
      << error({"crl.pem"});
  WriteText("crl.pem", MakeCrl(ca_.get(), ca_key_.get(), {7}, 3600, 7200));
  EXPECT_EQ(error({"crl.pem"}).rfind("config: tls.client_crl_file: the CRL from CN=test CA in " + crl_path +
                                         ": not valid before 20",
                                     0),
            0u);
  // No CRL at all, a damaged one, a missing file.
  EXPECT_EQ(error({"ca.pem"}), "config: tls.client_crl_file: no PEM CRL (X509 CRL) in " + (dir_ / "ca.pem").string());
  std::string good = MakeCrl(ca_.get(), ca_key_.get(), {7});
  std::string damaged = good;
  damaged[damaged.find('\n') + 10] = '*';
  WriteText("crl.pem", good + damaged);
  EXPECT_EQ(error({"crl.pem"}).rfind("config: tls.client_crl_file: unreadable CRL (number 2) in " + crl_path, 0), 0u)
      << error({"crl.pem"});
  EXPECT_EQ(error({"missing.pem"}),
            "config: tls.client_crl_file: cannot open " + (dir_ / "missing.pem").string());
  // Two good CRLs in one file, then a second file: fine.
  WriteText("crl.pem", good + MakeCrl(ca_.get(), ca_key_.get(), {9}));
  WriteText("crl2.pem", good);
  EXPECT_EQ(error({"crl.pem", "crl2.pem"}), "");
}

TEST_F(TlsFiles, CrlConfigKeys) {
  WriteText("crl.pem", MakeCrl(ca_.get(), ca_key_.get(), {7}));
  auto cfg = Parse(R"({"cert_file": "server.pem", "key_file": "server.key", "client_ca_file": "ca.pem",
                       "client_crl_file": "crl.pem"})",
                   "\"workers\": 1");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ((*cfg)->tls.client_crl_files, std::vector<std::string>{(dir_ / "crl.pem").string()});
  cfg = Parse(R"({"cert_file": "server.pem", "key_file": "server.key", "client_ca_file": "ca.pem",
                  "client_crl_file": ["crl.pem", "crl.pem"]})",
              "\"workers\": 1");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ((*cfg)->tls.client_crl_files.size(), 2u);
  EXPECT_EQ(ParseError(R"({"cert_file": "server.pem", "key_file": "server.key", "client_crl_file": "crl.pem"})",
                       "\"workers\": 1"),
            "config: tls.client_crl_file: needs tls.client_ca_file");
  std::string base = R"({"cert_file": "server.pem", "key_file": "server.key", "client_ca_file": "ca.pem", )";
  EXPECT_EQ(ParseError(base + R"("client_crl_file": []})", "\"workers\": 1"),
            "config: tls.client_crl_file: must not be an empty array");
  EXPECT_EQ(ParseError(base + R"("client_crl_file": 3})", "\"workers\": 1"),
            "config: tls.client_crl_file: must be a file name or an array of them");
  EXPECT_EQ(ParseError(base + R"("client_crl_file": [""]})", "\"workers\": 1"),
            "config: tls.client_crl_file: file names must not be empty");
  std::string many = "[";
  for (int i = 0; i < 17; ++i) many += std::string(i ? "," : "") + "\"crl.pem\"";
  many += "]";
  EXPECT_EQ(ParseError(base + R"("client_crl_file": )" + many + "}", "\"workers\": 1"),
            "config: tls.client_crl_file: at most 16 files");
}

}  // namespace
}  // namespace rampart::proxy
