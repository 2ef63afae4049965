// `rampart audit validate`.
#include "main/audit_command.h"

#include <CLI/CLI.hpp>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "rampart/audit/digest_validate.h"
#include "rampart/core/clock.h"
#include "rampart/protocol/internal.h"

namespace rampart::cli {
namespace {

// Latest time accepted: system_clock counts nanoseconds in an int64, which
// ends in 2262; later times would overflow when converted.
constexpr int64_t kMaxSeconds = int64_t{8'000'000'000};  // year 2223

// ISO 8601 ("2026-11-28T12:00:00Z") or epoch seconds, 1970 to kMaxSeconds.
std::optional<int64_t> ParseTimeArg(const std::string& text) {
  bool digits = !text.empty();
  for (char c : text) digits = digits && std::isdigit(static_cast<unsigned char>(c)) != 0;
  std::optional<int64_t> seconds;
  if (digits && text.size() <= 12) {
    seconds = std::stoll(text);
  } else if (auto v = protocol::internal::ParseIso8601(text); v && v->is_number()) {
    double d = v->as_double();
    if (d >= 0 && d <= static_cast<double>(kMaxSeconds)) seconds = static_cast<int64_t>(std::floor(d));
  }
  if (!seconds || *seconds < 0 || *seconds > kMaxSeconds) return std::nullopt;
  return seconds;
}

std::string Display(int64_t seconds) {
  return FormatIso8601(TimePoint(std::chrono::seconds(seconds)));
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void PrintRatio(int valid, int invalid, const char* what) {
  int total = valid + invalid;
  std::printf("%d/%d %s files valid", valid, total, what);
  if (invalid > 0) std::printf(", %d/%d %s files INVALID", invalid, total, what);
  std::printf("\n");
}

}  // namespace

AuditCommand::AuditCommand(CLI::App& app) {
  audit_ = app.add_subcommand("audit", "Audit trail tools");
  validate_ = audit_->add_subcommand(
      "validate", "Validate a trail directory's log files against their signed digest chain");
  validate_->add_option("--trail-dir", trail_dir_,
                        "The trail's bucket directory, <data-dir>/trails/<bucket>")
      ->required();
  validate_->add_option("--public-keys", public_keys_file_,
                        "JSON output of `aws cloudtrail list-public-keys` for the time range, "
                        "fetched over the authenticated API")
      ->required();
  validate_->add_option("--start-time", start_time_,
                        "Check digests from this time (ISO 8601 or epoch seconds)");
  validate_->add_option("--end-time", end_time_, "Check digests up to this time (default now)");
  validate_->add_option("--account-id", account_id_, "Only this account's chains");
  validate_->add_option("--region", region_, "Only this region's chains");
  validate_->add_option("--trail-name", trail_name_, "Only this trail's chains");
  validate_->add_flag("--verbose", verbose_, "Also print the files that are valid");
}

bool AuditCommand::parsed() const { return audit_->parsed(); }

int AuditCommand::Run() const {
  if (!validate_->parsed()) {
    std::fprintf(stderr, "usage: rampart audit validate --trail-dir DIR --public-keys FILE\n");
    return 2;
  }
  audit::ValidateOptions opts;
  opts.trail_dir = trail_dir_;
  opts.account_id = account_id_;
  opts.region = region_;
  opts.trail = trail_name_;
  if (!start_time_.empty()) {
    opts.start = ParseTimeArg(start_time_);
    if (!opts.start) return std::fprintf(stderr, "Unable to parse --start-time\n"), 2;
  }
  opts.end = end_time_.empty() ? std::optional<int64_t>(NowSeconds()) : ParseTimeArg(end_time_);
  if (!opts.end) return std::fprintf(stderr, "Unable to parse --end-time\n"), 2;
  if (opts.start && *opts.start > *opts.end) {
    std::fprintf(stderr, "Invalid time range: --start-time must not be after --end-time\n");
    return 2;
  }
  std::ifstream in(public_keys_file_);
  if (!in) return std::fprintf(stderr, "cannot read %s\n", public_keys_file_.c_str()), 2;
  std::stringstream text;
  text << in.rdbuf();
  auto keys = audit::ParsePublicKeysJson(text.str());
  if (!keys.ok()) return std::fprintf(stderr, "%s\n", keys.status().message().c_str()), 2;
  opts.keys = std::move(*keys);

  std::printf("Validating log files in %s between %s and %s\n\n", trail_dir_.c_str(),
              opts.start ? Display(*opts.start).c_str() : "the first digest",
              Display(*opts.end).c_str());
  auto report = audit::ValidateTrailDir(opts);
  if (!report.ok()) return std::fprintf(stderr, "%s\n", report.status().message().c_str()), 2;
  for (const audit::ChainReport& chain : report->chains) {
    std::printf("Chain: account %s%s%s, region %s, trail %s (home region %s)%s%s\n",
                chain.account_id.c_str(),
                chain.organization_id.empty() ? "" : " of organization ",
                chain.organization_id.c_str(), chain.region.c_str(), chain.trail.c_str(),
                chain.home_region.c_str(), chain.prefix.empty() ? "" : ", prefix ",
                chain.prefix.c_str());
    for (const audit::FileReport& f : chain.files) {
      if (verbose_ || f.status != audit::FileStatus::kValid) {
        std::printf("%s\n", audit::FormatFileReport(f).c_str());
      }
    }
    for (const std::string& note : chain.notes) std::printf("Note: %s\n", note.c_str());
    std::printf("\n");
  }
  if (report->valid_digests + report->invalid_digests == 0) {
    std::printf("No digest files found\n");
    return 1;
  }
  PrintRatio(report->valid_digests, report->invalid_digests, "digest");
  PrintRatio(report->valid_logs, report->invalid_logs, "log");
  return report->ok() ? 0 : 1;
}

}  // namespace rampart::cli
