// CloudTrail log file integrity validation: digest files.
//
// For a trail with log file validation on, DigestWriter writes, every
// period (CloudTrail: hourly) and per region the trail delivers in, a
// digest file
//   <bucket>/[<prefix>/]AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/
//     <account>_CloudTrail-Digest_<region>_<trail>_<home region>_<YYYYMMDDTHHmmssZ>.json.gz
// listing the log files delivered since the previous digest with the
// SHA-256 of their uncompressed contents, and chained to the previous
// digest (its key, the hash of its uncompressed contents and its
// signature). An organization trail has one chain per member account and
// region, under AWSLogs/<org id>/<account>/CloudTrail-Digest/..., as
// CloudTrail writes them: each lists that account's log files and names
// that account in awsAccountId. A digest is written every period even
// when no log file was delivered, so the chain has no holes while the
// trail logs. The signature (SHA256withRSA, the region's key from
// SigningKeys) covers CloudTrail's string to sign (DigestStringToSign) and
// is stored, hex encoded, in "<digest file>.sig": there is no S3 object
// metadata.
//
// TrailDelivery tells the writer about every log file it writes
// (AddLogFile) and calls WriteDue after each delivery.
//
// Thread-safety: AddLogFile and WriteDue may be called from any thread;
// WriteDue calls are serialised internally.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/audit/signing_keys.h"
#include "rampart/core/clock.h"
#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/store/store.h"

namespace rampart::audit {

namespace internal {
struct ValidatingTrail;
struct Chain;
struct Pending;
}  // namespace internal

// A delivered log file, as a digest lists it.
struct DigestLogFile {
  std::string bucket;
  std::string object;       // S3 key: the path under the bucket directory
  std::string sha256_hex;   // of the uncompressed contents
  int64_t oldest_event_ms = 0;
  int64_t newest_event_ms = 0;
};

// Everything a digest file says, before signing.
struct DigestContents {
  std::string account_id;
  TimePoint start;
  TimePoint end;
  std::string bucket;
  std::string object;
  std::string fingerprint;
  // Empty for the first digest of a chain (the JSON then holds nulls).
  std::string previous_bucket;
  std::string previous_object;
  std::string previous_hash_hex;
  std::string previous_signature_hex;
  std::vector<DigestLogFile> log_files;
};

// The digest's JSON text (the uncompressed file contents).
std::string DigestJson(const DigestContents& digest);

// CloudTrail's string to sign, as the aws CLI validator rebuilds it:
//   digestEndTime "\n" bucket "/" object "\n" hex SHA-256 of the
//   uncompressed digest "\n" previousDigestSignature (or "null")
std::string DigestStringToSign(std::string_view end_time_iso, std::string_view bucket,
                               std::string_view object, std::string_view digest_json,
                               std::string_view previous_signature_hex);

// The S3 key of a digest file (prefix and organization_id may be empty;
// account is the account whose log files the digest lists).
std::string DigestObjectKey(std::string_view prefix, std::string_view organization_id,
                            std::string_view account,
                            std::string_view region, std::string_view trail,
                            std::string_view home_region, TimePoint end);

// Log file validation flag of a trail (audit_log_validation). REQUIRES:
// inside the trail's write transaction.
Status SetLogFileValidation(store::Tx& tx, std::string_view account, std::string_view trail,
                            bool enabled, int64_t now_seconds);
Result<bool> LogFileValidationEnabled(store::Tx& tx, std::string_view account,
                                      std::string_view trail);
// The end time (seconds) of the trail's newest digest, 0 when none: the
// LatestDigestDeliveryTime of GetTrailStatus.
Result<int64_t> LatestDigestTime(store::Tx& tx, std::string_view account, std::string_view trail);
// Forgets a deleted trail's flag, chains and pending files.
Status ForgetTrailDigests(store::Tx& tx, std::string_view account, std::string_view trail);

class DigestWriter {
 public:
  struct Options {
    std::string trails_dir;  // <data-dir>/trails
    std::chrono::seconds period{3600};
  };
  // REQUIRES: db and keys outlive the writer; Migrate(db) succeeded.
  DigestWriter(store::Database& db, SigningKeys& keys, Options options);

  static Status Migrate(store::Database& db);

  // Where a log file belongs: the trail (its owner's account and name),
  // and the account whose events it holds (the owner's, or a member
  // account's for an organization trail) and their region.
  struct LogFilePlace {
    std::string_view trail_account;
    std::string_view trail;
    std::string_view log_account;
    std::string_view region;
  };
  // Remembers a log file just written for the trail, when the trail
  // validates its log files (otherwise does nothing). A file written again
  // at the same key (a delivery retried after a failure) replaces the
  // earlier entry, so a digest lists each file once, with its final hash.
  Status AddLogFile(const LogFilePlace& place, const DigestLogFile& file, TimePoint delivered);

  // Writes every digest whose period ended by now; the number written.
  Result<int> WriteDue(TimePoint now);

 private:
  Status WriteDigest(const internal::ValidatingTrail& trail, const internal::Chain& chain,
                     const std::vector<internal::Pending>& pending, int64_t start,
                     TimePoint now_tp);

  store::Database& db_;
  SigningKeys& keys_;
  const Options options_;
  std::mutex write_mu_;  // one WriteDue at a time
};

}  // namespace rampart::audit
