// Customer managed policies: CreatePolicy, GetPolicy, GetPolicyVersion,
// ListPolicies, DeletePolicy. Documents are validated by the policy engine
// (CompilePolicy, identity kind) and AWS's managed-policy size quota.
#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/core/ids.h"
#include "rampart/iam/iam_service.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {

using internal::PolicyRow;

namespace internal {

constexpr std::string_view kPolicyColumns =
    "policy_name, policy_id, arn, path, description, default_version, created_at, updated_at, "
    "(SELECT COUNT(*) FROM iam_user_attachments a WHERE a.policy_arn = iam_policies.arn) + "
    "(SELECT COUNT(*) FROM iam_role_attachments r WHERE r.policy_arn = iam_policies.arn), name_key";

PolicyRow ReadPolicyRow(const store::Statement& q) {
  return PolicyRow{q.Text(0), q.Text(1), q.Text(2), q.Text(3),
                   q.Text(4), q.Text(5), q.Int(6),  q.Int(7)};
}

Result<std::optional<PolicyRow>> FindPolicy(store::Tx& tx, std::string_view account,
                                            std::string_view arn) {
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare(
          "SELECT policy_name, policy_id, arn, path, description, default_version, created_at, "
          "updated_at FROM iam_policies WHERE account_id = ? AND arn = ?"));
  q->Bind(1, account).Bind(2, arn);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<PolicyRow>();
  return std::optional<PolicyRow>(ReadPolicyRow(*q));
}

Status NoSuchPolicy(std::string_view arn) {
  return Status::Modeled("NoSuchEntityException",
                         "Policy " + std::string(arn) + " does not exist or is not attachable.");
}

}  // namespace internal

namespace {

json::Value PolicyJson(const PolicyRow& p, int64_t attachments) {
  json::Value v = json::Value::MakeObject();
  v.set("PolicyName", p.name);
  v.set("PolicyId", p.policy_id);
  v.set("Arn", p.arn);
  v.set("Path", p.path);
  v.set("DefaultVersionId", p.default_version);
  v.set("AttachmentCount", attachments);
  v.set("PermissionsBoundaryUsageCount", 0);
  v.set("IsAttachable", true);
  if (!p.description.empty()) v.set("Description", p.description);
  v.set("CreateDate", p.created_at);
  v.set("UpdateDate", p.updated_at);
  return v;
}

Result<int64_t> AttachmentCount(store::Tx& tx, std::string_view arn) {
  // Users and roles both count: a policy attached anywhere cannot be deleted.
  return internal::CountOf(tx,
                           "SELECT (SELECT COUNT(*) FROM iam_user_attachments WHERE policy_arn = ?) + "
                           "(SELECT COUNT(*) FROM iam_role_attachments WHERE policy_arn = ?)",
                           {arn, arn});
}

// Reads a policy of the caller's account after authorizing action on arn.
Result<PolicyRow> AuthorizedPolicy(store::Database& db, const server::RequestContext& ctx,
                                   std::string_view action, std::string_view arn) {
  RETURN_IF_ERROR(ctx.Authorize(action, arn));
  std::optional<PolicyRow> policy;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(policy, internal::FindPolicy(tx, ctx.principal().account_id, arn));
    return Status::Ok();
  }));
  if (!policy) return internal::NoSuchPolicy(arn);
  return std::move(*policy);
}

}  // namespace

Result<json::Value> IamService::CreatePolicy(server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  PolicyRow p;
  p.name = std::string(in.get_string("PolicyName"));
  p.path = internal::PathOr(in);
  p.arn = internal::IamArn(account, "policy", p.path, p.name);
  p.description = std::string(in.get_string("Description"));
  p.default_version = "v1";
  p.created_at = p.updated_at = internal::NowSeconds(ctx);
  RETURN_IF_ERROR(ctx.Authorize("iam:CreatePolicy", p.arn));
  std::string_view document = in.get_string("PolicyDocument");
  RETURN_IF_ERROR(CheckPolicySize(document, PolicySizeKind::kManaged));
  RETURN_IF_ERROR(CompilePolicy(document, PolicyKind::kIdentity, p.arn).status());
  ASSIGN_OR_RETURN(internal::TagList tags, internal::ReadTags(in));
  ASSIGN_OR_RETURN(p.policy_id, ids::AccessKeyId("ANPA"));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    std::string key = internal::NameKey(p.name);
    ASSIGN_OR_RETURN(
        int64_t taken,
        internal::CountOf(tx,
                          "SELECT COUNT(*) FROM iam_policies WHERE account_id = ? AND name_key = ?",
                          {account, key}));
    if (taken > 0) {
      return Status::Modeled(
          "EntityAlreadyExistsException",
          "A policy called " + p.name + " already exists. Duplicate names are not allowed.");
    }
    ASSIGN_OR_RETURN(
        auto q,
        tx.Prepare(
            "INSERT INTO iam_policies (account_id, name_key, policy_name, policy_id, arn, path, "
            "description, default_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)"));
    q->Bind(1, account).Bind(2, key).Bind(3, p.name).Bind(4, p.policy_id).Bind(5, p.arn);
    q->Bind(6, p.path).Bind(7, p.description).Bind(8, p.default_version).Bind(9, p.created_at);
    q->Bind(10, p.updated_at);
    RETURN_IF_ERROR(q->Run());
    ASSIGN_OR_RETURN(
        auto v,
        tx.Prepare("INSERT INTO iam_policy_versions (policy_id, version_id, document, created_at) "
                   "VALUES (?, ?, ?, ?)"));
    v->Bind(1, p.policy_id).Bind(2, p.default_version).Bind(3, document).Bind(4, p.created_at);
    RETURN_IF_ERROR(v->Run());
    return internal::PutTags(tx, p.policy_id, tags);
  }));
  json::Value policy = PolicyJson(p, 0);
  if (!tags.empty()) policy.set("Tags", internal::TagsJson(tags));
  json::Value out = json::Value::MakeObject();
  out.set("Policy", std::move(policy));
  return out;
}

Result<json::Value> IamService::GetPolicy(server::RequestContext& ctx, const json::Value& in) {
  std::string_view arn = in.get_string("PolicyArn");
  ASSIGN_OR_RETURN(PolicyRow p, AuthorizedPolicy(db_, ctx, "iam:GetPolicy", arn));
  int64_t attachments = 0;
  internal::TagList tags;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(attachments, AttachmentCount(tx, p.arn));
    ASSIGN_OR_RETURN(tags, internal::LoadTags(tx, p.policy_id));
    return Status::Ok();
  }));
  json::Value policy = PolicyJson(p, attachments);
  if (!tags.empty()) policy.set("Tags", internal::TagsJson(tags));
  json::Value out = json::Value::MakeObject();
  out.set("Policy", std::move(policy));
  return out;
}

Result<json::Value> IamService::GetPolicyVersion(server::RequestContext& ctx,
                                                 const json::Value& in) {
  std::string_view arn = in.get_string("PolicyArn");
  std::string version(in.get_string("VersionId"));
  ASSIGN_OR_RETURN(PolicyRow p, AuthorizedPolicy(db_, ctx, "iam:GetPolicyVersion", arn));
  std::optional<std::pair<std::string, int64_t>> found;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT document, created_at FROM iam_policy_versions "
                                        "WHERE policy_id = ? AND version_id = ?"));
    q->Bind(1, p.policy_id).Bind(2, version);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) found.emplace(q->Text(0), q->Int(1));
    return Status::Ok();
  }));
  if (!found) {
    return Status::Modeled("NoSuchEntityException", "Policy " + p.arn + " version " + version +
                                                        " does not exist or is not attachable.");
  }
  json::Value v = json::Value::MakeObject();
  // IAM returns documents URL-encoded (RFC 3986); SDKs decode them.
  v.set("Document", UriEncode(found->first));
  v.set("VersionId", version);
  v.set("IsDefaultVersion", version == p.default_version);
  v.set("CreateDate", found->second);
  json::Value out = json::Value::MakeObject();
  out.set("PolicyVersion", std::move(v));
  return out;
}

Result<json::Value> IamService::ListPolicies(server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListPolicies", "*"));
  const std::string& account = ctx.principal().account_id;
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  std::string prefix(in.get_string("PathPrefix"));
  if (prefix.empty()) prefix = "/";
  const json::Value* only_attached = in.find("OnlyAttached");
  bool attached = only_attached != nullptr && only_attached->is_bool() && only_attached->as_bool();
  json::Value list = json::Value::MakeArray();
  std::string next;
  // AWS managed policies (Scope AWS) are not served yet: that scope is empty.
  if (in.get_string("Scope") != "AWS") {
    RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
      std::string sql = "SELECT " + std::string(internal::kPolicyColumns) +
                        " FROM iam_policies WHERE account_id = ? AND name_key >= ? "
                        "AND substr(path, 1, ?) = ? ORDER BY name_key";
      ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
      q->Bind(1, account).Bind(2, page.start).Bind(3, static_cast<int64_t>(prefix.size()));
      q->Bind(4, prefix);
      int64_t n = 0;
      while (true) {
        ASSIGN_OR_RETURN(bool row, q->Step());
        if (!row) break;
        int64_t attachments = q->Int(8);
        if (attached && attachments == 0) continue;
        if (n++ == page.max_items) {
          next = q->Text(9);
          break;
        }
        list.push(PolicyJson(internal::ReadPolicyRow(*q), attachments));
      }
      return Status::Ok();
    }));
  }
  json::Value out = json::Value::MakeObject();
  out.set("Policies", std::move(list));
  internal::SetPage(out, !next.empty(), next);
  return out;
}

Result<json::Value> IamService::DeletePolicy(server::RequestContext& ctx, const json::Value& in) {
  std::string_view arn = in.get_string("PolicyArn");
  const std::string& account = ctx.principal().account_id;
  RETURN_IF_ERROR(AuthorizedPolicy(db_, ctx, "iam:DeletePolicy", arn).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto p, internal::FindPolicy(tx, account, arn));
    if (!p) return internal::NoSuchPolicy(arn);
    ASSIGN_OR_RETURN(int64_t attachments, AttachmentCount(tx, arn));
    if (attachments > 0) {
      return Status::Modeled("DeleteConflictException",
                             "Cannot delete a policy attached to entities.");
    }
    for (std::string_view sql : {"DELETE FROM iam_policy_versions WHERE policy_id = ?",
                                 "DELETE FROM iam_tags WHERE resource_id = ?",
                                 "DELETE FROM iam_policies WHERE policy_id = ?"}) {
      ASSIGN_OR_RETURN(auto q, tx.Prepare(sql));
      q->Bind(1, p->policy_id);
      RETURN_IF_ERROR(q->Run());
    }
    return Status::Ok();
  }));
  return json::Value::MakeObject();
}

}  // namespace rampart::iam
