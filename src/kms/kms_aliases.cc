// Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.
//
// An alias is "alias/<name>" in one account and region and points at one
// key. Names under alias/aws/ are reserved for AWS managed keys. Changing
// an alias needs permission on the alias (identity policy) and on each key
// involved (key policy), as in AWS KMS ("Controlling access to aliases").
#include <algorithm>
#include <cctype>

#include "kms/kms_internal.h"

namespace rampart::kms::internal {
namespace {

constexpr std::string_view kPrefix = "alias/";
constexpr std::string_view kReserved = "alias/aws/";

bool IsAliasChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-';
}

Status CheckAliasName(std::string_view name) {
  if (!name.starts_with(kPrefix)) {
    return Status::Validation("Alias must start with the prefix \"alias/\".");
  }
  if (name.size() == kPrefix.size() || name.size() > 256 ||
      !std::all_of(name.begin(), name.end(), IsAliasChar)) {
    return Status::Validation(std::string(name) + " contains invalid characters for an alias");
  }
  if (name.starts_with(kReserved)) {
    return Status::Error(ErrorCode::kAccessDenied,
                         "Alias names that begin with alias/aws/ are reserved for AWS managed "
                         "keys.");
  }
  return Status::Ok();
}

struct AliasRow {
  std::string name;
  std::string key_id;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

Result<std::optional<AliasRow>> FindAlias(store::Tx& tx, std::string_view account,
                                          std::string_view region, std::string_view name) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT alias_name, key_id, created_at, updated_at FROM "
                                      "kms_aliases WHERE account_id = ? AND region = ? AND "
                                      "alias_name = ?"));
  q->Bind(1, account).Bind(2, region).Bind(3, name);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<AliasRow>();
  return std::optional<AliasRow>(AliasRow{q->Text(0), q->Text(1), q->Int(2), q->Int(3)});
}

Status AliasNotFound(const server::RequestContext& ctx, std::string_view name) {
  return Status::Modeled("NotFoundException",
                         "Alias '" + AliasArn(ctx.region(), ctx.principal().account_id, name) +
                             "' is not found.");
}

// The target of CreateAlias/UpdateAlias: a key id or key ARN of the
// caller's account, authorized for action and not pending deletion.
Result<KeyPtr> TargetKey(Kms& kms, const server::RequestContext& ctx, const json::Value& in,
                         std::string_view action) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("TargetKeyId"), false));
  if (key->row.account_id != ctx.principal().account_id) {
    return KeyNotFound(key->arn);
  }
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, action));
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  return key;
}

Result<json::Value> CreateAlias(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  std::string name(in.get_string("AliasName"));
  RETURN_IF_ERROR(CheckAliasName(name));
  const std::string& account = ctx.principal().account_id;
  std::string arn = AliasArn(ctx.region(), account, name);
  RETURN_IF_ERROR(ctx.Authorize("kms:CreateAlias", arn));
  ASSIGN_OR_RETURN(KeyPtr key, TargetKey(kms, ctx, in, "kms:CreateAlias"));
  const int64_t now = NowSeconds(ctx);
  RETURN_IF_ERROR(kms.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, FindAlias(tx, account, ctx.region(), name));
    if (existing) {
      return Status::Modeled("AlreadyExistsException",
                             "An alias with the name " + arn + " already exists");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO kms_aliases (account_id, region, alias_name, "
                                        "key_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"));
    q->Bind(1, account).Bind(2, ctx.region()).Bind(3, name).Bind(4, key->row.key_id);
    q->Bind(5, now).Bind(6, now);
    return q->Run();
  }));
  kms.cache.Invalidate(key->row.key_id);  // its kms:ResourceAliases changed
  kms.aliases.InvalidateAll();
  return json::Value::MakeObject();
}

// Reads the alias and authorizes action on it and on the key it names.
Result<AliasRow> AuthorizedAlias(Kms& kms, const server::RequestContext& ctx,
                                 std::string_view name, std::string_view action) {
  RETURN_IF_ERROR(CheckAliasName(name));
  RETURN_IF_ERROR(ctx.Authorize(action, AliasArn(ctx.region(), ctx.principal().account_id, name)));
  std::optional<AliasRow> alias;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(alias, FindAlias(tx, ctx.principal().account_id, ctx.region(), name));
    return Status::Ok();
  }));
  if (!alias) return AliasNotFound(ctx, name);
  ASSIGN_OR_RETURN(KeyPtr current, LoadKey(kms, ctx, alias->key_id));
  if (current) RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *current, action));
  return std::move(*alias);
}

Result<json::Value> UpdateAlias(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  std::string name(in.get_string("AliasName"));
  ASSIGN_OR_RETURN(AliasRow alias, AuthorizedAlias(kms, ctx, name, "kms:UpdateAlias"));
  ASSIGN_OR_RETURN(KeyPtr key, TargetKey(kms, ctx, in, "kms:UpdateAlias"));
  const int64_t now = NowSeconds(ctx);
  RETURN_IF_ERROR(kms.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE kms_aliases SET key_id = ?, updated_at = ? WHERE "
                                        "account_id = ? AND region = ? AND alias_name = ?"));
    q->Bind(1, key->row.key_id).Bind(2, now).Bind(3, ctx.principal().account_id);
    q->Bind(4, ctx.region()).Bind(5, name);
    RETURN_IF_ERROR(q->Run());
    if (q->Changes() == 0) return AliasNotFound(ctx, name);
    return Status::Ok();
  }));
  kms.cache.Invalidate(alias.key_id);
  kms.cache.Invalidate(key->row.key_id);
  kms.aliases.InvalidateAll();
  return json::Value::MakeObject();
}

Result<json::Value> DeleteAlias(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  std::string name(in.get_string("AliasName"));
  ASSIGN_OR_RETURN(AliasRow alias, AuthorizedAlias(kms, ctx, name, "kms:DeleteAlias"));
  RETURN_IF_ERROR(kms.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM kms_aliases WHERE account_id = ? AND "
                                        "region = ? AND alias_name = ?"));
    q->Bind(1, ctx.principal().account_id).Bind(2, ctx.region()).Bind(3, name);
    return q->Run();
  }));
  kms.cache.Invalidate(alias.key_id);
  kms.aliases.InvalidateAll();
  return json::Value::MakeObject();
}

Result<json::Value> ListAliases(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  std::string key_filter;
  if (std::string_view key_input = in.get_string("KeyId"); !key_input.empty()) {
    ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, key_input, false));
    RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:ListAliases"));
    key_filter = key->row.key_id;
  } else {
    RETURN_IF_ERROR(ctx.Authorize("kms:ListAliases", "*"));
  }
  int64_t limit = 100;
  if (const json::Value* l = in.find("Limit"); l != nullptr && l->is_int()) limit = l->as_int();
  std::string marker(in.get_string("Marker"));
  if (!marker.empty() && !marker.starts_with(kPrefix)) {
    return Status::Modeled("InvalidMarkerException", "Invalid marker.");
  }
  std::vector<AliasRow> rows;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(
                                 "SELECT alias_name, key_id, created_at, updated_at FROM "
                                 "kms_aliases WHERE account_id = ? AND region = ? AND "
                                 "alias_name >= ? AND (? = '' OR key_id = ?) ORDER BY alias_name "
                                 "LIMIT ?"));
    q->Bind(1, ctx.principal().account_id).Bind(2, ctx.region()).Bind(3, marker);
    q->Bind(4, key_filter).Bind(5, key_filter).Bind(6, limit + 1);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return Status::Ok();
      rows.push_back(AliasRow{q->Text(0), q->Text(1), q->Int(2), q->Int(3)});
    }
  }));
  bool truncated = static_cast<int64_t>(rows.size()) > limit;
  std::string next = truncated ? rows.back().name : std::string();
  if (truncated) rows.pop_back();
  json::Value list = json::Value::MakeArray();
  for (const AliasRow& a : rows) {
    json::Value e = json::Value::MakeObject();
    e.set("AliasName", a.name);
    e.set("AliasArn", AliasArn(ctx.region(), ctx.principal().account_id, a.name));
    e.set("TargetKeyId", a.key_id);
    e.set("CreationDate", a.created_at);
    e.set("LastUpdatedDate", a.updated_at);
    list.push(std::move(e));
  }
  json::Value out = json::Value::MakeObject();
  out.set("Aliases", std::move(list));
  out.set("Truncated", truncated);
  if (truncated) out.set("NextMarker", next);
  return out;
}

}  // namespace

std::vector<Binding> AliasBindings() {
  return {{"CreateAlias", CreateAlias},
          {"UpdateAlias", UpdateAlias},
          {"DeleteAlias", DeleteAlias},
          {"ListAliases", ListAliases}};
}

}  // namespace rampart::kms::internal
