// IAM server certificates (TLS certificates for load balancers and
// CloudFront): UploadServerCertificate, GetServerCertificate,
// ListServerCertificates, UpdateServerCertificate, DeleteServerCertificate
// and the tag calls; plus the PEM helpers signing certificates share.
//
// On upload the certificate, the optional chain and the unencrypted private
// key must parse, and the key must be the certificate's. IAM never returns
// a private key, and nothing in Rampart terminates TLS with these
// certificates, so the key is checked and then dropped: no copy of it is
// stored anywhere (the audit record redacts it as the model marks it
// sensitive). Tags are keyed by the certificate id (ASCA...).
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <ctime>
#include <memory>

#include "iam/iam_internal.h"
#include "rampart/core/ids.h"

namespace rampart::iam::internal {
namespace {

// IAM quota: server certificates per account.
constexpr int64_t kCertificatesPerAccount = 20;
constexpr std::string_view kBeginCertificate = "-----BEGIN CERTIFICATE-----";

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

Status Malformed(std::string message) {
  return Status::Modeled("MalformedCertificateException", std::move(message));
}

BioPtr ReadBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Never prompts for a passphrase: an encrypted key simply fails to load.
int NoPassphrase(char*, int, int, void*) { return 0; }

X509Ptr NextCertificate(BIO* bio) {
  return X509Ptr(PEM_read_bio_X509(bio, nullptr, NoPassphrase, nullptr));
}

int64_t EpochOf(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  using namespace std::chrono;
  year_month_day ymd{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                     day{static_cast<unsigned>(tm.tm_mday)}};
  int64_t days = sys_days{ymd}.time_since_epoch().count();
  return days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

}  // namespace

Result<CertificateInfo> ParsePemCertificate(std::string_view pem) {
  BioPtr bio = ReadBio(pem);
  X509Ptr cert = bio ? NextCertificate(bio.get()) : nullptr;
  if (!cert) {
    ERR_clear_error();
    return Malformed(
        "Unable to parse certificate. Please ensure the certificate is in PEM "
        "format.");
  }
  CertificateInfo info;
  int len = i2d_X509(cert.get(), nullptr);
  if (len <= 0) return Malformed("Unable to parse certificate.");
  info.der.resize(static_cast<size_t>(len));
  unsigned char* out = reinterpret_cast<unsigned char*>(info.der.data());
  i2d_X509(cert.get(), &out);
  info.not_before = EpochOf(X509_get0_notBefore(cert.get()));
  info.not_after = EpochOf(X509_get0_notAfter(cert.get()));
  return info;
}

Status CheckPemChain(std::string_view pem) {
  // Every certificate block must parse: count the blocks, then the
  // certificates OpenSSL reads (it skips text between blocks).
  size_t blocks = 0;
  for (size_t at = pem.find(kBeginCertificate); at != std::string_view::npos;
       at = pem.find(kBeginCertificate, at + 1)) {
    ++blocks;
  }
  BioPtr bio = ReadBio(pem);
  size_t parsed = 0;
  while (bio && parsed < blocks && NextCertificate(bio.get())) ++parsed;
  ERR_clear_error();
  if (blocks == 0 || parsed != blocks) {
    return Malformed(
        "Unable to parse certificate chain. Please ensure the chain is a sequence "
        "of PEM certificates.");
  }
  return Status::Ok();
}

Status CheckKeyMatchesCertificate(std::string_view certificate_pem, std::string_view key_pem) {
  BioPtr cert_bio = ReadBio(certificate_pem);
  X509Ptr cert = cert_bio ? NextCertificate(cert_bio.get()) : nullptr;
  if (!cert) return Malformed("Unable to parse certificate.");
  BioPtr key_bio = ReadBio(key_pem);
  PkeyPtr key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr)
                      : nullptr);
  if (!key) {
    ERR_clear_error();
    return Malformed(
        "Unable to parse private key. Please ensure the private key is in PEM "
        "format and not encrypted.");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::Modeled("KeyPairMismatchException",
                           "The private key does not match the public key of the certificate.");
  }
  return Status::Ok();
}

namespace {

struct CertRow {
  std::string account_id;
  std::string name;
  std::string cert_id;
  std::string path;
  std::string body;
  std::optional<std::string> chain;
  int64_t expiration = 0;
  int64_t uploaded_at = 0;
  std::string Arn() const { return IamArn(account_id, "server-certificate", path, name); }
};

Status NoSuchCertificate(std::string_view name) {
  return Status::Modeled("NoSuchEntityException", "The Server Certificate with name " +
                                                      std::string(name) + " cannot be found.");
}

Status AlreadyExists(std::string_view name) {
  return Status::Modeled(
      "EntityAlreadyExistsException",
      "The Server Certificate with name " + std::string(name) + " already exists.");
}

constexpr std::string_view kColumns =
    "cert_name, cert_id, path, body, chain, expiration, uploaded_at";

CertRow ReadRow(const store::Statement& q, std::string_view account) {
  CertRow c{std::string(account), q.Text(0), q.Text(1), q.Text(2), q.Text(3),
            std::nullopt,         q.Int(5),  q.Int(6)};
  if (!q.IsNull(4)) c.chain = q.Text(4);
  return c;
}

Result<std::optional<CertRow>> FindCertificate(store::Tx& tx, std::string_view account,
                                               std::string_view name) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kColumns) +
                                      " FROM iam_server_certificates WHERE account_id = ? AND "
                                      "name_key = ?"));
  std::string key = NameKey(name);
  q->Bind(1, account).Bind(2, key);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<CertRow>();
  return std::optional<CertRow>(ReadRow(*q, account));
}

// Reads the certificate, then authorizes action on its ARN (the path-less
// ARN when it does not exist) with keys plus its tags: the certificate,
// AccessDenied or NoSuchEntity.
Result<CertRow> AuthorizedCertificate(store::Database& db, const server::RequestContext& ctx,
                                      std::string_view action, std::string_view name,
                                      std::vector<server::ConditionKey> keys = {}) {
  const std::string& account = ctx.principal().account_id;
  std::optional<CertRow> cert;
  TagList tags;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(cert, FindCertificate(tx, account, name));
    if (!cert) return Status::Ok();
    ASSIGN_OR_RETURN(tags, LoadTags(tx, cert->cert_id));
    return Status::Ok();
  }));
  AddIamResourceTagKeys(tags, keys);
  std::string arn = cert ? cert->Arn() : IamArn(account, "server-certificate/", "", name);
  RETURN_IF_ERROR(ctx.Authorize(action, arn, keys));
  if (!cert) return NoSuchCertificate(name);
  return std::move(*cert);
}

json::Value MetadataJson(const CertRow& c) {
  json::Value m = json::Value::MakeObject();
  m.set("Path", c.path);
  m.set("ServerCertificateName", c.name);
  m.set("ServerCertificateId", c.cert_id);
  m.set("Arn", c.Arn());
  m.set("UploadDate", c.uploaded_at);
  m.set("Expiration", c.expiration);
  return m;
}

Status InsertCertificate(store::Tx& tx, const CertRow& c, const TagList& tags) {
  ASSIGN_OR_RETURN(auto existing, FindCertificate(tx, c.account_id, c.name));
  if (existing) return AlreadyExists(c.name);
  ASSIGN_OR_RETURN(int64_t n, CountOf(tx,
                                      "SELECT COUNT(*) FROM iam_server_certificates WHERE "
                                      "account_id = ?",
                                      {c.account_id}));
  if (n >= kCertificatesPerAccount) {
    return Status::Modeled("LimitExceededException",
                           "Cannot exceed quota for ServerCertificatesPerAccount: " +
                               std::to_string(kCertificatesPerAccount));
  }
  ASSIGN_OR_RETURN(auto q,
                   tx.Prepare("INSERT INTO iam_server_certificates (account_id, "
                              "name_key, " +
                              std::string(kColumns) + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  std::string key = NameKey(c.name);
  q->Bind(1, c.account_id).Bind(2, key).Bind(3, c.name).Bind(4, c.cert_id).Bind(5, c.path);
  q->Bind(6, c.body);
  if (c.chain) {
    q->Bind(7, *c.chain);
  } else {
    q->BindNull(7);
  }
  q->Bind(8, c.expiration).Bind(9, c.uploaded_at);
  RETURN_IF_ERROR(q->Run());
  return PutTags(tx, c.cert_id, tags);
}

}  // namespace

Result<json::Value> UploadServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in) {
  CertRow c;
  c.account_id = ctx.principal().account_id;
  c.name = std::string(in.get_string("ServerCertificateName"));
  c.path = PathOr(in);
  c.body = std::string(in.get_string("CertificateBody"));
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  RETURN_IF_ERROR(ctx.Authorize("iam:UploadServerCertificate", c.Arn(), RequestTagKeys(tags)));
  ASSIGN_OR_RETURN(CertificateInfo info, ParsePemCertificate(c.body));
  RETURN_IF_ERROR(CheckKeyMatchesCertificate(c.body, in.get_string("PrivateKey")));
  if (const json::Value* chain = in.find("CertificateChain"); chain && chain->is_string()) {
    RETURN_IF_ERROR(CheckPemChain(chain->as_string()));
    c.chain = std::string(chain->as_string());
  }
  c.expiration = info.not_after;
  c.uploaded_at = NowSeconds(ctx);
  ASSIGN_OR_RETURN(c.cert_id, ids::AccessKeyId("ASCA"));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) { return InsertCertificate(tx, c, tags); }));
  json::Value out = json::Value::MakeObject();
  out.set("ServerCertificateMetadata", MetadataJson(c));
  if (!tags.empty()) out.set("Tags", TagsJson(tags));
  return out;
}

Result<json::Value> GetServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                         const json::Value& in) {
  ASSIGN_OR_RETURN(CertRow c, AuthorizedCertificate(deps.db, ctx, "iam:GetServerCertificate",
                                                    in.get_string("ServerCertificateName")));
  TagList tags;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, LoadTags(tx, c.cert_id));
    return Status::Ok();
  }));
  json::Value cert = json::Value::MakeObject();
  cert.set("ServerCertificateMetadata", MetadataJson(c));
  cert.set("CertificateBody", c.body);
  if (c.chain) cert.set("CertificateChain", *c.chain);
  if (!tags.empty()) cert.set("Tags", TagsJson(tags));
  json::Value out = json::Value::MakeObject();
  out.set("ServerCertificate", std::move(cert));
  return out;
}

Result<json::Value> ListServerCertificates(const IamDeps& deps, server::RequestContext& ctx,
                                           const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListServerCertificates", "*"));
  const std::string& account = ctx.principal().account_id;
  std::string prefix(in.get_string("PathPrefix"));
  if (prefix.empty()) prefix = "/";
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  PageCollector collector(page);
  json::Value list = json::Value::MakeArray();
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kColumns) +
                                        ", name_key FROM iam_server_certificates WHERE "
                                        "account_id = ? AND name_key >= ? ORDER BY name_key"));
    q->Bind(1, account).Bind(2, page.start);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return Status::Ok();
      CertRow c = ReadRow(*q, account);
      if (!c.path.starts_with(prefix)) continue;
      if (!collector.Take(q->Text(7))) return Status::Ok();
      list.push(MetadataJson(c));
    }
  }));
  json::Value out = json::Value::MakeObject();
  out.set("ServerCertificateMetadataList", std::move(list));
  collector.Finish(out);
  return out;
}

Result<json::Value> UpdateServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in) {
  std::string name(in.get_string("ServerCertificateName"));
  ASSIGN_OR_RETURN(CertRow old,
                   AuthorizedCertificate(deps.db, ctx, "iam:UpdateServerCertificate", name));
  CertRow renamed = old;
  if (std::string_view n = in.get_string("NewServerCertificateName"); !n.empty()) {
    renamed.name = std::string(n);
  }
  if (std::string_view p = in.get_string("NewPath"); !p.empty()) renamed.path = std::string(p);
  // Both the old and the new name must be allowed (IAM User Guide,
  // "Renaming a server certificate").
  RETURN_IF_ERROR(ctx.Authorize("iam:UpdateServerCertificate", renamed.Arn()));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto current, FindCertificate(tx, old.account_id, old.name));
    if (!current || current->cert_id != old.cert_id) return NoSuchCertificate(name);
    if (NameKey(renamed.name) != NameKey(old.name)) {
      ASSIGN_OR_RETURN(auto taken, FindCertificate(tx, old.account_id, renamed.name));
      if (taken) return AlreadyExists(renamed.name);
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE iam_server_certificates SET name_key = ?, "
                                        "cert_name = ?, path = ? WHERE cert_id = ?"));
    std::string key = NameKey(renamed.name);
    q->Bind(1, key).Bind(2, renamed.name).Bind(3, renamed.path).Bind(4, old.cert_id);
    return q->Run();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> DeleteServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in) {
  std::string name(in.get_string("ServerCertificateName"));
  ASSIGN_OR_RETURN(CertRow c,
                   AuthorizedCertificate(deps.db, ctx, "iam:DeleteServerCertificate", name));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_server_certificates WHERE cert_id = ?"));
    q->Bind(1, c.cert_id);
    RETURN_IF_ERROR(q->Run());
    if (q->Changes() == 0) return NoSuchCertificate(name);
    return DeleteTags(tx, c.cert_id);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> TagServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                         const json::Value& in) {
  std::string name(in.get_string("ServerCertificateName"));
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  ASSIGN_OR_RETURN(CertRow c, AuthorizedCertificate(deps.db, ctx, "iam:TagServerCertificate", name,
                                                    RequestTagKeys(tags)));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto current, FindCertificate(tx, c.account_id, name));
    if (!current) return NoSuchCertificate(name);
    return PutTags(tx, current->cert_id, tags);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> UntagServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                           const json::Value& in) {
  std::string name(in.get_string("ServerCertificateName"));
  std::vector<std::string> keys = ReadTagKeys(in);
  ASSIGN_OR_RETURN(CertRow c, AuthorizedCertificate(deps.db, ctx, "iam:UntagServerCertificate",
                                                    name, TagKeysKey(keys)));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto current, FindCertificate(tx, c.account_id, name));
    if (!current) return NoSuchCertificate(name);
    return RemoveTags(tx, current->cert_id, keys);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> ListServerCertificateTags(const IamDeps& deps, server::RequestContext& ctx,
                                              const json::Value& in) {
  ASSIGN_OR_RETURN(CertRow c, AuthorizedCertificate(deps.db, ctx, "iam:ListServerCertificateTags",
                                                    in.get_string("ServerCertificateName")));
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  TagList tags;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, LoadTags(tx, c.cert_id));
    return Status::Ok();
  }));
  return TagPageJson(std::move(tags), page);
}

}  // namespace rampart::iam::internal
