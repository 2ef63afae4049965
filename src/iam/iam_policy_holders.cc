// Inline policies and managed-policy attachments of users, groups and
// roles: one implementation, parameterised by HolderKind (iam_internal.h).
#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/iam/policy.h"

namespace rampart::iam::internal {
namespace {

// IAM quota: at most 10 managed policies attached to a user or a role.
constexpr int64_t kManagedPoliciesPerHolder = 10;

std::string Action(std::string_view verb, const HolderKind& kind, std::string_view tail) {
  return "iam:" + std::string(verb) + std::string(kind.title) + std::string(tail);
}

// iam:PolicyARN, which AWS supplies on the attach and detach actions.
std::vector<server::ConditionKey> PolicyArnKey(std::string_view arn) {
  return {server::ConditionKey{"iam:PolicyARN", {std::string(arn)}}};
}

// The policy's name: the last part of its ARN.
std::string PolicyNameOf(std::string_view arn) {
  size_t slash = arn.rfind('/');
  return std::string(slash == std::string_view::npos ? arn : arn.substr(slash + 1));
}

std::string NameOf(const HolderKind& kind, const json::Value& in) {
  return std::string(in.get_string(std::string(kind.title) + "Name"));
}

std::string Sql(std::string_view a, std::string_view table, std::string_view b,
                const HolderKind& kind, std::string_view c = {}) {
  return std::string(a) + std::string(table) + std::string(b) + std::string(kind.id_column) +
         std::string(c);
}

Status NoSuchInlinePolicy(const HolderKind& kind, std::string_view name) {
  return Status::Modeled("NoSuchEntityException", "The " + std::string(kind.noun) +
                                                      " policy with name " + std::string(name) +
                                                      " cannot be found.");
}

// The other inline policies of the holder plus this one must fit the quota.
Status CheckInlineTotal(store::Tx& tx, const HolderKind& kind, const Holder& holder,
                        std::string_view policy_name, std::string_view document) {
  ASSIGN_OR_RETURN(auto others, tx.Prepare(Sql("SELECT document FROM ", kind.inline_table,
                                               " WHERE ", kind, " = ? AND policy_name <> ?")));
  others->Bind(1, holder.id).Bind(2, policy_name);
  size_t total = PolicyCharacterCount(document);
  while (true) {
    ASSIGN_OR_RETURN(bool row, others->Step());
    if (!row) break;
    total += PolicyCharacterCount(others->Text(0));
  }
  size_t limit = PolicySizeLimit(kind.inline_size);
  if (total <= limit) return Status::Ok();
  return Status::Modeled("LimitExceededException",
                         "Maximum policy size of " + std::to_string(limit) +
                             " bytes exceeded for " + std::string(kind.noun) + " " + holder.name);
}

}  // namespace

Status InsertInlinePolicy(store::Tx& tx, const HolderKind& kind, std::string_view holder_id,
                          std::string_view policy_name, std::string_view document) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(Sql("INSERT INTO ", kind.inline_table, " (", kind,
                                          ", policy_name, document) VALUES (?, ?, ?) "
                                          "ON CONFLICT (" +
                                              std::string(kind.id_column) +
                                              ", policy_name) DO UPDATE SET "
                                              "document = excluded.document")));
  q->Bind(1, holder_id).Bind(2, policy_name).Bind(3, document);
  return q->Run();
}

Result<json::Value> PutInlinePolicy(store::Database& db, const HolderKind& kind,
                                    server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string holder_name = NameOf(kind, in);
  std::string policy_name(in.get_string("PolicyName"));
  std::string_view document = in.get_string("PolicyDocument");
  RETURN_IF_ERROR(kind.authorized(db, ctx, Action("Put", kind, "Policy"), holder_name, {}).status());
  RETURN_IF_ERROR(CheckPolicySize(document, kind.inline_size));
  RETURN_IF_ERROR(CompilePolicy(document, PolicyKind::kIdentity, policy_name).status());
  RETURN_IF_ERROR(db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(Holder holder, kind.require(tx, account, holder_name));
    RETURN_IF_ERROR(CheckInlineTotal(tx, kind, holder, policy_name, document));
    return InsertInlinePolicy(tx, kind, holder.id, policy_name, document);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> GetInlinePolicy(store::Database& db, const HolderKind& kind,
                                    server::RequestContext& ctx, const json::Value& in) {
  std::string policy_name(in.get_string("PolicyName"));
  ASSIGN_OR_RETURN(Holder holder,
                   kind.authorized(db, ctx, Action("Get", kind, "Policy"), NameOf(kind, in), {}));
  std::optional<std::string> document;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(Sql("SELECT document FROM ", kind.inline_table, " WHERE ",
                                            kind, " = ? AND policy_name = ?")));
    q->Bind(1, holder.id).Bind(2, policy_name);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) document = q->Text(0);
    return Status::Ok();
  }));
  if (!document) return NoSuchInlinePolicy(kind, policy_name);
  json::Value out = json::Value::MakeObject();
  out.set(std::string(kind.title) + "Name", holder.name);
  out.set("PolicyName", policy_name);
  // IAM returns documents URL-encoded (RFC 3986); SDKs decode them.
  out.set("PolicyDocument", UriEncode(*document));
  return out;
}

Result<json::Value> ListInlinePolicies(store::Database& db, const HolderKind& kind,
                                       server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(Holder holder,
                   kind.authorized(db, ctx, Action("List", kind, "Policies"), NameOf(kind, in), {}));
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  json::Value names = json::Value::MakeArray();
  PageCollector collector(page);
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(Sql("SELECT policy_name FROM ", kind.inline_table,
                                            " WHERE ", kind,
                                            " = ? AND policy_name >= ? "
                                            "ORDER BY policy_name LIMIT ?")));
    q->Bind(1, holder.id).Bind(2, page.start).Bind(3, page.max_items + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row || !collector.Take(q->Text(0))) break;
      names.push(q->Text(0));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("PolicyNames", std::move(names));
  collector.Finish(out);
  return out;
}

Result<json::Value> DeleteInlinePolicy(store::Database& db, const HolderKind& kind,
                                       server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string holder_name = NameOf(kind, in);
  std::string policy_name(in.get_string("PolicyName"));
  RETURN_IF_ERROR(
      kind.authorized(db, ctx, Action("Delete", kind, "Policy"), holder_name, {}).status());
  RETURN_IF_ERROR(db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(Holder holder, kind.require(tx, account, holder_name));
    ASSIGN_OR_RETURN(auto q, tx.Prepare(Sql("DELETE FROM ", kind.inline_table, " WHERE ", kind,
                                            " = ? AND policy_name = ?")));
    q->Bind(1, holder.id).Bind(2, policy_name);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchInlinePolicy(kind, policy_name) : Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> AttachManagedPolicy(store::Database& db, const HolderKind& kind,
                                        server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string holder_name = NameOf(kind, in);
  std::string arn(in.get_string("PolicyArn"));
  RETURN_IF_ERROR(
      kind.authorized(db, ctx, Action("Attach", kind, "Policy"), holder_name, PolicyArnKey(arn)).status());
  RETURN_IF_ERROR(db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(Holder holder, kind.require(tx, account, holder_name));
    ASSIGN_OR_RETURN(auto policy, FindPolicy(tx, account, arn));
    if (!policy) return NoSuchPolicy(arn);
    std::string count = Sql("SELECT COUNT(*) FROM ", kind.attach_table, " WHERE ", kind, " = ?");
    ASSIGN_OR_RETURN(int64_t same, CountOf(tx, count + " AND policy_arn = ?", {holder.id, arn}));
    if (same > 0) return Status::Ok();
    ASSIGN_OR_RETURN(int64_t n, CountOf(tx, count, {holder.id}));
    if (n >= kManagedPoliciesPerHolder) {
      return Status::Modeled("LimitExceededException", "Cannot exceed quota for PoliciesPer" +
                                                           std::string(kind.title) + ": 10");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare(Sql("INSERT INTO ", kind.attach_table, " (", kind,
                                            ", policy_arn) VALUES (?, ?)")));
    q->Bind(1, holder.id).Bind(2, arn);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> DetachManagedPolicy(store::Database& db, const HolderKind& kind,
                                        server::RequestContext& ctx, const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string holder_name = NameOf(kind, in);
  std::string arn(in.get_string("PolicyArn"));
  RETURN_IF_ERROR(
      kind.authorized(db, ctx, Action("Detach", kind, "Policy"), holder_name, PolicyArnKey(arn)).status());
  RETURN_IF_ERROR(db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(Holder holder, kind.require(tx, account, holder_name));
    ASSIGN_OR_RETURN(auto q, tx.Prepare(Sql("DELETE FROM ", kind.attach_table, " WHERE ", kind,
                                            " = ? AND policy_arn = ?")));
    q->Bind(1, holder.id).Bind(2, arn);
    RETURN_IF_ERROR(q->Run());
    if (q->Changes() > 0) return Status::Ok();
    return Status::Modeled("NoSuchEntityException", "Policy " + arn + " was not found.");
  }));
  return json::Value::MakeObject();
}

Result<json::Value> ListAttachedPolicies(store::Database& db, const HolderKind& kind,
                                         server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(Holder holder, kind.authorized(db, ctx, Action("ListAttached", kind, "Policies"), NameOf(kind, in), {}));
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  std::string prefix(in.get_string("PathPrefix"));
  if (prefix.empty()) prefix = "/";
  json::Value list = json::Value::MakeArray();
  PageCollector collector(page);
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    // AWS managed policies have no row in iam_policies; their path is "/".
    ASSIGN_OR_RETURN(auto q, tx.Prepare(Sql("SELECT a.policy_arn FROM ", kind.attach_table,
                                            " a LEFT JOIN iam_policies p ON p.arn = a.policy_arn "
                                            "WHERE a.",
                                            kind,
                                            " = ? AND a.policy_arn >= ? AND "
                                            "substr(coalesce(p.path, '/'), 1, ?) = ? "
                                            "ORDER BY a.policy_arn LIMIT ?")));
    q->Bind(1, holder.id).Bind(2, page.start).Bind(3, static_cast<int64_t>(prefix.size()));
    q->Bind(4, prefix).Bind(5, page.max_items + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row || !collector.Take(q->Text(0))) break;
      json::Value a = json::Value::MakeObject();
      a.set("PolicyName", PolicyNameOf(q->Text(0)));
      a.set("PolicyArn", q->Text(0));
      list.push(std::move(a));
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("AttachedPolicies", std::move(list));
  collector.Finish(out);
  return out;
}

}  // namespace rampart::iam::internal
