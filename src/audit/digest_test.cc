// Digest files: their format, the chain TrailDelivery and DigestWriter
// build, signing keys, and offline validation of tampered trail
// directories.
#include "rampart/audit/digest.h"

#include <isa-l/crc.h>
#include <zlib.h>

#include <random>
#include <set>

#include "audit/digest_test_fixture.h"

namespace rampart::audit {
namespace {

using namespace digest_testing;

TEST(DigestFormatTest, ObjectKeyFollowsCloudTrailLayout) {
  EXPECT_EQ(DigestObjectKey("", "", "111122223333", "eu-west-1", "my_trail", "us-east-1",
                            At(1764331505)),
            "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2025/11/28/"
            "111122223333_CloudTrail-Digest_eu-west-1_my_trail_us-east-1_20251128T120505Z.json.gz");
  EXPECT_TRUE(
      DigestObjectKey("pre/fix", "", "1", "r", "t", "h", At(0)).starts_with("pre/fix/AWSLogs/"));
  // An organization trail's digest of a member account's log files.
  EXPECT_EQ(DigestObjectKey("", "o-abcdef1234", "444455556666", "us-east-1", "org", "us-east-1",
                            At(1764331505)),
            "AWSLogs/o-abcdef1234/444455556666/CloudTrail-Digest/us-east-1/2025/11/28/"
            "444455556666_CloudTrail-Digest_us-east-1_org_us-east-1_20251128T120505Z.json.gz");
}

TEST(DigestFormatTest, FirstDigestHasNullPreviousFields) {
  DigestContents d;
  d.account_id = std::string(kAccount);
  d.start = At(1000);
  d.end = At(4600);
  d.bucket = "logs";
  d.object = "AWSLogs/x.json.gz";
  d.fingerprint = "abc";
  auto parsed = json::Parse(DigestJson(d));
  ASSERT_TRUE(parsed.ok());
  for (std::string_view f : {"previousDigestS3Bucket", "previousDigestS3Object",
                             "previousDigestHashValue", "previousDigestHashAlgorithm",
                             "previousDigestSignature", "newestEventTime", "oldestEventTime"}) {
    ASSERT_NE(parsed->find(f), nullptr) << f;
    EXPECT_TRUE(parsed->find(f)->is_null()) << f;
  }
  EXPECT_EQ(parsed->get_string("digestStartTime"), "1970-01-01T00:16:40Z");
  EXPECT_EQ(parsed->get_string("digestEndTime"), "1970-01-01T01:16:40Z");
  EXPECT_EQ(parsed->get_string("digestSignatureAlgorithm"), "SHA256withRSA");
  EXPECT_TRUE(parsed->find("logFiles")->as_array().empty());

  d.previous_bucket = "logs";
  d.previous_object = "AWSLogs/prev.json.gz";
  d.previous_hash_hex = std::string(64, 'a');
  d.previous_signature_hex = "beef";
  d.log_files.push_back({"logs", "AWSLogs/a.json.gz", std::string(64, 'b'), 2000, 3000});
  d.log_files.push_back({"logs", "AWSLogs/b.json.gz", std::string(64, 'c'), 1000, 2500});
  parsed = json::Parse(DigestJson(d));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->get_string("previousDigestHashAlgorithm"), "SHA-256");
  EXPECT_EQ(parsed->get_string("previousDigestSignature"), "beef");
  EXPECT_EQ(parsed->get_string("oldestEventTime"), "1970-01-01T00:00:01Z");
  EXPECT_EQ(parsed->get_string("newestEventTime"), "1970-01-01T00:00:03Z");
  const json::Value& f = parsed->find("logFiles")->as_array()[0];
  EXPECT_EQ(f.get_string("s3Object"), "AWSLogs/a.json.gz");
  EXPECT_EQ(f.get_string("hashAlgorithm"), "SHA-256");
}

TEST(DigestFormatTest, StringToSignMatchesTheCliValidator) {
  std::string json = "{\"a\":1}";
  EXPECT_EQ(DigestStringToSign("2026-01-01T00:00:00Z", "b", "k/x.json.gz", json, ""),
            "2026-01-01T00:00:00Z\nb/k/x.json.gz\n" + crypto::Sha256Hex(json) + "\nnull");
  EXPECT_TRUE(DigestStringToSign("t", "b", "k", json, "ab12").ends_with("\nab12"));
}

TEST(DigestIoTest, GzipRoundTripAndHash) {
  auto gz = internal::GzipBytes("hello digest");
  ASSERT_TRUE(gz.ok());
  EXPECT_EQ(*internal::GunzipBytes(*gz, 100), "hello digest");
  EXPECT_EQ(*internal::Sha256OfGunzipped(*gz), crypto::Sha256Hex("hello digest"));
  EXPECT_FALSE(internal::GunzipBytes(*gz, 5).ok());
  EXPECT_FALSE(internal::Sha256OfGunzipped("not gzip at all").ok());
  EXPECT_FALSE(internal::Sha256OfGunzipped(gz->substr(0, gz->size() / 2)).ok());
  EXPECT_FALSE(internal::Sha256OfGunzipped("").ok());
}

TEST(DigestIoTest, HostileGzipIsRefused) {
  std::string text(100000, 'x');
  for (size_t i = 0; i < text.size(); i += 7) text[i] = static_cast<char>('a' + i % 26);
  auto gz = internal::GzipBytes(text);
  ASSERT_TRUE(gz.ok());
  EXPECT_EQ(*internal::Sha256OfGunzipped(*gz), crypto::Sha256Hex(text));
  // A wrong CRC-32 in the trailer (the last 8 bytes: CRC-32, then size).
  std::string bad_crc = *gz;
  bad_crc[bad_crc.size() - 8] ^= 0x01;
  EXPECT_FALSE(internal::Sha256OfGunzipped(bad_crc).ok());
  // A flipped bit inside the compressed data.
  std::string flipped = *gz;
  flipped[flipped.size() / 2] ^= 0x10;
  EXPECT_FALSE(internal::Sha256OfGunzipped(flipped).ok());
  // Not gzip's magic, or a zlib stream.
  std::string wrong_magic = *gz;
  wrong_magic[0] = 0x1e;
  EXPECT_FALSE(internal::Sha256OfGunzipped(wrong_magic).ok());
  // Whatever follows the gzip member is ignored (as zlib's inflate does).
  EXPECT_EQ(*internal::Sha256OfGunzipped(*gz + "trailing"), crypto::Sha256Hex(text));
  // A bomb is cut off at the limit.
  auto bomb = internal::GzipBytes(std::string(size_t{8} << 20, '\0'));
  ASSERT_TRUE(bomb.ok());
  EXPECT_LT(bomb->size(), size_t{64} << 10);
  EXPECT_FALSE(internal::GunzipBytes(*bomb, size_t{1} << 20).ok());
  EXPECT_TRUE(internal::Sha256OfGunzipped(*bomb).ok());  // hashed in chunks, never held
}

// gzip of text with the optional header fields (RFC 1952 2.3.1) filled in,
// written by zlib.
std::string GzipWithHeaderFields(const std::string& text, std::string name, std::string comment,
                                 std::string extra) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  gz_header header{};
  header.name = reinterpret_cast<Bytef*>(name.data());
  header.comment = reinterpret_cast<Bytef*>(comment.data());
  header.extra = reinterpret_cast<Bytef*>(extra.data());
  header.extra_len = static_cast<uInt>(extra.size());
  header.hcrc = 1;
  EXPECT_EQ(deflateSetHeader(&zs, &header), Z_OK);
  std::string out(deflateBound(&zs, text.size()) + name.size() + comment.size() + extra.size() + 64,
                  '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// The trailer is checked here, not by ISA-L: its CRC-32 and its length,
// and all eight of its bytes must be there.
TEST(DigestIoTest, TrailerMismatchOrTruncationIsRefused) {
  std::string text(300000, 'q');
  for (size_t i = 0; i < text.size(); i += 3) text[i] = static_cast<char>(i % 97);
  auto gz = internal::GzipBytes(text);
  ASSERT_TRUE(gz.ok());
  for (size_t byte = 1; byte <= 8; ++byte) {
    std::string bad = *gz;
    bad[bad.size() - byte] ^= 0x40;  // 8..5: the CRC-32; 4..1: the length
    EXPECT_EQ(internal::Sha256OfGunzipped(bad).status().code(), ErrorCode::kValidation) << byte;
    EXPECT_FALSE(internal::GunzipBytes(bad, size_t{1} << 20).ok()) << byte;
    std::string cut = gz->substr(0, gz->size() - byte);
    EXPECT_EQ(internal::Sha256OfGunzipped(cut).status().code(), ErrorCode::kValidation) << byte;
  }
}

// Header fields are skipped, however long: a name of 200 KB spans several
// of the file reads (64 KiB each).
TEST(DigestIoTest, HeaderFieldsAreSkippedAcrossReads) {
  std::string text = "{\"Records\":[]}";
  std::string gz = GzipWithHeaderFields(text, "log.json", "a comment", std::string("XY\x04\0abcd", 8));
  EXPECT_EQ(*internal::Sha256OfGunzipped(gz), crypto::Sha256Hex(text));
  std::string long_name = GzipWithHeaderFields(text, std::string(200000, 'n'), "", "");
  EXPECT_EQ(*internal::Sha256OfGunzipped(long_name), crypto::Sha256Hex(text));
  fs::path path = fs::temp_directory_path() / ("rampart_hdr_" + std::to_string(::getpid()));
  WriteFile(path, long_name);
  EXPECT_EQ(*internal::Sha256OfGunzippedFile(path), crypto::Sha256Hex(text));
  fs::remove(path);
  // The header's own CRC-16 (FHCRC) is checked.
  std::string bad_hcrc = gz;
  bad_hcrc[12] ^= 0x01;  // inside the extra field, covered by the CRC-16
  EXPECT_FALSE(internal::Sha256OfGunzipped(bad_hcrc).ok());
  // Reserved flag bits (5-7 of FLG) make it not gzip, as zlib says.
  auto plain = internal::GzipBytes(text);
  ASSERT_TRUE(plain.ok());
  for (int bit = 5; bit <= 7; ++bit) {
    std::string reserved = *plain;
    reserved[3] = static_cast<char>(reserved[3] | (1 << bit));
    EXPECT_EQ(internal::Sha256OfGunzipped(reserved).status().code(), ErrorCode::kValidation) << bit;
  }
}

// Files are read 64 KiB at a time: trailers that straddle a read, or end
// exactly at one, read through the file path whole, cut or altered.
TEST(DigestIoTest, TrailerAcrossFileReads) {
  std::mt19937 rng(17);
  fs::path path = fs::temp_directory_path() / ("rampart_trailer_" + std::to_string(::getpid()));
  std::set<size_t> sizes_seen;
  // Random bytes are stored, not compressed: the gzip size follows the input size.
  for (size_t n = 65400; n < 65600 && sizes_seen.size() < 12; ++n) {
    std::string text(n, '\0');
    for (char& c : text) c = static_cast<char>(rng());
    auto gz = internal::GzipBytes(text);
    ASSERT_TRUE(gz.ok());
    if (gz->size() < 65536 || gz->size() > 65536 + 9 || !sizes_seen.insert(gz->size()).second) {
      continue;
    }
    WriteFile(path, *gz);
    EXPECT_EQ(*internal::Sha256OfGunzippedFile(path), crypto::Sha256Hex(text)) << gz->size();
    for (size_t cut = 1; cut <= 8; ++cut) {
      WriteFile(path, gz->substr(0, gz->size() - cut));
      EXPECT_EQ(internal::Sha256OfGunzippedFile(path).status().code(), ErrorCode::kValidation)
          << gz->size() << " cut " << cut;
      std::string altered = *gz;
      altered[altered.size() - cut] ^= 0x01;
      WriteFile(path, altered);
      EXPECT_EQ(internal::Sha256OfGunzippedFile(path).status().code(), ErrorCode::kValidation)
          << gz->size() << " altered " << cut;
    }
  }
  EXPECT_GE(sizes_seen.size(), 8u);  // trailers across the first read's end, and right after it
  fs::remove(path);
}

// Where crypto::Crc32 is not accelerated, gzip trailers are checked with
// ISA-L's crc32_gzip_refl: the same convention as zlib's crc32().
TEST(DigestIoTest, IsalCrcFallbackFollowsZlibConvention) {
  std::string data(100000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 2654435761u >> 13);
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  uint32_t isal = crc32_gzip_refl(crc32_gzip_refl(0, p, 777), p + 777, data.size() - 777);
  EXPECT_EQ(isal, crc32(0, p, static_cast<uInt>(data.size())));
}

// Many files hashed in the lanes: sizes around block and chunk boundaries,
// more files than lanes (so lanes are refilled), files that end at
// different steps, and files that are missing, not gzip or truncated.
TEST(DigestIoTest, FilesHashedInLanesMatchOneByOne) {
  fs::path dir = fs::temp_directory_path() / ("rampart_lanes_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<size_t> sizes = {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 65535, 65536,
                               65537, 131072, 200000, 300001};
  for (size_t i = 0; i < 30; ++i) sizes.push_back(i * 7919 % 150000);
  std::vector<std::string> expected;
  std::vector<fs::path> paths;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::string text(sizes[i], '\0');
    for (size_t j = 0; j < text.size(); ++j) text[j] = static_cast<char>((j * 131 + i) % 251);
    paths.push_back(dir / ("f" + std::to_string(i) + ".json.gz"));
    WriteFile(paths.back(), *internal::GzipBytes(text));
    expected.push_back(crypto::Sha256Hex(text));
  }
  auto good = internal::GzipBytes(std::string(100000, 'y'));
  ASSERT_TRUE(good.ok());
  size_t missing = paths.size();
  paths.push_back(dir / "missing.json.gz");
  size_t not_gzip = paths.size();
  paths.push_back(dir / "plain.json.gz");
  WriteFile(paths.back(), std::string(5000, 'x'));
  size_t truncated = paths.size();
  paths.push_back(dir / "cut.json.gz");
  WriteFile(paths.back(), good->substr(0, good->size() - 3));

  size_t next = 0;
  std::map<size_t, Result<std::string>> results;
  internal::Sha256OfGunzippedFiles(
      [&]() -> std::optional<internal::GunzipHashJob> {
        if (next == paths.size()) return std::nullopt;
        ++next;
        return internal::GunzipHashJob{next - 1, paths[next - 1]};
      },
      [&](size_t id, Result<std::string> hash) {
        EXPECT_TRUE(results.emplace(id, std::move(hash)).second) << "file " << id << " twice";
      });
  ASSERT_EQ(results.size(), paths.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_TRUE(results.at(i).ok()) << "size " << sizes[i];
    EXPECT_EQ(*results.at(i), expected[i]) << "size " << sizes[i];
    EXPECT_EQ(*internal::Sha256OfGunzippedFile(paths[i]), expected[i]);
  }
  EXPECT_EQ(results.at(missing).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(results.at(not_gzip).status().code(), ErrorCode::kValidation);
  EXPECT_EQ(results.at(truncated).status().code(), ErrorCode::kValidation);
  EXPECT_EQ(internal::Sha256OfGunzippedFile(paths[missing]).status().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(internal::Sha256OfGunzippedFile(paths[truncated]).status().code(),
            ErrorCode::kValidation);
  fs::remove_all(dir);
}

class SigningKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::OpenSqlite({.path = ":memory:"});
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    ASSERT_TRUE(SigningKeys::Migrate(*db_).ok());
  }
  std::unique_ptr<store::Database> db_;
  SecretBytes root_{std::string(32, 'k')};
};

TEST_F(SigningKeysTest, SignsVerifiablyAndRotates) {
  SigningKeys keys(*db_, root_, {.rotation = std::chrono::seconds(100)});
  auto sig = keys.Sign("us-east-1", At(1000), "data");
  ASSERT_TRUE(sig.ok()) << sig.status().ToString();
  auto current = keys.Current("us-east-1", At(1050));
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->fingerprint, sig->fingerprint);
  EXPECT_EQ(current->fingerprint.size(), 32u);
  EXPECT_EQ(current->fingerprint, PublicKeyFingerprint(current->pkcs1_der));
  EXPECT_EQ(current->valid_from, 1000);
  EXPECT_EQ(current->valid_to, 1100);
  EXPECT_TRUE(VerifySha256WithRsa(current->pkcs1_der, "data", sig->signature));
  EXPECT_FALSE(VerifySha256WithRsa(current->pkcs1_der, "datA", sig->signature));
  EXPECT_FALSE(VerifySha256WithRsa("garbage", "data", sig->signature));

  auto rotated = keys.Current("us-east-1", At(1100));
  ASSERT_TRUE(rotated.ok());
  EXPECT_NE(rotated->fingerprint, current->fingerprint);
  auto other_region = keys.Current("eu-west-1", At(1100));
  ASSERT_TRUE(other_region.ok());
  EXPECT_NE(other_region->fingerprint, rotated->fingerprint);

  auto both = keys.List("us-east-1", 1000, 1100);
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->size(), 2u);
  EXPECT_EQ((*both)[0].fingerprint, rotated->fingerprint);  // newest first
  auto only_old = keys.List("us-east-1", 1000, 1099);
  ASSERT_EQ(only_old->size(), 1u);
  EXPECT_EQ((*only_old)[0].fingerprint, current->fingerprint);
}

TEST_F(SigningKeysTest, PrivateKeysNeedTheRootKey) {
  SigningKeys keys(*db_, root_, {});
  ASSERT_TRUE(keys.Sign("us-east-1", At(1000), "x").ok());
  SecretBytes other(std::string(32, 'z'));
  SigningKeys wrong(*db_, other, {});
  EXPECT_FALSE(wrong.Sign("us-east-1", At(1001), "x").ok());
}

TEST_F(DigestChainTest, ChainLinksEveryPeriodAndValidates) {
  Period();
  Period(/*quiet=*/true);  // no log file: a digest all the same
  Period();
  auto keys = DigestKeys();
  ASSERT_EQ(keys.size(), 3u);
  json::Value first = ReadDigest(keys[0]);
  json::Value second = ReadDigest(keys[1]);
  json::Value third = ReadDigest(keys[2]);
  EXPECT_TRUE(first.find("previousDigestSignature")->is_null());
  EXPECT_EQ(first.find("logFiles")->as_array().size(), 1u);
  EXPECT_EQ(second.find("logFiles")->as_array().size(), 0u);
  EXPECT_EQ(second.get_string("previousDigestS3Object"), keys[0]);
  EXPECT_EQ(second.get_string("digestStartTime"), first.get_string("digestEndTime"));
  EXPECT_EQ(third.get_string("previousDigestS3Object"), keys[1]);
  EXPECT_EQ(second.get_string("previousDigestHashValue"),
            *internal::Sha256OfGunzipped(ReadFile(dir_ / "logs" / keys[0])));
  EXPECT_EQ(second.get_string("previousDigestSignature"),
            ReadFile(dir_ / "logs" / (keys[0] + ".sig")));
  EXPECT_EQ(first.get_string("digestS3Object"), keys[0]);

  // The log file's hash is over its uncompressed contents.
  const json::Value& log = first.find("logFiles")->as_array()[0];
  EXPECT_EQ(log.get_string("hashValue"),
            *internal::Sha256OfGunzipped(ReadFile(dir_ / "logs" / std::string(log.get_string("s3Object")))));

  ValidateReport r = Validate();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.valid_digests, 3);
  EXPECT_EQ(r.valid_logs, 2);
}

TEST_F(DigestChainTest, DetectsModifiedAndDeletedLogs) {
  Period();
  Period();
  auto keys = DigestKeys();
  ASSERT_EQ(keys.size(), 2u);
  std::string log0(ReadDigest(keys[0]).find("logFiles")->as_array()[0].get_string("s3Object"));
  std::string log1(ReadDigest(keys[1]).find("logFiles")->as_array()[0].get_string("s3Object"));
  WriteFile(dir_ / "logs" / log0, *internal::GzipBytes("{\"Records\":[]}"));
  fs::remove(dir_ / "logs" / log1);
  ValidateReport r = Validate();
  EXPECT_FALSE(r.ok());
  auto st = Statuses(r);
  EXPECT_EQ(st["s3://logs/" + log0], "modified");
  EXPECT_EQ(st["s3://logs/" + log1], "deleted");
  EXPECT_EQ(r.valid_digests, 2);
  EXPECT_EQ(r.invalid_logs, 2);
}

TEST_F(DigestChainTest, DetectsMovedAndMissingDigests) {
  Period();
  Period();
  Period();
  Period();
  auto keys = DigestKeys();
  ASSERT_EQ(keys.size(), 4u);
  // Move the second digest (and its signature) elsewhere in the bucket.
  fs::create_directories(dir_ / "logs" / "elsewhere");
  std::string moved_key = "elsewhere/" + fs::path(keys[1]).filename().string();
  fs::rename(dir_ / "logs" / keys[1], dir_ / "logs" / moved_key);
  fs::rename(dir_ / "logs" / (keys[1] + ".sig"), dir_ / "logs" / (moved_key + ".sig"));
  // Cut the chain's start off.
  fs::remove(dir_ / "logs" / keys[0]);
  ValidateReport r = Validate();
  EXPECT_FALSE(r.ok());
  auto st = Statuses(r);
  EXPECT_EQ(st["s3://logs/" + keys[3]], "valid");
  EXPECT_EQ(st["s3://logs/" + keys[2]], "valid");
  EXPECT_EQ(st["s3://logs/" + moved_key], "moved");
  EXPECT_EQ(st["s3://logs/" + keys[0]], "missing");
  EXPECT_EQ(r.invalid_digests, 2);
  // The moved digest's log file is still checked (and valid).
  EXPECT_EQ(r.valid_logs, 3);
}

TEST_F(DigestChainTest, DetectsForgedDigestsAndUntrustedKeys) {
  Period();
  Period();
  auto keys = DigestKeys();
  // Rewrite the newest digest without the log file: the signature breaks.
  json::Value d = ReadDigest(keys[1]);
  d.set("logFiles", json::Value::MakeArray());
  WriteFile(dir_ / "logs" / keys[1], *internal::GzipBytes(json::Write(d)));
  ValidateReport r = Validate();
  auto st = Statuses(r);
  EXPECT_EQ(st["s3://logs/" + keys[1]], "modified");
  EXPECT_EQ(st["s3://logs/" + keys[0]], "valid");  // found as the next older digest

  // Without the right public key nothing validates.
  ValidateOptions o;
  o.trail_dir = (dir_ / "logs").string();
  auto none = ValidateTrailDir(o);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->valid_digests, 0);
  EXPECT_EQ(none->invalid_digests, 2);
}

TEST_F(DigestChainTest, StoppedTrailGetsAFinalDigestThenANewChain) {
  Period();
  AddEvent("us-east-1");
  // Stopped a little ahead, so that events up to the stop keep arriving a
  // delivery late (as the StopLogging call's own record does).
  int64_t stop = Now() + 2;
  ASSERT_TRUE(db_->Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare("UPDATE audit_trails SET logging = 0, stop_logging_time = ?"));
    return s->Bind(1, stop).Run();
  }).ok());
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(std::chrono::seconds(1));
    ASSERT_TRUE(delivery_->DeliverOnce().ok());
    AddEvent("us-east-1");
  }
  // Final digests, before a full period, for what arrived; one chain.
  auto keys = DigestKeys();
  ASSERT_GE(keys.size(), 3u);
  for (size_t i = 1; i < keys.size(); ++i) {
    EXPECT_EQ(ReadDigest(keys[i]).get_string("previousDigestS3Object"), keys[i - 1]);
  }
  clock_.Advance(std::chrono::seconds(kPeriod * 3));
  ASSERT_TRUE(delivery_->DeliverOnce().ok());
  EXPECT_EQ(DigestKeys().size(), keys.size());  // nothing while stopped

  ASSERT_TRUE(db_->Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare("UPDATE audit_trails SET logging = 1, start_logging_time = ?"));
    return s->Bind(1, Now()).Run();
  }).ok());
  Period();
  auto after = DigestKeys();
  ASSERT_EQ(after.size(), keys.size() + 1);
  EXPECT_TRUE(ReadDigest(after.back()).find("previousDigestS3Object")->is_null());
  ValidateReport r = Validate();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.valid_digests, static_cast<int>(after.size()));
  ASSERT_EQ(r.chains.size(), 1u);
  EXPECT_EQ(r.chains[0].notes.size(), 1u);  // the gap while stopped
}

TEST_F(DigestChainTest, OtherRegionsGetTheirOwnChain) {
  AddEvent("eu-west-1");
  Period();
  auto keys = DigestKeys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_NE(keys[0].find("/eu-west-1/"), std::string::npos);
  EXPECT_NE(keys[1].find("/us-east-1/"), std::string::npos);
  json::Value eu = ReadDigest(keys[0]);
  auto eu_key = keys_->Current("eu-west-1", clock_.Now());
  EXPECT_EQ(eu.get_string("digestPublicKeyFingerprint"), eu_key->fingerprint);
}

TEST_F(DigestChainTest, OrganizationTrailsHaveAChainPerAccount) {
  Exec("UPDATE audit_trails SET organization_id = 'o-abcdef1234'");
  AddEvent("us-east-1", kMember);
  Period();  // a management account event and the member's
  Period();  // only the management account's: the member's chain goes on, empty
  const std::string member_digests =
      "AWSLogs/o-abcdef1234/444455556666/CloudTrail-Digest/us-east-1/";
  const std::string own_digests = "AWSLogs/o-abcdef1234/111122223333/CloudTrail-Digest/us-east-1/";
  std::vector<std::string> member, own;
  for (const std::string& k : DigestKeys()) {
    if (k.starts_with(member_digests)) member.push_back(k);
    if (k.starts_with(own_digests)) own.push_back(k);
  }
  ASSERT_EQ(member.size(), 2u);
  ASSERT_EQ(own.size(), 2u);
  EXPECT_EQ(DigestKeys().size(), 4u);  // nothing outside the organization's layout
  json::Value first = ReadDigest(member[0]);
  EXPECT_EQ(first.get_string("awsAccountId"), kMember);
  EXPECT_EQ(first.get_string("digestS3Object"), member[0]);
  ASSERT_EQ(first.find("logFiles")->as_array().size(), 1u);
  std::string member_log(first.find("logFiles")->as_array()[0].get_string("s3Object"));
  EXPECT_TRUE(member_log.starts_with("AWSLogs/o-abcdef1234/444455556666/CloudTrail/us-east-1/"))
      << member_log;
  json::Value second = ReadDigest(member[1]);
  EXPECT_EQ(second.get_string("previousDigestS3Object"), member[0]);
  EXPECT_TRUE(second.find("logFiles")->as_array().empty());
  EXPECT_EQ(ReadDigest(own[0]).get_string("awsAccountId"), kAccount);

  ValidateReport r = Validate();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.valid_digests, 4);
  EXPECT_EQ(r.valid_logs, 3);
  ASSERT_EQ(r.chains.size(), 2u);
  for (const ChainReport& c : r.chains) EXPECT_EQ(c.organization_id, kOrg);

  // A member's log file changed is found, and only it.
  WriteFile(dir_ / "logs" / member_log, *internal::GzipBytes("{\"Records\":[]}"));
  r = Validate();
  EXPECT_EQ(Statuses(r)["s3://logs/" + member_log], "modified");
  EXPECT_EQ(r.invalid_logs, 1);
  EXPECT_EQ(r.valid_digests, 4);
}

// Enough log files for validation to hash them in multi-buffer lanes
// (eight or more per thread, on up to eight threads) when the CPU has a
// SIMD kernel: each problem is still reported on its own file.
TEST_F(DigestChainTest, ManyLogsValidateInLanes) {
  for (int i = 0; i < 70; ++i) Period();
  std::vector<std::string> logs = LogKeys();
  ASSERT_EQ(logs.size(), 70u);
  ValidateReport clean = Validate();
  EXPECT_TRUE(clean.ok());
  EXPECT_EQ(clean.valid_logs, 70);
  WriteFile(dir_ / "logs" / logs[3], *internal::GzipBytes("{\"Records\":[]}"));
  fs::remove(dir_ / "logs" / logs[40]);
  WriteFile(dir_ / "logs" / logs[69], "not gzip");
  ValidateReport r = Validate();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.valid_logs, 67);
  EXPECT_EQ(r.invalid_logs, 3);
  auto st = Statuses(r);
  EXPECT_EQ(st["s3://logs/" + logs[3]], "modified");
  EXPECT_EQ(st["s3://logs/" + logs[40]], "deleted");
  EXPECT_EQ(st["s3://logs/" + logs[69]], "modified");
  EXPECT_EQ(st["s3://logs/" + logs[10]], "valid");
}

TEST(PublicKeysJsonTest, ReadsTheCliOutput) {
  auto db = store::OpenSqlite({.path = ":memory:"});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(SigningKeys::Migrate(**db).ok());
  SecretBytes root(std::string(32, 'q'));
  SigningKeys keys(**db, root, {});
  auto k = keys.Current("us-east-1", At(1700000000));
  ASSERT_TRUE(k.ok());
  // The CLI prints the blob (base64 text of the DER) in base64 again.
  std::string cli = R"({"PublicKeyList":[{"Value":")" + Base64Encode(Base64Encode(k->pkcs1_der)) +
                    R"(","ValidityStartTime":"2023-11-14T22:13:20+00:00","ValidityEndTime":)" +
                    std::to_string(k->valid_to) + R"(,"Fingerprint":")" + k->fingerprint +
                    R"("}]})";
  auto parsed = ParsePublicKeysJson(cli);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), 1u);
  EXPECT_EQ((*parsed)[0].pkcs1_der, k->pkcs1_der);
  EXPECT_EQ((*parsed)[0].valid_from, 1700000000);
  EXPECT_EQ((*parsed)[0].valid_to, k->valid_to);

  std::string lying = cli;
  lying.replace(lying.find(k->fingerprint), 4, "ffff");
  EXPECT_FALSE(ParsePublicKeysJson(lying).ok());
  EXPECT_FALSE(ParsePublicKeysJson("[]").ok());
  EXPECT_FALSE(ParsePublicKeysJson("{\"PublicKeyList\":[{\"Value\":\"!!\"}]}").ok());
}

}  // namespace
}  // namespace rampart::audit
