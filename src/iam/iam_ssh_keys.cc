// SSH public keys of IAM users (the keys CodeCommit accepts):
// UploadSSHPublicKey, GetSSHPublicKey, ListSSHPublicKeys,
// UpdateSSHPublicKey, DeleteSSHPublicKey.
//
// IAM takes RSA keys of at least 2048 bits, as an OpenSSH "ssh-rsa" line or
// as PEM (SubjectPublicKeyInfo or PKCS#1). Both encodings are kept so that
// GetSSHPublicKey can answer in either; the fingerprint is the MD5 of the
// OpenSSH key blob in colon-separated hex, as `ssh-keygen -E md5 -l`
// prints it. At most 5 keys per user.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <memory>

#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/core/ids.h"

namespace rampart::iam::internal {
namespace {

constexpr int64_t kKeysPerUser = 5;
constexpr int kMinBits = 2048;
// Larger keys gain nothing and cost time to check.
constexpr int kMaxBits = 16384;
constexpr std::string_view kRsaType = "ssh-rsa";

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

Status Unrecognized() {
  return Status::Modeled("UnrecognizedPublicKeyEncodingException",
                         "The public key encoding format is unsupported or unrecognized. "
                         "Provide an ssh-rsa line or a PEM-encoded RSA public key.");
}

Status InvalidKey(std::string why) {
  return Status::Modeled("InvalidPublicKeyException", "The public key is not valid: " + why);
}

// Reads the length-prefixed strings of an SSH wire blob (RFC 4251 5),
// never past its end. Borrows the blob; one reader per parse.
class BlobReader {
 public:
  explicit BlobReader(std::string_view blob) : rest_(blob) {}
  std::optional<std::string_view> Next() {
    if (rest_.size() < 4) return std::nullopt;
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(rest_[i]);
    rest_.remove_prefix(4);
    if (n > rest_.size()) return std::nullopt;
    std::string_view s = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return s;
  }
  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

void AppendString(std::string& out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(s);
}

// An mpint (RFC 4251 5): big-endian, with a zero byte in front when the
// top bit is set so that it reads as positive.
std::string Mpint(const BIGNUM* bn) {
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  if (!bytes.empty() && (static_cast<unsigned char>(bytes[0]) & 0x80) != 0)
    bytes.insert(0, 1, '\0');
  return bytes;
}

std::string Md5Fingerprint(std::string_view blob) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(blob.data(), blob.size(), md, &len, EVP_md5(), nullptr);
  std::string hex = HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i > 0) out.push_back(':');
    out.append(hex, i, 2);
  }
  return out;
}

Result<PkeyPtr> RsaFromParts(const BIGNUM* n, const BIGNUM* e) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (bld == nullptr) return Status::Internal("out of memory");
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  OSSL_PARAM_BLD_free(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  EVP_PKEY* pkey = nullptr;
  bool ok = params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!ok) ERR_clear_error();
  if (!ok) return InvalidKey("the RSA parameters are not usable");
  return PkeyPtr(pkey);
}

Result<PkeyPtr> FromOpenSsh(std::string_view line) {
  // "ssh-rsa <base64> [comment]"
  size_t space = line.find_first_of(" \t");
  if (space == std::string_view::npos || line.substr(0, space) != kRsaType) return Unrecognized();
  std::string_view rest = line.substr(space);
  size_t start = rest.find_first_not_of(" \t");
  if (start == std::string_view::npos) return Unrecognized();
  rest.remove_prefix(start);
  std::string_view b64 = rest.substr(0, rest.find_first_of(" \t\r\n"));
  auto blob = Base64Decode(b64);
  if (!blob) return InvalidKey("the key data is not base64");
  BlobReader r(*blob);
  auto type = r.Next();
  auto e = r.Next();
  auto n = r.Next();
  if (!type || *type != kRsaType || !e || !n || !r.done() || e->empty() || n->empty()) {
    return InvalidKey("the key data is not an ssh-rsa key");
  }
  auto to_bn = [](std::string_view s) {
    return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(s.data()),
                           static_cast<int>(s.size()), nullptr));
  };
  BnPtr bn_e = to_bn(*e);
  BnPtr bn_n = to_bn(*n);
  if (!bn_e || !bn_n) return Status::Internal("out of memory");
  if (BN_num_bits(bn_n.get()) > kMaxBits) return InvalidKey("the key is too large");
  return RsaFromParts(bn_n.get(), bn_e.get());
}

Result<PkeyPtr> FromPem(std::string_view pem) {
  EVP_PKEY* pkey = nullptr;
  OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", nullptr, "RSA",
                                                         EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
  if (dctx == nullptr) return Status::Internal("no PEM decoder");
  const unsigned char* data = reinterpret_cast<const unsigned char*>(pem.data());
  size_t len = pem.size();
  bool ok = OSSL_DECODER_from_data(dctx, &data, &len) == 1 && pkey != nullptr;
  OSSL_DECODER_CTX_free(dctx);
  if (!ok) {
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return Unrecognized();
  }
  return PkeyPtr(pkey);
}

Result<std::string> PemOf(EVP_PKEY* pkey) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return Status::Internal("out of memory");
  std::string out;
  if (PEM_write_bio_PUBKEY(bio, pkey) == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    out.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  if (out.empty()) return Status::Internal("cannot encode the public key");
  return out;
}

}  // namespace

Result<SshPublicKey> ParseSshPublicKey(std::string_view body) {
  size_t start = body.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return Unrecognized();
  body.remove_prefix(start);
  PkeyPtr pkey;
  if (body.starts_with("-----BEGIN ")) {
    ASSIGN_OR_RETURN(pkey, FromPem(body));
  } else {
    ASSIGN_OR_RETURN(pkey, FromOpenSsh(body));
  }
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
      EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    BN_free(n);
    return InvalidKey("it is not an RSA key");
  }
  BnPtr bn_n(n);
  BnPtr bn_e(e);
  SshPublicKey key;
  key.bits = BN_num_bits(n);
  if (key.bits < kMinBits) {
    return InvalidKey("the key must be at least " + std::to_string(kMinBits) + " bits long");
  }
  if (key.bits > kMaxBits || BN_is_odd(e) == 0 || BN_is_one(e) != 0) {
    return InvalidKey("the RSA parameters are not usable");
  }
  std::string blob;
  AppendString(blob, kRsaType);
  AppendString(blob, Mpint(e));
  AppendString(blob, Mpint(n));
  key.ssh = std::string(kRsaType) + " " + Base64Encode(blob);
  key.fingerprint = Md5Fingerprint(blob);
  ASSIGN_OR_RETURN(key.pem, PemOf(pkey.get()));
  return key;
}

namespace {

struct KeyRow {
  std::string key_id;
  std::string ssh;
  std::string pem;
  std::string fingerprint;
  std::string status;
  int64_t uploaded_at = 0;
};

Status NoSuchKey(std::string_view id) {
  return Status::Modeled("NoSuchEntityException",
                         "The Public Key with id " + std::string(id) + " cannot be found.");
}

// The named user, or the calling IAM user when UserName is absent.
std::string OwnerName(const server::RequestContext& ctx, const json::Value& in) {
  std::string_view name = in.get_string("UserName");
  return std::string(name.empty() ? std::string_view(ctx.principal().user_name) : name);
}

Result<std::optional<KeyRow>> FindKey(store::Tx& tx, std::string_view user_id,
                                      std::string_view key_id) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT key_id, ssh_body, pem_body, fingerprint, status, "
                                      "uploaded_at FROM iam_ssh_public_keys WHERE user_id = ? "
                                      "AND key_id = ?"));
  q->Bind(1, user_id).Bind(2, key_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<KeyRow>();
  return std::optional<KeyRow>(
      KeyRow{q->Text(0), q->Text(1), q->Text(2), q->Text(3), q->Text(4), q->Int(5)});
}

json::Value KeyJson(const UserRow& user, const KeyRow& k, bool pem) {
  json::Value v = json::Value::MakeObject();
  v.set("UserName", user.name);
  v.set("SSHPublicKeyId", k.key_id);
  v.set("Fingerprint", k.fingerprint);
  v.set("SSHPublicKeyBody", pem ? k.pem : k.ssh);
  v.set("Status", k.status);
  v.set("UploadDate", k.uploaded_at);
  return v;
}

}  // namespace

Result<json::Value> UploadSSHPublicKey(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUser(deps.db, ctx, "iam:UploadSSHPublicKey",
                                                in.get_string("UserName")));
  ASSIGN_OR_RETURN(SshPublicKey parsed, ParseSshPublicKey(in.get_string("SSHPublicKeyBody")));
  KeyRow k{"", parsed.ssh, parsed.pem, parsed.fingerprint, "Active", NowSeconds(ctx)};
  ASSIGN_OR_RETURN(k.key_id, ids::AccessKeyId("APKA"));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(user, RequireUser(tx, user.account_id, user.name));
    ASSIGN_OR_RETURN(int64_t same,
                     CountOf(tx,
                             "SELECT COUNT(*) FROM iam_ssh_public_keys WHERE user_id = ? "
                             "AND fingerprint = ?",
                             {user.user_id, k.fingerprint}));
    if (same > 0) {
      return Status::Modeled(
          "DuplicateSSHPublicKeyException",
          "The SSH public key is already associated with user " + user.name + ".");
    }
    ASSIGN_OR_RETURN(int64_t n, CountOf(tx,
                                        "SELECT COUNT(*) FROM iam_ssh_public_keys WHERE "
                                        "user_id = ?",
                                        {user.user_id}));
    if (n >= kKeysPerUser) {
      return Status::Modeled(
          "LimitExceededException",
          "Cannot exceed quota for PublicKeysPerUser: " + std::to_string(kKeysPerUser));
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO iam_ssh_public_keys (key_id, account_id, "
                                        "user_id, ssh_body, pem_body, fingerprint, status, "
                                        "uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    q->Bind(1, k.key_id).Bind(2, user.account_id).Bind(3, user.user_id).Bind(4, k.ssh);
    q->Bind(5, k.pem).Bind(6, k.fingerprint).Bind(7, k.status).Bind(8, k.uploaded_at);
    return q->Run();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("SSHPublicKey", KeyJson(user, k, false));
  return out;
}

Result<json::Value> GetSSHPublicKey(const IamDeps& deps, server::RequestContext& ctx,
                                    const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user,
                   AuthorizedUser(deps.db, ctx, "iam:GetSSHPublicKey", in.get_string("UserName")));
  std::string_view encoding = in.get_string("Encoding");
  if (encoding != "SSH" && encoding != "PEM") {
    return Status::Modeled("UnrecognizedPublicKeyEncodingException",
                           "Encoding must be SSH or PEM.");
  }
  std::string id(in.get_string("SSHPublicKeyId"));
  std::optional<KeyRow> k;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(k, FindKey(tx, user.user_id, id));
    return Status::Ok();
  }));
  if (!k) return NoSuchKey(id);
  json::Value out = json::Value::MakeObject();
  out.set("SSHPublicKey", KeyJson(user, *k, encoding == "PEM"));
  return out;
}

Result<json::Value> ListSSHPublicKeys(const IamDeps& deps, server::RequestContext& ctx,
                                      const json::Value& in) {
  std::string name = OwnerName(ctx, in);
  if (name.empty()) {
    return Status::Modeled("InvalidInputException",
                           "UserName is required unless the caller is an IAM user.");
  }
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUser(deps.db, ctx, "iam:ListSSHPublicKeys", name));
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  PageCollector collector(page);
  json::Value list = json::Value::MakeArray();
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT key_id, status, uploaded_at FROM "
                                        "iam_ssh_public_keys WHERE user_id = ? AND key_id >= ? "
                                        "ORDER BY key_id"));
    q->Bind(1, user.user_id).Bind(2, page.start);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row || !collector.Take(q->Text(0))) return Status::Ok();
      json::Value e = json::Value::MakeObject();
      e.set("UserName", user.name);
      e.set("SSHPublicKeyId", q->Text(0));
      e.set("Status", q->Text(1));
      e.set("UploadDate", q->Int(2));
      list.push(std::move(e));
    }
  }));
  json::Value out = json::Value::MakeObject();
  out.set("SSHPublicKeys", std::move(list));
  collector.Finish(out);
  return out;
}

Result<json::Value> UpdateSSHPublicKey(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUser(deps.db, ctx, "iam:UpdateSSHPublicKey",
                                                in.get_string("UserName")));
  std::string id(in.get_string("SSHPublicKeyId"));
  std::string status(in.get_string("Status"));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE iam_ssh_public_keys SET status = ? WHERE "
                                        "user_id = ? AND key_id = ?"));
    q->Bind(1, status).Bind(2, user.user_id).Bind(3, id);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchKey(id) : Status::Ok();
  }));
  return json::Value::MakeObject();
}

Result<json::Value> DeleteSSHPublicKey(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in) {
  ASSIGN_OR_RETURN(UserRow user, AuthorizedUser(deps.db, ctx, "iam:DeleteSSHPublicKey",
                                                in.get_string("UserName")));
  std::string id(in.get_string("SSHPublicKeyId"));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_ssh_public_keys WHERE user_id = ? AND "
                                        "key_id = ?"));
    q->Bind(1, user.user_id).Bind(2, id);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchKey(id) : Status::Ok();
  }));
  return json::Value::MakeObject();
}

}  // namespace rampart::iam::internal
