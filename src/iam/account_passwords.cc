// Login profiles, ChangePassword and the account password policy.
#include <algorithm>
#include <cctype>

#include "iam/iam_internal.h"
#include "rampart/core/secret.h"
#include "rampart/crypto/digest.h"
#include "rampart/crypto/password.h"
#include "rampart/iam/account.h"

namespace rampart::iam {
namespace {

constexpr store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE password_policies (
  account_id TEXT PRIMARY KEY,
  minimum_length INTEGER NOT NULL,
  require_symbols INTEGER NOT NULL,
  require_numbers INTEGER NOT NULL,
  require_uppercase INTEGER NOT NULL,
  require_lowercase INTEGER NOT NULL,
  allow_users_to_change INTEGER NOT NULL,
  max_age_days INTEGER NOT NULL,
  reuse_prevention INTEGER NOT NULL,
  hard_expiry INTEGER NOT NULL
);
CREATE TABLE login_profiles (
  user_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  reset_required INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  changed_at INTEGER NOT NULL
);
CREATE TABLE password_history (
  user_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  changed_at INTEGER NOT NULL
);
CREATE INDEX password_history_by_user ON password_history (user_id, changed_at);
CREATE TABLE account_aliases (
  alias TEXT PRIMARY KEY,
  account_id TEXT NOT NULL UNIQUE
);
)sql"},
    {2, R"sql(
CREATE TABLE credential_reports (
  account_id TEXT PRIMARY KEY,
  content BLOB NOT NULL,
  generated_at INTEGER NOT NULL
);
)sql"},
};

// The history AWS's PasswordReusePrevention can ask for at most.
constexpr int64_t kMaxHistory = 24;
constexpr std::string_view kSymbols = "!@#$%^&*()_+-=[]{}|'";

Status Violation(std::string message) {
  return Status::Modeled("PasswordPolicyViolationException", std::move(message));
}

struct Classes {
  bool upper = false, lower = false, digit = false, symbol = false;
  int count() const { return upper + lower + digit + symbol; }
};

Classes ClassesOf(std::string_view password) {
  Classes c;
  for (unsigned char ch : password) {
    if (std::isupper(ch)) c.upper = true;
    else if (std::islower(ch)) c.lower = true;
    else if (std::isdigit(ch)) c.digit = true;
    else if (kSymbols.find(static_cast<char>(ch)) != std::string_view::npos) c.symbol = true;
  }
  return c;
}

Result<std::optional<PasswordPolicy>> LoadPolicy(store::Tx& tx, std::string_view account) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(
      "SELECT minimum_length, require_symbols, require_numbers, require_uppercase, "
      "require_lowercase, allow_users_to_change, max_age_days, reuse_prevention, hard_expiry "
      "FROM password_policies WHERE account_id = ?"));
  q->Bind(1, account);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<PasswordPolicy>();
  PasswordPolicy p;
  p.minimum_length = q->Int(0);
  p.require_symbols = q->Int(1) != 0;
  p.require_numbers = q->Int(2) != 0;
  p.require_uppercase = q->Int(3) != 0;
  p.require_lowercase = q->Int(4) != 0;
  p.allow_users_to_change = q->Int(5) != 0;
  p.max_age_days = q->Int(6);
  p.reuse_prevention = q->Int(7);
  p.hard_expiry = q->Int(8) != 0;
  return std::optional<PasswordPolicy>(p);
}

Status NoSuchProfile(std::string_view user) {
  return Status::Modeled("NoSuchEntityException",
                         "Login Profile for User " + std::string(user) + " cannot be found.");
}

struct Profile {
  std::string hash;
  bool reset_required = false;
  int64_t created_at = 0;
};

Result<std::optional<Profile>> LoadProfile(store::Tx& tx, std::string_view user_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT password_hash, reset_required, created_at FROM "
                                      "login_profiles WHERE user_id = ?"));
  q->Bind(1, user_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<Profile>();
  return std::optional<Profile>(Profile{q->Text(0), q->Int(1) != 0, q->Int(2)});
}

json::Value ProfileJson(std::string_view user, bool reset_required, int64_t created_at) {
  json::Value p = json::Value::MakeObject();
  p.set("UserName", std::string(user));
  p.set("CreateDate", created_at);
  p.set("PasswordResetRequired", reset_required);
  json::Value out = json::Value::MakeObject();
  out.set("LoginProfile", std::move(p));
  return out;
}

bool BoolMember(const json::Value& in, std::string_view name) {
  const json::Value* v = in.find(name);
  return v != nullptr && v->is_bool() && v->as_bool();
}

int64_t IntMember(const json::Value& in, std::string_view name, int64_t fallback) {
  const json::Value* v = in.find(name);
  return v != nullptr && v->is_number() ? v->as_int() : fallback;
}

// Refuses a password among the user's last `count` ones. History entries
// are HMACs under a key derived from the root key: checking 24 of them
// costs microseconds, where 24 PBKDF2 runs would pin a worker for seconds.
Status CheckReuse(store::Tx& tx, std::string_view user_id, std::string_view fingerprint,
                  int64_t count) {
  if (count <= 0) return Status::Ok();
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT password_hash FROM password_history WHERE "
                                      "user_id = ? ORDER BY changed_at DESC, rowid DESC LIMIT ?"));
  q->Bind(1, user_id).Bind(2, count);
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    if (ConstantTimeEquals(q->Text(0), fingerprint)) {
      return Violation("Password should not be one of your previous " + std::to_string(count) +
                       " passwords.");
    }
  }
}

Result<std::optional<PasswordPolicy>> ReadPolicy(store::Database& db, std::string_view account) {
  std::optional<PasswordPolicy> policy;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(policy, LoadPolicy(tx, account));
    return Status::Ok();
  }));
  return policy;
}

}  // namespace

Status CheckPassword(std::string_view password, const std::optional<PasswordPolicy>& policy) {
  const Classes c = ClassesOf(password);
  if (!policy) {
    if (password.size() < 8 || c.count() < 3) {
      return Violation("Password should have a minimum length of 8 and use at least three of "
                       "uppercase letters, lowercase letters, numbers and symbols.");
    }
    return Status::Ok();
  }
  if (static_cast<int64_t>(password.size()) < policy->minimum_length) {
    return Violation("Password should have a minimum length of " +
                     std::to_string(policy->minimum_length));
  }
  if (policy->require_uppercase && !c.upper) {
    return Violation("Password should have at least one uppercase letter");
  }
  if (policy->require_lowercase && !c.lower) {
    return Violation("Password should have at least one lowercase letter");
  }
  if (policy->require_numbers && !c.digit) return Violation("Password should have at least one number");
  if (policy->require_symbols && !c.symbol) return Violation("Password should have at least one symbol");
  return Status::Ok();
}

Status AccountService::Migrate(store::Database& db) { return db.Migrate("account", kMigrations); }

std::string AccountService::Fingerprint(std::string_view user_id,
                                        std::string_view password) const {
  const std::string key = crypto::HmacSha256(root_key_.reveal(), "rampart password history v1");
  std::string message(user_id);
  message.push_back('\0');
  message.append(password);
  return crypto::HmacSha256(key, message);
}

Result<std::string> AccountService::HashChecked(std::string_view account,
                                                std::string_view password) {
  // The cheap policy check runs before the deliberately slow hash, and
  // neither holds the write lock.
  ASSIGN_OR_RETURN(auto policy, ReadPolicy(db_, account));
  RETURN_IF_ERROR(CheckPassword(password, policy));
  return crypto::HashPassword(password);
}

Status AccountService::StorePassword(store::Tx& tx, std::string_view account,
                                     std::string_view user_id, std::string_view password,
                                     std::string_view hash, int64_t now) {
  ASSIGN_OR_RETURN(auto policy, LoadPolicy(tx, account));
  RETURN_IF_ERROR(CheckPassword(password, policy));
  const std::string fingerprint = Fingerprint(user_id, password);
  if (policy) RETURN_IF_ERROR(CheckReuse(tx, user_id, fingerprint, policy->reuse_prevention));
  ASSIGN_OR_RETURN(auto update, tx.Prepare("UPDATE login_profiles SET password_hash = ?, "
                                           "changed_at = ? WHERE user_id = ?"));
  update->Bind(1, hash).Bind(2, now).Bind(3, user_id);
  RETURN_IF_ERROR(update->Run());
  ASSIGN_OR_RETURN(auto history, tx.Prepare("INSERT INTO password_history (user_id, "
                                            "password_hash, changed_at) VALUES (?, ?, ?)"));
  history->Bind(1, user_id).BindBlob(2, fingerprint).Bind(3, now);
  RETURN_IF_ERROR(history->Run());
  ASSIGN_OR_RETURN(auto trim, tx.Prepare(
      "DELETE FROM password_history WHERE user_id = ? AND rowid NOT IN (SELECT rowid FROM "
      "password_history WHERE user_id = ? ORDER BY changed_at DESC, rowid DESC LIMIT ?)"));
  trim->Bind(1, user_id).Bind(2, user_id).Bind(3, kMaxHistory);
  return trim->Run();
}

Result<json::Value> AccountService::CreateLoginProfile(server::RequestContext& ctx,
                                                       const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  ASSIGN_OR_RETURN(internal::UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:CreateLoginProfile",
                                            in.get_string("UserName")));
  const bool reset = BoolMember(in, "PasswordResetRequired");
  const int64_t now = internal::NowSeconds(ctx);
  std::string_view password = in.get_string("Password");
  ASSIGN_OR_RETURN(std::string hash, HashChecked(account, password));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, LoadProfile(tx, user.user_id));
    if (existing) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "Login Profile for user " + user.name + " already exists.");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO login_profiles (user_id, account_id, "
                                        "password_hash, reset_required, created_at, changed_at) "
                                        "VALUES (?, ?, '', ?, ?, ?)"));
    q->Bind(1, user.user_id).Bind(2, account).Bind(3, int64_t{reset}).Bind(4, now).Bind(5, now);
    RETURN_IF_ERROR(q->Run());
    return StorePassword(tx, account, user.user_id, password, hash, now);
  }));
  return ProfileJson(user.name, reset, now);
}

Result<json::Value> AccountService::GetLoginProfile(server::RequestContext& ctx,
                                                    const json::Value& in) {
  ASSIGN_OR_RETURN(internal::UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:GetLoginProfile",
                                            in.get_string("UserName")));
  std::optional<Profile> profile;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(profile, LoadProfile(tx, user.user_id));
    return Status::Ok();
  }));
  if (!profile) return NoSuchProfile(user.name);
  return ProfileJson(user.name, profile->reset_required, profile->created_at);
}

Result<json::Value> AccountService::UpdateLoginProfile(server::RequestContext& ctx,
                                                       const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  ASSIGN_OR_RETURN(internal::UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:UpdateLoginProfile",
                                            in.get_string("UserName")));
  const int64_t now = internal::NowSeconds(ctx);
  const bool new_password = in.find("Password") != nullptr;
  std::string_view password = in.get_string("Password");
  std::string hash;
  if (new_password) {
    ASSIGN_OR_RETURN(hash, HashChecked(account, password));
  }
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto profile, LoadProfile(tx, user.user_id));
    if (!profile) return NoSuchProfile(user.name);
    if (const json::Value* r = in.find("PasswordResetRequired"); r != nullptr && r->is_bool()) {
      ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE login_profiles SET reset_required = ? "
                                          "WHERE user_id = ?"));
      q->Bind(1, int64_t{r->as_bool()}).Bind(2, user.user_id);
      RETURN_IF_ERROR(q->Run());
    }
    if (!new_password) return Status::Ok();
    return StorePassword(tx, account, user.user_id, password, hash, now);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> AccountService::DeleteLoginProfile(server::RequestContext& ctx,
                                                       const json::Value& in) {
  ASSIGN_OR_RETURN(internal::UserRow user,
                   internal::AuthorizedUser(db_, ctx, "iam:DeleteLoginProfile",
                                            in.get_string("UserName")));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto profile, LoadProfile(tx, user.user_id));
    if (!profile) return NoSuchProfile(user.name);
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM login_profiles WHERE user_id = ?"));
    q->Bind(1, user.user_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> AccountService::ChangePassword(server::RequestContext& ctx,
                                                   const json::Value& in) {
  const server::Principal& caller = ctx.principal();
  if (caller.type != "IAMUser") {
    return Status::Modeled("InvalidUserTypeException",
                           "Only IAM users can change their own password.");
  }
  ASSIGN_OR_RETURN(auto policy, ReadPolicy(db_, caller.account_id));
  // The policy's AllowUsersToChangePassword grants this to every user;
  // otherwise an identity policy must allow iam:ChangePassword.
  if (!policy || !policy->allow_users_to_change) {
    RETURN_IF_ERROR(ctx.Authorize("iam:ChangePassword", caller.arn));
  }
  const int64_t now = internal::NowSeconds(ctx);
  std::optional<Profile> current;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(current, LoadProfile(tx, caller.principal_id));
    return Status::Ok();
  }));
  if (!current) return NoSuchProfile(caller.user_name);
  if (!crypto::VerifyPassword(in.get_string("OldPassword"), current->hash)) {
    return Status::Error(ErrorCode::kAccessDenied, "The old password is incorrect.");
  }
  std::string_view password = in.get_string("NewPassword");
  ASSIGN_OR_RETURN(std::string hash, HashChecked(caller.account_id, password));
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto profile, LoadProfile(tx, caller.principal_id));
    if (!profile) return NoSuchProfile(caller.user_name);
    RETURN_IF_ERROR(StorePassword(tx, caller.account_id, caller.principal_id, password, hash,
                                  now));
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE login_profiles SET reset_required = 0 "
                                        "WHERE user_id = ?"));
    q->Bind(1, caller.principal_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> AccountService::UpdateAccountPasswordPolicy(server::RequestContext& ctx,
                                                                const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:UpdateAccountPasswordPolicy", "*"));
  PasswordPolicy p;
  p.minimum_length = IntMember(in, "MinimumPasswordLength", p.minimum_length);
  p.require_symbols = BoolMember(in, "RequireSymbols");
  p.require_numbers = BoolMember(in, "RequireNumbers");
  p.require_uppercase = BoolMember(in, "RequireUppercaseCharacters");
  p.require_lowercase = BoolMember(in, "RequireLowercaseCharacters");
  p.allow_users_to_change = BoolMember(in, "AllowUsersToChangePassword");
  p.max_age_days = IntMember(in, "MaxPasswordAge", 0);
  p.reuse_prevention = IntMember(in, "PasswordReusePrevention", 0);
  p.hard_expiry = BoolMember(in, "HardExpiry");
  const std::string& account = ctx.principal().account_id;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(
        "INSERT OR REPLACE INTO password_policies (account_id, minimum_length, require_symbols, "
        "require_numbers, require_uppercase, require_lowercase, allow_users_to_change, "
        "max_age_days, reuse_prevention, hard_expiry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    q->Bind(1, account).Bind(2, p.minimum_length).Bind(3, int64_t{p.require_symbols});
    q->Bind(4, int64_t{p.require_numbers}).Bind(5, int64_t{p.require_uppercase});
    q->Bind(6, int64_t{p.require_lowercase}).Bind(7, int64_t{p.allow_users_to_change});
    q->Bind(8, p.max_age_days).Bind(9, p.reuse_prevention).Bind(10, int64_t{p.hard_expiry});
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> AccountService::GetAccountPasswordPolicy(server::RequestContext& ctx,
                                                             const json::Value&) {
  RETURN_IF_ERROR(ctx.Authorize("iam:GetAccountPasswordPolicy", "*"));
  const std::string& account = ctx.principal().account_id;
  std::optional<PasswordPolicy> policy;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(policy, LoadPolicy(tx, account));
    return Status::Ok();
  }));
  if (!policy) {
    return Status::Modeled("NoSuchEntityException", "The Password Policy with domain name " +
                                                        account + " cannot be found.");
  }
  json::Value p = json::Value::MakeObject();
  p.set("MinimumPasswordLength", policy->minimum_length);
  p.set("RequireSymbols", policy->require_symbols);
  p.set("RequireNumbers", policy->require_numbers);
  p.set("RequireUppercaseCharacters", policy->require_uppercase);
  p.set("RequireLowercaseCharacters", policy->require_lowercase);
  p.set("AllowUsersToChangePassword", policy->allow_users_to_change);
  p.set("ExpirePasswords", policy->max_age_days > 0);
  if (policy->max_age_days > 0) p.set("MaxPasswordAge", policy->max_age_days);
  if (policy->reuse_prevention > 0) p.set("PasswordReusePrevention", policy->reuse_prevention);
  p.set("HardExpiry", policy->hard_expiry);
  json::Value out = json::Value::MakeObject();
  out.set("PasswordPolicy", std::move(p));
  return out;
}

Result<json::Value> AccountService::DeleteAccountPasswordPolicy(server::RequestContext& ctx,
                                                                const json::Value&) {
  RETURN_IF_ERROR(ctx.Authorize("iam:DeleteAccountPasswordPolicy", "*"));
  const std::string& account = ctx.principal().account_id;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t n, internal::CountOf(tx,
                                                  "SELECT COUNT(*) FROM password_policies "
                                                  "WHERE account_id = ?",
                                                  {account}));
    if (n == 0) {
      return Status::Modeled("NoSuchEntityException", "The account policy with name " + account +
                                                          " cannot be found.");
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM password_policies WHERE account_id = ?"));
    q->Bind(1, account);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

}  // namespace rampart::iam
