// Offline validation of a trail's log files against its digest chain, the
// way `aws cloudtrail validate-logs` does it, over a trail directory (the
// directory standing in for the S3 bucket) instead of S3.
//
// For each chain found under the directory (one per account, region, trail
// and home region; an organization trail's digests, under
// AWSLogs/<org id>/<account>/, make one chain per member account) it starts at the newest digest in the time range and
// follows previousDigestS3Object back: each digest's signature is checked
// with the trusted public key of its fingerprint over CloudTrail's string
// to sign, then every log file it lists is hashed (SHA-256 of the
// uncompressed contents) and compared. Each file gets one status:
//
//   valid     the file is where the chain says and its hash/signature holds
//   modified  a log file's hash differs, or a digest's signature, format or
//             key does not hold
//   deleted   a log file listed by a valid digest is not there
//   moved     a digest is not where it says it was written (found at
//             another path, or the chain's previous digest was found
//             elsewhere)
//   missing   the chain points at a digest that exists nowhere (a gap:
//             deleted digests, or the start of the chain cut off)
//
// Public keys are never taken from the trail directory: the caller passes
// keys obtained out of band (ListPublicKeys over the authenticated API).
//
// Thread-safety: free functions; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/audit/signing_keys.h"
#include "rampart/core/status.h"

namespace rampart::audit {

enum class FileStatus { kValid, kModified, kDeleted, kMoved, kMissing };

std::string_view FileStatusName(FileStatus status);

struct FileReport {
  bool digest = false;   // a digest file, else a log file
  std::string location;  // s3://<bucket>/<key> where it was found or expected
  FileStatus status = FileStatus::kValid;
  std::string detail;    // why, for anything but valid
};

struct ChainReport {
  std::string account_id, region, trail, home_region, prefix;
  std::string organization_id;    // the organization of an organization trail; else empty

  std::vector<FileReport> files;  // in the order checked: newest first
  std::vector<std::string> notes; // gaps where the trail did not log
};

struct ValidateReport {
  std::vector<ChainReport> chains;
  int valid_digests = 0, invalid_digests = 0, valid_logs = 0, invalid_logs = 0;
  bool ok() const { return invalid_digests == 0 && invalid_logs == 0; }
};

struct ValidateOptions {
  std::string trail_dir;  // <data-dir>/trails/<bucket>: the bucket's directory
  std::vector<PublicKeyInfo> keys;
  std::optional<int64_t> start;  // seconds; digests ending before are not checked
  std::optional<int64_t> end;    // seconds; default: every digest
  // Filters; empty selects all.
  std::string account_id, region, trail;
};

Result<ValidateReport> ValidateTrailDir(const ValidateOptions& options);

// One report line: "<Digest|Log> file\t<location>\t<status>[: <detail>]".
std::string FormatFileReport(const FileReport& file);

// Reads the JSON `aws cloudtrail list-public-keys` prints (PublicKeyList
// with Value, ValidityStartTime, ValidityEndTime, Fingerprint). Value may
// be the CLI's rendering (base64 of the base64 text of the DER) or base64
// of the DER. A key whose fingerprint does not match its DER is refused.
Result<std::vector<PublicKeyInfo>> ParsePublicKeysJson(std::string_view text);

}  // namespace rampart::audit
