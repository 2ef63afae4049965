// Tags on resources as AWS services carry them: key/value pairs, the
// condition keys they give a request (aws:RequestTag/<key>, aws:TagKeys)
// and a resource (aws:ResourceTag/<key>), and the common wire shape
// [{"Key": k, "Value": v}, ...]. Each service keeps its own limits and
// errors. Thread-safety: stateless functions.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/server/context.h"

namespace rampart::server {

using TagList = std::vector<std::pair<std::string, std::string>>;

// aws:RequestTag/<key> for each tag and aws:TagKeys; nothing at all for a
// request without tags (the keys are then absent, as in AWS).
std::vector<ConditionKey> RequestTagKeys(const TagList& tags);

// aws:TagKeys alone (requests that name keys without values, such as
// untagging); nothing at all for an empty list.
std::vector<ConditionKey> TagKeysKey(const std::vector<std::string>& keys);

// Appends aws:ResourceTag/<key> for each tag of the resource.
void AddResourceTagKeys(const TagList& tags, std::vector<ConditionKey>& keys);

// [{"Key": k, "Value": v}, ...] in the order given; with
// omit_empty_values, a tag whose value is empty has no Value member (for
// services where a tag may have no value at all).
json::Value TagsJson(const TagList& tags, bool omit_empty_values = false);

}  // namespace rampart::server
