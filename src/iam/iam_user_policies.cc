// A user's inline policies (PutUserPolicy, GetUserPolicy, ListUserPolicies,
// DeleteUserPolicy) and managed policy attachments (AttachUserPolicy,
// DetachUserPolicy, ListAttachedUserPolicies).
#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/iam/iam_service.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {

using internal::UserRow;

namespace {

// IAM quotas: inline policies of one user total at most 2,048 characters
// (whitespace excluded); at most 10 managed policies per user.
constexpr int64_t kManagedPoliciesPerUser = 10;

Status NoSuchUserPolicy(std::string_view name) {
  return Status::Modeled("NoSuchEntityException",
                         "The user policy with name " + std::string(name) + " cannot be found.");
}

}  // namespace

Result<json::Value> IamService::PutUserPolicy(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string user_name(in.get_string("UserName"));
  std::string policy_name(in.get_string("PolicyName"));
  std::string_view document = in.get_string("PolicyDocument");
  ASSIGN_OR_RETURN(UserRow found,
                   internal::AuthorizedUser(db_, ctx, "iam:PutUserPolicy", user_name));
  RETURN_IF_ERROR(CheckPolicySize(document, PolicySizeKind::kInlineUser));
  RETURN_IF_ERROR(
      CompilePolicy(document, PolicyKind::kIdentity, found.Arn() + "/" + policy_name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, user_name));
    ASSIGN_OR_RETURN(
        auto others,
        tx.Prepare(
            "SELECT document FROM iam_user_policies WHERE user_id = ? AND policy_name <> ?"));
    others->Bind(1, user.user_id).Bind(2, policy_name);
    size_t total = PolicyCharacterCount(document);
    while (true) {
      ASSIGN_OR_RETURN(bool row, others->Step());
      if (!row) break;
      total += PolicyCharacterCount(others->Text(0));
    }
    if (total > PolicySizeLimit(PolicySizeKind::kInlineUser)) {
      return Status::Modeled("LimitExceededException",
                             "Maximum policy size of 2048 bytes exceeded for user " + user.name);
    }
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare(
            "INSERT INTO iam_user_policies (user_id, policy_name, document) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, policy_name) DO UPDATE SET document = excluded.document"));
    q->Bind(1, user.user_id).Bind(2, policy_name).Bind(3, document);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::GetUserPolicy(server::RequestContext& ctx, const json::Value& in) {
  std::string user_name(in.get_string("UserName"));
  std::string policy_name(in.get_string("PolicyName"));
  ASSIGN_OR_RETURN(UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:GetUserPolicy", user_name));
  std::optional<std::string> document;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare("SELECT document FROM iam_user_policies WHERE user_id = ? AND policy_name = ?"));
    q->Bind(1, user.user_id).Bind(2, policy_name);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) document = q->Text(0);
    return Status::Ok();
  }));
  if (!document) return NoSuchUserPolicy(policy_name);
  json::Value out = json::Value::MakeObject();
  out.set("UserName", user.name);
  out.set("PolicyName", policy_name);
  // IAM returns documents URL-encoded (RFC 3986); SDKs decode them.
  out.set("PolicyDocument", UriEncode(*document));
  return out;
}

Result<json::Value> IamService::ListUserPolicies(server::RequestContext& ctx,
                                                 const json::Value& in) {
  std::string user_name(in.get_string("UserName"));
  ASSIGN_OR_RETURN(UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:ListUserPolicies", user_name));
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  json::Value names = json::Value::MakeArray();
  std::string next;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare(
            "SELECT policy_name FROM iam_user_policies WHERE user_id = ? AND policy_name >= ? "
            "ORDER BY policy_name LIMIT ?"));
    q->Bind(1, user.user_id).Bind(2, page.start).Bind(3, page.max_items + 1);
    int64_t n = 0;
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      if (n++ == page.max_items) {
        next = q->Text(0);
        break;
      }
      names.push(q->Text(0));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("PolicyNames", std::move(names));
  internal::SetPage(out, !next.empty(), next);
  return out;
}

Result<json::Value> IamService::DeleteUserPolicy(server::RequestContext& ctx,
                                                 const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string user_name(in.get_string("UserName"));
  std::string policy_name(in.get_string("PolicyName"));
  RETURN_IF_ERROR(internal::AuthorizedUser(db_, ctx, "iam:DeleteUserPolicy", user_name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, user_name));
    ASSIGN_OR_RETURN(
        auto q, tx.Prepare("DELETE FROM iam_user_policies WHERE user_id = ? AND policy_name = ?"));
    q->Bind(1, user.user_id).Bind(2, policy_name);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchUserPolicy(policy_name) : Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::AttachUserPolicy(server::RequestContext& ctx,
                                                 const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string user_name(in.get_string("UserName"));
  std::string arn(in.get_string("PolicyArn"));
  RETURN_IF_ERROR(internal::AuthorizedUser(db_, ctx, "iam:AttachUserPolicy", user_name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, user_name));
    ASSIGN_OR_RETURN(auto policy, internal::FindPolicy(tx, account, arn));
    if (!policy) return internal::NoSuchPolicy(arn);
    ASSIGN_OR_RETURN(
        int64_t same,
        internal::CountOf(
            tx, "SELECT COUNT(*) FROM iam_user_attachments WHERE user_id = ? AND policy_arn = ?",
            {user.user_id, arn}));
    if (same > 0) return Status::Ok();
    ASSIGN_OR_RETURN(
        int64_t n,
        internal::CountOf(tx, "SELECT COUNT(*) FROM iam_user_attachments WHERE user_id = ?",
                          {user.user_id}));
    if (n >= kManagedPoliciesPerUser) {
      return Status::Modeled("LimitExceededException",
                             "Cannot exceed quota for PoliciesPerUser: 10");
    }
    ASSIGN_OR_RETURN(
        auto q, tx.Prepare("INSERT INTO iam_user_attachments (user_id, policy_arn) VALUES (?, ?)"));
    q->Bind(1, user.user_id).Bind(2, arn);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::DetachUserPolicy(server::RequestContext& ctx,
                                                 const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string user_name(in.get_string("UserName"));
  std::string arn(in.get_string("PolicyArn"));
  RETURN_IF_ERROR(internal::AuthorizedUser(db_, ctx, "iam:DetachUserPolicy", user_name).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(UserRow user, internal::RequireUser(tx, account, user_name));
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare("DELETE FROM iam_user_attachments WHERE user_id = ? AND policy_arn = ?"));
    q->Bind(1, user.user_id).Bind(2, arn);
    RETURN_IF_ERROR(q->Run());
    if (q->Changes() > 0) return Status::Ok();
    return Status::Modeled("NoSuchEntityException", "Policy " + arn + " was not found.");
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::ListAttachedUserPolicies(server::RequestContext& ctx,
                                                         const json::Value& in) {
  std::string user_name(in.get_string("UserName"));
  ASSIGN_OR_RETURN(UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:ListAttachedUserPolicies", user_name));
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  std::string prefix(in.get_string("PathPrefix"));
  if (prefix.empty()) prefix = "/";
  json::Value list = json::Value::MakeArray();
  std::string next;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(
        auto q, tx.Prepare("SELECT p.policy_name, a.policy_arn FROM iam_user_attachments a "
                           "JOIN iam_policies p ON p.arn = a.policy_arn "
                           "WHERE a.user_id = ? AND a.policy_arn >= ? AND substr(p.path, 1, ?) = ? "
                           "ORDER BY a.policy_arn LIMIT ?"));
    q->Bind(1, user.user_id).Bind(2, page.start).Bind(3, static_cast<int64_t>(prefix.size()));
    q->Bind(4, prefix).Bind(5, page.max_items + 1);
    int64_t n = 0;
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) break;
      if (n++ == page.max_items) {
        next = q->Text(1);
        break;
      }
      json::Value a = json::Value::MakeObject();
      a.set("PolicyName", q->Text(0));
      a.set("PolicyArn", q->Text(1));
      list.push(std::move(a));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("AttachedPolicies", std::move(list));
  internal::SetPage(out, !next.empty(), next);
  return out;
}

}  // namespace rampart::iam
