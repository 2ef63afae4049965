// DigestWriter: CloudTrail digest files and their signatures.
#include "rampart/audit/digest.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <set>
#include <vector>

#include "audit/digest_io.h"
#include "rampart/core/encoding.h"
#include "rampart/core/log.h"
#include "rampart/crypto/digest.h"

namespace rampart::audit {
namespace {

// audit_log_validation: trails with EnableLogFileValidation.
// audit_digest_chains: per trail and region, the last digest written.
// audit_digest_pending: log files delivered and not yet in a digest.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE audit_log_validation (
  account_id TEXT NOT NULL,
  trail_name TEXT NOT NULL,
  enabled_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, trail_name)
);
CREATE TABLE audit_digest_chains (
  account_id TEXT NOT NULL,
  trail_name TEXT NOT NULL,
  region TEXT NOT NULL,
  last_end INTEGER NOT NULL,
  prev_bucket TEXT NOT NULL,
  prev_object TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  prev_signature TEXT NOT NULL,
  PRIMARY KEY (account_id, trail_name, region)
);
CREATE TABLE audit_digest_pending (
  id INTEGER PRIMARY KEY,
  account_id TEXT NOT NULL,
  trail_name TEXT NOT NULL,
  region TEXT NOT NULL,
  bucket TEXT NOT NULL,
  object TEXT NOT NULL,
  hash TEXT NOT NULL,
  oldest_ms INTEGER NOT NULL,
  newest_ms INTEGER NOT NULL,
  delivered_at INTEGER NOT NULL
);
CREATE INDEX audit_digest_pending_by_trail ON audit_digest_pending (account_id, trail_name, region, id);
)sql";

// Version 2: organization trails have a chain per member account. A chain
// names the account whose log files it lists (log_account) and the
// organization its keys were under; pending files name their account.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE audit_digest_chains_v2 (
  account_id TEXT NOT NULL,
  trail_name TEXT NOT NULL,
  region TEXT NOT NULL,
  log_account TEXT NOT NULL,
  organization_id TEXT NOT NULL,
  last_end INTEGER NOT NULL,
  prev_bucket TEXT NOT NULL,
  prev_object TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  prev_signature TEXT NOT NULL,
  PRIMARY KEY (account_id, trail_name, region, log_account)
);
INSERT INTO audit_digest_chains_v2 (account_id, trail_name, region, log_account, organization_id,
    last_end, prev_bucket, prev_object, prev_hash, prev_signature)
  SELECT account_id, trail_name, region, account_id, '', last_end, prev_bucket, prev_object,
         prev_hash, prev_signature FROM audit_digest_chains;
DROP TABLE audit_digest_chains;
ALTER TABLE audit_digest_chains_v2 RENAME TO audit_digest_chains;
ALTER TABLE audit_digest_pending ADD COLUMN log_account TEXT NOT NULL DEFAULT '';
UPDATE audit_digest_pending SET log_account = account_id;
CREATE INDEX audit_digest_pending_by_object ON audit_digest_pending (account_id, trail_name, object);
)sql";

// Version 3: which events a delivery batch took (delivery.cc), saved with
// the batch's end before its log files are written. A retried batch takes
// exactly these again, so it rewrites the files a digest may already list
// byte for byte even if the trail's selectors, regions or organization
// changed in between. taken: the events' seqs as comma-separated
// differences, each from the one before (the first from start_seq).
constexpr std::string_view kSchemaV3 = R"sql(
CREATE TABLE audit_delivery_batches (
  account_id TEXT NOT NULL,
  trail_name TEXT NOT NULL,
  start_seq INTEGER NOT NULL,
  end_seq INTEGER NOT NULL,
  taken TEXT NOT NULL,
  PRIMARY KEY (account_id, trail_name)
);
)sql";

// Version 4: one row per batch, not per trail. Version 3 kept only the
// last batch of a pass (each batch's row replaced the one before), so a
// pass of several batches whose progress was lost retried all but its last
// batch with the trail's configuration at retry time.
constexpr std::string_view kSchemaV4 = R"sql(
CREATE TABLE audit_delivery_batches_v4 (
  account_id TEXT NOT NULL,
  trail_name TEXT NOT NULL,
  start_seq INTEGER NOT NULL,
  end_seq INTEGER NOT NULL,
  taken TEXT NOT NULL,
  PRIMARY KEY (account_id, trail_name, start_seq)
);
INSERT INTO audit_delivery_batches_v4 (account_id, trail_name, start_seq, end_seq, taken)
  SELECT account_id, trail_name, start_seq, end_seq, taken FROM audit_delivery_batches;
DROP TABLE audit_delivery_batches;
ALTER TABLE audit_delivery_batches_v4 RENAME TO audit_delivery_batches;
)sql";

// Version 5: where a batch's log files went (the trail's bucket, key prefix
// and organization id when it was first written). A retried batch writes
// there again, so a bucket or prefix changed before the retry does not put
// its events in a second file. NULL in rows saved before: their retry goes
// where the trail points at retry time.
constexpr std::string_view kSchemaV5 = R"sql(
ALTER TABLE audit_delivery_batches ADD COLUMN bucket TEXT;
ALTER TABLE audit_delivery_batches ADD COLUMN prefix TEXT;
ALTER TABLE audit_delivery_batches ADD COLUMN organization_id TEXT;
)sql";

const store::Migration kMigrations[] = {
    {1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3}, {4, kSchemaV4}, {5, kSchemaV5}};

int64_t Seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint FromSeconds(int64_t s) { return TimePoint(std::chrono::seconds(s)); }

std::string IsoFromMs(int64_t ms) {
  return FormatIso8601(TimePoint(std::chrono::milliseconds(ms)));
}

json::Value OrNull(const std::string& s) { return s.empty() ? json::Value() : json::Value(s); }

}  // namespace

namespace internal {

// A trail with validation on, as WriteDue needs it.
struct ValidatingTrail {
  std::string account_id;
  std::string name;
  std::string home_region;
  std::string bucket;
  std::string prefix;
  std::string organization_id;  // an organization trail's; else empty
  bool logging = false;
  int64_t enabled_at = 0;
  int64_t start_logging_time = 0;
  int64_t stop_logging_time = 0;
};

// One digest chain of a trail: per region and, for an organization trail,
// per account whose log files it lists.
struct Chain {
  std::string region;
  std::string log_account;
  std::string organization_id;  // the trail's when the chain was last written
  bool exists = false;
  int64_t last_end = 0;
  std::string prev_bucket, prev_object, prev_hash, prev_signature;
};

struct Pending {
  int64_t id = 0;
  DigestLogFile file;
};

}  // namespace internal

namespace {

using internal::Chain;
using internal::Pending;
using internal::ValidatingTrail;

Result<std::vector<ValidatingTrail>> LoadValidatingTrails(store::Tx& tx) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare(
      "SELECT v.account_id, v.trail_name, t.home_region, t.bucket, t.prefix, t.logging, "
      "v.enabled_at, t.start_logging_time, t.stop_logging_time, t.organization_id "
      "FROM audit_log_validation v "
      "JOIN audit_trails t ON t.account_id = v.account_id AND t.name = v.trail_name "
      "ORDER BY v.account_id, v.trail_name"));
  std::vector<ValidatingTrail> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    ValidatingTrail t;
    t.account_id = s->Text(0);
    t.name = s->Text(1);
    t.home_region = s->Text(2);
    t.bucket = s->Text(3);
    t.prefix = s->Text(4);
    t.logging = s->Int(5) != 0;
    t.enabled_at = s->Int(6);
    t.start_logging_time = s->Int(7);
    t.stop_logging_time = s->Int(8);
    t.organization_id = s->Text(9);
    out.push_back(std::move(t));
  }
  return out;
}

// The trail's chains, one per region and log account: the home region's
// of the trail's own account always, others once they have a chain or a
// pending file.
Result<std::vector<Chain>> LoadChains(store::Tx& tx, const ValidatingTrail& trail) {
  std::vector<Chain> chains;
  ASSIGN_OR_RETURN(auto s, tx.Prepare(
      "SELECT region, log_account, organization_id, last_end, prev_bucket, prev_object, "
      "prev_hash, prev_signature FROM audit_digest_chains WHERE account_id = ? AND "
      "trail_name = ?"));
  s->Bind(1, trail.account_id).Bind(2, trail.name);
  while (true) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    chains.push_back(Chain{s->Text(0), s->Text(1), s->Text(2), true, s->Int(3), s->Text(4),
                           s->Text(5), s->Text(6), s->Text(7)});
  }
  std::set<std::pair<std::string, std::string>> known;  // region, log account
  for (const Chain& c : chains) known.emplace(c.region, c.log_account);
  ASSIGN_OR_RETURN(auto p, tx.Prepare(
      "SELECT DISTINCT region, log_account FROM audit_digest_pending WHERE account_id = ? AND "
      "trail_name = ?"));
  p->Bind(1, trail.account_id).Bind(2, trail.name);
  std::vector<std::pair<std::string, std::string>> wanted = {{trail.home_region, trail.account_id}};
  while (true) {
    ASSIGN_OR_RETURN(bool row, p->Step());
    if (!row) break;
    wanted.emplace_back(p->Text(0), p->Text(1));
  }
  for (const auto& place : wanted) {
    if (!known.insert(place).second) continue;
    Chain fresh;
    fresh.region = place.first;
    fresh.log_account = place.second;
    chains.push_back(std::move(fresh));
  }
  return chains;
}

Result<std::vector<Pending>> LoadPending(store::Tx& tx, const ValidatingTrail& trail,
                                         const Chain& chain, int64_t until) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare(
      "SELECT id, bucket, object, hash, oldest_ms, newest_ms FROM audit_digest_pending "
      "WHERE account_id = ? AND trail_name = ? AND region = ? AND log_account = ? AND "
      "delivered_at <= ? ORDER BY id"));
  s->Bind(1, trail.account_id).Bind(2, trail.name).Bind(3, chain.region);
  s->Bind(4, chain.log_account).Bind(5, until);
  std::vector<Pending> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) break;
    out.push_back(Pending{s->Int(0), {s->Text(1), s->Text(2), s->Text(3), s->Int(4), s->Int(5)}});
  }
  return out;
}

// Whether a digest is due for chain at now, and from when it starts.
// A stopped trail gets digests only for what it delivered (events from
// before the stop can arrive a delivery late), never empty ones.
// REQUIRES: chain continues the trail's current logging session (Continues).
std::optional<int64_t> DueStart(const ValidatingTrail& trail, const Chain& chain,
                                bool has_pending, int64_t now, int64_t period) {
  int64_t start = chain.exists
                      ? chain.last_end
                      : std::max(trail.enabled_at, trail.start_logging_time);
  if (now <= start) return std::nullopt;
  if (!trail.logging) {
    bool unfinished = has_pending || (chain.exists && chain.last_end < trail.stop_logging_time);
    return unfinished ? std::optional<int64_t>(start) : std::nullopt;
  }
  if (now - start < period) return std::nullopt;
  return start;
}

// A chain goes on while the trail logs; once the trail stopped and started
// again, digests start a new chain (the first one's previous fields are
// null), as CloudTrail's do. A trail that became (or stopped being) an
// organization trail writes its digests under another key, so it starts
// new chains too.
Chain Continues(const ValidatingTrail& trail, const Chain& chain) {
  if (chain.exists && chain.last_end >= trail.start_logging_time &&
      chain.organization_id == trail.organization_id) {
    return chain;
  }
  Chain fresh;
  fresh.region = chain.region;
  fresh.log_account = chain.log_account;
  return fresh;
}

// The chain every validating trail has from the start: its own account's
// in its home region. Others start with their first log file.
bool StartsWithoutLogFiles(const ValidatingTrail& trail, const Chain& chain) {
  return chain.region == trail.home_region && chain.log_account == trail.account_id;
}

Status SaveChain(store::Tx& tx, const ValidatingTrail& trail, const Chain& next,
                 const std::vector<Pending>& used) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare(
      "INSERT OR REPLACE INTO audit_digest_chains (account_id, trail_name, region, "
      "log_account, organization_id, last_end, prev_bucket, prev_object, prev_hash, "
      "prev_signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  s->Bind(1, trail.account_id).Bind(2, trail.name).Bind(3, next.region);
  s->Bind(4, next.log_account).Bind(5, next.organization_id).Bind(6, next.last_end);
  s->Bind(7, next.prev_bucket).Bind(8, next.prev_object).Bind(9, next.prev_hash);
  RETURN_IF_ERROR(s->Bind(10, next.prev_signature).Run());
  ASSIGN_OR_RETURN(auto del, tx.Prepare("DELETE FROM audit_digest_pending WHERE id = ?"));
  for (const Pending& p : used) {
    RETURN_IF_ERROR(del->Reset());
    RETURN_IF_ERROR(del->Bind(1, p.id).Run());
  }
  return Status::Ok();
}

}  // namespace

std::string DigestObjectKey(std::string_view prefix, std::string_view organization_id,
                            std::string_view account, std::string_view region, std::string_view trail,
                            std::string_view home_region, TimePoint end) {
  std::time_t t = std::chrono::system_clock::to_time_t(end);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char day[48], stamp[64];
  std::snprintf(day, sizeof day, "%04d/%02d/%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  std::snprintf(stamp, sizeof stamp, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string key;
  if (!prefix.empty()) key = std::string(prefix) + "/";
  std::string a(account), r(region);
  key += "AWSLogs/";
  if (!organization_id.empty()) key += std::string(organization_id) + "/";
  key += a + "/CloudTrail-Digest/" + r + "/" + day + "/" + a + "_CloudTrail-Digest_" +
         r + "_" + std::string(trail) + "_" + std::string(home_region) + "_" + stamp + ".json.gz";
  return key;
}

std::string DigestJson(const DigestContents& d) {
  json::Value out = json::Value::MakeObject();
  out.set("awsAccountId", d.account_id);
  out.set("digestStartTime", FormatIso8601(d.start));
  out.set("digestEndTime", FormatIso8601(d.end));
  out.set("digestS3Bucket", d.bucket);
  out.set("digestS3Object", d.object);
  out.set("digestPublicKeyFingerprint", d.fingerprint);
  out.set("digestSignatureAlgorithm", "SHA256withRSA");
  json::Value files = json::Value::MakeArray();
  int64_t newest = 0, oldest = 0;
  for (const DigestLogFile& f : d.log_files) {
    if (newest == 0 || f.newest_event_ms > newest) newest = f.newest_event_ms;
    if (oldest == 0 || f.oldest_event_ms < oldest) oldest = f.oldest_event_ms;
    json::Value e = json::Value::MakeObject();
    e.set("s3Bucket", f.bucket);
    e.set("s3Object", f.object);
    e.set("hashValue", f.sha256_hex);
    e.set("hashAlgorithm", "SHA-256");
    e.set("newestEventTime", IsoFromMs(f.newest_event_ms));
    e.set("oldestEventTime", IsoFromMs(f.oldest_event_ms));
    files.push(std::move(e));
  }
  out.set("newestEventTime", d.log_files.empty() ? json::Value() : json::Value(IsoFromMs(newest)));
  out.set("oldestEventTime", d.log_files.empty() ? json::Value() : json::Value(IsoFromMs(oldest)));
  out.set("previousDigestS3Bucket", OrNull(d.previous_bucket));
  out.set("previousDigestS3Object", OrNull(d.previous_object));
  out.set("previousDigestHashValue", OrNull(d.previous_hash_hex));
  out.set("previousDigestHashAlgorithm",
          d.previous_hash_hex.empty() ? json::Value() : json::Value("SHA-256"));
  out.set("previousDigestSignature", OrNull(d.previous_signature_hex));
  out.set("logFiles", std::move(files));
  return json::Write(out);
}

std::string DigestStringToSign(std::string_view end_time_iso, std::string_view bucket,
                               std::string_view object, std::string_view digest_json,
                               std::string_view previous_signature_hex) {
  std::string s(end_time_iso);
  s += '\n';
  s.append(bucket).append("/").append(object);
  s += '\n';
  s += crypto::Sha256Hex(digest_json);
  s += '\n';
  s += previous_signature_hex.empty() ? std::string_view("null") : previous_signature_hex;
  return s;
}

Status SetLogFileValidation(store::Tx& tx, std::string_view account, std::string_view trail,
                            bool enabled, int64_t now_seconds) {
  ASSIGN_OR_RETURN(bool was, LogFileValidationEnabled(tx, account, trail));
  if (was == enabled) return Status::Ok();
  if (enabled) {
    ASSIGN_OR_RETURN(auto s, tx.Prepare("INSERT INTO audit_log_validation (account_id, "
                                        "trail_name, enabled_at) VALUES (?, ?, ?)"));
    return s->Bind(1, account).Bind(2, trail).Bind(3, now_seconds).Run();
  }
  // Turning validation off ends the trail's chains (CloudTrail: files
  // delivered while it is off are never digested).
  return ForgetTrailDigests(tx, account, trail);
}

Result<bool> LogFileValidationEnabled(store::Tx& tx, std::string_view account,
                                      std::string_view trail) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT 1 FROM audit_log_validation WHERE account_id = ? "
                                      "AND trail_name = ?"));
  s->Bind(1, account).Bind(2, trail);
  return s->Step();
}

Result<int64_t> LatestDigestTime(store::Tx& tx, std::string_view account,
                                 std::string_view trail) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT MAX(last_end) FROM audit_digest_chains WHERE "
                                      "account_id = ? AND trail_name = ?"));
  s->Bind(1, account).Bind(2, trail);
  ASSIGN_OR_RETURN(bool row, s->Step());
  if (!row || s->IsNull(0)) return int64_t{0};
  return s->Int(0);
}

Status ForgetTrailDigests(store::Tx& tx, std::string_view account, std::string_view trail) {
  for (std::string_view table :
       {"audit_log_validation", "audit_digest_chains", "audit_digest_pending"}) {
    ASSIGN_OR_RETURN(auto s, tx.Prepare("DELETE FROM " + std::string(table) +
                                        " WHERE account_id = ? AND trail_name = ?"));
    RETURN_IF_ERROR(s->Bind(1, account).Bind(2, trail).Run());
  }
  return Status::Ok();
}

DigestWriter::DigestWriter(store::Database& db, SigningKeys& keys, Options options)
    : db_(db), keys_(keys), options_(std::move(options)) {}

Status DigestWriter::Migrate(store::Database& db) { return db.Migrate("audit_digest", kMigrations); }

Status DigestWriter::AddLogFile(const LogFilePlace& place, const DigestLogFile& file,
                                TimePoint delivered) {
  return db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(bool enabled, LogFileValidationEnabled(tx, place.trail_account, place.trail));
    if (!enabled) return Status::Ok();
    ASSIGN_OR_RETURN(auto del, tx.Prepare("DELETE FROM audit_digest_pending WHERE account_id = ? "
                                          "AND trail_name = ? AND object = ?"));
    del->Bind(1, place.trail_account).Bind(2, place.trail).Bind(3, file.object);
    RETURN_IF_ERROR(del->Run());
    ASSIGN_OR_RETURN(auto s, tx.Prepare(
        "INSERT INTO audit_digest_pending (account_id, trail_name, region, log_account, bucket, "
        "object, hash, oldest_ms, newest_ms, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    s->Bind(1, place.trail_account).Bind(2, place.trail).Bind(3, place.region);
    s->Bind(4, place.log_account).Bind(5, file.bucket).Bind(6, file.object);
    s->Bind(7, file.sha256_hex).Bind(8, file.oldest_event_ms).Bind(9, file.newest_event_ms);
    return s->Bind(10, Seconds(delivered)).Run();
  });
}

// Writes one digest of chain from start to now_tp listing pending, its
// signature, and the chain's new state.
Status DigestWriter::WriteDigest(const internal::ValidatingTrail& trail,
                                 const internal::Chain& chain,
                                 const std::vector<internal::Pending>& pending, int64_t start,
                                 TimePoint now_tp) {
  int64_t now = Seconds(now_tp);
  DigestContents d;
  d.account_id = chain.log_account;
  d.start = FromSeconds(start);
  d.end = FromSeconds(now);
  d.bucket = trail.bucket;
  d.object = DigestObjectKey(trail.prefix, trail.organization_id, chain.log_account,
                             chain.region, trail.name, trail.home_region, d.end);
  ASSIGN_OR_RETURN(PublicKeyInfo key, keys_.Current(chain.region, now_tp));
  d.fingerprint = key.fingerprint;
  d.previous_bucket = chain.prev_bucket;
  d.previous_object = chain.prev_object;
  d.previous_hash_hex = chain.prev_hash;
  d.previous_signature_hex = chain.prev_signature;
  for (const Pending& p : pending) d.log_files.push_back(p.file);
  std::string text = DigestJson(d);
  std::string to_sign = DigestStringToSign(FormatIso8601(d.end), d.bucket, d.object, text,
                                           d.previous_signature_hex);
  ASSIGN_OR_RETURN(DigestSignature sig, keys_.Sign(chain.region, now_tp, to_sign));
  if (sig.fingerprint != d.fingerprint) {
    return Status::Internal("the signing key rotated while a digest was being written");
  }
  std::string sig_hex = HexEncode(sig.signature);
  ASSIGN_OR_RETURN(std::string gz, internal::GzipBytes(text));
  std::filesystem::path path = std::filesystem::path(options_.trails_dir) / d.bucket / d.object;
  // The signature first: a digest on disk always has its signature.
  RETURN_IF_ERROR(internal::WriteFileAtomically(path.string() + ".sig", sig_hex));
  RETURN_IF_ERROR(internal::WriteFileAtomically(path, gz));

  Chain next;
  next.region = chain.region;
  next.log_account = chain.log_account;
  next.organization_id = trail.organization_id;
  next.exists = true;
  next.last_end = now;
  next.prev_bucket = d.bucket;
  next.prev_object = d.object;
  next.prev_hash = crypto::Sha256Hex(text);
  next.prev_signature = sig_hex;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    return SaveChain(tx, trail, next, pending);
  }));
  return Status::Ok();
}

Result<int> DigestWriter::WriteDue(TimePoint now_tp) {
  std::lock_guard lock(write_mu_);
  int64_t now = Seconds(now_tp);
  std::vector<ValidatingTrail> trails;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(trails, LoadValidatingTrails(tx));
    return Status::Ok();
  }));
  int written = 0;
  for (const ValidatingTrail& trail : trails) {
    std::vector<Chain> chains;
    RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(chains, LoadChains(tx, trail));
      return Status::Ok();
    }));
    for (const Chain& stored : chains) {
      const Chain chain = Continues(trail, stored);
      std::vector<Pending> pending;
      RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
        ASSIGN_OR_RETURN(pending, LoadPending(tx, trail, chain, now));
        return Status::Ok();
      }));
      if (!chain.exists && pending.empty() && !StartsWithoutLogFiles(trail, chain)) continue;
      auto start = DueStart(trail, chain, !pending.empty(), now, options_.period.count());
      if (!start) continue;

      RETURN_IF_ERROR(WriteDigest(trail, chain, pending, *start, now_tp));
      ++written;
    }
  }
  return written;
}

}  // namespace rampart::audit
