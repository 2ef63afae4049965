// Account aliases (one per account, unique across every account this
// server holds) and the AccountService's handler table.
#include "iam/iam_internal.h"
#include "rampart/iam/account.h"

namespace rampart::iam {
namespace {

// The model's pattern (^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$) uses a
// lookahead RE2 cannot compile, so the protocol layer skips it; it is
// checked here instead.
bool ValidAlias(std::string_view alias) {
  if (alias.size() < 3 || alias.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(alias.front()) || !alnum(alias.back())) return false;
  for (size_t i = 0; i < alias.size(); ++i) {
    if (alnum(alias[i])) continue;
    if (alias[i] != '-' || alias[i + 1] == '-') return false;
  }
  return true;
}

}  // namespace

void AccountService::Register(server::Registry& registry) {
  using Method = Result<json::Value> (AccountService::*)(server::RequestContext&,
                                                         const json::Value&);
  const std::pair<std::string_view, Method> handlers[] = {
      {"CreateLoginProfile", &AccountService::CreateLoginProfile},
      {"GetLoginProfile", &AccountService::GetLoginProfile},
      {"UpdateLoginProfile", &AccountService::UpdateLoginProfile},
      {"DeleteLoginProfile", &AccountService::DeleteLoginProfile},
      {"ChangePassword", &AccountService::ChangePassword},
      {"UpdateAccountPasswordPolicy", &AccountService::UpdateAccountPasswordPolicy},
      {"GetAccountPasswordPolicy", &AccountService::GetAccountPasswordPolicy},
      {"DeleteAccountPasswordPolicy", &AccountService::DeleteAccountPasswordPolicy},
      {"CreateAccountAlias", &AccountService::CreateAccountAlias},
      {"DeleteAccountAlias", &AccountService::DeleteAccountAlias},
      {"ListAccountAliases", &AccountService::ListAccountAliases},
      {"GetAccountSummary", &AccountService::GetAccountSummary},
      {"GenerateCredentialReport", &AccountService::GenerateCredentialReport},
      {"GetCredentialReport", &AccountService::GetCredentialReport},
      {"GetAccountAuthorizationDetails", &AccountService::GetAccountAuthorizationDetails},
  };
  for (const auto& handler : handlers) {
    // A copy: clang 14 cannot capture structured bindings.
    const Method method = handler.second;
    registry.Add("iam", handler.first,
                 [this, method](server::RequestContext& ctx, const json::Value& in) {
                   return (this->*method)(ctx, in);
                 });
  }
}

Result<json::Value> AccountService::CreateAccountAlias(server::RequestContext& ctx,
                                                       const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:CreateAccountAlias", "*"));
  std::string alias(in.get_string("AccountAlias"));
  if (!ValidAlias(alias)) {
    return Status::Validation(
        "1 validation error detected: Value '" + alias +
        "' at 'accountAlias' failed to satisfy constraint: Member must be 3 to 63 lower-case "
        "letters, digits and single hyphens, starting and ending with a letter or digit");
  }
  const std::string& account = ctx.principal().account_id;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT account_id FROM account_aliases WHERE alias = ?"));
    q->Bind(1, alias);
    ASSIGN_OR_RETURN(bool taken, q->Step());
    if (taken && q->Text(0) == account) return Status::Ok();  // idempotent, as on AWS
    if (taken) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "The account alias " + alias + " already exists.");
    }
    ASSIGN_OR_RETURN(int64_t held, internal::CountOf(tx,
                                                     "SELECT COUNT(*) FROM account_aliases "
                                                     "WHERE account_id = ?",
                                                     {account}));
    if (held > 0) {
      return Status::Modeled("LimitExceededException",
                             "Cannot exceed quota for AccountAliasesPerAccount: 1");
    }
    ASSIGN_OR_RETURN(auto insert,
                     tx.Prepare("INSERT INTO account_aliases (alias, account_id) VALUES (?, ?)"));
    insert->Bind(1, alias).Bind(2, account);
    return insert->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> AccountService::DeleteAccountAlias(server::RequestContext& ctx,
                                                       const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:DeleteAccountAlias", "*"));
  std::string alias(in.get_string("AccountAlias"));
  const std::string& account = ctx.principal().account_id;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t n, internal::CountOf(tx,
                                                  "SELECT COUNT(*) FROM account_aliases "
                                                  "WHERE alias = ? AND account_id = ?",
                                                  {alias, account}));
    if (n == 0) {
      return Status::Modeled("NoSuchEntityException",
                             "The account alias " + alias + " cannot be found.");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM account_aliases WHERE alias = ?"));
    q->Bind(1, alias);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> AccountService::ListAccountAliases(server::RequestContext& ctx,
                                                       const json::Value&) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListAccountAliases", "*"));
  const std::string& account = ctx.principal().account_id;
  json::Value aliases = json::Value::MakeArray();
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT alias FROM account_aliases WHERE account_id = ?"));
    q->Bind(1, account);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return Status::Ok();
      aliases.push(q->Text(0));
    }
  }));
  json::Value out = json::Value::MakeObject();
  out.set("AccountAliases", std::move(aliases));
  out.set("IsTruncated", false);
  return out;
}

}  // namespace rampart::iam
