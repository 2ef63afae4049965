// IamService: tables, registration, and the helpers the handler files share.
#include "rampart/iam/iam_service.h"

#include <algorithm>
#include <chrono>

#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"

namespace rampart::iam {
namespace internal {

std::string IamArn(std::string_view account, std::string_view kind, std::string_view path,
                   std::string_view name) {
  std::string arn = "arn:aws:iam::";
  arn.append(account).append(":").append(kind).append(path).append(name);
  return arn;
}

std::string NameKey(std::string_view name) {
  std::string key(name);
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  });
  return key;
}

int64_t NowSeconds(const server::RequestContext& ctx) {
  return std::chrono::duration_cast<std::chrono::seconds>(ctx.time().time_since_epoch()).count();
}

std::string PathOr(const json::Value& in) {
  std::string_view p = in.get_string("Path");
  return p.empty() ? std::string("/") : std::string(p);
}

Result<std::optional<UserRow>> FindUser(store::Tx& tx, std::string_view account,
                                        std::string_view name) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT user_name, user_id, path, created_at FROM iam_users "
                                      "WHERE account_id = ? AND name_key = ?"));
  std::string key = NameKey(name);
  q->Bind(1, account).Bind(2, key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<UserRow>();
  UserRow u{std::string(account), q->Text(0), q->Text(1), q->Text(2), q->Int(3)};
  return std::optional<UserRow>(std::move(u));
}

Status NoSuchUser(std::string_view name) {
  return Status::Modeled("NoSuchEntityException",
                         "The user with name " + std::string(name) + " cannot be found.");
}

Result<UserRow> RequireUser(store::Tx& tx, std::string_view account, std::string_view name) {
  ASSIGN_OR_RETURN(auto u, FindUser(tx, account, name));
  if (!u) return NoSuchUser(name);
  return std::move(*u);
}

json::Value UserJson(const UserRow& u) {
  json::Value v = json::Value::MakeObject();
  v.set("Path", u.path);
  v.set("UserName", u.name);
  v.set("UserId", u.user_id);
  v.set("Arn", u.Arn());
  v.set("CreateDate", u.created_at);
  return v;
}

Result<Page> ReadPage(const json::Value& in) {
  Page page;
  if (const json::Value* m = in.find("MaxItems"); m != nullptr && m->is_number()) {
    page.max_items = std::clamp<int64_t>(m->as_int(), 1, 1000);
  }
  std::string_view marker = in.get_string("Marker");
  if (!marker.empty()) {
    auto decoded = Base64Decode(marker);
    if (!decoded || decoded->empty()) {
      return Status::Validation("Invalid value for parameter Marker.");
    }
    page.start = std::move(*decoded);
  }
  return page;
}

void SetPage(json::Value& out, bool truncated, std::string_view next_key) {
  out.set("IsTruncated", truncated);
  if (truncated) out.set("Marker", Base64Encode(next_key));
}

Result<TagList> ReadTags(const json::Value& in) {
  TagList tags;
  const json::Value* list = in.find("Tags");
  if (list == nullptr || !list->is_array()) return tags;
  for (const json::Value& t : list->as_array()) {
    std::string key(t.get_string("Key"));
    for (const auto& [k, v] : tags) {
      if (NameKey(k) == NameKey(key)) {
        return Status::Modeled(
            "InvalidInputException",
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.");
      }
    }
    tags.emplace_back(std::move(key), std::string(t.get_string("Value")));
  }
  return tags;
}

Status PutTags(store::Tx& tx, std::string_view resource_id, const TagList& tags) {
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare(
          "INSERT INTO iam_tags (resource_id, tag_key, tag_value) VALUES (?, ?, ?) "
          "ON CONFLICT (resource_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value"));
  for (const auto& [k, v] : tags) {
    RETURN_IF_ERROR(q->Reset());
    q->Bind(1, resource_id).Bind(2, k).Bind(3, v);
    RETURN_IF_ERROR(q->Run());
  }
  // IAM quota: 50 tags per user, role or policy.
  ASSIGN_OR_RETURN(
      int64_t n, CountOf(tx, "SELECT COUNT(*) FROM iam_tags WHERE resource_id = ?", {resource_id}));
  if (n > 50) {
    return Status::Modeled("LimitExceededException",
                           "The number of tags has reached the maximum limit.");
  }
  return Status::Ok();
}

Result<TagList> LoadTags(store::Tx& tx, std::string_view resource_id) {
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare("SELECT tag_key, tag_value FROM iam_tags WHERE resource_id = ? ORDER BY tag_key"));
  q->Bind(1, resource_id);
  TagList tags;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    tags.emplace_back(q->Text(0), q->Text(1));
  }
  return tags;
}

Status DeleteTags(store::Tx& tx, std::string_view resource_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_tags WHERE resource_id = ?"));
  q->Bind(1, resource_id);
  return q->Run();
}

json::Value TagsJson(const TagList& tags) {
  json::Value list = json::Value::MakeArray();
  for (const auto& [k, v] : tags) {
    json::Value t = json::Value::MakeObject();
    t.set("Key", k);
    t.set("Value", v);
    list.push(std::move(t));
  }
  return list;
}

Result<int64_t> CountOf(store::Tx& tx, std::string_view sql,
                        std::initializer_list<std::string_view> params) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
  int i = 1;
  for (std::string_view p : params) q->Bind(i++, p);
  ASSIGN_OR_RETURN(bool row, q->Step());
  return row ? q->Int(0) : int64_t{0};
}

}  // namespace internal

namespace {

// Names are kept as given; name_key (lower case) enforces IAM's
// case-insensitive uniqueness. Tags of users and policies share one table,
// keyed by the entity's unique id (AIDA.../ANPA...).
constexpr store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE iam_users (
  account_id TEXT NOT NULL,
  name_key TEXT NOT NULL,
  user_name TEXT NOT NULL,
  user_id TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, name_key)
);
CREATE TABLE iam_tags (
  resource_id TEXT NOT NULL,
  tag_key TEXT NOT NULL,
  tag_value TEXT NOT NULL,
  PRIMARY KEY (resource_id, tag_key)
);
CREATE TABLE iam_policies (
  account_id TEXT NOT NULL,
  name_key TEXT NOT NULL,
  policy_name TEXT NOT NULL,
  policy_id TEXT NOT NULL UNIQUE,
  arn TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  default_version TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, name_key)
);
CREATE TABLE iam_policy_versions (
  policy_id TEXT NOT NULL,
  version_id TEXT NOT NULL,
  document TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (policy_id, version_id)
);
CREATE TABLE iam_user_policies (
  user_id TEXT NOT NULL,
  policy_name TEXT NOT NULL,
  document TEXT NOT NULL,
  PRIMARY KEY (user_id, policy_name)
);
CREATE TABLE iam_user_attachments (
  user_id TEXT NOT NULL,
  policy_arn TEXT NOT NULL,
  PRIMARY KEY (user_id, policy_arn)
);
CREATE INDEX iam_user_attachments_by_policy ON iam_user_attachments (policy_arn);
)sql"},
    // Roles: the trust policy is kept as given; inline policies and managed
    // attachments keyed by the role's unique id (AROA...).
    {2, R"sql(
CREATE TABLE iam_roles (
  account_id TEXT NOT NULL,
  name_key TEXT NOT NULL,
  role_name TEXT NOT NULL,
  role_id TEXT NOT NULL UNIQUE,
  arn TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  trust_policy TEXT NOT NULL,
  max_session_duration INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, name_key)
);
CREATE TABLE iam_role_policies (
  role_id TEXT NOT NULL,
  policy_name TEXT NOT NULL,
  document TEXT NOT NULL,
  PRIMARY KEY (role_id, policy_name)
);
CREATE TABLE iam_role_attachments (
  role_id TEXT NOT NULL,
  policy_arn TEXT NOT NULL,
  PRIMARY KEY (role_id, policy_arn)
);
CREATE INDEX iam_role_attachments_by_policy ON iam_role_attachments (policy_arn);
)sql"},
};

struct Binding {
  std::string_view operation;
  IamService::Handler handler;
};

}  // namespace

Status IamService::Migrate(store::Database& db) { return db.Migrate("iam", kMigrations); }

void IamService::Register(server::Registry& registry) {
  const Binding bindings[] = {
      {"CreateUser", &IamService::CreateUser},
      {"GetUser", &IamService::GetUser},
      {"ListUsers", &IamService::ListUsers},
      {"DeleteUser", &IamService::DeleteUser},
      {"TagUser", &IamService::TagUser},
      {"UntagUser", &IamService::UntagUser},
      {"ListUserTags", &IamService::ListUserTags},
      {"CreateAccessKey", &IamService::CreateAccessKey},
      {"ListAccessKeys", &IamService::ListAccessKeys},
      {"UpdateAccessKey", &IamService::UpdateAccessKey},
      {"DeleteAccessKey", &IamService::DeleteAccessKey},
      {"CreatePolicy", &IamService::CreatePolicy},
      {"GetPolicy", &IamService::GetPolicy},
      {"GetPolicyVersion", &IamService::GetPolicyVersion},
      {"ListPolicies", &IamService::ListPolicies},
      {"DeletePolicy", &IamService::DeletePolicy},
      {"PutUserPolicy", &IamService::PutUserPolicy},
      {"GetUserPolicy", &IamService::GetUserPolicy},
      {"ListUserPolicies", &IamService::ListUserPolicies},
      {"DeleteUserPolicy", &IamService::DeleteUserPolicy},
      {"AttachUserPolicy", &IamService::AttachUserPolicy},
      {"DetachUserPolicy", &IamService::DetachUserPolicy},
      {"ListAttachedUserPolicies", &IamService::ListAttachedUserPolicies},
      {"CreateRole", &IamService::CreateRole},
      {"GetRole", &IamService::GetRole},
      {"ListRoles", &IamService::ListRoles},
      {"DeleteRole", &IamService::DeleteRole},
      {"PutRolePolicy", &IamService::PutRolePolicy},
      {"GetRolePolicy", &IamService::GetRolePolicy},
      {"ListRolePolicies", &IamService::ListRolePolicies},
      {"DeleteRolePolicy", &IamService::DeleteRolePolicy},
      {"AttachRolePolicy", &IamService::AttachRolePolicy},
      {"DetachRolePolicy", &IamService::DetachRolePolicy},
      {"ListAttachedRolePolicies", &IamService::ListAttachedRolePolicies},
  };
  for (const Binding& b : bindings) {
    bool read_only = b.operation.starts_with("Get") || b.operation.starts_with("List");
    registry.Add("iam", b.operation,
                 [this, h = b.handler, read_only](server::RequestContext& ctx,
                                                  const json::Value& in) {
                   auto result = (this->*h)(ctx, in);
                   // Policies, attachments or principals may have changed.
                   if (result.ok() && !read_only && policy_cache_) policy_cache_->InvalidateAll();
                   return result;
                 });
  }
}

}  // namespace rampart::iam
