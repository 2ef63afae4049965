// TrailDelivery: CloudTrail log files on disk.
#include "rampart/audit/delivery.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "audit/digest_io.h"
#include "audit/trails_internal.h"
#include "rampart/audit/digest.h"
#include "rampart/crypto/digest.h"
#include "rampart/audit/event_store.h"
#include "rampart/core/log.h"
#include "rampart/core/thread_name.h"

namespace rampart::audit {
namespace {

using internal::TrailRow;

constexpr int kBatch = 5000;
constexpr std::string_view kGlobalSources[] = {"iam.amazonaws.com", "sts.amazonaws.com",
                                               "organizations.amazonaws.com"};

int64_t Seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// What one log file holds: the events of one account and region, from
// the trail's pending events.
struct LogFileSpan {
  int64_t first_seq = 0;  // the file's first event ...
  int64_t first_ms = 0;   // ... and its time
  int64_t oldest_ms = 0;
  int64_t newest_ms = 0;
};

// The 16 hex digits that end a log file's name. CloudTrail's are random;
// ours are derived from the trail, the account, the region and the file's
// first event, so that a delivery retried after a failure (the file was
// written, recording it or the trail's progress was not) writes the same
// events to the same name instead of a second copy.
std::string FileId(const TrailRow& trail, std::string_view account, std::string_view region,
                   int64_t first_seq) {
  std::string key = trail.account_id + "/" + trail.name + "/" + std::string(account) + "/" +
                    std::string(region) + "/" + std::to_string(first_seq);
  return crypto::Sha256Hex(key).substr(0, 16);
}

// Where a batch's log files go: the trail's bucket, key prefix and (for an
// organization trail) organization id when the batch was first written. A
// retried batch goes to the same place even if the trail has been pointed
// elsewhere since, so its files are rewritten, never copied.
struct Destination {
  std::string bucket;
  std::string prefix;           // may be empty
  std::string organization_id;  // an organization trail's; else empty

  static Destination Of(const TrailRow& trail) {
    return Destination{trail.bucket, trail.prefix, trail.organization_id};
  }
};

// A log file of the events of account (the trail's own, or for an
// organization trail the member account whose events these are) in
// region, under dest. Organization trails put the organization id before
// the account, as CloudTrail does. The date and time in the key are those
// of the file's first event (CloudTrail uses the delivery time; a retried
// delivery must find the same key).
std::filesystem::path LogFilePath(const std::string& trails_dir, const TrailRow& trail,
                                  const Destination& dest, std::string_view account,
                                  std::string_view region, const LogFileSpan& span) {
  std::time_t t = static_cast<std::time_t>(span.first_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char day[48], stamp[64];
  std::snprintf(day, sizeof day, "%04d/%02d/%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  std::snprintf(stamp, sizeof stamp, "%04d%02d%02dT%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min);
  std::filesystem::path p = std::filesystem::path(trails_dir) / dest.bucket;
  if (!dest.prefix.empty()) p /= dest.prefix;
  p /= "AWSLogs";
  if (!dest.organization_id.empty()) p /= dest.organization_id;
  p = p / std::string(account) / "CloudTrail" / std::string(region) / day;
  return p / (std::string(account) + "_CloudTrail_" + std::string(region) + "_" + stamp + "_" +
              FileId(trail, account, region, span.first_seq) + ".json.gz");
}

// How a digest lists a log file written at path (in dest's bucket) with
// the uncompressed body.
DigestLogFile DigestEntry(const std::string& trails_dir, const Destination& dest,
                          const std::filesystem::path& path, std::string_view body,
                          const LogFileSpan& span) {
  std::filesystem::path bucket_dir = std::filesystem::path(trails_dir) / dest.bucket;
  return DigestLogFile{dest.bucket, path.lexically_relative(bucket_dir).generic_string(),
                       crypto::Sha256Hex(body), span.oldest_ms, span.newest_ms};
}

// The organization of each account, asked once per delivery pass.
class Memberships {
 public:
  explicit Memberships(const iam::OrganizationView* view) : view_(view) {}
  bool InOrganization(const std::string& account, const std::string& org_id) {
    if (view_ == nullptr) return false;
    auto it = org_of_.find(account);
    if (it == org_of_.end()) {
      auto placement = view_->PlacementOf(account);
      it = org_of_.emplace(account, placement.ok() ? placement->org_id : std::string()).first;
    }
    return it->second == org_id;
  }

 private:
  const iam::OrganizationView* view_;
  std::map<std::string, std::string> org_of_;
};

bool TrailTakes(const TrailRow& trail, const SequencedEvent& ev, Memberships& members) {
  bool ours = trail.organization_id.empty()
                  ? ev.account_id == trail.account_id
                  : members.InOrganization(ev.account_id, trail.organization_id);
  if (!ours) return false;
  if (!trail.multi_region && ev.region != trail.home_region) return false;
  if (!trail.include_global) {
    for (std::string_view g : kGlobalSources) {
      if (ev.event_source == g) return false;
    }
  }
  // A stopped trail takes what happened before it stopped.
  if (!trail.logging && ev.time_ms > trail.stop_logging_time * 1000 + 999) return false;
  return internal::SelectorsMatch(trail, ev.read_only, ev.event_source);
}

// The end of the batch an earlier pass was delivering when it failed or
// was cut short, or 0.
Result<int64_t> DeliveringSeq(store::Database& db, const TrailRow& trail) {
  int64_t seq = 0;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare(
        "SELECT delivering_seq FROM audit_trails WHERE account_id = ? AND name = ?"));
    s->Bind(1, trail.account_id).Bind(2, trail.name);
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (row) seq = s->Int(0);
    return Status::Ok();
  }));
  return seq;
}

// The seqs of the events a batch took, as audit_delivery_batches stores
// them (digest.cc): each the difference from the one before, from start.
std::string EncodeTaken(int64_t start, const std::vector<int64_t>& seqs) {
  std::string out;
  int64_t prev = start;
  for (int64_t seq : seqs) {
    if (!out.empty()) out += ',';
    out += std::to_string(seq - prev);
    prev = seq;
  }
  return out;
}

// The inverse of EncodeTaken; nullopt when text is not its output.
std::optional<std::set<int64_t>> DecodeTaken(int64_t start, std::string_view text) {
  std::set<int64_t> seqs;
  int64_t prev = start;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    int64_t delta = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), delta);
    if (ec != std::errc() || ptr != part.data() + part.size() || delta <= 0 ||
        delta > INT64_MAX - prev) {
      return std::nullopt;
    }
    prev += delta;
    seqs.insert(prev);
    text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
  }
  return seqs;
}

// Saves the end of the batch about to be written and, when digests are
// written (their migration made the table), the events it takes and where
// its files go, in a row of its own keyed by the batch's start (a pass of
// several batches keeps a row for each until its progress is saved); drops
// the rows of batches that start before the trail's saved progress, which
// are delivered. Only if the trail's saved progress is still saved_seq
// (not restarted or deleted meanwhile).
Status SaveBatch(store::Database& db, const TrailRow& trail, int64_t saved_seq, int64_t end,
                 const std::vector<int64_t>* taken, const Destination& dest) {
  return db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare(
        "UPDATE audit_trails SET delivering_seq = ? "
        "WHERE account_id = ? AND name = ? AND delivered_seq = ?"));
    s->Bind(1, end).Bind(2, trail.account_id).Bind(3, trail.name).Bind(4, saved_seq);
    RETURN_IF_ERROR(s->Run());
    if (taken == nullptr || s->Changes() == 0) return Status::Ok();
    ASSIGN_OR_RETURN(auto d, tx.Prepare(
        "DELETE FROM audit_delivery_batches "
        "WHERE account_id = ? AND trail_name = ? AND start_seq < ?"));
    d->Bind(1, trail.account_id).Bind(2, trail.name).Bind(3, saved_seq);
    RETURN_IF_ERROR(d->Run());
    ASSIGN_OR_RETURN(auto b, tx.Prepare(
        "INSERT OR REPLACE INTO audit_delivery_batches (account_id, trail_name, start_seq, "
        "end_seq, taken, bucket, prefix, organization_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    b->Bind(1, trail.account_id).Bind(2, trail.name).Bind(3, trail.delivered_seq).Bind(4, end);
    b->Bind(5, EncodeTaken(trail.delivered_seq, *taken)).Bind(6, dest.bucket);
    b->Bind(7, dest.prefix).Bind(8, dest.organization_id);
    return b->Run();
  });
}

// A batch written before from the trail's progress on: its end, the
// events it took and where it wrote them.
struct SavedBatch {
  int64_t end = 0;
  std::set<int64_t> taken;
  Destination dest;
};

Result<std::optional<SavedBatch>> LoadBatch(store::Database& db, const TrailRow& trail) {
  std::optional<SavedBatch> batch;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare(
        "SELECT end_seq, taken, bucket, prefix, organization_id FROM audit_delivery_batches "
        "WHERE account_id = ? AND trail_name = ? AND start_seq = ?"));
    s->Bind(1, trail.account_id).Bind(2, trail.name).Bind(3, trail.delivered_seq);
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return Status::Ok();
    auto taken = DecodeTaken(trail.delivered_seq, s->Text(1));
    if (!taken) return Status::Ok();
    // A row saved before the destination was (migration 5) has none: its
    // retry goes where the trail points now.
    Destination dest = s->IsNull(2) ? Destination::Of(trail)
                                    : Destination{s->Text(2), s->Text(3), s->Text(4)};
    batch = SavedBatch{s->Int(0), std::move(*taken), std::move(dest)};
    return Status::Ok();
  }));
  return batch;
}

// Writes one file per account and region of the trail's pending events;
// returns the number of files and advances trail.delivered_seq.
//
// A pass that fails after writing some files (or a crash before the
// trail's progress is saved) leaves delivered_seq where it was, so the
// next pass reads the same events again. The end of each batch is saved
// before its files are written, and a retried batch stops at that same
// end: it rewrites each file with exactly the events it held before (the
// same name, FileId, and the same bytes), so no event is delivered in two
// files, and a digest that already listed a file still matches it. Events
// recorded since go to the next batch's files. With digests, each batch
// also saves which events it took and where it wrote them, and a retry
// takes those and writes there, not what the trail's configuration selects
// and names by then (its selectors, regions, organization, bucket or key
// prefix may have changed in between): every file a digest may already
// list is rewritten byte for byte in its place.
Result<int> DeliverTrail(store::Database& db, const std::string& trails_dir, TrailRow& trail,
                         TimePoint now, DigestWriter* digests, Memberships& members) {
  using Place = std::pair<std::string, std::string>;  // account, region
  const int64_t saved_seq = trail.delivered_seq;
  ASSIGN_OR_RETURN(int64_t interrupted_end, DeliveringSeq(db, trail));
  int files = 0;
  while (true) {
    ASSIGN_OR_RETURN(auto events, EventsAfter(db, trail.delivered_seq, kBatch));
    if (events.empty()) break;
    bool more = static_cast<int>(events.size()) == kBatch;
    int64_t end = events.back().seq;
    std::optional<SavedBatch> saved;  // this batch, written before
    if (digests != nullptr) {
      ASSIGN_OR_RETURN(saved, LoadBatch(db, trail));
      if (saved && (saved->end <= trail.delivered_seq || saved->end > end)) saved.reset();
    }
    bool retry = saved || (interrupted_end > trail.delivered_seq && interrupted_end <= end);
    if (retry) {
      end = saved ? saved->end : interrupted_end;
      std::erase_if(events, [end](const SequencedEvent& ev) { return ev.seq > end; });
      more = true;
    }
    std::vector<int64_t> taken;
    for (const SequencedEvent& ev : events) {
      if (saved ? saved->taken.count(ev.seq) > 0 : TrailTakes(trail, ev, members)) {
        taken.push_back(ev.seq);
      }
    }
    const Destination dest = saved ? saved->dest : Destination::Of(trail);
    if (!retry) {
      RETURN_IF_ERROR(
          SaveBatch(db, trail, saved_seq, end, digests != nullptr ? &taken : nullptr, dest));
    }
    std::map<Place, std::string> bodies;  // comma-separated records
    std::map<Place, LogFileSpan> spans;
    size_t next_taken = 0;
    for (const SequencedEvent& ev : events) {
      if (next_taken == taken.size() || taken[next_taken] != ev.seq) continue;
      ++next_taken;
      Place place{ev.account_id, ev.region};
      auto& span = spans.try_emplace(place, LogFileSpan{ev.seq, ev.time_ms, ev.time_ms, ev.time_ms})
                       .first->second;
      span.oldest_ms = std::min(span.oldest_ms, ev.time_ms);
      span.newest_ms = std::max(span.newest_ms, ev.time_ms);
      std::string& body = bodies[place];
      if (!body.empty()) body += ',';
      body += ev.record;
    }
    for (const auto& [place, records] : bodies) {
      std::string body = "{\"Records\":[" + records + "]}";
      ASSIGN_OR_RETURN(std::string gz, internal::GzipBytes(body));
      const LogFileSpan& span = spans[place];
      std::filesystem::path path =
          LogFilePath(trails_dir, trail, dest, place.first, place.second, span);
      RETURN_IF_ERROR(internal::WriteFileAtomically(path, gz));
      ++files;
      if (digests != nullptr) {
        DigestWriter::LogFilePlace where{trail.account_id, trail.name, place.first, place.second};
        RETURN_IF_ERROR(digests->AddLogFile(
            where, DigestEntry(trails_dir, dest, path, body, span), now));
      }
    }
    trail.delivered_seq = end;
    if (!more) break;
  }
  return files;
}

Status SaveProgress(store::Database& db, const TrailRow& trail, int64_t old_seq, bool delivered,
                    const std::string& error, int64_t now) {
  return db.Write([&](store::Tx& tx) -> Status {
    // Only if the trail was not restarted or deleted meanwhile.
    ASSIGN_OR_RETURN(auto s, tx.Prepare(
        "UPDATE audit_trails SET delivered_seq = ?, latest_delivery_attempt = ?, "
        "latest_delivery_error = ?, latest_delivery_time = CASE WHEN ? = 1 THEN ? "
        "ELSE latest_delivery_time END WHERE account_id = ? AND name = ? AND delivered_seq = ?"));
    s->Bind(1, trail.delivered_seq).Bind(2, now).Bind(3, error).Bind(4, int64_t{delivered});
    s->Bind(5, now).Bind(6, trail.account_id).Bind(7, trail.name).Bind(8, old_seq);
    return s->Run();
  });
}

}  // namespace

TrailDelivery::TrailDelivery(store::Database& db, const Clock& clock, Options options)
    : db_(db), clock_(clock), options_(std::move(options)) {}

TrailDelivery::~TrailDelivery() { Stop(); }

void TrailDelivery::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    SetCurrentThreadName("audit-delivery");
    Run();
  });
}

void TrailDelivery::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  auto n = DeliverOnce();
  if (!n.ok()) log::Error("trail delivery failed", {{"error", n.status().ToString()}});
}

void TrailDelivery::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_.notify_all();
}

Result<int> TrailDelivery::DeliverOnce() {
  std::lock_guard run_lock(run_mu_);
  std::vector<TrailRow> trails;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(trails, internal::LoadTrailsToDeliver(tx));
    return Status::Ok();
  }));
  TimePoint now = clock_.Now();
  int total = 0;
  Memberships members(options_.organizations);
  for (TrailRow& trail : trails) {
    int64_t old_seq = trail.delivered_seq;
    auto files = DeliverTrail(db_, options_.trails_dir, trail, now, options_.digests, members);
    std::string error = files.ok() ? std::string() : files.status().message();
    if (!files.ok()) log::Warn("trail delivery failed", {{"trail", trail.name}, {"error", error}});
    RETURN_IF_ERROR(SaveProgress(db_, trail, old_seq, files.ok() && *files > 0, error,
                                 Seconds(now)));
    if (files.ok()) total += *files;
  }
  if (options_.digests != nullptr) {
    auto digests = options_.digests->WriteDue(now);
    if (!digests.ok()) {
      log::Warn("digest delivery failed", {{"error", digests.status().ToString()}});
    }
  }
  return total;
}

void TrailDelivery::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.interval, [this] { return stopping_ || woken_; });
    if (stopping_) break;
    woken_ = false;
    lock.unlock();
    auto n = DeliverOnce();
    if (!n.ok()) log::Error("trail delivery failed", {{"error", n.status().ToString()}});
    lock.lock();
  }
}

}  // namespace rampart::audit
