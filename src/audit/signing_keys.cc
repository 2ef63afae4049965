// SigningKeys: digest signing keys per region, sealed at rest, rotated.
#include "rampart/audit/signing_keys.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cmath>
#include <memory>
#include <optional>

#include "rampart/core/encoding.h"
#include "rampart/crypto/aead.h"
#include "rampart/crypto/digest.h"
#include "rampart/crypto/pkey.h"

namespace rampart::audit {
namespace {

constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE audit_signing_keys (
  fingerprint TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  public_key BLOB NOT NULL,
  sealed_private_key BLOB NOT NULL,
  valid_from INTEGER NOT NULL,
  valid_to INTEGER NOT NULL
);
CREATE INDEX audit_signing_keys_by_region ON audit_signing_keys (region, valid_from);
)sql";

const store::Migration kMigrations[] = {{1, kSchemaV1}};

constexpr std::string_view kTokenPrefix = "pk1:";

int64_t Seconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string SealAad(std::string_view fingerprint) {
  return "rampart:cloudtrail-digest-key:" + std::string(fingerprint);
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// SubjectPublicKeyInfo DER -> PKCS#1 RSAPublicKey DER.
Result<std::string> Pkcs1FromSpki(std::string_view spki) {
  const auto* p = reinterpret_cast<const unsigned char*>(spki.data());
  PkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  if (!pkey) return Status::Internal("cannot parse the public key");
  unsigned char* der = nullptr;
  int n = i2d_PublicKey(pkey.get(), &der);
  if (n <= 0) return Status::Internal("cannot encode the public key");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

PublicKeyInfo ReadKey(const store::Statement& s) {
  PublicKeyInfo k;
  k.fingerprint = s.Text(0);
  k.region = s.Text(1);
  k.pkcs1_der = s.Text(2);
  k.valid_from = s.Int(3);
  k.valid_to = s.Int(4);
  return k;
}

constexpr std::string_view kKeyColumns = "fingerprint, region, public_key, valid_from, valid_to";

// The key of region valid at now, if any.
Result<std::optional<PublicKeyInfo>> FindCurrent(store::Tx& tx, std::string_view region,
                                                 int64_t now) {
  ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT " + std::string(kKeyColumns) +
                                      " FROM audit_signing_keys WHERE region = ? AND "
                                      "valid_from <= ? AND valid_to > ? "
                                      "ORDER BY valid_from DESC LIMIT 1"));
  s->Bind(1, region).Bind(2, now).Bind(3, now);
  ASSIGN_OR_RETURN(bool row, s->Step());
  if (!row) return std::optional<PublicKeyInfo>();
  return std::optional<PublicKeyInfo>(ReadKey(*s));
}

Status InvalidTimeRange() {
  return Status::Modeled("InvalidTimeRangeException",
                         "The start time must not be later than the end time.");
}

Status InvalidToken() {
  return Status::Modeled("InvalidTokenException", "The NextToken is invalid.");
}

// Reads an optional timestamp member (epoch seconds) or fallback.
int64_t TimeOr(const json::Value& in, std::string_view member, int64_t fallback) {
  const json::Value* v = in.find(member);
  if (v == nullptr || !v->is_number()) return fallback;
  double d = v->as_double();
  // Clamp before converting: the protocol layer bounds timestamps, but a
  // double outside int64 range must never reach the cast.
  if (!(d > -1e15 && d < 1e15)) return fallback;
  return static_cast<int64_t>(std::floor(d));
}

}  // namespace

std::string PublicKeyFingerprint(std::string_view pkcs1_der) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(pkcs1_der.data(), pkcs1_der.size(), md, &n, EVP_md5(), nullptr) != 1) return {};
  return HexEncode(std::string_view(reinterpret_cast<char*>(md), n));
}

bool VerifySha256WithRsa(std::string_view pkcs1_der, std::string_view data,
                         std::string_view signature) {
  const auto* p = reinterpret_cast<const unsigned char*>(pkcs1_der.data());
  PkeyPtr pkey(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(pkcs1_der.size())));
  if (!pkey) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey.get()) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(),
                             reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

SigningKeys::SigningKeys(store::Database& db, const SecretBytes& root_key, Options options)
    : db_(db), root_key_(root_key), options_(options) {}

Status SigningKeys::Migrate(store::Database& db) {
  return db.Migrate("audit_signing_keys", kMigrations);
}

Result<PublicKeyInfo> SigningKeys::Current(std::string_view region, TimePoint now_tp) {
  int64_t now = Seconds(now_tp);
  std::optional<PublicKeyInfo> found;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(found, FindCurrent(tx, region, now));
    return Status::Ok();
  }));
  if (found) return std::move(*found);

  // Generate outside the transaction: RSA key generation takes a while.
  ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::GenerateRsa(2048));
  ASSIGN_OR_RETURN(std::string spki, key.PublicKeyDer());
  PublicKeyInfo info;
  info.region = std::string(region);
  ASSIGN_OR_RETURN(info.pkcs1_der, Pkcs1FromSpki(spki));
  info.fingerprint = PublicKeyFingerprint(info.pkcs1_der);
  info.valid_from = now;
  info.valid_to = now + options_.rotation.count();
  ASSIGN_OR_RETURN(SecretBytes pkcs8, key.ToPkcs8());
  ASSIGN_OR_RETURN(std::string sealed,
                   crypto::AeadSeal(root_key_, pkcs8.reveal(), SealAad(info.fingerprint)));
  PublicKeyInfo result;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto raced, FindCurrent(tx, region, now));
    if (raced) {
      result = std::move(*raced);
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(auto s, tx.Prepare(
        "INSERT INTO audit_signing_keys (fingerprint, region, public_key, sealed_private_key, "
        "valid_from, valid_to) VALUES (?, ?, ?, ?, ?, ?)"));
    s->Bind(1, info.fingerprint).Bind(2, info.region).BindBlob(3, info.pkcs1_der);
    s->BindBlob(4, sealed).Bind(5, info.valid_from).Bind(6, info.valid_to);
    RETURN_IF_ERROR(s->Run());
    result = info;
    return Status::Ok();
  }));
  return result;
}

Result<DigestSignature> SigningKeys::Sign(std::string_view region, TimePoint now,
                                          std::string_view data) {
  ASSIGN_OR_RETURN(PublicKeyInfo info, Current(region, now));
  std::string sealed;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare(
        "SELECT sealed_private_key FROM audit_signing_keys WHERE fingerprint = ?"));
    s->Bind(1, info.fingerprint);
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return Status::Internal("signing key vanished");
    sealed = s->Text(0);
    return Status::Ok();
  }));
  ASSIGN_OR_RETURN(SecretBytes pkcs8, crypto::AeadOpen(root_key_, sealed, SealAad(info.fingerprint)));
  ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::FromPkcs8(pkcs8));
  ASSIGN_OR_RETURN(std::string signature,
                   key.SignDigest(crypto::Sha256(data), "SHA256", crypto::SignPadding::kPkcs1));
  return DigestSignature{info.fingerprint, std::move(signature)};
}

Result<std::vector<PublicKeyInfo>> SigningKeys::List(std::string_view region, int64_t start,
                                                     int64_t end) {
  std::vector<PublicKeyInfo> out;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto s, tx.Prepare("SELECT " + std::string(kKeyColumns) +
                                        " FROM audit_signing_keys WHERE region = ? AND "
                                        "valid_from <= ? AND valid_to > ? "
                                        "ORDER BY valid_from DESC, fingerprint"));
    s->Bind(1, region).Bind(2, end).Bind(3, start);
    while (true) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(ReadKey(*s));
    }
    return Status::Ok();
  }));
  return out;
}

Result<json::Value> SigningKeys::ListPublicKeys(server::RequestContext& ctx,
                                                const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("cloudtrail:ListPublicKeys", "*"));
  // Without a range, the current key (CloudTrail's documented default).
  int64_t now = Seconds(ctx.time());
  int64_t start = TimeOr(in, "StartTime", now);
  int64_t end = TimeOr(in, "EndTime", now);
  if (start > end) return InvalidTimeRange();
  std::string after;
  if (std::string_view token = in.get_string("NextToken"); !token.empty()) {
    auto raw = Base64Decode(token);
    if (!raw || !raw->starts_with(kTokenPrefix)) return InvalidToken();
    after = raw->substr(kTokenPrefix.size());
  }
  // Makes sure the region has a key (and rotates a stale one).
  RETURN_IF_ERROR(Current(ctx.region(), ctx.time()).status());
  ASSIGN_OR_RETURN(auto keys, List(ctx.region(), start, end));
  size_t first = 0;
  if (!after.empty()) {
    while (first < keys.size() && keys[first].fingerprint != after) ++first;
    if (first == keys.size()) return InvalidToken();
    ++first;
  }
  json::Value list = json::Value::MakeArray();
  size_t i = first;
  for (; i < keys.size() && i - first < options_.page_size; ++i) {
    json::Value k = json::Value::MakeObject();
    // CloudTrail's Value blob holds the base64 text of the DER (so it is
    // base64 twice on the wire); the aws CLI validator decodes it once more.
    k.set("Value", Base64Encode(keys[i].pkcs1_der));
    k.set("ValidityStartTime", keys[i].valid_from);
    k.set("ValidityEndTime", keys[i].valid_to);
    k.set("Fingerprint", keys[i].fingerprint);
    list.push(std::move(k));
  }
  json::Value out = json::Value::MakeObject();
  out.set("PublicKeyList", std::move(list));
  if (i < keys.size()) {
    out.set("NextToken", Base64Encode(std::string(kTokenPrefix) + keys[i - 1].fingerprint));
  }
  return out;
}

void SigningKeys::Register(server::Registry& registry) {
  registry.Add("cloudtrail", "ListPublicKeys",
               [this](server::RequestContext& ctx, const json::Value& in) {
                 return ListPublicKeys(ctx, in);
               });
}

}  // namespace rampart::audit
