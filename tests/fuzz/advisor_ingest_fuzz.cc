// Fuzzes `rampart advisor ingest`'s parser of CloudTrail log files (gzip or
// plain JSON) and the record-to-access conversion. Invariants: hostile
// bytes give an error or a list of records, never a crash; every record
// accepted has a 12-digit account, an ARN entity, a known service
// namespace and an action; wrapping the same bytes in a Records array
// yields the same result as the record alone.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rampart/audit/advisor.h"
#include "rampart/audit/advisor_services.h"
#include "rampart/core/check.h"
#include "rampart/core/json.h"

namespace {

void CheckRecord(const rampart::audit::AccessRecord& r) {
  RAMPART_CHECK(r.account_id.size() == 12);
  RAMPART_CHECK(r.entity_arn.rfind("arn:", 0) == 0);
  RAMPART_CHECK(rampart::audit::FindServiceName(r.service) != nullptr);
  RAMPART_CHECK(!r.action.empty());
  RAMPART_CHECK(r.time_ms >= 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rampart;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  size_t skipped = 0;
  auto records = audit::ParseTrailLog(input, &skipped);
  if (records.ok()) {
    for (const audit::AccessRecord& r : *records) CheckRecord(r);
  }

  // The same bytes as one record of a log file.
  auto parsed = json::Parse(input, {.max_depth = 16, .max_bytes = 1 << 16});
  if (!parsed.ok()) return 0;
  std::optional<audit::AccessRecord> one = audit::AccessRecordFromEvent(*parsed);
  if (one) CheckRecord(*one);
  std::string wrapped = "{\"Records\":[" + json::Write(*parsed) + "]}";
  auto again = audit::ParseTrailLog(wrapped, nullptr);
  RAMPART_CHECK(again.ok());
  RAMPART_CHECK(again->size() == (one ? 1u : 0u));
  return 0;
}
