// PEM certificate, chain and private key checks (iam_server_certificates.cc),
// on fixtures made by the openssl command (test-only keys).
#include <gtest/gtest.h>

#include "iam/iam_internal.h"

namespace rampart::iam::internal {
namespace {

// openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes
//   -days 36500 -subj /CN=idp.fixture
constexpr std::string_view kCert = R"(-----BEGIN CERTIFICATE-----
MIIBhDCCASmgAwIBAgIUAl3hJYhRboUy42K/4yqExbz/K38wCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLaWRwLmZpeHR1cmUwIBcNMjYxMTI5MTAxMjE4WhgPMjEyNjEx
MDUxMDEyMThaMBYxFDASBgNVBAMMC2lkcC5maXh0dXJlMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEv8ADjUu0jMuHFisVoJ8sGKDELNd0TuwqQ/LSmlnMAgHSRDQC
eShHZOxL5kW+v2pORc9i/0hsyYYq3WVOStdVwqNTMFEwHQYDVR0OBBYEFMk+bKzg
n3cqjxi/KPoRRExoZHsGMB8GA1UdIwQYMBaAFMk+bKzgn3cqjxi/KPoRRExoZHsG
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAM4VurOu7urNSC1W
uIXe3+Z1pys76hDcfMUvyDw93FeGAiEAqDK2qT2Fm6ZvUeHevv0hCXTM8xhDI+VV
ZRTtRbCdals=
-----END CERTIFICATE-----
)";
constexpr std::string_view kKey = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgOtshSv9+0hQ4vBO5
bdTK+WIBQEQZLlN+YAXO6GKMn3WhRANCAAS/wAONS7SMy4cWKxWgnywYoMQs13RO
7CpD8tKaWcwCAdJENAJ5KEdk7EvmRb6/ak5Fz2L/SGzJhirdZU5K11XC
-----END PRIVATE KEY-----
)";
// Another P-256 key: valid, but not the certificate's.
constexpr std::string_view kOtherKey = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgU1a5frUutjmN5ab+
dmAJZXXyquKQAghW5AUVnvjtt3+hRANCAASe89hYreeihaLMLK2riSUrDLvp5Fth
tIbtPzRySXCM0rSIHfNAFFNFo2a4Lin4omXVSDoyxyPI9ugWmXGCWgVr
-----END PRIVATE KEY-----
)";

std::string ModeledOf(const Status& s) { return std::string(s.modeled()); }

TEST(ParsePemCertificate, ReadsTheValidityPeriod) {
  auto info = ParsePemCertificate(kCert);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->not_before, 1795947138);  // 2026-11-29T10:12:18Z
  EXPECT_EQ(info->not_after, 4949547138);   // 2126-11-05T10:12:18Z
  EXPECT_EQ(static_cast<unsigned char>(info->der[0]), 0x30);
  EXPECT_EQ(info->der.size(), 392u);
}

TEST(ParsePemCertificate, RefusesWhatIsNotAPemCertificate) {
  std::string truncated(kCert.substr(0, kCert.size() / 2));
  std::string flipped(kCert);
  flipped[100] = flipped[100] == 'A' ? 'B' : 'A';
  for (std::string_view bad : {std::string_view(""), std::string_view("hello"), kKey,
                               std::string_view(truncated), std::string_view(flipped),
                               std::string_view("-----BEGIN CERTIFICATE-----\n\xff\xfe\n"
                                                "-----END CERTIFICATE-----\n")}) {
    auto r = ParsePemCertificate(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(ModeledOf(r.status()), "MalformedCertificateException");
  }
}

TEST(CheckPemChain, EveryBlockMustParse) {
  std::string two = std::string(kCert) + "\n" + std::string(kCert);
  EXPECT_TRUE(CheckPemChain(kCert).ok());
  EXPECT_TRUE(CheckPemChain(two).ok());
  std::string broken = two + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_EQ(ModeledOf(CheckPemChain(broken)), "MalformedCertificateException");
  EXPECT_EQ(ModeledOf(CheckPemChain("no certificates here")), "MalformedCertificateException");
}

TEST(CheckKeyMatchesCertificate, MatchMismatchAndGarbage) {
  EXPECT_TRUE(CheckKeyMatchesCertificate(kCert, kKey).ok());
  EXPECT_EQ(ModeledOf(CheckKeyMatchesCertificate(kCert, kOtherKey)), "KeyPairMismatchException");
  EXPECT_EQ(ModeledOf(CheckKeyMatchesCertificate(kCert, "not a key")),
            "MalformedCertificateException");
  EXPECT_EQ(ModeledOf(CheckKeyMatchesCertificate("not a cert", kKey)),
            "MalformedCertificateException");
}

TEST(CheckKeyMatchesCertificate, EncryptedKeysFailWithoutPrompting) {
  // PKCS#8 EncryptedPrivateKeyInfo header: OpenSSL would ask for a
  // passphrase on the terminal if the callback let it.
  constexpr std::string_view kEncrypted =
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
      "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhA2b5Y8C3wJQICCAAw\n"
      "-----END ENCRYPTED PRIVATE KEY-----\n";
  EXPECT_EQ(ModeledOf(CheckKeyMatchesCertificate(kCert, kEncrypted)),
            "MalformedCertificateException");
}

}  // namespace
}  // namespace rampart::iam::internal
