// Attribute encodings <-> DER (see public_key.h).
#include "pkcs11/public_key.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <memory>

namespace rampart::pkcs11 {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using BldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using OctetPtr =
    std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>>;
using ObjPtr = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT, ASN1_OBJECT_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Status Bad(std::string_view what) {
  return Status::Error(ErrorCode::kUnavailable,
                       "PKCS#11 module returned an invalid " + std::string(what));
}

Result<std::string> SpkiDer(const char* type, OSSL_PARAM* params) {
  CtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
    return Bad("public key");
  }
  PkeyPtr pkey(raw);
  int len = i2d_PUBKEY(pkey.get(), nullptr);
  if (len <= 0) return Bad("public key");
  std::string der(static_cast<size_t>(len), '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PUBKEY(pkey.get(), &p) != len) return Bad("public key");
  return der;
}

// The curve's OpenSSL group name from a DER OID.
Result<std::string> CurveName(std::string_view ec_params) {
  const unsigned char* p = Bytes(ec_params);
  ObjPtr oid(d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(ec_params.size())));
  if (!oid || p != Bytes(ec_params) + ec_params.size()) return Bad("CKA_EC_PARAMS");
  int nid = OBJ_obj2nid(oid.get());
  const char* name = nid == NID_undef ? nullptr : OBJ_nid2sn(nid);
  if (name == nullptr) return Bad("CKA_EC_PARAMS curve");
  return std::string(name);
}

// The point inside a DER OCTET STRING, or the input when it is a bare point.
std::string UnwrapPoint(std::string_view ec_point) {
  const unsigned char* p = Bytes(ec_point);
  OctetPtr os(d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(ec_point.size())));
  if (os && p == Bytes(ec_point) + ec_point.size()) {
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(os.get())),
                       static_cast<size_t>(ASN1_STRING_length(os.get())));
  }
  return std::string(ec_point);
}

}  // namespace

std::string EcParamsFor(std::string_view curve) {
  // namedCurve OIDs: prime256v1 1.2.840.10045.3.1.7 and secp384r1 1.3.132.0.34.
  static constexpr unsigned char kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                            0xce, 0x3d, 0x03, 0x01, 0x07};
  static constexpr unsigned char kP384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  if (curve == "P-256") return std::string(reinterpret_cast<const char*>(kP256), sizeof kP256);
  if (curve == "P-384") return std::string(reinterpret_cast<const char*>(kP384), sizeof kP384);
  return "";
}

Result<std::string> EcPublicKeyDer(std::string_view ec_params, std::string_view ec_point) {
  ASSIGN_OR_RETURN(std::string curve, CurveName(ec_params));
  std::string point = UnwrapPoint(ec_point);
  if (point.empty() || point[0] != 0x04) return Bad("CKA_EC_POINT");
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve.c_str(), 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size())) {
    return Status::Internal("OSSL_PARAM_BLD failed");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return Status::Internal("OSSL_PARAM_BLD_to_param failed");
  return SpkiDer("EC", params.get());
}

Result<std::string> RsaPublicKeyDer(std::string_view modulus, std::string_view exponent) {
  if (modulus.empty() || exponent.empty()) return Bad("RSA public key");
  BnPtr n(BN_bin2bn(Bytes(modulus), static_cast<int>(modulus.size()), nullptr));
  BnPtr e(BN_bin2bn(Bytes(exponent), static_cast<int>(exponent.size()), nullptr));
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!n || !e || !bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get())) {
    return Status::Internal("OSSL_PARAM_BLD failed");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return Status::Internal("OSSL_PARAM_BLD_to_param failed");
  return SpkiDer("RSA", params.get());
}

Result<RsaPublicParts> RsaPublicKeyParts(std::string_view spki_der) {
  const unsigned char* p = Bytes(spki_der);
  PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
  if (!key || p != Bytes(spki_der) + spki_der.size() || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return Status::Validation("not a DER RSA SubjectPublicKeyInfo");
  }
  if (EVP_PKEY_get_bits(key.get()) < 2048) return Status::Validation("RSA key is shorter than 2048 bits");
  BIGNUM* n = nullptr;
  BIGNUM* e = nullptr;
  EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n);
  EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e);
  BnPtr n_owner(n), e_owner(e);
  if (n == nullptr || e == nullptr) return Status::Validation("RSA key without modulus or exponent");
  RsaPublicParts out;
  out.modulus.assign(BN_num_bytes(n), '\0');
  out.exponent.assign(BN_num_bytes(e), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(out.modulus.data()));
  BN_bn2bin(e, reinterpret_cast<unsigned char*>(out.exponent.data()));
  return out;
}

Result<EcPublicParts> EcPublicKeyParts(std::string_view spki_der) {
  const unsigned char* p = Bytes(spki_der);
  PkeyPtr key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
  if (!key || p != Bytes(spki_der) + spki_der.size() || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC) {
    return Status::Validation("not a DER EC SubjectPublicKeyInfo");
  }
  char group[64] = {0};
  size_t group_len = 0;
  if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                     &group_len) != 1) {
    return Status::Validation("EC key without a named curve");
  }
  EcPublicParts out;
  std::string_view name(group, group_len);
  if (name == "prime256v1" || name == "P-256") out.curve = "P-256";
  if (name == "secp384r1" || name == "P-384") out.curve = "P-384";
  if (out.curve.empty()) return Status::Validation("EC curve must be P-256 or P-384");
  out.ec_params = EcParamsFor(out.curve);
  unsigned char point[160];
  size_t point_len = 0;
  if (EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                      sizeof point, &point_len) != 1 ||
      point_len == 0 || point[0] != 0x04) {
    return Status::Validation("EC key without an uncompressed point");
  }
  OctetPtr os(ASN1_OCTET_STRING_new());
  if (!os || ASN1_OCTET_STRING_set(os.get(), point, static_cast<int>(point_len)) != 1) {
    return Status::Internal("ASN1_OCTET_STRING_set failed");
  }
  int len = i2d_ASN1_OCTET_STRING(os.get(), nullptr);
  if (len <= 0) return Status::Internal("i2d_ASN1_OCTET_STRING failed");
  out.ec_point.assign(static_cast<size_t>(len), '\0');
  unsigned char* q = reinterpret_cast<unsigned char*>(out.ec_point.data());
  if (i2d_ASN1_OCTET_STRING(os.get(), &q) != len) return Status::Internal("i2d_ASN1_OCTET_STRING failed");
  return out;
}

Result<std::string> EcdsaRawToDer(std::string_view raw) {
  if (raw.empty() || raw.size() % 2 != 0 || raw.size() > 2 * 66) return Bad("ECDSA signature");
  size_t half = raw.size() / 2;
  BnPtr r(BN_bin2bn(Bytes(raw), static_cast<int>(half), nullptr));
  BnPtr s(BN_bin2bn(Bytes(raw) + half, static_cast<int>(half), nullptr));
  SigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return Status::Internal("ECDSA_SIG_set0 failed");
  }
  r.release();  // owned by sig now
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return Status::Internal("i2d_ECDSA_SIG failed");
  std::string der(static_cast<size_t>(len), '\0');
  unsigned char* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &p) != len) return Status::Internal("i2d_ECDSA_SIG failed");
  return der;
}

Result<std::string> DigestInfo(std::string_view md_name, std::string_view digest) {
  // DER prefixes of DigestInfo for each hash (RFC 8017 section 9.2, note 1).
  static constexpr unsigned char kSha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                              0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                              0x01, 0x05, 0x00, 0x04, 0x20};
  static constexpr unsigned char kSha384[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                              0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                              0x02, 0x05, 0x00, 0x04, 0x30};
  static constexpr unsigned char kSha512[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                              0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                              0x03, 0x05, 0x00, 0x04, 0x40};
  const unsigned char* prefix = nullptr;
  size_t size = 0;
  if (md_name == "SHA256") prefix = kSha256, size = sizeof kSha256;
  if (md_name == "SHA384") prefix = kSha384, size = sizeof kSha384;
  if (md_name == "SHA512") prefix = kSha512, size = sizeof kSha512;
  if (prefix == nullptr) return Status::Validation("unsupported digest " + std::string(md_name));
  // The prefix's last byte is the digest length.
  if (digest.size() != prefix[size - 1]) {
    return Status::Validation("digest length does not match " + std::string(md_name));
  }
  return std::string(reinterpret_cast<const char*>(prefix), size) + std::string(digest);
}

}  // namespace rampart::pkcs11
