// Access keys of IAM users (and of the account root): CreateAccessKey,
// ListAccessKeys, UpdateAccessKey, DeleteAccessKey. Keys live in the
// identity component's access_keys table, where SigV4 authentication finds
// them (CredentialStore::Find considers only status 'Active'); every change
// invalidates the CredentialStore cache.
#include "iam/iam_internal.h"
#include "rampart/core/arn.h"
#include "rampart/core/ids.h"
#include "rampart/iam/iam_service.h"

namespace rampart::iam {
namespace {

constexpr int64_t kKeysPerUser = 2;  // IAM quota "Access keys assigned to an IAM user"

// Whose keys an operation manages: the named user, or the caller (an IAM
// user or the account root) when UserName is absent.
struct KeyOwner {
  server::Principal principal;  // arn, type, principal_id, user_name, account_id
  std::string resource_arn;     // what authorization sees
};

Result<KeyOwner> ResolveOwner(store::Database& db, const server::RequestContext& ctx,
                              std::string_view action, const json::Value& in) {
  const server::Principal& caller = ctx.principal();
  std::string name(in.get_string("UserName"));
  KeyOwner owner;
  owner.principal.account_id = caller.account_id;
  if (name.empty() && caller.type == "Root") {
    owner.principal.arn = RootArn(caller.account_id);
    owner.principal.type = "Root";
    owner.principal.principal_id = caller.account_id;
    owner.resource_arn = owner.principal.arn;
    RETURN_IF_ERROR(ctx.Authorize(action, owner.resource_arn));
    return owner;
  }
  if (name.empty()) {
    if (caller.type != "IAMUser") {
      return Status::Validation("Must specify userName when calling with non-User credentials");
    }
    name = caller.user_name;
  }
  ASSIGN_OR_RETURN(internal::UserRow user, internal::AuthorizedUser(db, ctx, action, name));
  owner.principal.arn = user.Arn();
  owner.principal.type = "IAMUser";
  owner.principal.principal_id = user.user_id;
  owner.principal.user_name = user.name;
  owner.resource_arn = owner.principal.arn;
  return owner;
}

Status NoSuchKey(std::string_view id) {
  return Status::Modeled("NoSuchEntityException",
                         "The Access Key with id " + std::string(id) + " cannot be found.");
}

Result<int64_t> KeyCount(store::Tx& tx, const server::Principal& p) {
  return internal::CountOf(
      tx,
      "SELECT COUNT(*) FROM access_keys WHERE account_id = ? AND principal_id = ? "
      "AND principal_type = ?",
      {p.account_id, p.principal_id, p.type});
}

// The owner must still exist and stay within quota when the key is added;
// the check and the insert share one write transaction.
Status CheckKeyOwner(store::Tx& tx, const server::Principal& p) {
  if (p.type == "IAMUser") {
    ASSIGN_OR_RETURN(auto user, internal::FindUser(tx, p.account_id, p.user_name));
    if (!user || user->user_id != p.principal_id) return internal::NoSuchUser(p.user_name);
  }
  ASSIGN_OR_RETURN(int64_t n, KeyCount(tx, p));
  if (n >= kKeysPerUser) {
    return Status::Modeled("LimitExceededException", "Cannot exceed quota for AccessKeysPerUser: 2");
  }
  return Status::Ok();
}

}  // namespace

Result<json::Value> IamService::CreateAccessKey(server::RequestContext& ctx,
                                                const json::Value& in) {
  ASSIGN_OR_RETURN(KeyOwner owner, ResolveOwner(db_, ctx, "iam:CreateAccessKey", in));
  server::Principal& p = owner.principal;
  ASSIGN_OR_RETURN(p.access_key_id, ids::AccessKeyId("AKIA"));
  ASSIGN_OR_RETURN(SecretBytes secret, ids::SecretAccessKey());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(CheckKeyOwner(tx, p));
    return creds_.InsertAccessKey(tx, p, secret);
  }));
  json::Value key = json::Value::MakeObject();
  if (!p.user_name.empty()) key.set("UserName", p.user_name);
  key.set("AccessKeyId", p.access_key_id);
  key.set("Status", "Active");
  key.set("SecretAccessKey", secret.reveal());
  key.set("CreateDate", internal::NowSeconds(ctx));
  json::Value out = json::Value::MakeObject();
  out.set("AccessKey", std::move(key));
  return out;
}

Result<json::Value> IamService::ListAccessKeys(server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyOwner owner, ResolveOwner(db_, ctx, "iam:ListAccessKeys", in));
  const server::Principal& p = owner.principal;
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  json::Value list = json::Value::MakeArray();
  std::string next;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT access_key_id, status, created_at FROM access_keys "
                                        "WHERE account_id = ? AND principal_id = ? AND "
                                        "principal_type = ? AND access_key_id >= ? "
                                        "ORDER BY access_key_id LIMIT ?"));
    q->Bind(1, p.account_id).Bind(2, p.principal_id).Bind(3, p.type).Bind(4, page.start);
    q->Bind(5, page.max_items + 1);
    int64_t n = 0;
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      if (n++ == page.max_items) {
        next = q->Text(0);
        break;
      }
      json::Value k = json::Value::MakeObject();
      if (!p.user_name.empty()) k.set("UserName", p.user_name);
      k.set("AccessKeyId", q->Text(0));
      k.set("Status", q->Text(1));
      k.set("CreateDate", q->Int(2));
      list.push(std::move(k));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("AccessKeyMetadata", std::move(list));
  internal::SetPage(out, !next.empty(), next);
  return out;
}

Result<json::Value> IamService::GetAccessKeyLastUsed(server::RequestContext& ctx,
                                                     const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string id(in.get_string("AccessKeyId"));
  std::optional<std::pair<std::string, std::string>> owner;  // (principal arn, user name)
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT principal_arn, user_name FROM access_keys "
                                        "WHERE access_key_id = ? AND account_id = ?"));
    q->Bind(1, id).Bind(2, account);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) owner.emplace(q->Text(0), q->Text(1));
    return Status::Ok();
  }));
  if (!owner) {
    return Status::Modeled("NoSuchEntityException",
                           "The Access Key with id " + id + " cannot be found.");
  }
  RETURN_IF_ERROR(ctx.Authorize("iam:GetAccessKeyLastUsed", owner->first));
  std::optional<server::KeyUse> use;
  if (audit_queries_ != nullptr) {
    ASSIGN_OR_RETURN(use, audit_queries_->LastKeyUse(account, id));
  }
  json::Value last = json::Value::MakeObject();
  if (use) last.set("LastUsedDate", use->time);
  last.set("ServiceName", use ? use->service : "N/A");
  last.set("Region", use ? use->region : "N/A");
  json::Value out = json::Value::MakeObject();
  if (!owner->second.empty()) out.set("UserName", owner->second);
  out.set("AccessKeyLastUsed", std::move(last));
  return out;
}

Result<json::Value> IamService::UpdateAccessKey(server::RequestContext& ctx,
                                                const json::Value& in) {
  ASSIGN_OR_RETURN(KeyOwner owner, ResolveOwner(db_, ctx, "iam:UpdateAccessKey", in));
  const server::Principal& p = owner.principal;
  std::string id(in.get_string("AccessKeyId"));
  std::string status(in.get_string("Status"));
  if (status != "Active" && status != "Inactive") {
    return Status::Validation("Status must be Active or Inactive.");
  }
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare("UPDATE access_keys SET status = ? WHERE access_key_id = ? AND account_id = ? "
                   "AND principal_id = ? AND principal_type = ?"));
    q->Bind(1, status).Bind(2, id).Bind(3, p.account_id).Bind(4, p.principal_id).Bind(5, p.type);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchKey(id) : Status::Ok();
  }));
  creds_.InvalidateCache();
  return json::Value::MakeObject();
}

Result<json::Value> IamService::DeleteAccessKey(server::RequestContext& ctx,
                                                const json::Value& in) {
  ASSIGN_OR_RETURN(KeyOwner owner, ResolveOwner(db_, ctx, "iam:DeleteAccessKey", in));
  const server::Principal& p = owner.principal;
  std::string id(in.get_string("AccessKeyId"));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto q, tx.Prepare("DELETE FROM access_keys WHERE access_key_id = ? AND account_id = ? "
                           "AND principal_id = ? AND principal_type = ?"));
    q->Bind(1, id).Bind(2, p.account_id).Bind(3, p.principal_id).Bind(4, p.type);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchKey(id) : Status::Ok();
  }));
  creds_.InvalidateCache();
  return json::Value::MakeObject();
}

}  // namespace rampart::iam
