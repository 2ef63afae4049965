// Helpers shared by the IAM handler files (src/iam/iam_*.cc). Not a public
// interface.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/iam/policy_ast.h"
#include "rampart/server/context.h"
#include "rampart/store/store.h"

namespace rampart::iam::internal {

// "arn:aws:iam::<acct>:<kind><path><name>", e.g. kind "user" or "policy".
std::string IamArn(std::string_view account, std::string_view kind, std::string_view path,
                   std::string_view name);
// IAM names are unique regardless of case ("IAM identifiers", IAM User Guide).
std::string NameKey(std::string_view name);
// Whole seconds since the epoch of the request's time.
int64_t NowSeconds(const server::RequestContext& ctx);
// The Path input member, "/" when absent.
std::string PathOr(const json::Value& in);

struct UserRow {
  std::string account_id;
  std::string name;
  std::string user_id;
  std::string path;
  int64_t created_at = 0;
  std::string Arn() const { return IamArn(account_id, "user", path, name); }
};

// The user or nullopt.
Result<std::optional<UserRow>> FindUser(store::Tx& tx, std::string_view account,
                                        std::string_view name);
// The user or NoSuchEntity.
Result<UserRow> RequireUser(store::Tx& tx, std::string_view account, std::string_view name);
Status NoSuchUser(std::string_view name);
json::Value UserJson(const UserRow& u);

// Marker/MaxItems pagination. The marker is the (opaque, base64) sort key
// of the first item of the next page.
struct Page {
  std::string start;  // sort key to start at (inclusive), empty = first
  int64_t max_items = 100;
};
Result<Page> ReadPage(const json::Value& in);
// Sets IsTruncated and, when truncated, Marker.
void SetPage(json::Value& out, bool truncated, std::string_view next_key);

using TagList = std::vector<std::pair<std::string, std::string>>;
// The Tags input member; InvalidInput on duplicate keys.
Result<TagList> ReadTags(const json::Value& in);
// Merges tags into resource_id's tags inside tx (LimitExceeded over 50).
Status PutTags(store::Tx& tx, std::string_view resource_id, const TagList& tags);
Result<TagList> LoadTags(store::Tx& tx, std::string_view resource_id);
Status DeleteTags(store::Tx& tx, std::string_view resource_id);
json::Value TagsJson(const TagList& tags);

// Runs a statement that returns a single integer (e.g. COUNT(*)).
Result<int64_t> CountOf(store::Tx& tx, std::string_view sql,
                        std::initializer_list<std::string_view> params);

}  // namespace rampart::iam::internal

namespace rampart::iam::internal {

// Reads the user (outside any write), then authorizes action on its ARN
// (or on the path-less ARN when it does not exist, so that a caller
// without permission learns nothing). The user, AccessDenied or
// NoSuchEntity.
Result<UserRow> AuthorizedUser(store::Database& db, const server::RequestContext& ctx,
                               std::string_view action, std::string_view name);

struct PolicyRow {
  std::string name;
  std::string policy_id;
  std::string arn;
  std::string path;
  std::string description;
  std::string default_version;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};
// A customer managed policy of account by ARN, or nullopt.
Result<std::optional<PolicyRow>> FindPolicy(store::Tx& tx, std::string_view account,
                                            std::string_view arn);
Status NoSuchPolicy(std::string_view arn);

}  // namespace rampart::iam::internal

namespace rampart::iam::internal {

struct RoleRow {
  std::string account_id;
  std::string name;
  std::string role_id;
  std::string path;
  std::string description;
  std::string trust_policy;
  int64_t max_session_duration = 3600;
  int64_t created_at = 0;
  std::string Arn() const { return IamArn(account_id, "role", path, name); }
};

// The role of account by name (any case), or nullopt.
Result<std::optional<RoleRow>> FindRole(store::Tx& tx, std::string_view account,
                                        std::string_view name);
// The role with exactly this ARN (any account), or nullopt.
Result<std::optional<RoleRow>> FindRoleByArn(store::Tx& tx, std::string_view arn);
Status NoSuchRole(std::string_view name);
// Inserts a new role row (the caller checked that the name is free and
// the trust policy compiles). Used by CreateRole and by Organizations'
// CreateAccount (OrganizationAccountAccessRole).
Status InsertRole(store::Tx& tx, const RoleRow& role);

}  // namespace rampart::iam::internal

namespace rampart::iam::internal {

// A principal that holds inline policies and managed-policy attachments: a
// user or a role (groups next). The handlers for both are one code path
// parameterised by this table.
struct Holder {
  std::string id;    // user_id / role_id: the key of its policy rows
  std::string name;  // as stored
};

struct HolderKind {
  std::string_view title;         // "User": forms "UserName", "iam:PutUserPolicy"
  std::string_view noun;          // "user": forms messages
  std::string_view inline_table;  // (<id_column>, policy_name, document)
  std::string_view attach_table;  // (<id_column>, policy_arn)
  std::string_view id_column;
  PolicySizeKind inline_size;     // quota of its inline policies together
  // Reads the holder and authorizes action on its ARN: the holder,
  // AccessDenied or NoSuchEntity.
  Result<Holder> (*authorized)(store::Database& db, const server::RequestContext& ctx,
                               std::string_view action, std::string_view name);
  // The holder inside a write transaction, or NoSuchEntity.
  Result<Holder> (*require)(store::Tx& tx, std::string_view account, std::string_view name);
};

extern const HolderKind kUserHolder;  // iam_user_policies.cc
extern const HolderKind kRoleHolder;  // iam_roles.cc

// Adds or replaces one inline policy of a holder inside tx (no quota or
// validation: callers check those).
Status InsertInlinePolicy(store::Tx& tx, const HolderKind& kind, std::string_view holder_id,
                          std::string_view policy_name, std::string_view document);

// Put/Get/List/Delete<Kind>Policy and Attach/Detach/ListAttached<Kind>Policies
// (iam_policy_holders.cc).
Result<json::Value> PutInlinePolicy(store::Database& db, const HolderKind& kind,
                                    server::RequestContext& ctx, const json::Value& in);
Result<json::Value> GetInlinePolicy(store::Database& db, const HolderKind& kind,
                                    server::RequestContext& ctx, const json::Value& in);
Result<json::Value> ListInlinePolicies(store::Database& db, const HolderKind& kind,
                                       server::RequestContext& ctx, const json::Value& in);
Result<json::Value> DeleteInlinePolicy(store::Database& db, const HolderKind& kind,
                                       server::RequestContext& ctx, const json::Value& in);
Result<json::Value> AttachManagedPolicy(store::Database& db, const HolderKind& kind,
                                        server::RequestContext& ctx, const json::Value& in);
Result<json::Value> DetachManagedPolicy(store::Database& db, const HolderKind& kind,
                                        server::RequestContext& ctx, const json::Value& in);
Result<json::Value> ListAttachedPolicies(store::Database& db, const HolderKind& kind,
                                         server::RequestContext& ctx, const json::Value& in);

}  // namespace rampart::iam::internal
