// X.509 signing certificates of IAM users: UploadSigningCertificate,
// ListSigningCertificates, UpdateSigningCertificate,
// DeleteSigningCertificate.
//
// A user holds at most 2, each Active or Inactive. The certificate must
// parse as PEM (MalformedCertificate) and be valid now (InvalidCertificate);
// the same certificate may be uploaded only once per account
// (DuplicateCertificate, compared by the SHA-256 of its DER form). Without
// UserName the calls act on the calling IAM user.
#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/core/ids.h"
#include "rampart/crypto/digest.h"

namespace rampart::iam::internal {
namespace {

constexpr int64_t kCertificatesPerUser = 2;

Status NoSuchCertificate(std::string_view id) {
  return Status::Modeled("NoSuchEntityException",
                         "The Certificate with id " + std::string(id) + " cannot be found.");
}

// 32 characters of the key-id alphabet, as AWS certificate ids look.
Result<std::string> NewCertificateId() {
  ASSIGN_OR_RETURN(std::string a, ids::AccessKeyId(""));
  ASSIGN_OR_RETURN(std::string b, ids::AccessKeyId(""));
  return a + b;
}

json::Value CertificateJson(const UserRow& user, std::string_view id, std::string_view body,
                            std::string_view status, int64_t uploaded_at) {
  json::Value v = json::Value::MakeObject();
  v.set("UserName", user.name);
  v.set("CertificateId", id);
  v.set("CertificateBody", body);
  v.set("Status", status);
  v.set("UploadDate", uploaded_at);
  return v;
}

}  // namespace

Result<json::Value> UploadSigningCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUserOrCaller(deps.db, ctx, "iam:UploadSigningCertificate", in));
  std::string body(in.get_string("CertificateBody"));
  ASSIGN_OR_RETURN(CertificateInfo info, ParsePemCertificate(body));
  int64_t now = NowSeconds(ctx);
  if (now < info.not_before || now > info.not_after) {
    return Status::Modeled("InvalidCertificateException",
                           "The certificate is not valid now: it is expired or not yet valid.");
  }
  std::string digest = HexEncode(crypto::Sha256(info.der));
  ASSIGN_OR_RETURN(std::string id, NewCertificateId());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(user, RequireUser(tx, user.account_id, user.name));
    ASSIGN_OR_RETURN(int64_t same, CountOf(tx,
                                           "SELECT COUNT(*) FROM iam_signing_certificates WHERE "
                                           "account_id = ? AND der_sha256 = ?",
                                           {user.account_id, digest}));
    if (same > 0) {
      return Status::Modeled("DuplicateCertificateException",
                             "This certificate is already uploaded in this account.");
    }
    ASSIGN_OR_RETURN(int64_t n, CountOf(tx,
                                        "SELECT COUNT(*) FROM iam_signing_certificates "
                                        "WHERE user_id = ?",
                                        {user.user_id}));
    if (n >= kCertificatesPerUser) {
      return Status::Modeled("LimitExceededException",
                             "Cannot exceed quota for SigningCertificatesPerUser: " +
                                 std::to_string(kCertificatesPerUser));
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO iam_signing_certificates (certificate_id, "
                                        "account_id, user_id, body, der_sha256, status, "
                                        "uploaded_at) VALUES (?, ?, ?, ?, ?, 'Active', ?)"));
    q->Bind(1, id).Bind(2, user.account_id).Bind(3, user.user_id).Bind(4, body);
    q->Bind(5, digest).Bind(6, now);
    return q->Run();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Certificate", CertificateJson(user, id, body, "Active", now));
  return out;
}

Result<json::Value> ListSigningCertificates(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUserOrCaller(deps.db, ctx, "iam:ListSigningCertificates", in));
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  PageCollector collector(page);
  json::Value list = json::Value::MakeArray();
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT certificate_id, body, status, uploaded_at FROM "
                                        "iam_signing_certificates WHERE user_id = ? AND "
                                        "certificate_id >= ? ORDER BY certificate_id"));
    q->Bind(1, user.user_id).Bind(2, page.start);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row || !collector.Take(q->Text(0))) return Status::Ok();
      list.push(CertificateJson(user, q->Text(0), q->Text(1), q->Text(2), q->Int(3)));
    }
  }));
  json::Value out = json::Value::MakeObject();
  out.set("Certificates", std::move(list));
  collector.Finish(out);
  return out;
}

Result<json::Value> UpdateSigningCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUserOrCaller(deps.db, ctx, "iam:UpdateSigningCertificate", in));
  std::string id(in.get_string("CertificateId"));
  std::string status(in.get_string("Status"));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE iam_signing_certificates SET status = ? WHERE "
                                        "user_id = ? AND certificate_id = ?"));
    q->Bind(1, status).Bind(2, user.user_id).Bind(3, id);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchCertificate(id) : Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> DeleteSigningCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUserOrCaller(deps.db, ctx, "iam:DeleteSigningCertificate", in));
  std::string id(in.get_string("CertificateId"));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_signing_certificates WHERE user_id = ? "
                                        "AND certificate_id = ?"));
    q->Bind(1, user.user_id).Bind(2, id);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchCertificate(id) : Status::Ok();
  }));
  return json::Value::MakeObject();
}

}  // namespace rampart::iam::internal
