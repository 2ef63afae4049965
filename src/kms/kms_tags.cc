// Key tags: TagResource, UntagResource, ListResourceTags, and the Tags of
// CreateKey. At most 50 tags per key; keys beginning with "aws:" are
// reserved (AWS KMS Developer Guide, "Tagging keys").
#include "kms/kms_internal.h"

namespace rampart::kms::internal {
namespace {

constexpr int64_t kMaxTags = 50;

Status TagError(std::string message) {
  return Status::Modeled("TagException", std::move(message));
}

Result<int64_t> TagCount(store::Tx& tx, std::string_view region, std::string_view key_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT COUNT(*) FROM kms_tags WHERE key_id = ? AND "
                                      "region = ?"));
  q->Bind(1, key_id).Bind(2, region);
  ASSIGN_OR_RETURN(bool row, q->Step());
  return row ? q->Int(0) : 0;
}

}  // namespace

Result<TagList> ReadTags(const json::Value& in) {
  TagList tags;
  const json::Value* list = in.find("Tags");
  if (list == nullptr || !list->is_array()) return tags;
  for (const json::Value& t : list->as_array()) {
    std::string key(t.get_string("TagKey"));
    if (key.starts_with("aws:")) return TagError("Tag keys beginning with aws: are reserved.");
    for (const auto& existing : tags) {
      if (existing.first == key) return TagError("Duplicate tag keys in the request.");
    }
    tags.emplace_back(std::move(key), std::string(t.get_string("TagValue")));
  }
  if (static_cast<int64_t>(tags.size()) > kMaxTags) {
    return Status::Modeled("LimitExceededException", "A key can have at most 50 tags.");
  }
  return tags;
}

Status PutTags(store::Tx& tx, std::string_view region, std::string_view key_id,
               const TagList& tags) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO kms_tags (region, key_id, tag_key, tag_value) "
                                      "VALUES (?, ?, ?, ?) ON CONFLICT (region, key_id, tag_key) "
                                      "DO UPDATE SET tag_value = excluded.tag_value"));
  for (const auto& [k, v] : tags) {
    RETURN_IF_ERROR(q->Reset());
    q->Bind(1, region).Bind(2, key_id).Bind(3, k).Bind(4, v);
    RETURN_IF_ERROR(q->Run());
  }
  ASSIGN_OR_RETURN(int64_t count, TagCount(tx, region, key_id));
  if (count > kMaxTags) {
    return Status::Modeled("LimitExceededException", "A key can have at most 50 tags.");
  }
  return Status::Ok();
}

namespace {

Result<KeyPtr> TaggableKey(Kms& kms, const server::RequestContext& ctx, const json::Value& in,
                           std::string_view action) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, action));
  return key;
}

Result<json::Value> TagResource(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, TaggableKey(kms, ctx, in, "kms:TagResource"));
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  RETURN_IF_ERROR(WriteKey(kms, key->row.key_id,
                           [&](store::Tx& tx) {
                             return PutTags(tx, key->row.region, key->row.key_id, tags);
                           }));
  return json::Value::MakeObject();
}

Result<json::Value> UntagResource(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, TaggableKey(kms, ctx, in, "kms:UntagResource"));
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  std::vector<std::string> names;
  if (const json::Value* list = in.find("TagKeys"); list != nullptr && list->is_array()) {
    for (const json::Value& k : list->as_array()) {
      if (k.is_string()) names.push_back(k.as_string());
    }
  }
  RETURN_IF_ERROR(WriteKey(kms, key->row.key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM kms_tags WHERE key_id = ? AND region = ? "
                                        "AND tag_key = ?"));
    for (const std::string& name : names) {
      RETURN_IF_ERROR(q->Reset());
      q->Bind(1, key->row.key_id).Bind(2, key->row.region).Bind(3, name);
      RETURN_IF_ERROR(q->Run());
    }
    return Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> ListResourceTags(Kms& kms, server::RequestContext& ctx,
                                     const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, TaggableKey(kms, ctx, in, "kms:ListResourceTags"));
  int64_t limit = kMaxTags;
  if (const json::Value* l = in.find("Limit"); l != nullptr && l->is_int()) {
    limit = std::min(l->as_int(), kMaxTags);
  }
  std::string marker(in.get_string("Marker"));
  TagList tags;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT tag_key, tag_value FROM kms_tags WHERE key_id = ? "
                                        "AND region = ? AND tag_key >= ? ORDER BY tag_key "
                                        "LIMIT ?"));
    q->Bind(1, key->row.key_id).Bind(2, key->row.region).Bind(3, marker).Bind(4, limit + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return Status::Ok();
      tags.emplace_back(q->Text(0), q->Text(1));
    }
  }));
  bool truncated = static_cast<int64_t>(tags.size()) > limit;
  std::string next = truncated ? tags.back().first : std::string();
  if (truncated) tags.pop_back();
  json::Value list = json::Value::MakeArray();
  for (const auto& [k, v] : tags) {
    json::Value t = json::Value::MakeObject();
    t.set("TagKey", k);
    t.set("TagValue", v);
    list.push(std::move(t));
  }
  json::Value out = json::Value::MakeObject();
  out.set("Tags", std::move(list));
  out.set("Truncated", truncated);
  if (truncated) out.set("NextMarker", next);
  return out;
}

}  // namespace

std::vector<Binding> TagBindings() {
  return {{"TagResource", TagResource},
          {"UntagResource", UntagResource},
          {"ListResourceTags", ListResourceTags}};
}

}  // namespace rampart::kms::internal
