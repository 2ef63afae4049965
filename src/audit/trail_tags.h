// CloudTrail ListTrails and trail tags (trail_tags.cc), internal to the
// audit room. Thread-safety: stateless; all state is in the database.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/trails.h"
#include "audit/trails_internal.h"
#include "rampart/server/tags.h"

namespace rampart::audit::internal {

// A request's tags, keys unique and sorted.
using TrailTags = server::TagList;

// The cloudtrail_trail_tags table (migration set "cloudtrail_tags").
Status MigrateTrailTags(store::Database& db);

// The TagsList of a request (AddTags, RemoveTags, CreateTrail), checked
// against CloudTrail's rules: InvalidTagParameterException,
// TagsLimitExceededException. A repeated key keeps its last value.
Result<TrailTags> ReadTrailTags(const json::Value& in);

// Adds or replaces tags on a trail; fails with TagsLimitExceededException
// if the trail would have more than 50.
Status PutTrailTags(store::Tx& tx, std::string_view account, std::string_view trail_name,
                    const TrailTags& tags);
// Removes every tag of a trail (DeleteTrail).
Status DeleteTrailTags(store::Tx& tx, std::string_view account, std::string_view trail_name);

// aws:ResourceTag/<key> for each tag of a trail: what the trail's other
// operations are authorized with.
Result<std::vector<server::ConditionKey>> TrailResourceTagKeys(store::Tx& tx,
                                                               std::string_view account,
                                                               std::string_view trail_name);

// Adds ListTrails, AddTags, RemoveTags and ListTags.
void RegisterTrailTags(server::Registry& registry, const Deps& deps);

}  // namespace rampart::audit::internal
