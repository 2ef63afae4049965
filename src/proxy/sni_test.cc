#include "rampart/proxy/sni.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rampart::proxy {
namespace {

using Outcome = ClientHelloInfo::Outcome;

// Little builders for TLS presentation-language structures.
std::string U8(uint32_t v) { return std::string(1, static_cast<char>(v & 0xff)); }
std::string U16(uint32_t v) { return U8(v >> 8) + U8(v); }
std::string U24(uint32_t v) { return U8(v >> 16) + U16(v & 0xffff); }
std::string Vec8(const std::string& s) { return U8(static_cast<uint32_t>(s.size())) + s; }
std::string Vec16(const std::string& s) { return U16(static_cast<uint32_t>(s.size())) + s; }

std::string Extension(uint32_t type, const std::string& data) { return U16(type) + Vec16(data); }
std::string SniExtension(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& n : names) list += U8(0) + Vec16(n);
  return Extension(0, Vec16(list));
}

std::string ClientHelloBody(const std::string& extensions, bool with_extensions = true) {
  std::string body = U16(0x0303) + std::string(32, 'r') + Vec8("") + Vec16(U16(0x1301) + U16(0x002f)) +
                     Vec8(U8(0));
  if (with_extensions) body += Vec16(extensions);
  return body;
}

std::string Handshake(const std::string& body) { return U8(1) + U24(static_cast<uint32_t>(body.size())) + body; }

std::string Records(const std::string& handshake, size_t fragment = 16384) {
  std::string out;
  for (size_t i = 0; i < handshake.size(); i += fragment) {
    std::string part = handshake.substr(i, fragment);
    out += U8(22) + U16(0x0301) + Vec16(part);
  }
  return out;
}

std::string Hello(const std::string& extensions) { return Records(Handshake(ClientHelloBody(extensions))); }

TEST(Sni, ReadsServerName) {
  auto info = ParseClientHello(Hello(Extension(10, "xx") + SniExtension({"a.example.com"}) + Extension(43, "yy")));
  ASSERT_EQ(info.outcome, Outcome::kOk) << info.error;
  EXPECT_TRUE(info.has_sni);
  EXPECT_EQ(info.sni, "a.example.com");
  EXPECT_FALSE(info.has_ech);
}

TEST(Sni, NoSniAndNoExtensions) {
  auto none = ParseClientHello(Hello(Extension(10, "xx")));
  EXPECT_EQ(none.outcome, Outcome::kOk);
  EXPECT_FALSE(none.has_sni);
  auto bare = ParseClientHello(Records(Handshake(ClientHelloBody("", false))));
  EXPECT_EQ(bare.outcome, Outcome::kOk);
  EXPECT_FALSE(bare.has_sni);
}

TEST(Sni, FragmentedOverRecords) {
  std::string hs = Handshake(ClientHelloBody(SniExtension({"frag.example"})));
  for (size_t frag : {1u, 3u, 7u, 50u}) {
    auto info = ParseClientHello(Records(hs, frag));
    ASSERT_EQ(info.outcome, Outcome::kOk) << frag;
    EXPECT_EQ(info.sni, "frag.example");
  }
}

TEST(Sni, EveryPrefixNeedsMore) {
  std::string full = Records(Handshake(ClientHelloBody(SniExtension({"p.example"}))), 40);
  for (size_t n = 0; n < full.size(); ++n) {
    EXPECT_EQ(ParseClientHello(full.substr(0, n)).outcome, Outcome::kNeedMore) << n;
  }
  EXPECT_EQ(ParseClientHello(full).outcome, Outcome::kOk);
  // Bytes after the ClientHello's records (e.g. early data) are not ours to judge.
  EXPECT_EQ(ParseClientHello(full + U8(23) + U16(0x0303) + Vec16("zz")).outcome, Outcome::kOk);
}

TEST(Sni, NotTls) {
  EXPECT_EQ(ParseClientHello("GET / HTTP/1.1\r\n\r\n").outcome, Outcome::kNotTls);
  EXPECT_EQ(ParseClientHello(U8(23) + U16(0x0303) + Vec16("x")).outcome, Outcome::kNotTls);
  EXPECT_EQ(ParseClientHello(U8(22) + U16(0x0203) + Vec16("x")).outcome, Outcome::kNotTls);
  EXPECT_EQ(ParseClientHello("SSH-2.0-OpenSSH_9.2\r\n").outcome, Outcome::kNotTls);
}

TEST(Sni, HostileInputs) {
  std::string good_body = ClientHelloBody(SniExtension({"h.example"}));
  std::string cases[] = {
      // zero-length and oversized records
      U8(22) + U16(0x0301) + U16(0),
      U8(22) + U16(0x0301) + U16(16385) + std::string(16385, 'x'),
      // a handshake that is not a ClientHello
      Records(U8(2) + U24(static_cast<uint32_t>(good_body.size())) + good_body),
      // a non-handshake record in the middle of a fragmented ClientHello
      Records(Handshake(good_body).substr(0, 10)) + U8(23) + U16(0x0303) + Vec16("x"),
      // bogus lengths inside the body
      Records(Handshake(U16(0x0303) + std::string(32, 'r') + U8(33) + std::string(33, 's'))),
      Records(Handshake(U16(0x0303) + std::string(32, 'r') + Vec8("") + U16(3) + "abc" + Vec8(U8(0)))),
      Records(Handshake(U16(0x0303) + std::string(32, 'r') + Vec8("") + Vec16(U16(1)) + Vec8(""))),
      Records(Handshake(ClientHelloBody("") + "junk")),
      Records(Handshake(U16(0x0303) + std::string(32, 'r') + Vec8("") + Vec16(U16(1)) + Vec8(U8(0)) +
                        U16(50) + "short")),
      // extension length running past the extensions block
      Records(Handshake(ClientHelloBody(U16(0) + U16(100) + "abc"))),
      // duplicate extensions, two host names, empty names, trailing bytes
      Hello(SniExtension({"a.example"}) + SniExtension({"b.example"})),
      Hello(Extension(10, "x") + Extension(10, "y")),
      Hello(SniExtension({"a.example", "b.example"})),
      Hello(SniExtension({""})),
      Hello(Extension(0, "")),
      Hello(Extension(0, Vec16(U8(0) + Vec16("a.example")) + "z")),
      Hello(Extension(0, U16(40) + U8(0) + Vec16("a.example"))),
      // a handshake message after the ClientHello in the same flight
      Records(Handshake(good_body) + Handshake(good_body)),
  };
  for (size_t i = 0; i < std::size(cases); ++i) {
    auto info = ParseClientHello(cases[i]);
    EXPECT_EQ(info.outcome, Outcome::kMalformed) << "case " << i;
  }
}

TEST(Sni, TooLarge) {
  // The declared handshake length alone is over the limit.
  std::string hs = U8(1) + U24(40000);
  EXPECT_EQ(ParseClientHello(Records(hs)).outcome, Outcome::kTooLarge);
  std::string many;
  while (many.size() <= kMaxClientHelloFlight) many += U8(22) + U16(0x0301) + Vec16(std::string(1000, '\x01'));
  EXPECT_NE(ParseClientHello(many).outcome, Outcome::kOk);
  EXPECT_NE(ParseClientHello(many).outcome, Outcome::kNeedMore);
}

TEST(Sni, OtherNameTypesAreSkippedAndEchIsReported) {
  std::string list = U8(7) + Vec16("opaque") + U8(0) + Vec16("n.example");
  auto info = ParseClientHello(Hello(Extension(0, Vec16(list)) + Extension(0xfe0d, "ech")));
  ASSERT_EQ(info.outcome, Outcome::kOk);
  EXPECT_EQ(info.sni, "n.example");
  EXPECT_TRUE(info.has_ech);
}

// Differential check: the ClientHello OpenSSL really sends.
std::string OpenSslClientHello(const char* sni, int max_version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  if (sni != nullptr) SSL_set_tlsext_host_name(ssl, sni);
  SSL_set_connect_state(ssl);
  (void)SSL_do_handshake(ssl);  // wants to read: the ClientHello is in wbio
  char* data = nullptr;
  long n = BIO_get_mem_data(wbio, &data);
  std::string out(data, static_cast<size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}

TEST(Sni, RealOpenSslClientHello) {
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    std::string hello = OpenSslClientHello("real.example.net", version);
    ASSERT_GT(hello.size(), 50u);
    auto info = ParseClientHello(hello);
    ASSERT_EQ(info.outcome, Outcome::kOk) << info.error;
    EXPECT_EQ(info.sni, "real.example.net");
    for (size_t n : {size_t{1}, size_t{5}, hello.size() / 2, hello.size() - 1}) {
      EXPECT_EQ(ParseClientHello(hello.substr(0, n)).outcome, Outcome::kNeedMore);
    }
  }
  auto none = ParseClientHello(OpenSslClientHello(nullptr, TLS1_3_VERSION));
  EXPECT_EQ(none.outcome, Outcome::kOk);
  EXPECT_FALSE(none.has_sni);
}

}  // namespace
}  // namespace rampart::proxy
