// Managed policies: CreatePolicy, GetPolicy, GetPolicyVersion,
// ListPolicies, DeletePolicy, and the tags of a policy (TagPolicy,
// UntagPolicy, ListPolicyTags). Customer managed policies live in the
// account's tables; the AWS managed ones (iam_aws_policies.cc) are served
// read-only to every account. Documents are validated by the policy engine
// (CompilePolicy, identity kind) and AWS's managed-policy size quota.
// Versions are in iam_policy_versions.cc.
#include <algorithm>

#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/core/ids.h"
#include "rampart/iam/iam_service.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {

using internal::PolicyRow;

namespace internal {

PolicyRow ReadPolicyRow(const store::Statement& q) {
  return PolicyRow{q.Text(0), q.Text(1), q.Text(2), q.Text(3),
                   q.Text(4), q.Text(5), q.Int(6),  q.Int(7)};
}

constexpr std::string_view kPolicyColumns =
    "policy_name, policy_id, arn, path, description, default_version, created_at, updated_at";

Result<std::optional<PolicyRow>> FindPolicy(store::Tx& tx, std::string_view account,
                                            std::string_view arn) {
  if (IsAwsPolicyArn(arn)) {
    const AwsPolicy* aws = FindAwsPolicy(arn);
    if (aws == nullptr) return std::optional<PolicyRow>();
    return std::optional<PolicyRow>(AwsPolicyRow(*aws));
  }
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kPolicyColumns) +
                                      " FROM iam_policies WHERE account_id = ? AND arn = ?"));
  q->Bind(1, account).Bind(2, arn);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<PolicyRow>();
  return std::optional<PolicyRow>(ReadPolicyRow(*q));
}

Result<std::optional<std::string>> DefaultPolicyDocument(store::Tx& tx, std::string_view arn) {
  if (IsAwsPolicyArn(arn)) {
    const AwsPolicy* aws = FindAwsPolicy(arn);
    if (aws == nullptr) return std::optional<std::string>();
    return std::optional<std::string>(std::string(aws->document));
  }
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT v.document FROM iam_policies p "
                                      "JOIN iam_policy_versions v ON v.policy_id = p.policy_id "
                                      "AND v.version_id = p.default_version WHERE p.arn = ?"));
  q->Bind(1, arn);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(q->Text(0));
}

Result<std::string> RequireBoundaryPolicy(store::Tx& tx, std::string_view account,
                                          std::string_view arn) {
  std::array<std::string_view, 6> parts;
  if (!SplitArn(arn, parts) || parts[2] != "iam" || !parts[5].starts_with("policy/")) {
    return Status::Modeled("InvalidInputException",
                           "ARN " + std::string(arn) + " is not valid.");
  }
  ASSIGN_OR_RETURN(auto policy, FindPolicy(tx, account, arn));
  if (!policy) {
    return Status::Modeled("NoSuchEntityException",
                           "Scope ARN: " + std::string(arn) + " does not exist or is not attachable.");
  }
  return policy->arn;
}

Status NoSuchPolicy(std::string_view arn) {
  return Status::Modeled("NoSuchEntityException",
                         "Policy " + std::string(arn) + " does not exist or is not attachable.");
}

// Reads a policy of the caller's account (or an AWS managed one) after
// authorizing action on arn.
Result<PolicyRow> AuthorizedPolicy(store::Database& db, const server::RequestContext& ctx,
                                   std::string_view action, std::string_view arn,
                                   std::span<const server::ConditionKey> keys) {
  RETURN_IF_ERROR(ctx.Authorize(action, arn, keys));
  std::optional<PolicyRow> policy;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(policy, FindPolicy(tx, ctx.principal().account_id, arn));
    return Status::Ok();
  }));
  if (!policy) return NoSuchPolicy(arn);
  return std::move(*policy);
}

// The same for a change: AWS managed policies belong to AWS.
Result<PolicyRow> ModifiablePolicy(store::Database& db, const server::RequestContext& ctx,
                                   std::string_view action, std::string_view arn,
                                   std::span<const server::ConditionKey> keys) {
  ASSIGN_OR_RETURN(PolicyRow p, AuthorizedPolicy(db, ctx, action, arn, keys));
  if (p.aws_managed) return AwsPolicyIsReadOnly(arn);
  return p;
}

Status AwsPolicyIsReadOnly(std::string_view arn) {
  return Status::Error(ErrorCode::kAccessDenied,
                       "Policy " + std::string(arn) +
                           " is an AWS managed policy: it cannot be changed, tagged or deleted.");
}

}  // namespace internal

namespace {

struct Usage {
  int64_t attachments = 0;  // users, groups and roles of the account
  int64_t boundaries = 0;   // users and roles with it as their boundary
};

json::Value PolicyJson(const PolicyRow& p, const Usage& usage) {
  json::Value v = json::Value::MakeObject();
  v.set("PolicyName", p.name);
  v.set("PolicyId", p.policy_id);
  v.set("Arn", p.arn);
  v.set("Path", p.path);
  v.set("DefaultVersionId", p.default_version);
  v.set("AttachmentCount", usage.attachments);
  v.set("PermissionsBoundaryUsageCount", usage.boundaries);
  v.set("IsAttachable", true);
  if (!p.description.empty()) v.set("Description", p.description);
  v.set("CreateDate", p.created_at);
  v.set("UpdateDate", p.updated_at);
  return v;
}

// How the caller's account uses arn (AWS managed policies are shared, so
// their counts are per account too).
Result<Usage> UsageOf(store::Tx& tx, std::string_view account, std::string_view arn) {
  Usage u;
  ASSIGN_OR_RETURN(
      u.attachments,
      internal::CountOf(
          tx,
          "SELECT (SELECT COUNT(*) FROM iam_user_attachments a JOIN iam_users e "
          "ON e.user_id = a.user_id WHERE a.policy_arn = ? AND e.account_id = ?) + "
          "(SELECT COUNT(*) FROM iam_role_attachments a JOIN iam_roles e "
          "ON e.role_id = a.role_id WHERE a.policy_arn = ? AND e.account_id = ?) + "
          "(SELECT COUNT(*) FROM iam_group_attachments a JOIN iam_groups e "
          "ON e.group_id = a.group_id WHERE a.policy_arn = ? AND e.account_id = ?)",
          {arn, account, arn, account, arn, account}));
  ASSIGN_OR_RETURN(
      u.boundaries,
      internal::CountOf(tx,
                        "SELECT (SELECT COUNT(*) FROM iam_users WHERE account_id = ? AND "
                        "permissions_boundary = ?) + (SELECT COUNT(*) FROM iam_roles WHERE "
                        "account_id = ? AND permissions_boundary = ?)",
                        {account, arn, account, arn}));
  return u;
}

json::Value PolicyOutput(json::Value policy) {
  json::Value out = json::Value::MakeObject();
  out.set("Policy", std::move(policy));
  return out;
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
  ASSIGN_OR_RETURN(internal::TagList tags, internal::ReadTags(in));
  RETURN_IF_ERROR(ctx.Authorize("iam:CreatePolicy", p.arn, internal::RequestTagKeys(tags)));
  std::string_view document = in.get_string("PolicyDocument");
  RETURN_IF_ERROR(CheckPolicySize(document, PolicySizeKind::kManaged));
  RETURN_IF_ERROR(CompilePolicy(document, PolicyKind::kIdentity, p.arn).status());
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
    RETURN_IF_ERROR(
        internal::InsertPolicyVersion(tx, p.policy_id, p.default_version, document, p.created_at));
    return internal::PutTags(tx, p.policy_id, tags);
  }));
  json::Value policy = PolicyJson(p, Usage{});
  if (!tags.empty()) policy.set("Tags", internal::TagsJson(tags));
  return PolicyOutput(std::move(policy));
}

Result<json::Value> IamService::GetPolicy(server::RequestContext& ctx, const json::Value& in) {
  std::string_view arn = in.get_string("PolicyArn");
  ASSIGN_OR_RETURN(PolicyRow p, internal::AuthorizedPolicy(db_, ctx, "iam:GetPolicy", arn));
  Usage usage;
  internal::TagList tags;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(usage, UsageOf(tx, ctx.principal().account_id, p.arn));
    if (p.aws_managed) return Status::Ok();
    ASSIGN_OR_RETURN(tags, internal::LoadTags(tx, p.policy_id));
    return Status::Ok();
  }));
  json::Value policy = PolicyJson(p, usage);
  if (!tags.empty()) policy.set("Tags", internal::TagsJson(tags));
  return PolicyOutput(std::move(policy));
}

Result<json::Value> IamService::GetPolicyVersion(server::RequestContext& ctx,
                                                 const json::Value& in) {
  std::string_view arn = in.get_string("PolicyArn");
  std::string version(in.get_string("VersionId"));
  ASSIGN_OR_RETURN(PolicyRow p, internal::AuthorizedPolicy(db_, ctx, "iam:GetPolicyVersion", arn));
  std::optional<internal::VersionRow> found;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(found, internal::FindPolicyVersion(tx, p, version));
    return Status::Ok();
  }));
  if (!found) return internal::NoSuchPolicyVersion(p.arn, version);
  json::Value v = internal::VersionJson(*found, p);
  // IAM returns documents URL-encoded (RFC 3986); SDKs decode them.
  v.set("Document", UriEncode(found->document));
  json::Value out = json::Value::MakeObject();
  out.set("PolicyVersion", std::move(v));
  return out;
}

namespace {

struct ListFilter {
  std::string prefix;
  bool only_attached = false;
  std::string scope;  // "All", "AWS" or "Local"
};

// Page sort keys: "a<name key>" for AWS managed policies, which come
// first, then "l<name key>" for the account's own.
Status ListAwsPolicies(store::Tx& tx, std::string_view account, const ListFilter& f,
                       const internal::Page& page, internal::PageCollector& collector,
                       json::Value& list) {
  std::vector<std::pair<std::string, internal::PolicyRow>> rows;
  for (const internal::AwsPolicy& a : internal::AwsPolicies()) {
    internal::PolicyRow row = internal::AwsPolicyRow(a);
    if (!row.path.starts_with(f.prefix)) continue;
    rows.emplace_back("a" + internal::NameKey(row.name), std::move(row));
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (auto& [key, row] : rows) {
    if (key < page.start) continue;
    ASSIGN_OR_RETURN(Usage usage, UsageOf(tx, account, row.arn));
    if (f.only_attached && usage.attachments == 0) continue;
    if (!collector.Take(key)) break;
    list.push(PolicyJson(row, usage));
  }
  return Status::Ok();
}

Status ListLocalPolicies(store::Tx& tx, std::string_view account, const ListFilter& f,
                         const internal::Page& page, internal::PageCollector& collector,
                         json::Value& list) {
  std::string start = page.start.starts_with("l") ? page.start.substr(1) : "";
  if (page.start > "l" && !page.start.starts_with("l")) return Status::Ok();
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(internal::kPolicyColumns) +
                                      ", name_key FROM iam_policies WHERE account_id = ? AND "
                                      "name_key >= ? AND substr(path, 1, ?) = ? "
                                      "ORDER BY name_key"));
  q->Bind(1, account).Bind(2, start).Bind(3, static_cast<int64_t>(f.prefix.size()));
  q->Bind(4, f.prefix);
  std::vector<std::pair<std::string, PolicyRow>> rows;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    rows.emplace_back("l" + q->Text(8), internal::ReadPolicyRow(*q));
  }
  for (auto& [key, row] : rows) {
    ASSIGN_OR_RETURN(Usage usage, UsageOf(tx, account, row.arn));
    if (f.only_attached && usage.attachments == 0) continue;
    if (!collector.Take(key)) break;
    list.push(PolicyJson(row, usage));
  }
  return Status::Ok();
}

}  // namespace

Result<json::Value> IamService::ListPolicies(server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListPolicies", "*"));
  const std::string& account = ctx.principal().account_id;
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  ListFilter filter;
  filter.prefix = std::string(in.get_string("PathPrefix"));
  if (filter.prefix.empty()) filter.prefix = "/";
  const json::Value* only_attached = in.find("OnlyAttached");
  filter.only_attached =
      only_attached != nullptr && only_attached->is_bool() && only_attached->as_bool();
  filter.scope = std::string(in.get_string("Scope"));
  if (filter.scope.empty()) filter.scope = "All";
  json::Value list = json::Value::MakeArray();
  internal::PageCollector collector(page);
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    if (filter.scope != "Local") {
      RETURN_IF_ERROR(ListAwsPolicies(tx, account, filter, page, collector, list));
    }
    if (filter.scope != "AWS" && !collector.full()) {
      RETURN_IF_ERROR(ListLocalPolicies(tx, account, filter, page, collector, list));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Policies", std::move(list));
  collector.Finish(out);
  return out;
}

Result<json::Value> IamService::DeletePolicy(server::RequestContext& ctx, const json::Value& in) {
  std::string_view arn = in.get_string("PolicyArn");
  const std::string& account = ctx.principal().account_id;
  RETURN_IF_ERROR(internal::ModifiablePolicy(db_, ctx, "iam:DeletePolicy", arn).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto p, internal::FindPolicy(tx, account, arn));
    if (!p) return internal::NoSuchPolicy(arn);
    ASSIGN_OR_RETURN(Usage usage, UsageOf(tx, account, arn));
    if (usage.attachments > 0) {
      return Status::Modeled("DeleteConflictException",
                             "Cannot delete a policy attached to entities.");
    }
    if (usage.boundaries > 0) {
      return Status::Modeled("DeleteConflictException",
                             "Cannot delete a policy that is the permissions boundary of a user "
                             "or role.");
    }
    ASSIGN_OR_RETURN(int64_t versions,
                     internal::CountOf(tx,
                                       "SELECT COUNT(*) FROM iam_policy_versions WHERE "
                                       "policy_id = ?",
                                       {p->policy_id}));
    if (versions > 1) {
      return Status::Modeled("DeleteConflictException",
                             "This policy has more than one version. Before you delete a policy, "
                             "you must delete the policy's versions. The default version is "
                             "deleted with the policy.");
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

Result<json::Value> IamService::TagPolicy(server::RequestContext& ctx, const json::Value& in) {
  std::string_view arn = in.get_string("PolicyArn");
  ASSIGN_OR_RETURN(internal::TagList tags, internal::ReadTags(in));
  ASSIGN_OR_RETURN(PolicyRow p,
                   internal::ModifiablePolicy(db_, ctx, "iam:TagPolicy", arn, internal::RequestTagKeys(tags)));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto again, internal::FindPolicy(tx, ctx.principal().account_id, arn));
    if (!again) return internal::NoSuchPolicy(arn);
    return internal::PutTags(tx, p.policy_id, tags);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::UntagPolicy(server::RequestContext& ctx, const json::Value& in) {
  std::string_view arn = in.get_string("PolicyArn");
  std::vector<std::string> keys = internal::ReadTagKeys(in);
  ASSIGN_OR_RETURN(PolicyRow p,
                   internal::ModifiablePolicy(db_, ctx, "iam:UntagPolicy", arn, internal::TagKeysKey(keys)));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    return internal::RemoveTags(tx, p.policy_id, keys);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::ListPolicyTags(server::RequestContext& ctx, const json::Value& in) {
  std::string_view arn = in.get_string("PolicyArn");
  ASSIGN_OR_RETURN(PolicyRow p, internal::AuthorizedPolicy(db_, ctx, "iam:ListPolicyTags", arn));
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  internal::TagList tags;
  if (!p.aws_managed) {
    RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(tags, internal::LoadTags(tx, p.policy_id));
      return Status::Ok();
    }));
  }
  return internal::TagPageJson(std::move(tags), page);
}

}  // namespace rampart::iam
