// SSH public key parsing and fingerprints (iam_ssh_keys.cc), checked
// against what ssh-keygen prints for the same fixture key.
#include <gtest/gtest.h>

#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"

namespace rampart::iam::internal {
namespace {

// ssh-keygen -t rsa -b 2048 -C fixture
constexpr std::string_view kSsh =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDJCaa09H3V8C3wlszY0Z6TzPk9AU4TTxCd5gXLxZgnaB/o2B3QDYdh"
    "VCKjsVvf3M+JWSIZhC8vyEFnz3MlhdcVjzZ/HKsYm0j3K9800A2tthAOW3bKblZce1bi7YNtAGeefQpTJQ3PHK1Ng8jH5"
    "jIuPBPcvBiGnlNAi23xqjlcpBdgefsjrD7ywx0EteonKNnr7h+odVtH+otfbi8bY6Yf2kPJCYJ+PcOuhyigver8hBxXtr"
    "iYzbYoeXN9Fdkht1v0+vVyKOHryp5lhBqCKmqFIi7VEAOOx5hTzE7feYg9bTASLBLk381dOEiVyTCoF0PpxORj7oTHNePw"
    "g3F3bktt";
// ssh-keygen -l -E md5
constexpr std::string_view kFingerprint = "10:91:fe:fd:34:60:66:57:4e:ea:68:e5:8f:0f:40:1d";
// ssh-keygen -e -m PKCS8
constexpr std::string_view kSpki = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyQmmtPR91fAt8JbM2NGe
k8z5PQFOE08QneYFy8WYJ2gf6Ngd0A2HYVQio7Fb39zPiVkiGYQvL8hBZ89zJYXX
FY82fxyrGJtI9yvfNNANrbYQDlt2ym5WXHtW4u2DbQBnnn0KUyUNzxytTYPIx+Yy
LjwT3LwYhp5TQItt8ao5XKQXYHn7I6w+8sMdBLXqJyjZ6+4fqHVbR/qLX24vG2Om
H9pDyQmCfj3DrocooL3q/IQcV7a4mM22KHlzfRXZIbdb9Pr1cijh68qeZYQagipq
hSIu1RADjseYU8xO33mIPW0wEiwS5N/NXThIlckwqBdD6cTkY+6ExzXj8INxd25L
bQIDAQAB
-----END PUBLIC KEY-----
)";
// ssh-keygen -e -m PEM (PKCS#1)
constexpr std::string_view kPkcs1 = R"(-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAyQmmtPR91fAt8JbM2NGek8z5PQFOE08QneYFy8WYJ2gf6Ngd0A2H
YVQio7Fb39zPiVkiGYQvL8hBZ89zJYXXFY82fxyrGJtI9yvfNNANrbYQDlt2ym5W
XHtW4u2DbQBnnn0KUyUNzxytTYPIx+YyLjwT3LwYhp5TQItt8ao5XKQXYHn7I6w+
8sMdBLXqJyjZ6+4fqHVbR/qLX24vG2OmH9pDyQmCfj3DrocooL3q/IQcV7a4mM22
KHlzfRXZIbdb9Pr1cijh68qeZYQagipqhSIu1RADjseYU8xO33mIPW0wEiwS5N/N
XThIlckwqBdD6cTkY+6ExzXj8INxd25LbQIDAQAB
-----END RSA PUBLIC KEY-----
)";
constexpr std::string_view kSmall =
    "ssh-rsa "
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQC6WJPaEkWxVhRQhpcGDU1pH9x1PmVHw28s5qEkI1wZ3EC02qISaxfB9Vx"
    "4HnmJA1xpRZbozWyKtbf9vOAh43wTt3FOIn2AzF4V79+wAn1E4NtE/XT1uzUxu7AyZpZ+QXVINgEpN2xAtg8gUUDyMul0p"
    "+WS8QmFCpZjYDjQMiVufQ== small";

std::string ModeledOf(const Status& s) { return std::string(s.modeled()); }

TEST(ParseSshPublicKey, OpenSshLineMatchesSshKeygen) {
  auto key = ParseSshPublicKey(std::string(kSsh) + " fixture\n");
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(key->bits, 2048);
  EXPECT_EQ(key->fingerprint, kFingerprint);
  EXPECT_EQ(key->ssh, kSsh);  // the comment is dropped
  EXPECT_EQ(key->pem, kSpki);
}

TEST(ParseSshPublicKey, BothPemFormsGiveTheSameKey) {
  for (std::string_view pem : {kSpki, kPkcs1}) {
    auto key = ParseSshPublicKey(pem);
    ASSERT_TRUE(key.ok()) << key.status().message();
    EXPECT_EQ(key->fingerprint, kFingerprint);
    EXPECT_EQ(key->ssh, kSsh);
  }
}

TEST(ParseSshPublicKey, RefusesShortKeysAndOtherAlgorithms) {
  auto small = ParseSshPublicKey(kSmall);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(ModeledOf(small.status()), "InvalidPublicKeyException");
  for (std::string_view other :
       {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== x", "", "   ", "ssh-dss AAAA",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n"
        "-----END PUBLIC KEY-----\n"}) {
    auto r = ParseSshPublicKey(other);
    ASSERT_FALSE(r.ok()) << other;
    EXPECT_EQ(ModeledOf(r.status()), "UnrecognizedPublicKeyEncodingException") << other;
  }
}

// Blobs that lie about their lengths or carry extra bytes.
TEST(ParseSshPublicKey, HostileBlobsAreInvalidNotFatal) {
  auto blob = Base64Decode(std::string_view(kSsh).substr(8));
  ASSERT_TRUE(blob.has_value());
  std::vector<std::string> bad;
  bad.push_back(blob->substr(0, blob->size() - 1));  // n cut short
  bad.push_back(*blob + "x");                        // trailing byte
  std::string huge = *blob;
  huge[0] = '\x7f';  // type length 2^31
  bad.push_back(huge);
  std::string wrong_type = *blob;
  wrong_type[4 + 4] = 'x';  // "ssh-rxa"
  bad.push_back(wrong_type);
  for (const std::string& b : bad) {
    auto r = ParseSshPublicKey("ssh-rsa " + Base64Encode(b));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(ModeledOf(r.status()), "InvalidPublicKeyException");
  }
  auto not_base64 = ParseSshPublicKey("ssh-rsa !!!!");
  ASSERT_FALSE(not_base64.ok());
  EXPECT_EQ(ModeledOf(not_base64.status()), "InvalidPublicKeyException");
}

}  // namespace
}  // namespace rampart::iam::internal
