#include "rampart/audit/key_usage.h"

#include <array>

#include "rampart/audit/event_store.h"
#include "rampart/core/json.h"

namespace rampart::audit {
namespace {

// Calls that failed authentication name a key without having used it.
constexpr std::array<std::string_view, 6> kAuthenticationErrors = {
    "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature",
    "ExpiredToken",         "InvalidToken",          "MissingAuthenticationToken"};

// How many of the key's newest events to look through for one that passed
// authentication; a key that failed more often than this in a row counts
// as unused.
constexpr int kPagesToScan = 4;

bool FailedAuthentication(const json::Value& record) {
  std::string_view code = record.get_string("errorCode");
  for (std::string_view e : kAuthenticationErrors) {
    if (code == e) return true;
  }
  return false;
}

std::string ServiceOf(std::string_view event_source) {
  return std::string(event_source.substr(0, event_source.find('.')));
}

}  // namespace

Result<std::optional<server::KeyUse>> EventQueries::LastKeyUse(
    std::string_view account, std::string_view access_key_id) const {
  LookupQuery query;
  query.account_id = std::string(account);
  query.key = LookupKey::kAccessKeyId;
  query.value = std::string(access_key_id);
  for (int page = 0; page < kPagesToScan; ++page) {
    ASSIGN_OR_RETURN(LookupPage found, LookupEvents(db_, query));
    for (const StoredEvent& e : found.events) {
      auto record = json::Parse(e.record);
      if (!record.ok() || FailedAuthentication(*record)) continue;
      server::KeyUse use;
      use.time = e.time_ms / 1000;
      use.service = ServiceOf(e.event_source);
      use.region = std::string(record->get_string("awsRegion"));
      return std::optional<server::KeyUse>(std::move(use));
    }
    if (!found.more || found.events.empty()) break;
    query.after = std::make_pair(found.events.back().time_ms, found.events.back().event_id);
  }
  return std::optional<server::KeyUse>();
}

}  // namespace rampart::audit
