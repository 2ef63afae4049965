// The ciphertext blob parser and the canonical encryption context, with
// hostile inputs.
#include "rampart/kms/ciphertext.h"

#include <gtest/gtest.h>

namespace rampart::kms {
namespace {

constexpr std::string_view kId = "1234abcd-12ab-34cd-56ef-1234567890ab";

std::string Blob(std::string_view id, uint32_t version, size_t body) {
  return EncodeBlobHeader({std::string(id), version}) + std::string(body, 'x');
}

void ExpectInvalid(std::string_view blob) {
  auto parsed = ParseBlob(blob);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().modeled(), "InvalidCiphertextException");
}

TEST(CiphertextTest, RoundTripsTheHeader) {
  std::string blob = Blob(kId, 7, kBlobSealedMin + 5);
  auto parsed = ParseBlob(blob);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->header.key_id, kId);
  EXPECT_EQ(parsed->header.material_version, 7u);
  EXPECT_EQ(parsed->header_bytes.size(), 4 + kId.size() + 4);
  EXPECT_EQ(parsed->sealed.size(), kBlobSealedMin + 5);
  EXPECT_EQ(std::string(parsed->header_bytes) + std::string(parsed->sealed), blob);
}

TEST(CiphertextTest, MultiRegionKeyIds) {
  const std::string mrk = "mrk-1234abcd12ab34cd56ef1234567890ab";
  auto parsed = ParseBlob(Blob(mrk, 1, kBlobSealedMin));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->header.key_id, mrk);
  // "mrk-" only as a prefix, and nothing else outside [0-9a-f-].
  ExpectInvalid(Blob("1234mrk-abcd", 1, kBlobSealedMin));
  ExpectInvalid(Blob("mrk-mrk-1234", 1, kBlobSealedMin));
  ExpectInvalid(Blob("MRK-1234abcd", 1, kBlobSealedMin));
}

TEST(CiphertextTest, VersionIsBigEndian) {
  std::string h = EncodeBlobHeader({std::string(kId), 0x01020304});
  EXPECT_EQ(h.substr(h.size() - 4), std::string("\x01\x02\x03\x04", 4));
}

TEST(CiphertextTest, RejectsMalformedBlobs) {
  ExpectInvalid("");
  ExpectInvalid("R");
  ExpectInvalid("RK");
  ExpectInvalid("RK\x01");
  std::string good = Blob(kId, 1, kBlobSealedMin);
  ASSERT_TRUE(ParseBlob(good).ok());
  std::string bad = good;
  bad[0] = 'X';  // magic
  ExpectInvalid(bad);
  bad = good;
  bad[2] = 2;  // unknown format
  ExpectInvalid(bad);
  bad = good;
  bad[3] = 0;  // empty key id
  ExpectInvalid(bad);
  bad = good;
  bad[3] = static_cast<char>(kMaxBlobKeyId + 1);
  ExpectInvalid(bad);
  bad = good;
  bad[3] = static_cast<char>(200);  // longer than the blob
  ExpectInvalid(bad);
  bad = good;
  bad[5] = 'Z';  // not a key id character
  ExpectInvalid(bad);
  ExpectInvalid(Blob(kId, 0, kBlobSealedMin));                // version 0
  ExpectInvalid(Blob(kId, 1, kBlobSealedMin - 1));            // no room for nonce + tag
  ExpectInvalid(good.substr(0, good.size() - kBlobSealedMin));  // header only
}

TEST(CiphertextTest, EveryTruncationIsRejectedOrParsesConsistently) {
  std::string good = Blob(kId, 3, kBlobSealedMin + 10);
  for (size_t n = 0; n < good.size(); ++n) {
    auto parsed = ParseBlob(good.substr(0, n));
    if (parsed.ok()) {
      EXPECT_GE(parsed->sealed.size(), kBlobSealedMin);
    }
  }
}

TEST(CiphertextTest, ContextIsSortedAndCanonical) {
  json::Value in = json::Value::MakeObject();
  json::Value ctx = json::Value::MakeObject();
  ctx.set("b", "2");
  ctx.set("a", "1");
  in.set("EncryptionContext", ctx);
  auto read = ReadEncryptionContext(in.find("EncryptionContext"));
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].first, "a");
  EncryptionContext same = {{"a", "1"}, {"b", "2"}};
  EXPECT_EQ(CanonicalContext(*read), CanonicalContext(same));
  // Lengths make the encoding unambiguous: {"ab": ""} differs from {"a": "b"}.
  EXPECT_NE(CanonicalContext({{"ab", ""}}), CanonicalContext({{"a", "b"}}));
  EXPECT_NE(CanonicalContext({}), CanonicalContext({{"", ""}}));
  EXPECT_TRUE(ReadEncryptionContext(nullptr)->empty());
}

TEST(CiphertextTest, ContextRejectsNonStringsAndDuplicates) {
  json::Value bad = json::Value::MakeObject();
  bad.set("a", 1);
  EXPECT_FALSE(ReadEncryptionContext(&bad).ok());
  json::Value dup(json::Object{{"k", "1"}, {"k", "2"}});
  EXPECT_FALSE(ReadEncryptionContext(&dup).ok());
  json::Value not_map("x");
  EXPECT_FALSE(ReadEncryptionContext(&not_map).ok());
}

}  // namespace
}  // namespace rampart::kms
