// Trails: rows, validation and the audit_trails table. Internal to the
// audit room (trails.cc, delivery.cc and their tests).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/store/store.h"

namespace rampart::audit::internal {

// One row of audit_trails.
struct TrailRow {
  std::string account_id;
  std::string home_region;
  std::string name;
  std::string bucket;
  std::string prefix;  // S3KeyPrefix, may be empty
  bool include_global = true;
  bool multi_region = false;
  bool logging = false;
  // PutEventSelectors' selectors as JSON text; empty means the default
  // (all management events).
  std::string event_selectors;
  int64_t created_at = 0;  // seconds
  int64_t start_logging_time = 0;
  int64_t stop_logging_time = 0;
  int64_t latest_delivery_time = 0;
  int64_t latest_delivery_attempt = 0;
  std::string latest_delivery_error;
  int64_t delivered_seq = 0;  // the last event seq already delivered
  // IsOrganizationTrail: the management account's trail that records every
  // account of this organization; empty for an account's own trail.
  std::string organization_id;
  // EnableLogFileValidation; kept in audit_log_validation (digest.cc),
  // filled by the trail handlers, not by the audit_trails queries.
  bool log_file_validation = false;

  std::string Arn() const;
};

// CloudTrail's trail name rules: 3-128 of letters, digits, '.', '_', '-',
// starting and ending with a letter or digit, no two separators in a row.
bool ValidTrailName(std::string_view name);
// S3's bucket name rules (3-63 lowercase letters, digits, '.', '-',
// starting and ending with a letter or digit, no "..").
bool ValidBucketName(std::string_view name);
// A key prefix safe to use as a relative directory path.
bool ValidKeyPrefix(std::string_view prefix);

// Whether the trail's event selectors take an event (management events
// only: ReadWriteType and IncludeManagementEvents).
bool SelectorsMatch(const TrailRow& trail, bool read_only, std::string_view event_source);

// The default selector list, as GetEventSelectors shows it.
json::Value DefaultSelectors();

Result<std::optional<TrailRow>> LoadTrail(store::Tx& tx, std::string_view account,
                                          std::string_view region, std::string_view name);
// Every trail of an account visible from region: its own and multi-region
// ones from other regions.
Result<std::vector<TrailRow>> LoadTrails(store::Tx& tx, std::string_view account,
                                         std::string_view region);
// The organization trails of an organization visible from region (their
// home region's, and multi-region ones): what its member accounts see.
Result<std::vector<TrailRow>> LoadOrganizationTrails(store::Tx& tx, std::string_view org_id,
                                                     std::string_view region);
// Trails with events to deliver: logging ones, and stopped ones not
// attempted since they stopped.
Result<std::vector<TrailRow>> LoadTrailsToDeliver(store::Tx& tx);
// Whether the account has a trail of that name in any region.
Result<bool> TrailNameTaken(store::Tx& tx, std::string_view account, std::string_view name);
Status InsertTrail(store::Tx& tx, const TrailRow& row);
Status UpdateTrailRow(store::Tx& tx, const TrailRow& row);
Status DeleteTrailRow(store::Tx& tx, const TrailRow& row);
Result<int64_t> MaxEventSeq(store::Tx& tx);

}  // namespace rampart::audit::internal
