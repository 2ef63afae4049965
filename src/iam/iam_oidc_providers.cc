// IAM OpenID Connect identity providers: CreateOpenIDConnectProvider,
// GetOpenIDConnectProvider, ListOpenIDConnectProviders,
// DeleteOpenIDConnectProvider, Add/RemoveClientIDTo/FromOpenIDConnectProvider,
// UpdateOpenIDConnectProviderThumbprint and the tag calls.
//
// A provider is named by its issuer URL without the https:// scheme, which
// also forms its ARN (arn:aws:iam::<acct>:oidc-provider/<host/path>). Its
// tags are keyed by that ARN. STS's AssumeRoleWithWebIdentity finds
// providers through FindOidcProvider (sts_web_identity.cc).
#include <algorithm>
#include <cctype>

#include "iam/iam_internal.h"

namespace rampart::iam::internal {
namespace {

// IAM quotas: providers per account, client IDs and thumbprints per
// provider.
constexpr int64_t kProvidersPerAccount = 100;
constexpr size_t kClientIdsPerProvider = 100;
constexpr size_t kThumbprintsPerProvider = 5;
constexpr std::string_view kScheme = "https://";

struct ProviderRow {
  std::string arn;
  std::string url;  // without the scheme
  std::vector<std::string> client_ids;
  std::vector<std::string> thumbprints;
  int64_t created_at = 0;
};

Status InvalidInput(std::string message) {
  return Status::Modeled("InvalidInputException", std::move(message));
}

Status NoSuchProvider(std::string_view arn) {
  return Status::Modeled("NoSuchEntityException",
                         "OpenIDConnect Provider not found for arn " + std::string(arn));
}

std::vector<std::string> StringList(const json::Value* list) {
  std::vector<std::string> out;
  if (list == nullptr || !list->is_array()) return out;
  for (const json::Value& v : list->as_array()) {
    if (v.is_string()) out.emplace_back(v.as_string());
  }
  return out;
}

json::Value ListJson(const std::vector<std::string>& values) {
  json::Value a = json::Value::MakeArray();
  for (const std::string& v : values) a.push(v);
  return a;
}

std::vector<std::string> ParseList(std::string_view text) {
  auto parsed = json::Parse(text);
  return parsed.ok() ? StringList(&*parsed) : std::vector<std::string>{};
}

// Removes repeated entries, keeping the first of each.
void Dedupe(std::vector<std::string>& values) {
  std::vector<std::string> seen;
  for (std::string& v : values) {
    if (std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(std::move(v));
  }
  values = std::move(seen);
}

}  // namespace

// The issuer URL as stored: the https:// scheme removed, InvalidInput for
// anything that is not an https URL with a host (no query, fragment or
// user info, as an OIDC issuer has none).
Result<std::string> OidcProviderUrl(std::string_view url) {
  if (url.size() < kScheme.size() || NameKey(url.substr(0, kScheme.size())) != kScheme) {
    return InvalidInput("Invalid Url: the URL of an OpenID Connect provider must begin with "
                        "https://");
  }
  std::string rest(url.substr(kScheme.size()));
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string_view host = std::string_view(rest).substr(0, rest.find('/'));
  if (host.empty() || rest.find_first_of("?#@ ") != std::string::npos) {
    return InvalidInput("Invalid Url: " + std::string(url));
  }
  for (char c : rest) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return InvalidInput("Invalid Url: " + std::string(url));
    }
  }
  return rest;
}

// A thumbprint is the hex SHA-1 of a certificate: exactly 40 hex digits.
Status CheckThumbprints(const std::vector<std::string>& thumbprints) {
  if (thumbprints.size() > kThumbprintsPerProvider) {
    return Status::Modeled("LimitExceededException",
                           "Thumbprint list must contain fewer than " +
                               std::to_string(kThumbprintsPerProvider + 1) + " entries.");
  }
  for (const std::string& t : thumbprints) {
    bool hex = t.size() == 40 && std::all_of(t.begin(), t.end(), [](unsigned char c) {
                 return std::isxdigit(c) != 0;
               });
    if (!hex) return InvalidInput("Thumbprint " + t + " is not 40 hexadecimal characters.");
  }
  return Status::Ok();
}

Status CheckClientIds(const std::vector<std::string>& client_ids) {
  if (client_ids.size() > kClientIdsPerProvider) {
    return Status::Modeled("LimitExceededException",
                           "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: " +
                               std::to_string(kClientIdsPerProvider));
  }
  for (const std::string& id : client_ids) {
    if (id.empty() || id.size() > 255) {
      return InvalidInput("Client ID must be between 1 and 255 characters long.");
    }
  }
  return Status::Ok();
}

namespace {

Result<std::optional<ProviderRow>> FindProvider(store::Tx& tx, std::string_view account,
                                                std::string_view arn) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT arn, url, client_ids, thumbprints, created_at FROM "
                                      "iam_oidc_providers WHERE account_id = ? AND arn = ?"));
  q->Bind(1, account).Bind(2, arn);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<ProviderRow>();
  return std::optional<ProviderRow>(ProviderRow{q->Text(0), q->Text(1), ParseList(q->Text(2)),
                                                ParseList(q->Text(3)), q->Int(4)});
}

Result<ProviderRow> RequireProvider(store::Tx& tx, std::string_view account,
                                    std::string_view arn) {
  ASSIGN_OR_RETURN(auto p, FindProvider(tx, account, arn));
  if (!p) return NoSuchProvider(arn);
  return std::move(*p);
}

// Reads the provider, then authorizes action on its ARN with keys plus its
// tags as aws:ResourceTag/* and iam:ResourceTag/*. The provider (nullopt
// when it does not exist) or AccessDenied.
Result<std::optional<ProviderRow>> AuthorizedProvider(store::Database& db,
                                                      const server::RequestContext& ctx,
                                                      std::string_view action,
                                                      std::string_view arn,
                                                      std::vector<server::ConditionKey> keys = {}) {
  std::optional<ProviderRow> provider;
  TagList tags;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(provider, FindProvider(tx, ctx.principal().account_id, arn));
    if (!provider) return Status::Ok();
    ASSIGN_OR_RETURN(tags, LoadTags(tx, provider->arn));
    return Status::Ok();
  }));
  AddIamResourceTagKeys(tags, keys);
  RETURN_IF_ERROR(ctx.Authorize(action, arn, keys));
  return provider;
}

// The same, NoSuchEntity when the provider does not exist.
Result<ProviderRow> ExistingProvider(store::Database& db, const server::RequestContext& ctx,
                                     std::string_view action, std::string_view arn,
                                     std::vector<server::ConditionKey> keys = {}) {
  ASSIGN_OR_RETURN(auto provider, AuthorizedProvider(db, ctx, action, arn, std::move(keys)));
  if (!provider) return NoSuchProvider(arn);
  return std::move(*provider);
}

Status StoreLists(store::Tx& tx, const ProviderRow& p) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE iam_oidc_providers SET client_ids = ?, "
                                      "thumbprints = ? WHERE arn = ?"));
  std::string ids = json::Write(ListJson(p.client_ids));
  std::string prints = json::Write(ListJson(p.thumbprints));
  q->Bind(1, ids).Bind(2, prints).Bind(3, p.arn);
  return q->Run();
}

std::string ArnOf(const json::Value& in) {
  return std::string(in.get_string("OpenIDConnectProviderArn"));
}

// Applies change to the provider's lists inside one write.
template <typename Change>
Status ChangeProvider(store::Database& db, std::string_view account, std::string_view arn,
                      Change change) {
  return db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(ProviderRow p, RequireProvider(tx, account, arn));
    RETURN_IF_ERROR(change(p));
    return StoreLists(tx, p);
  });
}

}  // namespace

Result<std::optional<OidcProviderInfo>> FindOidcProvider(store::Tx& tx, std::string_view account,
                                                         std::string_view url) {
  ASSIGN_OR_RETURN(auto row, FindProvider(tx, account, IamArn(account, "oidc-provider/", "", url)));
  if (!row) return std::optional<OidcProviderInfo>();
  return std::optional<OidcProviderInfo>(OidcProviderInfo{
      std::move(row->arn), std::move(row->url), std::move(row->client_ids),
      std::move(row->thumbprints)});
}

Result<json::Value> CreateOpenIDConnectProvider(const IamDeps& deps, server::RequestContext& ctx,
                                                const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  ProviderRow p;
  ASSIGN_OR_RETURN(p.url, OidcProviderUrl(in.get_string("Url")));
  p.arn = IamArn(account, "oidc-provider/", "", p.url);
  p.client_ids = StringList(in.find("ClientIDList"));
  p.thumbprints = StringList(in.find("ThumbprintList"));
  Dedupe(p.client_ids);
  Dedupe(p.thumbprints);
  p.created_at = NowSeconds(ctx);
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  RETURN_IF_ERROR(ctx.Authorize("iam:CreateOpenIDConnectProvider", p.arn, RequestTagKeys(tags)));
  RETURN_IF_ERROR(CheckClientIds(p.client_ids));
  RETURN_IF_ERROR(CheckThumbprints(p.thumbprints));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, FindProvider(tx, account, p.arn));
    if (existing) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "Provider with url https://" + p.url + " already exists.");
    }
    ASSIGN_OR_RETURN(int64_t n,
                     CountOf(tx, "SELECT COUNT(*) FROM iam_oidc_providers WHERE account_id = ?",
                             {account}));
    if (n >= kProvidersPerAccount) {
      return Status::Modeled("LimitExceededException",
                             "Cannot exceed quota for OpenIdConnectProvidersPerAccount: " +
                                 std::to_string(kProvidersPerAccount));
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO iam_oidc_providers (account_id, arn, url, "
                                        "client_ids, thumbprints, created_at) VALUES (?, ?, ?, "
                                        "'[]', '[]', ?)"));
    q->Bind(1, account).Bind(2, p.arn).Bind(3, p.url).Bind(4, p.created_at);
    RETURN_IF_ERROR(q->Run());
    RETURN_IF_ERROR(StoreLists(tx, p));
    return PutTags(tx, p.arn, tags);
  }));
  json::Value out = json::Value::MakeObject();
  out.set("OpenIDConnectProviderArn", p.arn);
  if (!tags.empty()) out.set("Tags", TagsJson(tags));
  return out;
}

Result<json::Value> GetOpenIDConnectProvider(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in) {
  std::string arn = ArnOf(in);
  ASSIGN_OR_RETURN(ProviderRow p,
                   ExistingProvider(deps.db, ctx, "iam:GetOpenIDConnectProvider", arn));
  TagList tags;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, LoadTags(tx, p.arn));
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Url", p.url);
  out.set("ClientIDList", ListJson(p.client_ids));
  out.set("ThumbprintList", ListJson(p.thumbprints));
  out.set("CreateDate", p.created_at);
  if (!tags.empty()) out.set("Tags", TagsJson(tags));
  return out;
}

Result<json::Value> ListOpenIDConnectProviders(const IamDeps& deps, server::RequestContext& ctx,
                                               const json::Value&) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListOpenIDConnectProviders", "*"));
  json::Value list = json::Value::MakeArray();
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT arn FROM iam_oidc_providers WHERE account_id = ? "
                                        "ORDER BY arn"));
    q->Bind(1, ctx.principal().account_id);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return Status::Ok();
      json::Value e = json::Value::MakeObject();
      e.set("Arn", q->Text(0));
      list.push(std::move(e));
    }
  }));
  json::Value out = json::Value::MakeObject();
  out.set("OpenIDConnectProviderList", std::move(list));
  return out;
}

Result<json::Value> DeleteOpenIDConnectProvider(const IamDeps& deps, server::RequestContext& ctx,
                                                const json::Value& in) {
  std::string arn = ArnOf(in);
  // Idempotent as on AWS: deleting a provider that is not there succeeds.
  RETURN_IF_ERROR(
      AuthorizedProvider(deps.db, ctx, "iam:DeleteOpenIDConnectProvider", arn).status());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_oidc_providers WHERE account_id = ? "
                                        "AND arn = ?"));
    q->Bind(1, ctx.principal().account_id).Bind(2, arn);
    RETURN_IF_ERROR(q->Run());
    if (q->Changes() == 0) return Status::Ok();
    return DeleteTags(tx, arn);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> AddClientIDToOpenIDConnectProvider(const IamDeps& deps,
                                                       server::RequestContext& ctx,
                                                       const json::Value& in) {
  std::string arn = ArnOf(in);
  std::string client_id(in.get_string("ClientID"));
  RETURN_IF_ERROR(
      ExistingProvider(deps.db, ctx, "iam:AddClientIDToOpenIDConnectProvider", arn).status());
  RETURN_IF_ERROR(CheckClientIds({client_id}));
  RETURN_IF_ERROR(ChangeProvider(deps.db, ctx.principal().account_id, arn,
                                 [&](ProviderRow& p) -> Status {
                                   auto& ids = p.client_ids;
                                   if (std::find(ids.begin(), ids.end(), client_id) != ids.end()) {
                                     return Status::Ok();  // already there: idempotent
                                   }
                                   ids.push_back(client_id);
                                   return CheckClientIds(ids);
                                 }));
  return json::Value::MakeObject();
}

Result<json::Value> RemoveClientIDFromOpenIDConnectProvider(const IamDeps& deps,
                                                            server::RequestContext& ctx,
                                                            const json::Value& in) {
  std::string arn = ArnOf(in);
  std::string client_id(in.get_string("ClientID"));
  RETURN_IF_ERROR(
      ExistingProvider(deps.db, ctx, "iam:RemoveClientIDFromOpenIDConnectProvider", arn)
          .status());
  RETURN_IF_ERROR(ChangeProvider(deps.db, ctx.principal().account_id, arn,
                                 [&](ProviderRow& p) -> Status {
                                   std::erase(p.client_ids, client_id);
                                   return Status::Ok();
                                 }));
  return json::Value::MakeObject();
}

Result<json::Value> UpdateOpenIDConnectProviderThumbprint(const IamDeps& deps,
                                                          server::RequestContext& ctx,
                                                          const json::Value& in) {
  std::string arn = ArnOf(in);
  std::vector<std::string> thumbprints = StringList(in.find("ThumbprintList"));
  Dedupe(thumbprints);
  RETURN_IF_ERROR(
      ExistingProvider(deps.db, ctx, "iam:UpdateOpenIDConnectProviderThumbprint", arn).status());
  RETURN_IF_ERROR(CheckThumbprints(thumbprints));
  RETURN_IF_ERROR(ChangeProvider(deps.db, ctx.principal().account_id, arn,
                                 [&](ProviderRow& p) -> Status {
                                   p.thumbprints = thumbprints;
                                   return Status::Ok();
                                 }));
  return json::Value::MakeObject();
}

Result<json::Value> TagOpenIDConnectProvider(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in) {
  std::string arn = ArnOf(in);
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  RETURN_IF_ERROR(ExistingProvider(deps.db, ctx, "iam:TagOpenIDConnectProvider", arn,
                                   RequestTagKeys(tags))
                      .status());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(ProviderRow p, RequireProvider(tx, ctx.principal().account_id, arn));
    return PutTags(tx, p.arn, tags);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> UntagOpenIDConnectProvider(const IamDeps& deps, server::RequestContext& ctx,
                                               const json::Value& in) {
  std::string arn = ArnOf(in);
  std::vector<std::string> keys = ReadTagKeys(in);
  RETURN_IF_ERROR(
      ExistingProvider(deps.db, ctx, "iam:UntagOpenIDConnectProvider", arn, TagKeysKey(keys))
          .status());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(ProviderRow p, RequireProvider(tx, ctx.principal().account_id, arn));
    return RemoveTags(tx, p.arn, keys);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> ListOpenIDConnectProviderTags(const IamDeps& deps,
                                                  server::RequestContext& ctx,
                                                  const json::Value& in) {
  std::string arn = ArnOf(in);
  ASSIGN_OR_RETURN(ProviderRow p,
                   ExistingProvider(deps.db, ctx, "iam:ListOpenIDConnectProviderTags", arn));
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  TagList tags;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, LoadTags(tx, p.arn));
    return Status::Ok();
  }));
  return TagPageJson(std::move(tags), page);
}

}  // namespace rampart::iam::internal
