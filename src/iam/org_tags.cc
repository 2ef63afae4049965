// Tags on Organizations resources (the root, OUs, accounts and customer
// managed policies): TagResource, UntagResource, ListTagsForResource, and
// the Tags input of CreateAccount, CreateOrganizationalUnit and
// CreatePolicy. Tagging is authorized as organizations:TagResource with
// aws:RequestTag/<key> and aws:TagKeys (organizations:UntagResource with
// aws:TagKeys).
#include <algorithm>

#include "iam/iam_internal.h"
#include "iam/org_internal.h"
#include "rampart/iam/organizations.h"

namespace rampart::iam {

using org::OrgRow;

namespace org {

namespace {

// Organizations quota: 50 tags per resource.
constexpr size_t kMaxTags = 50;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Status CheckTagKey(std::string_view key) {
  // The aws: prefix is reserved for tags AWS sets itself.
  if (Lower(key).starts_with("aws:")) {
    return InvalidInput("INVALID_SYSTEM_TAGS_PARAMETER",
                        "Tag keys starting with aws: are reserved for AWS use.");
  }
  return Status::Ok();
}

}  // namespace

Result<TagList> ReadTags(const json::Value& in) {
  TagList tags;
  const json::Value* list = in.find("Tags");
  if (list == nullptr || !list->is_array()) return tags;
  for (const json::Value& t : list->as_array()) {
    std::string key(t.get_string("Key"));
    RETURN_IF_ERROR(CheckTagKey(key));
    for (const auto& [k, v] : tags) {
      if (k == key) return InvalidInput("DUPLICATE_TAG_KEY", "Duplicate tag key " + key + ".");
    }
    tags.emplace_back(std::move(key), std::string(t.get_string("Value")));
  }
  if (tags.size() > kMaxTags) {
    return ConstraintViolation("MAX_TAG_LIMIT_EXCEEDED", "A resource can have at most 50 tags.");
  }
  return tags;
}

Status AuthorizeTags(const server::RequestContext& ctx, std::string_view arn, const TagList& tags) {
  if (tags.empty()) return Status::Ok();
  return ctx.Authorize("organizations:TagResource", arn, server::RequestTagKeys(tags));
}

Result<TagList> LoadTags(store::Tx& tx, const OrgRow& org, std::string_view resource_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT tag_key, tag_value FROM org_tags WHERE org_id = ? "
                                      "AND resource_id = ? ORDER BY tag_key"));
  q->Bind(1, org.org_id).Bind(2, resource_id);
  TagList out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return out;
    out.emplace_back(q->Text(0), q->Text(1));
  }
}

Status PutTags(store::Tx& tx, const OrgRow& org, std::string_view resource_id,
               const TagList& tags) {
  if (tags.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare(
          "INSERT INTO org_tags (org_id, resource_id, tag_key, tag_value) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (org_id, resource_id, tag_key) DO UPDATE SET tag_value = "
          "excluded.tag_value"));
  for (const auto& [k, v] : tags) {
    RETURN_IF_ERROR(q->Reset());
    q->Bind(1, org.org_id).Bind(2, resource_id).Bind(3, k).Bind(4, v);
    RETURN_IF_ERROR(q->Run());
  }
  ASSIGN_OR_RETURN(auto now, LoadTags(tx, org, resource_id));
  if (now.size() > kMaxTags) {
    return ConstraintViolation("MAX_TAG_LIMIT_EXCEEDED", "A resource can have at most 50 tags.");
  }
  return Status::Ok();
}

Status DeleteTags(store::Tx& tx, const OrgRow& org, std::string_view resource_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM org_tags WHERE org_id = ? AND resource_id = ?"));
  q->Bind(1, org.org_id).Bind(2, resource_id);
  return q->Run();
}

}  // namespace org

namespace {

// The ARN of a taggable resource id, for authorization.
std::string TaggableArn(const OrgRow& org, std::string_view id) {
  if (id.starts_with("p-")) return org.PolicyArn(id);
  if (id.starts_with("rp-")) return org::ResourcePolicyArn(org, id);
  if (id.starts_with("ou-")) return org.OuArn(id);
  if (id.starts_with("r-")) return org.RootArn();
  return org.AccountArn(id);
}

// The root, an OU, an account, a customer managed policy or the delegation
// policy of org.
Status RequireTaggable(store::Tx& tx, const OrgRow& org, std::string_view id) {
  if (id.starts_with("p-")) {
    ASSIGN_OR_RETURN(int64_t n, internal::CountOf(tx,
                                                  "SELECT COUNT(*) FROM org_policies WHERE "
                                                  "org_id = ? AND policy_id = ?",
                                                  {org.org_id, id}));
    return n > 0 ? Status::Ok() : org::TargetNotFound();
  }
  if (id.starts_with("rp-")) {
    ASSIGN_OR_RETURN(int64_t n, internal::CountOf(tx,
                                                  "SELECT COUNT(*) FROM org_resource_policies "
                                                  "WHERE org_id = ? AND policy_id = ?",
                                                  {org.org_id, id}));
    return n > 0 ? Status::Ok() : org::TargetNotFound();
  }
  ASSIGN_OR_RETURN(auto node, org::FindNode(tx, org, id));
  return node ? Status::Ok() : org::TargetNotFound();
}

}  // namespace

Result<json::Value> OrganizationsService::TagResource(server::RequestContext& ctx,
                                                      const json::Value& in) {
  std::string id(in.get_string("ResourceId"));
  ASSIGN_OR_RETURN(org::TagList tags, org::ReadTags(in));
  std::vector<server::ConditionKey> keys = server::RequestTagKeys(tags);
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(
                                   db_, engine_, ctx, "organizations:TagResource",
                                   [&](const OrgRow& o) { return TaggableArn(o, id); }, keys));
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    RETURN_IF_ERROR(RequireTaggable(tx, org, id));
    return org::PutTags(tx, org, id, tags);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::UntagResource(server::RequestContext& ctx,
                                                        const json::Value& in) {
  std::string id(in.get_string("ResourceId"));
  std::vector<std::string> tag_keys;
  if (const json::Value* list = in.find("TagKeys"); list != nullptr && list->is_array()) {
    for (const json::Value& k : list->as_array()) {
      if (k.is_string()) tag_keys.push_back(k.as_string());
    }
  }
  std::vector<server::ConditionKey> keys = server::TagKeysKey(tag_keys);
  ASSIGN_OR_RETURN(OrgRow org, org::Authorized(
                                   db_, engine_, ctx, "organizations:UntagResource",
                                   [&](const OrgRow& o) { return TaggableArn(o, id); }, keys));
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(org, org::RequireSameOrg(tx, org));
    RETURN_IF_ERROR(RequireTaggable(tx, org, id));
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM org_tags WHERE org_id = ? AND "
                                        "resource_id = ? AND tag_key = ?"));
    for (const std::string& k : tag_keys) {
      RETURN_IF_ERROR(q->Reset());
      q->Bind(1, org.org_id).Bind(2, id).Bind(3, k);
      RETURN_IF_ERROR(q->Run());
    }
    return Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> OrganizationsService::ListTagsForResource(server::RequestContext& ctx,
                                                              const json::Value& in) {
  std::string id(in.get_string("ResourceId"));
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:ListTagsForResource",
                                   [&](const OrgRow& o) { return TaggableArn(o, id); }));
  org::TagList tags;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(RequireTaggable(tx, org, id));
    ASSIGN_OR_RETURN(tags, org::LoadTags(tx, org, id));
    return Status::Ok();
  }));
  std::vector<json::Value> items;
  json::Value list = server::TagsJson(tags);
  for (json::Value& t : list.as_array()) items.push_back(std::move(t));
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "Tags", std::move(items), page);
  return out;
}

}  // namespace rampart::iam
