// ValidateTrailDir: walks digest chains newest to oldest and checks every
// digest's signature and every log file's hash.
#include "rampart/audit/digest_validate.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "audit/digest_io.h"
#include "crypto/sha256_mb.h"
#include "rampart/audit/digest.h"
#include "rampart/core/encoding.h"
#include "rampart/core/json.h"
#include "rampart/protocol/internal.h"

namespace rampart::audit {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxDigestBytes = size_t{64} << 20;
constexpr size_t kStampSize = 16;  // YYYYMMDDTHHmmssZ
constexpr std::string_view kRequiredFields[] = {
    "digestPublicKeyFingerprint", "digestS3Bucket", "digestS3Object",
    "previousDigestSignature",    "digestEndTime",  "digestStartTime"};

// A digest file's name, parsed from its key.
struct DigestName {
  std::string key;  // path under the bucket directory
  std::string prefix, organization, account, region, trail, home, stamp;
};

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

// [prefix/]AWSLogs/[<org id>/]<acct>/CloudTrail-Digest/<region>/YYYY/MM/DD/
//   <acct>_CloudTrail-Digest_<region>_<trail>_<home>_<stamp>.json.gz
// (an organization trail's digests have the organization id before the
// member account).
std::optional<DigestName> ParseDigestKey(std::string_view key) {
  size_t at = key.starts_with("AWSLogs/") ? 0 : key.find("/AWSLogs/");
  if (at == std::string_view::npos) return std::nullopt;
  DigestName n;
  n.key = std::string(key);
  if (at != 0) n.prefix = std::string(key.substr(0, at));
  std::string_view rest = key.substr(at == 0 ? 0 : at + 1);
  auto parts = Split(rest, '/');
  if (parts.size() == 9 && parts[1].starts_with("o-")) {
    n.organization = std::string(parts[1]);
    parts.erase(parts.begin() + 1);
  }
  if (parts.size() != 8 || parts[2] != "CloudTrail-Digest") return std::nullopt;
  n.account = std::string(parts[1]);
  n.region = std::string(parts[3]);
  std::string_view file = parts[7];
  std::string head = n.account + "_CloudTrail-Digest_" + n.region + "_";
  constexpr std::string_view kExt = ".json.gz";
  if (!file.starts_with(head) || !file.ends_with(kExt)) return std::nullopt;
  std::string_view middle = file.substr(head.size(), file.size() - head.size() - kExt.size());
  if (middle.size() < kStampSize + 4 || middle[middle.size() - kStampSize - 1] != '_') {
    return std::nullopt;
  }
  n.stamp = std::string(middle.substr(middle.size() - kStampSize));
  std::string_view trail_home = middle.substr(0, middle.size() - kStampSize - 1);
  size_t last = trail_home.rfind('_');
  if (last == std::string_view::npos || last == 0) return std::nullopt;
  n.home = std::string(trail_home.substr(last + 1));
  n.trail = std::string(trail_home.substr(0, last));
  return n;
}

// The stamp of a key (as the aws CLI extracts it), or "".
std::string StampOf(std::string_view key) {
  if (key.size() < kStampSize + 8) return {};
  return std::string(key.substr(key.size() - kStampSize - 8, kStampSize));
}

std::string StampOfSeconds(int64_t s) {
  std::string iso = FormatIso8601(TimePoint(std::chrono::seconds(s)));  // 2026-11-28T12:00:00Z
  std::string out;
  for (char c : iso) {
    if (c != '-' && c != ':') out += c;
  }
  return out;
}

std::optional<int64_t> ParseTime(const json::Value* v) {
  if (v == nullptr || !v->is_string()) return std::nullopt;
  auto parsed = protocol::internal::ParseIso8601(v->as_string());
  if (!parsed || !parsed->is_number()) return std::nullopt;
  return static_cast<int64_t>(std::floor(parsed->as_double()));
}

// A key or bucket name safe to join to a directory.
bool SafeRelative(std::string_view key) {
  if (key.empty() || key.starts_with('/')) return false;
  for (std::string_view seg : Split(key, '/')) {
    if (seg.empty() || seg == "." || seg == "..") return false;
  }
  return true;
}

std::string S3Url(std::string_view bucket, std::string_view key) {
  return "s3://" + std::string(bucket) + "/" + std::string(key);
}

// The trail directory's files.
class Tree {
 public:
  // REQUIRES: dir names the bucket directory itself (no trailing slash).
  explicit Tree(const fs::path& dir) : dir_(dir), bucket_(dir.filename().string()) {}

  const std::string& bucket() const { return bucket_; }

  fs::path PathOf(std::string_view bucket, std::string_view key) const {
    fs::path base = bucket == bucket_ ? dir_ : dir_.parent_path() / std::string(bucket);
    return base / std::string(key);
  }

  // Every file under the directory whose name looks like a digest.
  std::vector<std::string> DigestKeys() const {
    std::vector<std::string> keys;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      std::string name = it->path().filename().string();
      if (name.find("_CloudTrail-Digest_") == std::string::npos || !name.ends_with(".json.gz")) {
        continue;
      }
      keys.push_back(fs::relative(it->path(), dir_, ec).generic_string());
    }
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  // The key where the digest written at claimed_key now lies, if any
  // digest-named file of the directory claims it.
  std::optional<std::string> FindClaim(std::string_view claimed_bucket,
                                       std::string_view claimed_key) {
    if (!claims_loaded_) LoadClaims();
    auto it = claims_.find(std::string(claimed_bucket) + "/" + std::string(claimed_key));
    if (it == claims_.end()) return std::nullopt;
    return it->second;
  }

 private:
  void LoadClaims() {
    claims_loaded_ = true;
    for (const std::string& key : DigestKeys()) {
      auto gz = internal::ReadWholeFile(dir_ / key);
      if (!gz.ok()) continue;
      auto text = internal::GunzipBytes(*gz, kMaxDigestBytes);
      if (!text.ok()) continue;
      auto data = json::Parse(*text);
      if (!data.ok() || !data->is_object()) continue;
      claims_.emplace(std::string(data->get_string("digestS3Bucket")) + "/" +
                          std::string(data->get_string("digestS3Object")),
                      key);
    }
  }

  fs::path dir_;
  std::string bucket_;
  bool claims_loaded_ = false;
  std::map<std::string, std::string> claims_;  // "bucket/key" claimed -> key found at
};

struct Checked {
  bool authentic = false;  // signature holds: the chain may go on from it
  json::Value data;
};

class ChainWalker {
 public:
  ChainWalker(Tree& tree, const ValidateOptions& opts, ChainReport& chain, ValidateReport& totals)
      : tree_(tree), opts_(opts), chain_(chain), totals_(totals) {}

  // Walks the chain, then hashes the log files the valid digests list,
  // several at a time.
  void Walk(std::vector<DigestName> candidates) {
    WalkDigests(std::move(candidates));
    HashLogs();
  }

 private:
  // A log file to hash: its report's index in chain_.files.
  struct LogJob {
    size_t report = 0;
    fs::path path;
    std::string expected_hash;
  };

  void WalkDigests(std::vector<DigestName> candidates) {
    candidates_ = std::move(candidates);
    std::string bucket = tree_.bucket();
    std::optional<std::string> key = NextBefore("~");
    int64_t last_start = INT64_MAX;
    while (key && (!opts_.start || *opts_.start <= last_start)) {
      if (!visited_.insert(bucket + "/" + *key).second) break;  // a loop: stop
      std::optional<Checked> checked = Locate(bucket, *key);
      if (!checked || !checked->authentic) {
        key = NextBefore(StampOf(*key));
        continue;
      }
      const json::Value& d = checked->data;
      CheckLogs(d);
      last_start = ParseTime(d.find("digestStartTime")).value_or(INT64_MIN);
      const json::Value* prev_bucket = d.find("previousDigestS3Bucket");
      const json::Value* prev_key = d.find("previousDigestS3Object");
      if (prev_bucket == nullptr || !prev_bucket->is_string() || prev_key == nullptr ||
          !prev_key->is_string()) {
        // The first digest of a chain: an older chain may follow.
        std::string older_than = StampOf(*key);
        key = NextBefore(older_than);
        if (key) {
          chain_.notes.push_back("No digests link " + S3Url(bucket, *key) + " to the next one: "
                                 "logging or log file validation was off in between");
        }
        continue;
      }
      if (!SafeRelative(prev_bucket->as_string()) || prev_bucket->as_string().find('/') !=
                                                         std::string::npos ||
          !SafeRelative(prev_key->as_string())) {
        Report(true, S3Url(bucket, *key), FileStatus::kModified, "invalid previous digest location");
        key = NextBefore(StampOf(*key));
        continue;
      }
      bucket = prev_bucket->as_string();
      key = prev_key->as_string();
    }
  }

  // Hashes the listed log files on up to eight threads. With a SIMD
  // multi-buffer kernel and files enough to keep at least half of each
  // thread's parallel lanes busy (from half of its lanes on, either kernel
  // hashes at least as fast as OpenSSL's SHA-NI code), each thread hashes
  // several files at once in the kernel's lanes (about twice OpenSSL's
  // speed per core when they are full, docs/benchmarks.md); otherwise each
  // thread hashes one file at a time with OpenSSL.
  void HashLogs() {
    size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8);
    threads = std::min(threads, jobs_.size());
    crypto::Sha256MultiBuffer::Kernel kernel = crypto::Sha256MultiBuffer::Best();
    size_t half = std::max<size_t>(1, crypto::Sha256MultiBuffer::ParallelLanes(kernel) / 2);
    bool lanes = kernel != crypto::Sha256MultiBuffer::Kernel::kScalar &&
                 jobs_.size() >= half * threads;
    std::atomic<size_t> next{0};
    auto claim = [this, &next]() -> std::optional<internal::GunzipHashJob> {
      size_t i = next++;
      if (i >= jobs_.size()) return std::nullopt;
      return internal::GunzipHashJob{i, jobs_[i].path};
    };
    auto record = [this](size_t i, Result<std::string> hash) { Record(jobs_[i], hash); };
    auto worker = [&claim, &record, lanes] {
      if (lanes) return internal::Sha256OfGunzippedFiles(claim, record);
      for (auto job = claim(); job; job = claim()) {
        record(job->id, internal::Sha256OfGunzippedFile(job->path));
      }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (std::thread& t : pool) t.join();
    for (const LogJob& job : jobs_) {
      bool valid = chain_.files[job.report].status == FileStatus::kValid;
      (valid ? totals_.valid_logs : totals_.invalid_logs)++;
    }
  }

  // Sets the job's report from its file's hash; each job touches only its
  // own report.
  void Record(const LogJob& job, const Result<std::string>& hash) {
    FileReport& report = chain_.files[job.report];
    if (!hash.ok() && hash.status().code() != ErrorCode::kValidation) {
      report.status = FileStatus::kDeleted;
      report.detail = "not found";
    } else if (!hash.ok()) {
      report.status = FileStatus::kModified;
      report.detail = "invalid format (not gzip)";
    } else if (*hash != job.expected_hash) {
      report.status = FileStatus::kModified;
      report.detail = "hash value doesn't match";
    }
  }

  // The newest candidate older than stamp not yet visited.
  std::optional<std::string> NextBefore(const std::string& stamp) {
    while (!candidates_.empty()) {
      DigestName c = std::move(candidates_.back());
      candidates_.pop_back();
      if (c.stamp < stamp && visited_.count(tree_.bucket() + "/" + c.key) == 0) return c.key;
    }
    return std::nullopt;
  }

  // Finds the digest the chain expects at bucket/key and checks it.
  std::optional<Checked> Locate(const std::string& bucket, const std::string& key) {
    fs::path path = tree_.PathOf(bucket, key);
    std::error_code ec;
    if (fs::exists(path, ec)) return Check(path, S3Url(bucket, key), bucket, key);
    auto found = tree_.FindClaim(bucket, key);
    if (found && visited_.insert(tree_.bucket() + "/" + *found).second) {
      return Check(tree_.PathOf(tree_.bucket(), *found), S3Url(tree_.bucket(), *found), bucket,
                   key);
    }
    Report(true, S3Url(bucket, key), FileStatus::kMissing,
           "not found: the chain has a gap here (digest deleted)");
    return std::nullopt;
  }

  // Checks the digest file at path (reported as location), which the
  // chain expects to be the one written at bucket/key.
  std::optional<Checked> Check(const fs::path& path, const std::string& location,
                               const std::string& bucket, const std::string& key) {
    auto gz = internal::ReadWholeFile(path);
    if (!gz.ok()) {
      Report(true, location, FileStatus::kMissing, "not readable");
      return std::nullopt;
    }
    auto text = internal::GunzipBytes(*gz, kMaxDigestBytes);
    auto data = text.ok() ? json::Parse(*text) : Result<json::Value>(text.status());
    if (!data.ok() || !data->is_object() || !HasRequiredFields(*data)) {
      Report(true, location, FileStatus::kModified, "invalid format");
      return std::nullopt;
    }
    Checked out;
    out.data = std::move(data).value();
    const json::Value& d = out.data;
    std::string claimed = S3Url(d.get_string("digestS3Bucket"), d.get_string("digestS3Object"));
    std::string expected = S3Url(bucket, key);
    if (auto problem = SignatureProblem(path, d, *text)) {
      Report(true, location, FileStatus::kModified, *problem);
      return std::nullopt;
    }
    out.authentic = claimed == expected;
    if (claimed != location) {
      Report(true, location, FileStatus::kMoved, "written at " + claimed);
      // A digest found where the chain expected another is not followed;
      // one found elsewhere that the chain expects is.
      return out;
    }
    Report(true, location, FileStatus::kValid, "");
    return out;
  }

  static bool HasRequiredFields(const json::Value& d) {
    for (std::string_view f : kRequiredFields) {
      if (d.find(f) == nullptr) return false;
    }
    return d.find("digestS3Bucket")->is_string() && d.find("digestS3Object")->is_string() &&
           d.find("digestEndTime")->is_string() &&
           d.find("digestPublicKeyFingerprint")->is_string();
  }

  // Why the signature does not hold, or nullopt when it does.
  std::optional<std::string> SignatureProblem(const fs::path& path, const json::Value& d,
                                              const std::string& text) {
    std::string fingerprint(d.get_string("digestPublicKeyFingerprint"));
    const PublicKeyInfo* key = nullptr;
    for (const PublicKeyInfo& k : opts_.keys) {
      if (k.fingerprint == fingerprint) key = &k;
    }
    if (key == nullptr) return "no trusted public key with fingerprint " + fingerprint;
    auto sig_hex = internal::ReadWholeFile(path.string() + ".sig");
    if (!sig_hex.ok()) return std::string("signature file missing");
    std::string_view hex = *sig_hex;
    while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.remove_suffix(1);
    auto sig = HexDecode(hex);
    const json::Value* prev = d.find("previousDigestSignature");
    std::string prev_sig = prev->is_string() ? prev->as_string() : std::string();
    std::string to_sign =
        DigestStringToSign(d.get_string("digestEndTime"), d.get_string("digestS3Bucket"),
                           d.get_string("digestS3Object"), text, prev_sig);
    if (!sig || !VerifySha256WithRsa(key->pkcs1_der, to_sign, *sig)) {
      return std::string("signature verification failed");
    }
    auto end = ParseTime(d.find("digestEndTime"));
    if (!end || *end < key->valid_from || *end > key->valid_to) {
      return std::string("signed outside the public key's validity window");
    }
    return std::nullopt;
  }

  void CheckLogs(const json::Value& d) {
    const json::Value* files = d.find("logFiles");
    if (files == nullptr || !files->is_array()) return;
    for (const json::Value& f : files->as_array()) {
      std::string bucket(f.get_string("s3Bucket"));
      std::string key(f.get_string("s3Object"));
      std::string location = S3Url(bucket, key);
      if (!SafeRelative(bucket) || bucket.find('/') != std::string::npos || !SafeRelative(key)) {
        Report(false, location, FileStatus::kModified, "invalid location in the digest");
        continue;
      }
      // Valid until HashLogs finds otherwise.
      jobs_.push_back(LogJob{chain_.files.size(), tree_.PathOf(bucket, key),
                             std::string(f.get_string("hashValue"))});
      chain_.files.push_back(FileReport{false, std::move(location), FileStatus::kValid, ""});
    }
  }

  void Report(bool digest, std::string location, FileStatus status, std::string detail) {
    bool valid = status == FileStatus::kValid;
    if (digest) {
      (valid ? totals_.valid_digests : totals_.invalid_digests)++;
    } else {
      (valid ? totals_.valid_logs : totals_.invalid_logs)++;
    }
    chain_.files.push_back(FileReport{digest, std::move(location), status, std::move(detail)});
  }

  Tree& tree_;
  const ValidateOptions& opts_;
  ChainReport& chain_;
  ValidateReport& totals_;
  std::vector<DigestName> candidates_;  // oldest first
  std::set<std::string> visited_;       // "bucket/key" of digests checked
  std::vector<LogJob> jobs_;
};

bool Selected(const ValidateOptions& o, const DigestName& n) {
  return (o.account_id.empty() || o.account_id == n.account) &&
         (o.region.empty() || o.region == n.region) && (o.trail.empty() || o.trail == n.trail);
}

}  // namespace

std::string_view FileStatusName(FileStatus status) {
  switch (status) {
    case FileStatus::kValid: return "valid";
    case FileStatus::kModified: return "modified";
    case FileStatus::kDeleted: return "deleted";
    case FileStatus::kMoved: return "moved";
    case FileStatus::kMissing: return "missing";
  }
  return "unknown";
}

std::string FormatFileReport(const FileReport& f) {
  std::string line = f.digest ? "Digest file\t" : "Log file\t";
  line += f.location;
  line += '\t';
  line += FileStatusName(f.status);
  if (!f.detail.empty()) line += ": " + f.detail;
  return line;
}

Result<ValidateReport> ValidateTrailDir(const ValidateOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(options.trail_dir, ec)) {
    return Status::Validation("not a directory: " + options.trail_dir);
  }
  fs::path dir = fs::path(options.trail_dir).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();  // "logs/" -> "logs"
  Tree tree(dir);
  // Chains: (prefix, account, region, trail, home, organization) -> digests,
  // oldest first.
  std::map<std::vector<std::string>, std::vector<DigestName>> chains;
  std::string min_stamp = options.start ? StampOfSeconds(*options.start) : std::string();
  // Like the aws CLI: digests up to an hour after the end may cover it.
  std::string max_stamp = options.end ? StampOfSeconds(*options.end + 3600) : std::string("~");
  for (const std::string& key : tree.DigestKeys()) {
    auto name = ParseDigestKey(key);
    if (!name || !Selected(options, *name)) continue;
    auto& list = chains[{name->prefix, name->account, name->region, name->trail, name->home,
                         name->organization}];
    if (name->stamp >= min_stamp && name->stamp <= max_stamp) list.push_back(std::move(*name));
  }
  ValidateReport report;
  for (auto& [id, digests] : chains) {
    std::sort(digests.begin(), digests.end(),
              [](const DigestName& a, const DigestName& b) { return a.stamp < b.stamp; });
    ChainReport chain{id[1], id[2], id[3], id[4], id[0], id[5], {}, {}};
    ChainWalker walker(tree, options, chain, report);
    walker.Walk(std::move(digests));
    report.chains.push_back(std::move(chain));
  }
  return report;
}

Result<std::vector<PublicKeyInfo>> ParsePublicKeysJson(std::string_view text) {
  ASSIGN_OR_RETURN(json::Value doc, json::Parse(text));
  const json::Value* list = doc.is_object() ? doc.find("PublicKeyList") : nullptr;
  if (list == nullptr || !list->is_array()) {
    return Status::Validation("expected the JSON of `aws cloudtrail list-public-keys`");
  }
  std::vector<PublicKeyInfo> keys;
  for (const json::Value& k : list->as_array()) {
    PublicKeyInfo info;
    auto der = Base64Decode(k.get_string("Value"));
    // The CLI prints the blob (base64 text of the DER) as base64 again.
    if (der && !der->empty() && (*der)[0] != 0x30) der = Base64Decode(*der);
    if (!der || der->empty()) return Status::Validation("a public key Value is not base64");
    info.pkcs1_der = std::move(*der);
    info.fingerprint = std::string(k.get_string("Fingerprint"));
    if (PublicKeyFingerprint(info.pkcs1_der) != info.fingerprint) {
      return Status::Validation("public key " + info.fingerprint +
                                " does not match its fingerprint");
    }
    for (auto [member, out] : {std::pair{"ValidityStartTime", &info.valid_from},
                               std::pair{"ValidityEndTime", &info.valid_to}}) {
      const json::Value* v = k.find(member);
      std::optional<int64_t> t;
      if (v != nullptr && v->is_number()) {
        double d = v->as_double();
        if (d > -1e15 && d < 1e15) t = static_cast<int64_t>(std::floor(d));
      } else {
        t = ParseTime(v);
      }
      if (!t) return Status::Validation(std::string("a public key lacks ") + member);
      *out = *t;
    }
    keys.push_back(std::move(info));
  }
  return keys;
}

}  // namespace rampart::audit
