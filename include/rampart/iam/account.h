// Account-level IAM settings and console passwords (IAM, query protocol):
// login profiles (CreateLoginProfile, GetLoginProfile, UpdateLoginProfile,
// DeleteLoginProfile, ChangePassword), the account password policy
// (UpdateAccountPasswordPolicy, GetAccountPasswordPolicy,
// DeleteAccountPasswordPolicy) and account aliases (CreateAccountAlias,
// DeleteAccountAlias, ListAccountAliases), GetAccountSummary,
// GetAccountAuthorizationDetails and the credential report
// (GenerateCredentialReport, GetCredentialReport).
//
// Passwords are kept only as PBKDF2 hashes (crypto/password.h); the last
// 24 per user, for the policy's reuse prevention, only as HMACs under a key
// derived from the root key. Rampart has no
// console; login profiles exist so that password policy, rotation and the
// credential report behave as on AWS, and for the directory password-expiry
// notifier.
//
// Thread-safety: AccountService is thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/server/audit.h"
#include "rampart/server/context.h"
#include "rampart/store/store.h"

namespace rampart::iam {

// An account's password rules. Defaults are the values AWS applies to
// members UpdateAccountPasswordPolicy leaves out.
struct PasswordPolicy {
  int64_t minimum_length = 6;
  bool require_symbols = false;
  bool require_numbers = false;
  bool require_uppercase = false;
  bool require_lowercase = false;
  bool allow_users_to_change = false;
  int64_t max_age_days = 0;  // 0: passwords do not expire
  int64_t reuse_prevention = 0;
  bool hard_expiry = false;
};

// Why password breaks policy, or OK. With no policy (nullopt), AWS's
// default rules: at least 8 characters from at least three of the four
// classes (upper, lower, digits, symbols).
Status CheckPassword(std::string_view password, const std::optional<PasswordPolicy>& policy);

class AccountService {
 public:
  // REQUIRES: db and root_key outlive the service.
  AccountService(store::Database& db, const SecretBytes& root_key)
      : db_(db), root_key_(root_key) {}

  // Creates or upgrades the tables (component "account").
  static Status Migrate(store::Database& db);

  // Adds the handlers. REQUIRES: this outlives registry use.
  void Register(server::Registry& registry);

  // Where the credential report reads access-key use. REQUIRES: queries
  // outlives the service; without it keys read as never used.
  void SetAuditQueries(const server::AuditQueries* queries) { audit_queries_ = queries; }

 private:
  Result<json::Value> CreateLoginProfile(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GetLoginProfile(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> UpdateLoginProfile(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteLoginProfile(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ChangePassword(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> UpdateAccountPasswordPolicy(server::RequestContext& ctx,
                                                  const json::Value& in);
  Result<json::Value> GetAccountPasswordPolicy(server::RequestContext& ctx,
                                               const json::Value& in);
  Result<json::Value> DeleteAccountPasswordPolicy(server::RequestContext& ctx,
                                                  const json::Value& in);
  Result<json::Value> CreateAccountAlias(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> DeleteAccountAlias(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> ListAccountAliases(server::RequestContext& ctx, const json::Value& in);
  // account_reports.cc
  Result<json::Value> GetAccountSummary(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> GenerateCredentialReport(server::RequestContext& ctx,
                                               const json::Value& in);
  Result<json::Value> GetCredentialReport(server::RequestContext& ctx, const json::Value& in);
  // account_authorization_details.cc
  Result<json::Value> GetAccountAuthorizationDetails(server::RequestContext& ctx,
                                                     const json::Value& in);

  // Checks password against the account's policy, then hashes it (slowly,
  // outside any transaction).
  Result<std::string> HashChecked(std::string_view account, std::string_view password);
  // Inside tx: re-checks the policy and the reuse rule and stores hash as
  // the user's current password.
  Status StorePassword(store::Tx& tx, std::string_view account, std::string_view user_id,
                       std::string_view password, std::string_view hash, int64_t now);
  // The password-history entry of a user's password.
  std::string Fingerprint(std::string_view user_id, std::string_view password) const;

  store::Database& db_;
  const SecretBytes& root_key_;
  const server::AuditQueries* audit_queries_ = nullptr;
};

}  // namespace rampart::iam
