#include "rampart/server/tags.h"

namespace rampart::server {

std::vector<ConditionKey> RequestTagKeys(const TagList& tags) {
  std::vector<ConditionKey> keys;
  if (tags.empty()) return keys;
  ConditionKey tag_keys{"aws:TagKeys", {}};
  for (const auto& [k, v] : tags) {
    keys.push_back({"aws:RequestTag/" + k, {v}});
    tag_keys.values.push_back(k);
  }
  keys.push_back(std::move(tag_keys));
  return keys;
}

std::vector<ConditionKey> TagKeysKey(const std::vector<std::string>& keys) {
  std::vector<ConditionKey> out;
  if (!keys.empty()) out.push_back({"aws:TagKeys", keys});
  return out;
}

void AddResourceTagKeys(const TagList& tags, std::vector<ConditionKey>& keys) {
  for (const auto& [k, v] : tags) keys.push_back({"aws:ResourceTag/" + k, {v}});
}

json::Value TagsJson(const TagList& tags, bool omit_empty_values) {
  json::Value list = json::Value::MakeArray();
  for (const auto& [k, v] : tags) {
    json::Value tag = json::Value::MakeObject();
    tag.set("Key", k);
    if (!v.empty() || !omit_empty_values) tag.set("Value", v);
    list.push(std::move(tag));
  }
  return list;
}

}  // namespace rampart::server
