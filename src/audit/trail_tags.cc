// CloudTrail ListTrails, and tags on trails: AddTags, RemoveTags, ListTags
// and CreateTrail's TagsList. Tags live in cloudtrail_trail_tags, keyed by
// the trail's account and name (a name is unique in an account across
// regions); DeleteTrail removes them with the trail.
#include "audit/trail_tags.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "rampart/core/arn.h"
#include "rampart/core/encoding.h"

namespace rampart::audit::internal {
namespace {

constexpr size_t kMaxTagsPerTrail = 50;
constexpr size_t kMaxListTagsResources = 20;
constexpr size_t kListTrailsPage = 50;

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE cloudtrail_trail_tags (
  account_id TEXT NOT NULL,
  trail_name TEXT NOT NULL,
  tag_key TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (account_id, trail_name, tag_key)
);
)sql";

const store::Migration kMigrations[] = {{1, kSchemaV1}};

Status InvalidTag(std::string message) {
  return Status::Modeled("InvalidTagParameterException", std::move(message));
}

// Tag keys and values: Unicode letters, digits, white space and
// _ . : / = + - @ (CloudTrail's tag rules). Bytes of multi-byte UTF-8
// sequences pass; the protocol layer has already checked the lengths.
bool ValidTagText(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x80 || std::isalnum(u) != 0 || u == ' ' ||
           std::string_view("_.:/=+-@").find(c) != std::string_view::npos;
  });
}

// The trail a ResourceId names: it must be a trail ARN of the caller's
// account.
struct TrailName {
  std::string arn;
  std::string region;
  std::string name;
};

Result<TrailName> ParseResourceId(std::string_view resource_id) {
  auto arn = Arn::Parse(resource_id);
  if (!arn || arn->service != "cloudtrail" || arn->region.empty() || !IsAccountId(arn->account)) {
    return Status::Modeled("CloudTrailARNInvalidException",
                           "The ResourceId " + std::string(resource_id) +
                               " is not a valid CloudTrail ARN, such as "
                               "arn:aws:cloudtrail:us-east-2:123456789012:trail/MyTrail.");
  }
  if (!arn->resource.starts_with("trail/")) {
    return Status::Modeled(
        "ResourceTypeNotSupportedException",
        "Rampart tags trails only; " + std::string(resource_id) + " is not a trail.");
  }
  std::string name = arn->resource.substr(6);
  if (!ValidTrailName(name)) {
    return Status::Modeled("InvalidTrailNameException",
                           "The trail name in " + std::string(resource_id) + " is not valid.");
  }
  return TrailName{std::string(resource_id), arn->region, std::move(name)};
}

Status NotFound(std::string_view resource_id) {
  return Status::Modeled("ResourceNotFoundException",
                         "The resource " + std::string(resource_id) + " was not found.");
}

Result<TrailTags> LoadTags(store::Tx& tx, std::string_view account, std::string_view name) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT tag_key, tag_value FROM cloudtrail_trail_tags "
                                      "WHERE account_id = ? AND trail_name = ? ORDER BY tag_key"));
  q->Bind(1, account).Bind(2, name);
  TrailTags out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    out.emplace_back(q->Text(0), q->Text(1));
  }
  return out;
}

// Whether a tag operation changes tags (AddTags, RemoveTags: only from the
// trail's home region, as in CloudTrail) or reads them (ListTags).
enum class TagAccess : uint8_t { kRead, kChange };

// Checks the named trail exists in the caller's account; other accounts'
// trails (organization trails included) are not the caller's to tag.
Status RequireTrail(store::Tx& tx, const server::RequestContext& ctx, const TrailName& t,
                    TagAccess access) {
  if (Arn::Parse(t.arn)->account != ctx.principal().account_id) return NotFound(t.arn);
  ASSIGN_OR_RETURN(auto row, LoadTrail(tx, ctx.principal().account_id, t.region, t.name));
  if (!row || row->home_region != t.region) return NotFound(t.arn);
  if (access == TagAccess::kChange && ctx.region() != row->home_region) {
    return Status::Modeled(
        "InvalidHomeRegionException",
        "Tags of this trail can be changed only from its home region, " + row->home_region + ".");
  }
  return Status::Ok();
}

// Authorizes action on the trail t names, with the trail's tags as
// aws:ResourceTag/* next to the request's keys, then checks it exists
// (authorization first, so that a caller without permission does not learn
// which trails exist).
Status AuthorizeOnTrail(store::Tx& tx, const server::RequestContext& ctx, std::string_view action,
                        const TrailName& t, std::vector<server::ConditionKey> keys,
                        TagAccess access) {
  if (Arn::Parse(t.arn)->account == ctx.principal().account_id) {
    ASSIGN_OR_RETURN(auto tags, LoadTags(tx, ctx.principal().account_id, t.name));
    server::AddResourceTagKeys(tags, keys);
  }
  RETURN_IF_ERROR(ctx.Authorize(action, t.arn, keys));
  return RequireTrail(tx, ctx, t, access);
}

Result<json::Value> AddTags(const Deps& deps, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(TrailName t, ParseResourceId(in.get_string("ResourceId")));
  ASSIGN_OR_RETURN(TrailTags tags, ReadTrailTags(in));
  RETURN_IF_ERROR(deps.db->Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(AuthorizeOnTrail(tx, ctx, "cloudtrail:AddTags", t, server::RequestTagKeys(tags),
                                     TagAccess::kChange));
    return PutTrailTags(tx, ctx.principal().account_id, t.name, tags);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> RemoveTags(const Deps& deps, server::RequestContext& ctx,
                               const json::Value& in) {
  ASSIGN_OR_RETURN(TrailName t, ParseResourceId(in.get_string("ResourceId")));
  ASSIGN_OR_RETURN(TrailTags tags, ReadTrailTags(in));
  std::vector<std::string> keys;
  for (const auto& [k, v] : tags) keys.push_back(k);
  RETURN_IF_ERROR(deps.db->Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(AuthorizeOnTrail(tx, ctx, "cloudtrail:RemoveTags", t, server::TagKeysKey(keys),
                                     TagAccess::kChange));
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM cloudtrail_trail_tags WHERE account_id = ? "
                                        "AND trail_name = ? AND tag_key = ?"));
    for (const auto& [k, v] : tags) {
      RETURN_IF_ERROR(q->Reset());
      q->Bind(1, ctx.principal().account_id).Bind(2, t.name).Bind(3, k);
      RETURN_IF_ERROR(q->Run());
    }
    return Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> ListTags(const Deps& deps, server::RequestContext& ctx, const json::Value& in) {
  std::vector<TrailName> trails;
  if (const json::Value* ids = in.find("ResourceIdList"); ids != nullptr && ids->is_array()) {
    for (const json::Value& id : ids->as_array()) {
      ASSIGN_OR_RETURN(TrailName t, ParseResourceId(id.is_string() ? id.as_string() : ""));
      trails.push_back(std::move(t));
    }
  }
  if (trails.size() > kMaxListTagsResources) {
    return Status::Modeled("InvalidParameterException",
                           "ResourceIdList may name at most 20 resources.");
  }
  json::Value list = json::Value::MakeArray();
  Status st = deps.db->Read([&](store::Tx& tx) -> Status {
    for (const TrailName& t : trails) {
      RETURN_IF_ERROR(AuthorizeOnTrail(tx, ctx, "cloudtrail:ListTags", t, {}, TagAccess::kRead));
      ASSIGN_OR_RETURN(auto tags, LoadTags(tx, ctx.principal().account_id, t.name));
      json::Value entry = json::Value::MakeObject();
      entry.set("ResourceId", t.arn);
      // A tag added without a value has none (AWS keeps it null).
      entry.set("TagsList", server::TagsJson(tags, /*omit_empty_values=*/true));
      list.push(std::move(entry));
    }
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  json::Value out = json::Value::MakeObject();
  out.set("ResourceTagList", std::move(list));
  return out;
}

// One ListTrails entry, in the order pages follow.
struct TrailInfo {
  std::string account;
  std::string name;
  std::string region;

  std::string SortKey() const { return account + "/" + name; }
};

Result<std::vector<TrailInfo>> TrailInfos(store::Tx& tx, std::string_view account,
                                          std::string_view org_id) {
  // The account's trails in every region, and its organization's trails
  // (the copies CloudTrail keeps in member accounts).
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT account_id, name, home_region FROM audit_trails "
                                      "WHERE account_id = ? OR (organization_id <> '' AND "
                                      "organization_id = ?) ORDER BY account_id, name"));
  q->Bind(1, account).Bind(2, org_id);
  std::vector<TrailInfo> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    out.push_back({q->Text(0), q->Text(1), q->Text(2)});
  }
  return out;
}

Result<json::Value> ListTrails(const Deps& deps, server::RequestContext& ctx,
                               const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("cloudtrail:ListTrails", "*"));
  std::string after;
  if (std::string_view token = in.get_string("NextToken"); !token.empty()) {
    auto decoded = Base64Decode(token);
    if (!decoded || decoded->empty()) {
      return Status::Modeled("InvalidNextTokenException", "The NextToken is invalid.");
    }
    after = std::move(*decoded);
  }
  std::string org = MemberOrganization(deps, ctx.principal().account_id);
  std::vector<TrailInfo> infos;
  RETURN_IF_ERROR(deps.db->Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(infos, TrailInfos(tx, ctx.principal().account_id, org));
    return Status::Ok();
  }));
  json::Value trails = json::Value::MakeArray();
  json::Value out = json::Value::MakeObject();
  size_t listed = 0;
  std::string last;
  for (const TrailInfo& t : infos) {
    if (!after.empty() && t.SortKey() <= after) continue;
    if (listed == kListTrailsPage) {
      out.set("NextToken", Base64Encode(last));
      break;
    }
    last = t.SortKey();
    json::Value entry = json::Value::MakeObject();
    entry.set("TrailARN", "arn:aws:cloudtrail:" + t.region + ":" + t.account + ":trail/" + t.name);
    entry.set("Name", t.name);
    entry.set("HomeRegion", t.region);
    trails.push(std::move(entry));
    ++listed;
  }
  out.set("Trails", std::move(trails));
  return out;
}

}  // namespace

Status MigrateTrailTags(store::Database& db) { return db.Migrate("cloudtrail_tags", kMigrations); }

Result<TrailTags> ReadTrailTags(const json::Value& in) {
  TrailTags tags;
  const json::Value* list = in.find("TagsList");
  if (list == nullptr || !list->is_array()) return tags;
  std::map<std::string, std::string> merged;  // a repeated key: the last value wins
  for (const json::Value& t : list->as_array()) {
    std::string key(t.get_string("Key"));
    std::string value(t.get_string("Value"));
    if (key.empty()) return InvalidTag("A tag key must not be empty.");
    if (key.starts_with("aws:")) return InvalidTag("Tag keys beginning with aws: are reserved.");
    if (!ValidTagText(key) || !ValidTagText(value)) {
      return InvalidTag(
          "Tag keys and values may contain only letters, digits, spaces and "
          "_ . : / = + - @.");
    }
    merged[std::move(key)] = std::move(value);
  }
  if (merged.size() > kMaxTagsPerTrail) {
    return Status::Modeled("TagsLimitExceededException", "A trail can have at most 50 tags.");
  }
  tags.assign(merged.begin(), merged.end());
  return tags;
}

Status PutTrailTags(store::Tx& tx, std::string_view account, std::string_view trail_name,
                    const TrailTags& tags) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO cloudtrail_trail_tags (account_id, trail_name, "
                                      "tag_key, tag_value) VALUES (?, ?, ?, ?) ON CONFLICT "
                                      "(account_id, trail_name, tag_key) DO UPDATE SET "
                                      "tag_value = excluded.tag_value"));
  for (const auto& [k, v] : tags) {
    RETURN_IF_ERROR(q->Reset());
    q->Bind(1, account).Bind(2, trail_name).Bind(3, k).Bind(4, v);
    RETURN_IF_ERROR(q->Run());
  }
  ASSIGN_OR_RETURN(auto count, tx.Prepare("SELECT COUNT(*) FROM cloudtrail_trail_tags WHERE "
                                          "account_id = ? AND trail_name = ?"));
  count->Bind(1, account).Bind(2, trail_name);
  ASSIGN_OR_RETURN(bool row, count->Step());
  if (row && count->Int(0) > static_cast<int64_t>(kMaxTagsPerTrail)) {
    return Status::Modeled("TagsLimitExceededException", "A trail can have at most 50 tags.");
  }
  return Status::Ok();
}

Status DeleteTrailTags(store::Tx& tx, std::string_view account, std::string_view trail_name) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM cloudtrail_trail_tags WHERE account_id = ? AND "
                                      "trail_name = ?"));
  q->Bind(1, account).Bind(2, trail_name);
  return q->Run();
}

Result<std::vector<server::ConditionKey>> TrailResourceTagKeys(store::Tx& tx,
                                                               std::string_view account,
                                                               std::string_view trail_name) {
  ASSIGN_OR_RETURN(auto tags, LoadTags(tx, account, trail_name));
  std::vector<server::ConditionKey> keys;
  server::AddResourceTagKeys(tags, keys);
  return keys;
}

void RegisterTrailTags(server::Registry& registry, const Deps& deps) {
  using Handler = Result<json::Value> (*)(const Deps&, server::RequestContext&, const json::Value&);
  const std::pair<std::string_view, Handler> table[] = {
      {"ListTrails", ListTrails},
      {"AddTags", AddTags},
      {"RemoveTags", RemoveTags},
      {"ListTags", ListTags},
  };
  for (const auto& [op, handler] : table) {
    registry.Add("cloudtrail", op,
                 [deps, h = handler](server::RequestContext& ctx, const json::Value& in) {
                   return h(deps, ctx, in);
                 });
  }
}

}  // namespace rampart::audit::internal
