// Versions of customer managed policies: CreatePolicyVersion,
// ListPolicyVersions, DeletePolicyVersion, SetDefaultPolicyVersion
// (IAM User Guide, "Versioning IAM policies"). A policy keeps at most five
// versions; version ids count up and are never reused; the default version
// is the one the authorizer evaluates, and it cannot be deleted on its own.
// Every successful change invalidates the policy cache (IamService::Register).
#include <algorithm>

#include "iam/iam_internal.h"
#include "rampart/iam/iam_service.h"
#include "rampart/iam/policy.h"

namespace rampart::iam {

using internal::PolicyRow;
using internal::VersionRow;

namespace internal {

Status InsertPolicyVersion(store::Tx& tx, std::string_view policy_id, std::string_view version_id,
                           std::string_view document, int64_t created_at) {
  ASSIGN_OR_RETURN(
      auto q,
      tx.Prepare("INSERT INTO iam_policy_versions (policy_id, version_id, document, created_at) "
                 "VALUES (?, ?, ?, ?)"));
  q->Bind(1, policy_id).Bind(2, version_id).Bind(3, document).Bind(4, created_at);
  return q->Run();
}

Result<std::optional<VersionRow>> FindPolicyVersion(store::Tx& tx, const PolicyRow& policy,
                                                    std::string_view version_id) {
  if (policy.aws_managed) {
    const AwsPolicy* aws = FindAwsPolicy(policy.arn);
    if (aws == nullptr || version_id != policy.default_version) return std::optional<VersionRow>();
    return std::optional<VersionRow>(
        VersionRow{policy.default_version, std::string(aws->document), policy.created_at});
  }
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT document, created_at FROM iam_policy_versions "
                                      "WHERE policy_id = ? AND version_id = ?"));
  q->Bind(1, policy.policy_id).Bind(2, version_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<VersionRow>();
  return std::optional<VersionRow>(VersionRow{std::string(version_id), q->Text(0), q->Int(1)});
}

Status NoSuchPolicyVersion(std::string_view arn, std::string_view version_id) {
  return Status::Modeled("NoSuchEntityException", "Policy " + std::string(arn) + " version " +
                                                      std::string(version_id) +
                                                      " does not exist or is not attachable.");
}

json::Value VersionJson(const VersionRow& v, const PolicyRow& policy) {
  json::Value out = json::Value::MakeObject();
  out.set("VersionId", v.version_id);
  out.set("IsDefaultVersion", v.version_id == policy.default_version);
  out.set("CreateDate", v.created_at);
  return out;
}

}  // namespace internal

namespace {

// IAM quota: five versions per managed policy.
constexpr int64_t kMaxVersions = 5;

// The number in "v<n>", 0 when the id has another shape.
int64_t VersionNumber(std::string_view id) {
  if (id.size() < 2 || id[0] != 'v' || id.size() > 12) return 0;
  int64_t n = 0;
  for (char c : id.substr(1)) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
  }
  return n;
}

Result<std::vector<VersionRow>> LoadVersions(store::Tx& tx, const PolicyRow& policy) {
  std::vector<VersionRow> versions;
  if (policy.aws_managed) {
    ASSIGN_OR_RETURN(auto v, internal::FindPolicyVersion(tx, policy, policy.default_version));
    if (v) versions.push_back(std::move(*v));
    return versions;
  }
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT version_id, document, created_at FROM "
                                      "iam_policy_versions WHERE policy_id = ?"));
  q->Bind(1, policy.policy_id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    versions.push_back(VersionRow{q->Text(0), q->Text(1), q->Int(2)});
  }
  // Newest first, as IAM lists them.
  std::sort(versions.begin(), versions.end(), [](const VersionRow& a, const VersionRow& b) {
    return VersionNumber(a.version_id) > VersionNumber(b.version_id);
  });
  return versions;
}

// Re-reads the policy inside a write (it may have gone since authorization).
Result<PolicyRow> RequirePolicy(store::Tx& tx, std::string_view account, std::string_view arn) {
  ASSIGN_OR_RETURN(auto p, internal::FindPolicy(tx, account, arn));
  if (!p) return internal::NoSuchPolicy(arn);
  return std::move(*p);
}

Status SetDefault(store::Tx& tx, std::string_view policy_id, std::string_view version_id,
                  int64_t now) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE iam_policies SET default_version = ?, "
                                      "updated_at = ? WHERE policy_id = ?"));
  q->Bind(1, version_id).Bind(2, now).Bind(3, policy_id);
  return q->Run();
}

}  // namespace

Result<json::Value> IamService::CreatePolicyVersion(server::RequestContext& ctx,
                                                    const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string arn(in.get_string("PolicyArn"));
  std::string_view document = in.get_string("PolicyDocument");
  const json::Value* set_default = in.find("SetAsDefault");
  bool make_default = set_default != nullptr && set_default->is_bool() && set_default->as_bool();
  RETURN_IF_ERROR(internal::ModifiablePolicy(db_, ctx, "iam:CreatePolicyVersion", arn).status());
  RETURN_IF_ERROR(CheckPolicySize(document, PolicySizeKind::kManaged));
  RETURN_IF_ERROR(CompilePolicy(document, PolicyKind::kIdentity, arn).status());
  VersionRow created;
  created.created_at = internal::NowSeconds(ctx);
  PolicyRow policy;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(policy, RequirePolicy(tx, account, arn));
    ASSIGN_OR_RETURN(int64_t count,
                     internal::CountOf(tx,
                                       "SELECT COUNT(*) FROM iam_policy_versions WHERE "
                                       "policy_id = ?",
                                       {policy.policy_id}));
    if (count >= kMaxVersions) {
      return Status::Modeled("LimitExceededException",
                             "A managed policy can have up to 5 versions. Before you create a new "
                             "version, you must delete an existing version.");
    }
    ASSIGN_OR_RETURN(int64_t next,
                     internal::CountOf(tx, "SELECT next_version FROM iam_policies WHERE policy_id = ?",
                                       {policy.policy_id}));
    created.version_id = "v" + std::to_string(next);
    RETURN_IF_ERROR(internal::InsertPolicyVersion(tx, policy.policy_id, created.version_id,
                                                  document, created.created_at));
    ASSIGN_OR_RETURN(auto bump, tx.Prepare("UPDATE iam_policies SET next_version = ? "
                                           "WHERE policy_id = ?"));
    bump->Bind(1, next + 1).Bind(2, policy.policy_id);
    RETURN_IF_ERROR(bump->Run());
    if (!make_default) return Status::Ok();
    policy.default_version = created.version_id;
    return SetDefault(tx, policy.policy_id, created.version_id, created.created_at);
  }));
  json::Value out = json::Value::MakeObject();
  out.set("PolicyVersion", internal::VersionJson(created, policy));
  return out;
}

Result<json::Value> IamService::ListPolicyVersions(server::RequestContext& ctx,
                                                   const json::Value& in) {
  std::string arn(in.get_string("PolicyArn"));
  ASSIGN_OR_RETURN(PolicyRow policy,
                   internal::AuthorizedPolicy(db_, ctx, "iam:ListPolicyVersions", arn));
  ASSIGN_OR_RETURN(internal::Page page, internal::ReadPage(in));
  std::vector<VersionRow> versions;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(versions, LoadVersions(tx, policy));
    return Status::Ok();
  }));
  // Newest first: the marker is the version id to resume at.
  auto it = versions.begin();
  if (!page.start.empty()) {
    it = std::find_if(versions.begin(), versions.end(),
                      [&](const VersionRow& v) { return v.version_id == page.start; });
  }
  json::Value list = json::Value::MakeArray();
  std::string next;
  for (int64_t n = 0; it != versions.end(); ++it, ++n) {
    if (n == page.max_items) {
      next = it->version_id;
      break;
    }
    list.push(internal::VersionJson(*it, policy));
  }
  json::Value out = json::Value::MakeObject();
  out.set("Versions", std::move(list));
  internal::SetPage(out, !next.empty(), next);
  return out;
}

Result<json::Value> IamService::DeletePolicyVersion(server::RequestContext& ctx,
                                                    const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string arn(in.get_string("PolicyArn"));
  std::string version(in.get_string("VersionId"));
  RETURN_IF_ERROR(internal::ModifiablePolicy(db_, ctx, "iam:DeletePolicyVersion", arn).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(PolicyRow policy, RequirePolicy(tx, account, arn));
    ASSIGN_OR_RETURN(auto found, internal::FindPolicyVersion(tx, policy, version));
    if (!found) return internal::NoSuchPolicyVersion(arn, version);
    if (version == policy.default_version) {
      return Status::Modeled("DeleteConflictException",
                             "Cannot delete the default version of a policy.");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_policy_versions WHERE policy_id = ? "
                                        "AND version_id = ?"));
    q->Bind(1, policy.policy_id).Bind(2, version);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> IamService::SetDefaultPolicyVersion(server::RequestContext& ctx,
                                                        const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string arn(in.get_string("PolicyArn"));
  std::string version(in.get_string("VersionId"));
  RETURN_IF_ERROR(
      internal::ModifiablePolicy(db_, ctx, "iam:SetDefaultPolicyVersion", arn).status());
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(PolicyRow policy, RequirePolicy(tx, account, arn));
    ASSIGN_OR_RETURN(auto found, internal::FindPolicyVersion(tx, policy, version));
    if (!found) return internal::NoSuchPolicyVersion(arn, version);
    return SetDefault(tx, policy.policy_id, version, internal::NowSeconds(ctx));
  }));
  return json::Value::MakeObject();
}

}  // namespace rampart::iam
