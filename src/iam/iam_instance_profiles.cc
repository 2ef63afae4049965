// IAM instance profiles: CreateInstanceProfile, GetInstanceProfile,
// DeleteInstanceProfile, ListInstanceProfiles, AddRoleToInstanceProfile,
// RemoveRoleFromInstanceProfile, ListInstanceProfilesForRole and the tag
// calls. A profile holds at most one role, as on AWS; Rampart runs no
// instances, so a profile is only bookkeeping that clients expect to find.
#include "iam/iam_internal.h"
#include "rampart/core/ids.h"

namespace rampart::iam::internal {
namespace {

// IAM quotas: instance profiles per account, roles per instance profile.
constexpr int64_t kProfilesPerAccount = 1000;
constexpr int64_t kRolesPerProfile = 1;

struct ProfileRow {
  std::string account_id;
  std::string name;
  std::string profile_id;  // AIPA...: the key of its tags and its role
  std::string path;
  int64_t created_at = 0;
  std::string Arn() const { return IamArn(account_id, "instance-profile", path, name); }
};

constexpr std::string_view kProfileColumns =
    "account_id, profile_name, profile_id, path, created_at, name_key";

ProfileRow ReadProfileRow(const store::Statement& q) {
  return ProfileRow{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4)};
}

Status NoSuchProfile(std::string_view name) {
  return Status::Modeled("NoSuchEntityException",
                         "Instance Profile " + std::string(name) + " cannot be found.");
}

Result<std::optional<ProfileRow>> FindProfile(store::Tx& tx, std::string_view account,
                                              std::string_view name) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kProfileColumns) +
                                      " FROM iam_instance_profiles WHERE account_id = ? AND "
                                      "name_key = ?"));
  std::string key = NameKey(name);
  q->Bind(1, account).Bind(2, key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<ProfileRow>();
  return std::optional<ProfileRow>(ReadProfileRow(*q));
}

Result<ProfileRow> RequireProfile(store::Tx& tx, std::string_view account,
                                  std::string_view name) {
  ASSIGN_OR_RETURN(auto p, FindProfile(tx, account, name));
  if (!p) return NoSuchProfile(name);
  return std::move(*p);
}

// Reads the profile, then authorizes action on its ARN (the path-less ARN
// when it does not exist) with keys plus its tags as aws:ResourceTag/* and
// iam:ResourceTag/*. The profile, AccessDenied or NoSuchEntity.
Result<ProfileRow> AuthorizedProfile(store::Database& db, const server::RequestContext& ctx,
                                     std::string_view action, std::string_view name,
                                     std::vector<server::ConditionKey> keys = {}) {
  const std::string& account = ctx.principal().account_id;
  std::optional<ProfileRow> profile;
  TagList tags;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(profile, FindProfile(tx, account, name));
    if (!profile) return Status::Ok();
    ASSIGN_OR_RETURN(tags, LoadTags(tx, profile->profile_id));
    return Status::Ok();
  }));
  std::string arn = profile ? profile->Arn() : IamArn(account, "instance-profile", "/", name);
  AddIamResourceTagKeys(tags, keys);
  RETURN_IF_ERROR(ctx.Authorize(action, arn, keys));
  if (!profile) return NoSuchProfile(name);
  return std::move(*profile);
}

// The role ids the profile holds (at most one).
Result<std::vector<std::string>> RoleIdsOf(store::Tx& tx, std::string_view profile_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT role_id FROM iam_instance_profile_roles WHERE "
                                      "profile_id = ? ORDER BY role_id"));
  q->Bind(1, profile_id);
  std::vector<std::string> ids;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return ids;
    ids.push_back(q->Text(0));
  }
}

// The InstanceProfile structure: the profile with its roles, and its tags
// when with_tags.
Result<json::Value> ProfileJson(store::Tx& tx, const ProfileRow& p, bool with_tags) {
  json::Value v = json::Value::MakeObject();
  v.set("Path", p.path);
  v.set("InstanceProfileName", p.name);
  v.set("InstanceProfileId", p.profile_id);
  v.set("Arn", p.Arn());
  v.set("CreateDate", p.created_at);
  json::Value roles = json::Value::MakeArray();
  ASSIGN_OR_RETURN(std::vector<std::string> ids, RoleIdsOf(tx, p.profile_id));
  for (const std::string& id : ids) {
    ASSIGN_OR_RETURN(auto role, FindRoleById(tx, id));
    if (role) roles.push(RoleToJson(*role));
  }
  v.set("Roles", std::move(roles));
  if (with_tags) {
    ASSIGN_OR_RETURN(TagList tags, LoadTags(tx, p.profile_id));
    if (!tags.empty()) v.set("Tags", TagsJson(tags));
  }
  return v;
}

json::Value Wrap(json::Value profile) {
  json::Value out = json::Value::MakeObject();
  out.set("InstanceProfile", std::move(profile));
  return out;
}

Status InsertProfile(store::Tx& tx, const ProfileRow& p) {
  ASSIGN_OR_RETURN(
      auto q, tx.Prepare("INSERT INTO iam_instance_profiles (account_id, name_key, profile_name, "
                         "profile_id, path, created_at) VALUES (?, ?, ?, ?, ?, ?)"));
  std::string key = NameKey(p.name);
  q->Bind(1, p.account_id).Bind(2, key).Bind(3, p.name).Bind(4, p.profile_id);
  q->Bind(5, p.path).Bind(6, p.created_at);
  return q->Run();
}

// Reads one page of the account's profiles (all of them, or those holding
// role_id) in name order.
Result<json::Value> ProfilePage(store::Database& db, std::string_view account,
                                std::string_view path_prefix, std::string_view role_id,
                                const Page& page) {
  PageCollector collector(page);
  json::Value list = json::Value::MakeArray();
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    std::string sql = "SELECT " + std::string(kProfileColumns) +
                      " FROM iam_instance_profiles WHERE account_id = ? AND name_key >= ? AND "
                      "substr(path, 1, ?) = ?";
    if (!role_id.empty()) {
      sql += " AND profile_id IN (SELECT profile_id FROM iam_instance_profile_roles WHERE "
             "role_id = ?)";
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare(sql + " ORDER BY name_key LIMIT ?"));
    q->Bind(1, account).Bind(2, page.start).Bind(3, static_cast<int64_t>(path_prefix.size()));
    q->Bind(4, path_prefix);
    int next = 5;
    if (!role_id.empty()) q->Bind(next++, role_id);
    q->Bind(next, page.max_items + 1);
    std::vector<ProfileRow> rows;
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row || !collector.Take(q->Text(5))) break;
      rows.push_back(ReadProfileRow(*q));
    }
    // Like AWS, the List operations show profiles without their tags.
    for (const ProfileRow& p : rows) {
      ASSIGN_OR_RETURN(json::Value v, ProfileJson(tx, p, /*with_tags=*/false));
      list.push(std::move(v));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("InstanceProfiles", std::move(list));
  collector.Finish(out);
  return out;
}

}  // namespace

Result<int64_t> InstanceProfileCountOfRole(store::Tx& tx, std::string_view role_id) {
  return CountOf(tx, "SELECT COUNT(*) FROM iam_instance_profile_roles WHERE role_id = ?",
                 {role_id});
}

Result<json::Value> InstanceProfilesOfRole(store::Tx& tx, std::string_view role_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kProfileColumns) +
                                      " FROM iam_instance_profiles WHERE profile_id IN (SELECT "
                                      "profile_id FROM iam_instance_profile_roles WHERE "
                                      "role_id = ?) ORDER BY name_key"));
  q->Bind(1, role_id);
  std::vector<ProfileRow> rows;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    rows.push_back(ReadProfileRow(*q));
  }
  json::Value list = json::Value::MakeArray();
  for (const ProfileRow& p : rows) {
    ASSIGN_OR_RETURN(json::Value v, ProfileJson(tx, p, /*with_tags=*/true));
    list.push(std::move(v));
  }
  return list;
}

Result<json::Value> CreateInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                          const json::Value& in) {
  ProfileRow p{ctx.principal().account_id, std::string(in.get_string("InstanceProfileName")), "",
               PathOr(in), NowSeconds(ctx)};
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  RETURN_IF_ERROR(ctx.Authorize("iam:CreateInstanceProfile", p.Arn(), RequestTagKeys(tags)));
  ASSIGN_OR_RETURN(p.profile_id, ids::AccessKeyId("AIPA"));
  json::Value profile;
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, FindProfile(tx, p.account_id, p.name));
    if (existing) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "Instance Profile " + p.name + " already exists.");
    }
    ASSIGN_OR_RETURN(int64_t n,
                     CountOf(tx, "SELECT COUNT(*) FROM iam_instance_profiles WHERE account_id = ?",
                             {p.account_id}));
    if (n >= kProfilesPerAccount) {
      return Status::Modeled("LimitExceededException",
                             "Cannot exceed quota for InstanceProfilesPerAccount: " +
                                 std::to_string(kProfilesPerAccount));
    }
    RETURN_IF_ERROR(InsertProfile(tx, p));
    RETURN_IF_ERROR(PutTags(tx, p.profile_id, tags));
    ASSIGN_OR_RETURN(profile, ProfileJson(tx, p, /*with_tags=*/true));
    return Status::Ok();
  }));
  return Wrap(std::move(profile));
}

Result<json::Value> GetInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in) {
  std::string name(in.get_string("InstanceProfileName"));
  ASSIGN_OR_RETURN(ProfileRow p, AuthorizedProfile(deps.db, ctx, "iam:GetInstanceProfile", name));
  json::Value profile;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(profile, ProfileJson(tx, p, /*with_tags=*/true));
    return Status::Ok();
  }));
  return Wrap(std::move(profile));
}

Result<json::Value> DeleteInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                          const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("InstanceProfileName"));
  RETURN_IF_ERROR(AuthorizedProfile(deps.db, ctx, "iam:DeleteInstanceProfile", name).status());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(ProfileRow p, RequireProfile(tx, account, name));
    ASSIGN_OR_RETURN(std::vector<std::string> roles, RoleIdsOf(tx, p.profile_id));
    if (!roles.empty()) {
      return Status::Modeled("DeleteConflictException",
                             "Cannot delete entity, must remove roles from instance profile "
                             "first.");
    }
    RETURN_IF_ERROR(DeleteTags(tx, p.profile_id));
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_instance_profiles WHERE profile_id = ?"));
    q->Bind(1, p.profile_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> ListInstanceProfiles(const IamDeps& deps, server::RequestContext& ctx,
                                         const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListInstanceProfiles", "*"));
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  std::string prefix(in.get_string("PathPrefix"));
  if (prefix.empty()) prefix = "/";
  return ProfilePage(deps.db, ctx.principal().account_id, prefix, "", page);
}

Result<json::Value> ListInstanceProfilesForRole(const IamDeps& deps, server::RequestContext& ctx,
                                                const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("RoleName"));
  std::optional<RoleRow> role;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(role, FindRole(tx, account, name));
    return Status::Ok();
  }));
  std::string arn = role ? role->Arn() : IamArn(account, "role", "/", name);
  RETURN_IF_ERROR(ctx.Authorize("iam:ListInstanceProfilesForRole", arn));
  if (!role) return NoSuchRole(name);
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  return ProfilePage(deps.db, account, "/", role->role_id, page);
}

Result<json::Value> AddRoleToInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("InstanceProfileName"));
  std::string role_name(in.get_string("RoleName"));
  RETURN_IF_ERROR(AuthorizedProfile(deps.db, ctx, "iam:AddRoleToInstanceProfile", name).status());
  std::optional<RoleRow> role;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(role, FindRole(tx, account, role_name));
    return Status::Ok();
  }));
  if (!role) return NoSuchRole(role_name);
  // Putting a role in a profile hands it to whatever runs with the
  // profile: AWS requires iam:PassRole on the role as well.
  RETURN_IF_ERROR(ctx.Authorize("iam:PassRole", role->Arn()));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(ProfileRow p, RequireProfile(tx, account, name));
    ASSIGN_OR_RETURN(auto current, FindRole(tx, account, role_name));
    if (!current) return NoSuchRole(role_name);
    ASSIGN_OR_RETURN(std::vector<std::string> held, RoleIdsOf(tx, p.profile_id));
    if (static_cast<int64_t>(held.size()) >= kRolesPerProfile) {
      return Status::Modeled("LimitExceededException",
                             "Cannot exceed quota for InstanceSessionsPerInstanceProfile: " +
                                 std::to_string(kRolesPerProfile));
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO iam_instance_profile_roles (profile_id, "
                                        "role_id) VALUES (?, ?)"));
    q->Bind(1, p.profile_id).Bind(2, current->role_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> RemoveRoleFromInstanceProfile(const IamDeps& deps,
                                                  server::RequestContext& ctx,
                                                  const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("InstanceProfileName"));
  std::string role_name(in.get_string("RoleName"));
  RETURN_IF_ERROR(
      AuthorizedProfile(deps.db, ctx, "iam:RemoveRoleFromInstanceProfile", name).status());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(ProfileRow p, RequireProfile(tx, account, name));
    ASSIGN_OR_RETURN(auto role, FindRole(tx, account, role_name));
    if (!role) return NoSuchRole(role_name);
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_instance_profile_roles WHERE "
                                        "profile_id = ? AND role_id = ?"));
    q->Bind(1, p.profile_id).Bind(2, role->role_id);
    RETURN_IF_ERROR(q->Run());
    if (q->Changes() == 0) {
      return Status::Modeled("NoSuchEntityException", "The role with name " + role_name +
                                                          " is not in instance profile " +
                                                          p.name + ".");
    }
    return Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> TagInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("InstanceProfileName"));
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  RETURN_IF_ERROR(
      AuthorizedProfile(deps.db, ctx, "iam:TagInstanceProfile", name, RequestTagKeys(tags))
          .status());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(ProfileRow p, RequireProfile(tx, account, name));
    return PutTags(tx, p.profile_id, tags);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> UntagInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                         const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("InstanceProfileName"));
  std::vector<std::string> keys = ReadTagKeys(in);
  RETURN_IF_ERROR(
      AuthorizedProfile(deps.db, ctx, "iam:UntagInstanceProfile", name, TagKeysKey(keys))
          .status());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(ProfileRow p, RequireProfile(tx, account, name));
    return RemoveTags(tx, p.profile_id, keys);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> ListInstanceProfileTags(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in) {
  std::string name(in.get_string("InstanceProfileName"));
  ASSIGN_OR_RETURN(ProfileRow p,
                   AuthorizedProfile(deps.db, ctx, "iam:ListInstanceProfileTags", name));
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  TagList tags;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, LoadTags(tx, p.profile_id));
    return Status::Ok();
  }));
  return TagPageJson(std::move(tags), page);
}

}  // namespace rampart::iam::internal
