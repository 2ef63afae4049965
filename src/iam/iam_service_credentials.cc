// Service-specific credentials of IAM users (CodeCommit Git credentials,
// Amazon Keyspaces passwords): CreateServiceSpecificCredential,
// ListServiceSpecificCredentials, ResetServiceSpecificCredential,
// UpdateServiceSpecificCredential, DeleteServiceSpecificCredential.
//
// A credential is a user name of the form <user>-at-<account> (with +1,
// +2... when the user already has one for the service) and a generated
// password, returned only by Create and Reset. The password is 32 random
// bytes, so it is kept as its SHA-256: with that much entropy a slow hash
// adds nothing, and no copy that could be reversed is stored. At most 2
// credentials per user and service.
#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/core/ids.h"
#include "rampart/crypto/digest.h"
#include "rampart/crypto/random.h"

namespace rampart::iam::internal {
namespace {

constexpr int64_t kCredentialsPerService = 2;
constexpr std::string_view kServices[] = {"codecommit.amazonaws.com", "cassandra.amazonaws.com"};

struct CredentialRow {
  std::string credential_id;
  std::string service_name;
  std::string service_user_name;
  std::string status;
  int64_t created_at = 0;
};

Status CheckService(std::string_view service) {
  for (std::string_view s : kServices) {
    if (s == service) return Status::Ok();
  }
  return Status::Modeled(
      "ServiceNotSupportedException",
      "No such service " + std::string(service) + " is supported for Service-Specific Credentials");
}

Status NoSuchCredential(std::string_view id) {
  return Status::Modeled("NoSuchEntityException",
                         "No such credential " + std::string(id) + " exists for this user.");
}

// A new password: base64 of 32 random bytes, as AWS's look. Returned once
// to the caller, never stored.
Result<std::string> NewPassword() {
  ASSIGN_OR_RETURN(SecretBytes raw, crypto::RandomSecret(32));
  return Base64Encode(raw.reveal());
}

std::string PasswordHash(std::string_view password) { return HexEncode(crypto::Sha256(password)); }

json::Value MetadataJson(const UserRow& user, const CredentialRow& c) {
  json::Value v = json::Value::MakeObject();
  v.set("UserName", user.name);
  v.set("Status", c.status);
  v.set("ServiceUserName", c.service_user_name);
  v.set("CreateDate", c.created_at);
  v.set("ServiceSpecificCredentialId", c.credential_id);
  v.set("ServiceName", c.service_name);
  return v;
}

json::Value CredentialJson(const UserRow& user, const CredentialRow& c, std::string_view password) {
  json::Value v = MetadataJson(user, c);
  v.set("ServicePassword", password);
  json::Value out = json::Value::MakeObject();
  out.set("ServiceSpecificCredential", std::move(v));
  return out;
}

Result<std::optional<CredentialRow>> FindCredential(store::Tx& tx, std::string_view user_id,
                                                    std::string_view id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT credential_id, service_name, service_user_name, "
                                      "status, created_at FROM iam_service_credentials WHERE "
                                      "user_id = ? AND credential_id = ?"));
  q->Bind(1, user_id).Bind(2, id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<CredentialRow>();
  return std::optional<CredentialRow>(
      CredentialRow{q->Text(0), q->Text(1), q->Text(2), q->Text(3), q->Int(4)});
}

// <user>-at-<account>, or with +N before -at- when that is taken.
Result<std::string> FreeServiceUserName(store::Tx& tx, const UserRow& user,
                                        std::string_view service) {
  std::string base = user.name;
  std::string tail = "-at-" + user.account_id;
  for (int n = 0; n <= kCredentialsPerService; ++n) {
    std::string candidate = base + (n == 0 ? "" : "+" + std::to_string(n)) + tail;
    ASSIGN_OR_RETURN(int64_t used,
                     CountOf(tx,
                             "SELECT COUNT(*) FROM iam_service_credentials WHERE "
                             "user_id = ? AND service_name = ? AND service_user_name = ?",
                             {user.user_id, service, candidate}));
    if (used == 0) return candidate;
  }
  return Status::Internal("no free service user name");
}

}  // namespace

Result<json::Value> CreateServiceSpecificCredential(const IamDeps& deps,
                                                    server::RequestContext& ctx,
                                                    const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUserOrCaller(deps.db, ctx, "iam:CreateServiceSpecificCredential", in));
  CredentialRow c;
  c.service_name = std::string(in.get_string("ServiceName"));
  RETURN_IF_ERROR(CheckService(c.service_name));
  c.status = "Active";
  c.created_at = NowSeconds(ctx);
  ASSIGN_OR_RETURN(c.credential_id, ids::AccessKeyId("ACCA"));
  ASSIGN_OR_RETURN(std::string password, NewPassword());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(user, RequireUser(tx, user.account_id, user.name));
    ASSIGN_OR_RETURN(int64_t n, CountOf(tx,
                                        "SELECT COUNT(*) FROM iam_service_credentials WHERE "
                                        "user_id = ? AND service_name = ?",
                                        {user.user_id, c.service_name}));
    if (n >= kCredentialsPerService) {
      return Status::Modeled(
          "LimitExceededException",
          "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: " +
              std::to_string(kCredentialsPerService));
    }
    ASSIGN_OR_RETURN(c.service_user_name, FreeServiceUserName(tx, user, c.service_name));
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO iam_service_credentials (credential_id, "
                                        "account_id, user_id, service_name, service_user_name, "
                                        "password_hash, status, created_at) VALUES "
                                        "(?, ?, ?, ?, ?, ?, ?, ?)"));
    std::string hash = PasswordHash(password);
    q->Bind(1, c.credential_id).Bind(2, user.account_id).Bind(3, user.user_id);
    q->Bind(4, c.service_name).Bind(5, c.service_user_name).Bind(6, hash).Bind(7, c.status);
    q->Bind(8, c.created_at);
    return q->Run();
  }));
  return CredentialJson(user, c, password);
}

Result<json::Value> ListServiceSpecificCredentials(const IamDeps& deps, server::RequestContext& ctx,
                                                   const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUserOrCaller(deps.db, ctx, "iam:ListServiceSpecificCredentials", in));
  std::string service(in.get_string("ServiceName"));
  if (!service.empty()) RETURN_IF_ERROR(CheckService(service));
  json::Value list = json::Value::MakeArray();
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT credential_id, service_name, service_user_name, "
                                        "status, created_at FROM iam_service_credentials WHERE "
                                        "user_id = ? AND (? = '' OR service_name = ?) "
                                        "ORDER BY created_at, credential_id"));
    q->Bind(1, user.user_id).Bind(2, service).Bind(3, service);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return Status::Ok();
      CredentialRow c{q->Text(0), q->Text(1), q->Text(2), q->Text(3), q->Int(4)};
      list.push(MetadataJson(user, c));
    }
  }));
  json::Value out = json::Value::MakeObject();
  out.set("ServiceSpecificCredentials", std::move(list));
  return out;
}

Result<json::Value> ResetServiceSpecificCredential(const IamDeps& deps, server::RequestContext& ctx,
                                                   const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUserOrCaller(deps.db, ctx, "iam:ResetServiceSpecificCredential", in));
  std::string id(in.get_string("ServiceSpecificCredentialId"));
  ASSIGN_OR_RETURN(std::string password, NewPassword());
  std::optional<CredentialRow> c;
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(c, FindCredential(tx, user.user_id, id));
    if (!c) return NoSuchCredential(id);
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE iam_service_credentials SET password_hash = ? "
                                        "WHERE credential_id = ?"));
    std::string hash = PasswordHash(password);
    q->Bind(1, hash).Bind(2, id);
    return q->Run();
  }));
  return CredentialJson(user, *c, password);
}

Result<json::Value> UpdateServiceSpecificCredential(const IamDeps& deps,
                                                    server::RequestContext& ctx,
                                                    const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUserOrCaller(deps.db, ctx, "iam:UpdateServiceSpecificCredential", in));
  std::string id(in.get_string("ServiceSpecificCredentialId"));
  std::string status(in.get_string("Status"));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE iam_service_credentials SET status = ? WHERE "
                                        "user_id = ? AND credential_id = ?"));
    q->Bind(1, status).Bind(2, user.user_id).Bind(3, id);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchCredential(id) : Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> DeleteServiceSpecificCredential(const IamDeps& deps,
                                                    server::RequestContext& ctx,
                                                    const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUserOrCaller(deps.db, ctx, "iam:DeleteServiceSpecificCredential", in));
  std::string id(in.get_string("ServiceSpecificCredentialId"));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_service_credentials WHERE user_id = ? "
                                        "AND credential_id = ?"));
    q->Bind(1, user.user_id).Bind(2, id);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchCredential(id) : Status::Ok();
  }));
  return json::Value::MakeObject();
}

}  // namespace rampart::iam::internal
