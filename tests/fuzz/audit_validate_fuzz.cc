// Fuzzes `rampart audit validate` over a hostile trail directory: two
// digest files (JSON chosen by the fuzzer), their signature files and one
// log file, in CloudTrail's layout. The harness signs the digests with a key
// the validator trusts, so the fuzzer gets past the signature check into
// chain walking and log hashing. In the digests' text it replaces
//   @FP@        the trusted key's fingerprint
//   @PREVSIG@   the older digest's signature (hex)
//   @PREVHASH@  the SHA-256 (hex) of the older digest's JSON
//   @LOGHASH@   the SHA-256 (hex) of the log file's uncompressed bytes
//   @OUTSIDEHASH@ the SHA-256 (hex) of a file beside the bucket
// Invariants: never a crash; the totals agree with the per-file statuses;
// every reported location is an s3:// URL; no location with ".." is valid.
#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>

#include "audit/digest_io.h"
#include "rampart/audit/digest.h"
#include "rampart/audit/digest_validate.h"
#include "rampart/audit/signing_keys.h"
#include "rampart/core/check.h"
#include "rampart/core/encoding.h"
#include "rampart/core/json.h"
#include "rampart/crypto/digest.h"

namespace fs = std::filesystem;
using namespace rampart;

namespace {

constexpr std::string_view kAccount = "111122223333";
constexpr std::string_view kDigestDir =
    "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/01/";
constexpr std::string_view kOlder =
    "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260101T010000Z.json.gz";
constexpr std::string_view kNewer =
    "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260101T020000Z.json.gz";
constexpr std::string_view kLog =
    "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/01/"
    "111122223333_CloudTrail_us-east-1_20260101T0005Z_a1b2c3d4e5f60718.json.gz";

struct Harness {
  EVP_PKEY* key = nullptr;
  audit::PublicKeyInfo info;
  fs::path root;    // the harness's temporary directory
  fs::path bucket;  // <root>/bkt, the trail directory

  Harness() {
    key = EVP_RSA_gen(2048);
    RAMPART_CHECK(key != nullptr);
    unsigned char* der = nullptr;
    int n = i2d_PublicKey(key, &der);  // PKCS#1 RSAPublicKey for RSA keys
    RAMPART_CHECK(n > 0);
    info.pkcs1_der.assign(reinterpret_cast<char*>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
    info.region = "us-east-1";
    info.fingerprint = audit::PublicKeyFingerprint(info.pkcs1_der);
    info.valid_from = 0;
    info.valid_to = std::numeric_limits<int32_t>::max();
    char tmpl[] = "/tmp/rampart-validate-fuzz-XXXXXX";
    RAMPART_CHECK(mkdtemp(tmpl) != nullptr);
    root = tmpl;
    bucket = root / "bkt";
    // A file outside the bucket whose hash a digest may name: the
    // validator must never report a location that leaves the bucket as
    // valid, even when the hash would match.
    WriteOutside(root / "outside.json.gz");
  }

  ~Harness() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  static void WriteOutside(const fs::path& path);

  std::string SignHex(std::string_view data) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::string sig(512, '\0');
    size_t len = sig.size();
    RAMPART_CHECK(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1);
    RAMPART_CHECK(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                                 reinterpret_cast<const unsigned char*>(data.data()),
                                 data.size()) == 1);
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    return HexEncode(sig);
  }
};

void Harness::WriteOutside(const fs::path& path) {
  auto gz = audit::internal::GzipBytes("outside");
  RAMPART_CHECK(gz.ok());
  std::ofstream(path, std::ios::binary).write(gz->data(), static_cast<std::streamsize>(gz->size()));
}

// Destroyed at exit, which removes the temporary directory.
Harness& TheHarness() {
  static Harness h;
  return h;
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

void WriteFile(const fs::path& path, std::string_view bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Writes a digest and, when its JSON has the fields the string to sign
// needs, a valid signature of it; otherwise the given hex as signature.
// Returns the signature written.
std::string WriteDigest(const Harness& h, std::string_view name, const std::string& text,
                        std::string_view junk_sig) {
  fs::path path = h.bucket / kDigestDir / name;
  auto gz = audit::internal::GzipBytes(text);
  RAMPART_CHECK(gz.ok());
  WriteFile(path, *gz);
  std::string sig(junk_sig);
  auto doc = json::Parse(text);
  if (doc.ok() && doc->is_object()) {
    const json::Value* end = doc->find("digestEndTime");
    const json::Value* b = doc->find("digestS3Bucket");
    const json::Value* o = doc->find("digestS3Object");
    const json::Value* prev = doc->find("previousDigestSignature");
    if (end && end->is_string() && b && b->is_string() && o && o->is_string()) {
      std::string prev_sig = prev && prev->is_string() ? prev->as_string() : std::string();
      sig = h.SignHex(audit::DigestStringToSign(end->as_string(), b->as_string(),
                                                o->as_string(), text, prev_sig));
    }
  }
  WriteFile(path.string() + ".sig", sig);
  return sig;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness& h = TheHarness();
  FuzzedDataProvider in(data, size);
  bool gzip_log = in.ConsumeBool();
  std::string junk_sig = in.ConsumeRandomLengthString(600);
  std::string log = in.ConsumeRandomLengthString(1 << 16);
  std::string older = in.ConsumeRandomLengthString(1 << 16);
  std::string newer = in.ConsumeBytesAsString(in.remaining_bytes());

  std::error_code ec;
  fs::remove_all(h.bucket, ec);
  fs::create_directories(h.bucket);

  std::string log_hash = crypto::Sha256Hex(log);
  if (gzip_log) {
    auto gz = audit::internal::GzipBytes(log);
    RAMPART_CHECK(gz.ok());
    WriteFile(h.bucket / kLog, *gz);
  } else {
    WriteFile(h.bucket / kLog, log);
  }
  for (std::string* d : {&older, &newer}) {
    ReplaceAll(*d, "@FP@", h.info.fingerprint);
    ReplaceAll(*d, "@LOGHASH@", log_hash);
    ReplaceAll(*d, "@OUTSIDEHASH@", crypto::Sha256Hex("outside"));
  }
  std::string older_sig = WriteDigest(h, kOlder, older, junk_sig);
  ReplaceAll(newer, "@PREVSIG@", older_sig);
  ReplaceAll(newer, "@PREVHASH@", crypto::Sha256Hex(older));
  WriteDigest(h, kNewer, newer, junk_sig);

  audit::ValidateOptions options;
  options.trail_dir = h.bucket.string();
  options.keys = {h.info};
  auto report = audit::ValidateTrailDir(options);
  RAMPART_CHECK(report.ok());
  int valid_digests = 0, invalid_digests = 0, valid_logs = 0, invalid_logs = 0;
  for (const audit::ChainReport& chain : report->chains) {
    RAMPART_CHECK(chain.account_id == kAccount);
    for (const audit::FileReport& f : chain.files) {
      RAMPART_CHECK(f.location.rfind("s3://", 0) == 0);
      bool valid = f.status == audit::FileStatus::kValid;
      RAMPART_CHECK(!valid || f.location.find("..") == std::string::npos);
      RAMPART_CHECK(valid == f.detail.empty());
      (f.digest ? (valid ? valid_digests : invalid_digests) : (valid ? valid_logs : invalid_logs))++;
      std::string line = audit::FormatFileReport(f);
      // RAMPART_FUZZ_VERBOSE=1 shows what a seed reaches.
      if (getenv("RAMPART_FUZZ_VERBOSE") != nullptr) fprintf(stderr, "%s\n", line.c_str());
    }
  }
  RAMPART_CHECK(valid_digests == report->valid_digests);
  RAMPART_CHECK(invalid_digests == report->invalid_digests);
  RAMPART_CHECK(valid_logs == report->valid_logs);
  RAMPART_CHECK(invalid_logs == report->invalid_logs);
  return 0;
}
