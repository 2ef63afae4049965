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
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT user_name, user_id, path, created_at, "
                                      "permissions_boundary FROM iam_users "
                                      "WHERE account_id = ? AND name_key = ?"));
  std::string key = NameKey(name);
  q->Bind(1, account).Bind(2, key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<UserRow>();
  UserRow u{std::string(account), q->Text(0), q->Text(1), q->Text(2), q->Int(3), q->Text(4)};
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
  if (!u.boundary_arn.empty()) v.set("PermissionsBoundary", BoundaryJson(u.boundary_arn));
  return v;
}

json::Value BoundaryJson(std::string_view boundary_arn) {
  json::Value b = json::Value::MakeObject();
  b.set("PermissionsBoundaryType", "PermissionsBoundaryPolicy");
  b.set("PermissionsBoundaryArn", boundary_arn);
  return b;
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
    // The aws: prefix is reserved for tags AWS itself sets.
    if (NameKey(key).starts_with("aws:")) {
      return Status::Modeled("InvalidInputException",
                             "Tag keys that begin with aws: are reserved and cannot be set.");
    }
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

std::vector<std::string> ReadTagKeys(const json::Value& in) {
  std::vector<std::string> keys;
  const json::Value* list = in.find("TagKeys");
  if (list == nullptr || !list->is_array()) return keys;
  for (const json::Value& k : list->as_array()) {
    if (k.is_string()) keys.emplace_back(k.as_string());
  }
  return keys;
}

Status RemoveTags(store::Tx& tx, std::string_view resource_id,
                  const std::vector<std::string>& keys) {
  // Tag keys are case-insensitive: removing "Team" removes "team".
  ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_tags WHERE resource_id = ? AND "
                                      "lower(tag_key) = lower(?)"));
  for (const std::string& k : keys) {
    RETURN_IF_ERROR(q->Reset());
    q->Bind(1, resource_id).Bind(2, k);
    RETURN_IF_ERROR(q->Run());
  }
  return Status::Ok();
}

json::Value TagPageJson(TagList tags, const Page& page) {
  PageCollector collector(page);
  TagList shown;
  for (auto& tag : tags) {
    if (tag.first < page.start) continue;
    if (!collector.Take(tag.first)) break;
    shown.push_back(std::move(tag));
  }
  json::Value out = json::Value::MakeObject();
  out.set("Tags", TagsJson(shown));
  collector.Finish(out);
  return out;
}

void AddIamResourceTagKeys(const TagList& tags, std::vector<server::ConditionKey>& keys) {
  for (const auto& [k, v] : tags) {
    keys.push_back({"aws:ResourceTag/" + k, {v}});
    keys.push_back({"iam:ResourceTag/" + k, {v}});
  }
}

std::vector<server::ConditionKey> BoundaryKey(std::string_view boundary_arn) {
  std::vector<server::ConditionKey> keys;
  if (!boundary_arn.empty()) {
    keys.push_back({"iam:PermissionsBoundary", {std::string(boundary_arn)}});
  }
  return keys;
}

bool ActionSeesBoundary(std::string_view action) {
  // IAM service authorization reference: the actions that take the
  // iam:PermissionsBoundary condition key.
  static constexpr std::string_view kActions[] = {
      "iam:AttachRolePolicy",           "iam:AttachUserPolicy",
      "iam:CreateRole",                 "iam:CreateUser",
      "iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePolicy",
      "iam:DeleteUserPermissionsBoundary", "iam:DeleteUserPolicy",
      "iam:DetachRolePolicy",           "iam:DetachUserPolicy",
      "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy",
      "iam:PutUserPermissionsBoundary", "iam:PutUserPolicy",
  };
  for (std::string_view a : kActions) {
    if (a == action) return true;
  }
  return false;
}

std::vector<server::ConditionKey> TargetKeys(std::string_view action, const TagList& tags,
                                             std::string_view boundary_arn,
                                             std::vector<server::ConditionKey> keys) {
  AddIamResourceTagKeys(tags, keys);
  bool named = false;
  for (const auto& k : keys) named = named || NameKey(k.name) == "iam:permissionsboundary";
  if (!named && !boundary_arn.empty() && ActionSeesBoundary(action)) {
    keys.push_back({"iam:PermissionsBoundary", {std::string(boundary_arn)}});
  }
  return keys;
}

Status PutTags(store::Tx& tx, std::string_view resource_id, const TagList& tags) {
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare(
          "INSERT INTO iam_tags (resource_id, tag_key, tag_value) VALUES (?, ?, ?) "
          "ON CONFLICT (resource_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value"));
  // Keys are case-insensitive: a new spelling replaces the old one.
  std::vector<std::string> keys;
  for (const auto& [k, v] : tags) keys.push_back(k);
  RETURN_IF_ERROR(RemoveTags(tx, resource_id, keys));
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
    // Groups with their members, inline policies and attachments (keyed by
    // the group's unique id, AGPA...); permissions boundaries of users and
    // roles (a managed policy ARN, '' for none); the number the next
    // version of a managed policy gets (IAM never reuses version ids).
    {3, R"sql(
CREATE TABLE iam_groups (
  account_id TEXT NOT NULL,
  name_key TEXT NOT NULL,
  group_name TEXT NOT NULL,
  group_id TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, name_key)
);
CREATE TABLE iam_group_members (
  group_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX iam_group_members_by_user ON iam_group_members (user_id);
CREATE TABLE iam_group_policies (
  group_id TEXT NOT NULL,
  policy_name TEXT NOT NULL,
  document TEXT NOT NULL,
  PRIMARY KEY (group_id, policy_name)
);
CREATE TABLE iam_group_attachments (
  group_id TEXT NOT NULL,
  policy_arn TEXT NOT NULL,
  PRIMARY KEY (group_id, policy_arn)
);
CREATE INDEX iam_group_attachments_by_policy ON iam_group_attachments (policy_arn);
ALTER TABLE iam_users ADD COLUMN permissions_boundary TEXT NOT NULL DEFAULT '';
ALTER TABLE iam_roles ADD COLUMN permissions_boundary TEXT NOT NULL DEFAULT '';
ALTER TABLE iam_policies ADD COLUMN next_version INTEGER NOT NULL DEFAULT 2;
)sql"},
    // Instance profiles (keyed by their unique id, AIPA...) and the role each
    // holds: one at most, so the profile id alone is the key.
    {4, R"sql(
CREATE TABLE iam_instance_profiles (
  account_id TEXT NOT NULL,
  name_key TEXT NOT NULL,
  profile_name TEXT NOT NULL,
  profile_id TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, name_key)
);
CREATE TABLE iam_instance_profile_roles (
  profile_id TEXT PRIMARY KEY,
  role_id TEXT NOT NULL
);
CREATE INDEX iam_instance_profile_roles_by_role ON iam_instance_profile_roles (role_id);
)sql"},
    // OpenID Connect providers, named by their issuer URL without the
    // scheme; client IDs and thumbprints as JSON arrays of strings; tags in
    // iam_tags under the provider's ARN.
    {5, R"sql(
CREATE TABLE iam_oidc_providers (
  account_id TEXT NOT NULL,
  arn TEXT NOT NULL UNIQUE,
  url TEXT NOT NULL,
  client_ids TEXT NOT NULL,
  thumbprints TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, url)
);
)sql"},
    // SAML providers (tags in iam_tags under the ARN); server certificates
    // (tags under the certificate id; the private key is checked against
    // the certificate and not kept); signing certificates and SSH keys of
    // users; service-specific credentials (the password as a PBKDF2 hash);
    // deletion tasks of service-linked roles.
    {6, R"sql(
CREATE TABLE iam_saml_providers (
  account_id TEXT NOT NULL,
  name_key TEXT NOT NULL,
  arn TEXT NOT NULL UNIQUE,
  metadata TEXT NOT NULL,
  valid_until INTEGER,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, name_key)
);
CREATE TABLE iam_server_certificates (
  account_id TEXT NOT NULL,
  name_key TEXT NOT NULL,
  cert_name TEXT NOT NULL,
  cert_id TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  body TEXT NOT NULL,
  chain TEXT,
  expiration INTEGER NOT NULL,
  uploaded_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, name_key)
);
CREATE TABLE iam_signing_certificates (
  certificate_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  body TEXT NOT NULL,
  der_sha256 TEXT NOT NULL,
  status TEXT NOT NULL,
  uploaded_at INTEGER NOT NULL
);
CREATE INDEX iam_signing_certificates_by_user ON iam_signing_certificates (user_id);
CREATE TABLE iam_ssh_public_keys (
  key_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  ssh_body TEXT NOT NULL,
  pem_body TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  status TEXT NOT NULL,
  uploaded_at INTEGER NOT NULL
);
CREATE INDEX iam_ssh_public_keys_by_user ON iam_ssh_public_keys (user_id);
CREATE TABLE iam_service_credentials (
  credential_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  service_name TEXT NOT NULL,
  service_user_name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX iam_service_credentials_by_user ON iam_service_credentials (user_id);
CREATE TABLE iam_slr_deletion_tasks (
  task_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
)sql"},
};

struct Binding {
  std::string_view operation;
  IamService::Handler handler;
};

// Operations implemented as free functions (iam_internal.h).
struct FreeBinding {
  std::string_view operation;
  internal::FreeHandler handler;
};

constexpr FreeBinding kFreeBindings[] = {
    {"UpdateUser", internal::UpdateUser},
    {"UpdateRole", internal::UpdateRole},
    {"UpdateRoleDescription", internal::UpdateRoleDescription},
    {"UpdateAssumeRolePolicy", internal::UpdateAssumeRolePolicy},
    {"ListEntitiesForPolicy", internal::ListEntitiesForPolicy},
    {"CreateInstanceProfile", internal::CreateInstanceProfile},
    {"GetInstanceProfile", internal::GetInstanceProfile},
    {"DeleteInstanceProfile", internal::DeleteInstanceProfile},
    {"ListInstanceProfiles", internal::ListInstanceProfiles},
    {"AddRoleToInstanceProfile", internal::AddRoleToInstanceProfile},
    {"RemoveRoleFromInstanceProfile", internal::RemoveRoleFromInstanceProfile},
    {"ListInstanceProfilesForRole", internal::ListInstanceProfilesForRole},
    {"TagInstanceProfile", internal::TagInstanceProfile},
    {"UntagInstanceProfile", internal::UntagInstanceProfile},
    {"ListInstanceProfileTags", internal::ListInstanceProfileTags},
    {"CreateOpenIDConnectProvider", internal::CreateOpenIDConnectProvider},
    {"GetOpenIDConnectProvider", internal::GetOpenIDConnectProvider},
    {"ListOpenIDConnectProviders", internal::ListOpenIDConnectProviders},
    {"DeleteOpenIDConnectProvider", internal::DeleteOpenIDConnectProvider},
    {"AddClientIDToOpenIDConnectProvider", internal::AddClientIDToOpenIDConnectProvider},
    {"RemoveClientIDFromOpenIDConnectProvider", internal::RemoveClientIDFromOpenIDConnectProvider},
    {"UpdateOpenIDConnectProviderThumbprint", internal::UpdateOpenIDConnectProviderThumbprint},
    {"TagOpenIDConnectProvider", internal::TagOpenIDConnectProvider},
    {"UntagOpenIDConnectProvider", internal::UntagOpenIDConnectProvider},
    {"ListOpenIDConnectProviderTags", internal::ListOpenIDConnectProviderTags},
    {"CreateSAMLProvider", internal::CreateSAMLProvider},
    {"GetSAMLProvider", internal::GetSAMLProvider},
    {"ListSAMLProviders", internal::ListSAMLProviders},
    {"UpdateSAMLProvider", internal::UpdateSAMLProvider},
    {"DeleteSAMLProvider", internal::DeleteSAMLProvider},
    {"TagSAMLProvider", internal::TagSAMLProvider},
    {"UntagSAMLProvider", internal::UntagSAMLProvider},
    {"ListSAMLProviderTags", internal::ListSAMLProviderTags},
    {"UploadSSHPublicKey", internal::UploadSSHPublicKey},
    {"GetSSHPublicKey", internal::GetSSHPublicKey},
    {"ListSSHPublicKeys", internal::ListSSHPublicKeys},
    {"UpdateSSHPublicKey", internal::UpdateSSHPublicKey},
    {"DeleteSSHPublicKey", internal::DeleteSSHPublicKey},
    {"UploadServerCertificate", internal::UploadServerCertificate},
    {"GetServerCertificate", internal::GetServerCertificate},
    {"ListServerCertificates", internal::ListServerCertificates},
    {"UpdateServerCertificate", internal::UpdateServerCertificate},
    {"DeleteServerCertificate", internal::DeleteServerCertificate},
    {"TagServerCertificate", internal::TagServerCertificate},
    {"UntagServerCertificate", internal::UntagServerCertificate},
    {"ListServerCertificateTags", internal::ListServerCertificateTags},
    {"UploadSigningCertificate", internal::UploadSigningCertificate},
    {"ListSigningCertificates", internal::ListSigningCertificates},
    {"UpdateSigningCertificate", internal::UpdateSigningCertificate},
    {"DeleteSigningCertificate", internal::DeleteSigningCertificate},
    {"CreateServiceSpecificCredential", internal::CreateServiceSpecificCredential},
    {"ListServiceSpecificCredentials", internal::ListServiceSpecificCredentials},
    {"ResetServiceSpecificCredential", internal::ResetServiceSpecificCredential},
    {"UpdateServiceSpecificCredential", internal::UpdateServiceSpecificCredential},
    {"DeleteServiceSpecificCredential", internal::DeleteServiceSpecificCredential},
    {"CreateServiceLinkedRole", internal::CreateServiceLinkedRole},
    {"DeleteServiceLinkedRole", internal::DeleteServiceLinkedRole},
    {"GetServiceLinkedRoleDeletionStatus", internal::GetServiceLinkedRoleDeletionStatus},
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
      {"PutUserPermissionsBoundary", &IamService::PutUserPermissionsBoundary},
      {"DeleteUserPermissionsBoundary", &IamService::DeleteUserPermissionsBoundary},
      {"CreateAccessKey", &IamService::CreateAccessKey},
      {"ListAccessKeys", &IamService::ListAccessKeys},
      {"UpdateAccessKey", &IamService::UpdateAccessKey},
      {"GetAccessKeyLastUsed", &IamService::GetAccessKeyLastUsed},
      {"DeleteAccessKey", &IamService::DeleteAccessKey},
      {"CreatePolicy", &IamService::CreatePolicy},
      {"GetPolicy", &IamService::GetPolicy},
      {"GetPolicyVersion", &IamService::GetPolicyVersion},
      {"ListPolicies", &IamService::ListPolicies},
      {"DeletePolicy", &IamService::DeletePolicy},
      {"TagPolicy", &IamService::TagPolicy},
      {"UntagPolicy", &IamService::UntagPolicy},
      {"ListPolicyTags", &IamService::ListPolicyTags},
      {"CreatePolicyVersion", &IamService::CreatePolicyVersion},
      {"ListPolicyVersions", &IamService::ListPolicyVersions},
      {"DeletePolicyVersion", &IamService::DeletePolicyVersion},
      {"SetDefaultPolicyVersion", &IamService::SetDefaultPolicyVersion},
      {"PutUserPolicy", &IamService::PutUserPolicy},
      {"GetUserPolicy", &IamService::GetUserPolicy},
      {"ListUserPolicies", &IamService::ListUserPolicies},
      {"DeleteUserPolicy", &IamService::DeleteUserPolicy},
      {"AttachUserPolicy", &IamService::AttachUserPolicy},
      {"DetachUserPolicy", &IamService::DetachUserPolicy},
      {"ListAttachedUserPolicies", &IamService::ListAttachedUserPolicies},
      {"CreateGroup", &IamService::CreateGroup},
      {"GetGroup", &IamService::GetGroup},
      {"ListGroups", &IamService::ListGroups},
      {"UpdateGroup", &IamService::UpdateGroup},
      {"DeleteGroup", &IamService::DeleteGroup},
      {"AddUserToGroup", &IamService::AddUserToGroup},
      {"RemoveUserFromGroup", &IamService::RemoveUserFromGroup},
      {"ListGroupsForUser", &IamService::ListGroupsForUser},
      {"PutGroupPolicy", &IamService::PutGroupPolicy},
      {"GetGroupPolicy", &IamService::GetGroupPolicy},
      {"ListGroupPolicies", &IamService::ListGroupPolicies},
      {"DeleteGroupPolicy", &IamService::DeleteGroupPolicy},
      {"AttachGroupPolicy", &IamService::AttachGroupPolicy},
      {"DetachGroupPolicy", &IamService::DetachGroupPolicy},
      {"ListAttachedGroupPolicies", &IamService::ListAttachedGroupPolicies},
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
      {"TagRole", &IamService::TagRole},
      {"UntagRole", &IamService::UntagRole},
      {"ListRoleTags", &IamService::ListRoleTags},
      {"PutRolePermissionsBoundary", &IamService::PutRolePermissionsBoundary},
      {"DeleteRolePermissionsBoundary", &IamService::DeleteRolePermissionsBoundary},
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
  for (const FreeBinding& b : kFreeBindings) {
    bool read_only = b.operation.starts_with("Get") || b.operation.starts_with("List");
    registry.Add("iam", b.operation,
                 [this, h = b.handler, read_only](server::RequestContext& ctx,
                                                  const json::Value& in) {
                   auto result = h(internal::IamDeps{db_, creds_}, ctx, in);
                   if (result.ok() && !read_only && policy_cache_) policy_cache_->InvalidateAll();
                   return result;
                 });
  }
}

}  // namespace rampart::iam
