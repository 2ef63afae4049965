// LookupEvents pieces, internal to the audit room (and its tests).
#pragma once

#include <string>
#include <string_view>

#include "rampart/audit/event_store.h"
#include "rampart/core/json.h"
#include "rampart/server/context.h"

namespace rampart::audit {

// Validates a LookupEvents input into a query scoped to account_id, with
// CloudTrail's errors (InvalidLookupAttributesException,
// InvalidTimeRangeException, InvalidMaxResultsException,
// InvalidNextTokenException).
Result<LookupQuery> ParseLookupInput(const json::Value& in, std::string_view account_id);

// The NextToken continuing q after (time_ms, event_id), and its inverse,
// which refuses tokens of another lookup.
std::string EncodeLookupToken(const LookupQuery& q, int64_t time_ms, std::string_view event_id);
Status DecodeLookupToken(std::string_view token, LookupQuery& q);

// The LookupEventsResponse for a page.
json::Value LookupOutput(const LookupQuery& q, const LookupPage& page);

Result<json::Value> HandleLookupEvents(store::Database& db, server::RequestContext& ctx,
                                       const json::Value& in);

}  // namespace rampart::audit
