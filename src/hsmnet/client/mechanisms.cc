// Mechanisms of librampart-pkcs11.so: which ones apply to which keys, and
// how each maps onto the server's operations. The server signs digests
// (pkcs11::Token::SignDigest), so hash-and-sign mechanisms hash here, and
// CKM_RSA_PKCS takes a DigestInfo for SHA-256/384/512. Signatures come back
// in PKCS#11's formats: r||s for ECDSA, the raw block for RSA.
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstring>

#include "hsmnet/client/p11_internal.h"

namespace rampart::hsmnet::p11 {
namespace {

constexpr uint8_t kKindAes = 0, kKindGeneric = 1, kKindEc = 2, kKindRsa = 3;
constexpr uint8_t kAlgEcP256 = 2;
constexpr uint8_t kSchemeEcdsa = 0, kSchemeRsaPkcs1 = 1, kSchemeRsaPss = 2;

struct DigestInfoPrefix {
  const char* md;
  std::string_view prefix;
};
const DigestInfoPrefix kDigestInfos[] = {
    {"SHA256", {"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20", 19}},
    {"SHA384", {"\x30\x41\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02\x05\x00\x04\x30", 19}},
    {"SHA512", {"\x30\x51\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03\x05\x00\x04\x40", 19}},
};

const char* MdForHashMechanism(ck_mechanism_type_t hash) {
  if (hash == CKM_SHA256) return "SHA256";
  if (hash == CKM_SHA384) return "SHA384";
  if (hash == CKM_SHA512) return "SHA512";
  return nullptr;
}

ck_rsa_pkcs_mgf_type_t MgfFor(ck_mechanism_type_t hash) {
  if (hash == CKM_SHA256) return CKG_MGF1_SHA256;
  if (hash == CKM_SHA384) return CKG_MGF1_SHA384;
  return CKG_MGF1_SHA512;
}

const char* MdForDigestSize(size_t n) {
  if (n == 32) return "SHA256";
  if (n == 48) return "SHA384";
  if (n == 64) return "SHA512";
  return nullptr;
}

size_t DigestSize(const std::string& md) { return md == "SHA256" ? 32 : md == "SHA384" ? 48 : 64; }

std::string Hash(const std::string& md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const EVP_MD* type = EVP_get_digestbyname(md.c_str());
  if (type == nullptr || EVP_Digest(data.data(), data.size(), out, &len, type, nullptr) != 1) return "";
  return std::string(reinterpret_cast<char*>(out), len);
}

// DER ECDSA-Sig-Value to r||s of field bytes each, and back.
bool DerToRaw(const std::string& der, size_t field, std::string& raw) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (sig == nullptr) return false;
  raw.assign(field * 2, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, static_cast<int>(field)) > 0 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + field, static_cast<int>(field)) > 0;
  ECDSA_SIG_free(sig);
  return ok;
}

bool RawToDer(const std::string& raw, std::string& der) {
  if (raw.empty() || raw.size() % 2 != 0 || raw.size() > 264) return false;
  size_t half = raw.size() / 2;
  auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(p, static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(p + half, static_cast<int>(half), nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* out = nullptr;
  int len = i2d_ECDSA_SIG(sig, &out);
  ECDSA_SIG_free(sig);
  if (len <= 0) return false;
  der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return true;
}

ck_rv_t PreparePss(const ck_mechanism& mech, Operation& op) {
  if (mech.parameter == nullptr || mech.parameter_len != sizeof(ck_rsa_pkcs_pss_params)) {
    return CKR_MECHANISM_PARAM_INVALID;
  }
  ck_rsa_pkcs_pss_params params;
  std::memcpy(&params, mech.parameter, sizeof(params));
  const char* md = MdForHashMechanism(params.hash_alg);
  if (md == nullptr || params.mgf != MgfFor(params.hash_alg) || params.s_len != DigestSize(md)) {
    return CKR_MECHANISM_PARAM_INVALID;
  }
  if (!op.md.empty() && op.md != md) return CKR_MECHANISM_PARAM_INVALID;
  op.md = md;
  return CKR_OK;
}

ck_rv_t PrepareGcm(const ck_mechanism& mech, OpKind kind, Operation& op) {
  if (mech.parameter == nullptr || mech.parameter_len != sizeof(ck_gcm_params)) {
    return CKR_MECHANISM_PARAM_INVALID;
  }
  ck_gcm_params params;
  std::memcpy(&params, mech.parameter, sizeof(params));
  if (params.iv_len != 12 || params.iv_ptr == nullptr || params.tag_bits != 128 ||
      params.aad_len > kMaxAad || (params.aad_len > 0 && params.aad_ptr == nullptr)) {
    return CKR_MECHANISM_PARAM_INVALID;
  }
  op.iv.assign(reinterpret_cast<const char*>(params.iv_ptr), params.iv_len);
  op.aad.assign(reinterpret_cast<const char*>(params.aad_ptr), params.aad_len);
  // The HSM chooses the IV of every encryption and writes it back into the
  // application's IV buffer, as CloudHSM's library does.
  if (kind == kEncryptOp) op.iv_out = params.iv_ptr;
  return CKR_OK;
}

// The signing mechanisms: (mechanism, key kind, hash it implies or null).
struct SignMech {
  ck_mechanism_type_t type;
  uint8_t kind;
  const char* md;
};
const SignMech kSignMechs[] = {
    {CKM_ECDSA, kKindEc, nullptr},
    {CKM_ECDSA_SHA256, kKindEc, "SHA256"},
    {CKM_ECDSA_SHA384, kKindEc, "SHA384"},
    {CKM_ECDSA_SHA512, kKindEc, "SHA512"},
    {CKM_RSA_PKCS, kKindRsa, nullptr},
    {CKM_SHA256_RSA_PKCS, kKindRsa, "SHA256"},
    {CKM_SHA384_RSA_PKCS, kKindRsa, "SHA384"},
    {CKM_SHA512_RSA_PKCS, kKindRsa, "SHA512"},
    {CKM_RSA_PKCS_PSS, kKindRsa, nullptr},
    {CKM_SHA256_RSA_PKCS_PSS, kKindRsa, "SHA256"},
    {CKM_SHA384_RSA_PKCS_PSS, kKindRsa, "SHA384"},
    {CKM_SHA512_RSA_PKCS_PSS, kKindRsa, "SHA512"},
    {CKM_SHA256_HMAC, kKindGeneric, nullptr},
};

bool IsPss(ck_mechanism_type_t t) {
  return t == CKM_RSA_PKCS_PSS || t == CKM_SHA256_RSA_PKCS_PSS || t == CKM_SHA384_RSA_PKCS_PSS ||
         t == CKM_SHA512_RSA_PKCS_PSS;
}

uint8_t SchemeFor(ck_mechanism_type_t t, uint8_t kind) {
  if (kind == kKindEc) return kSchemeEcdsa;
  return IsPss(t) ? kSchemeRsaPss : kSchemeRsaPkcs1;
}

// The digest and hash name to send for the data of a sign or verify.
ck_rv_t DigestFor(Operation& op, std::string& digest, std::string& md) {
  if (op.hash_first) {
    md = op.md;
    digest = Hash(md, op.data);
    return digest.empty() ? CKR_FUNCTION_FAILED : CKR_OK;
  }
  if (op.mechanism == CKM_RSA_PKCS) {
    for (const auto& info : kDigestInfos) {
      if (op.data.size() > info.prefix.size() &&
          op.data.compare(0, info.prefix.size(), info.prefix) == 0 &&
          op.data.size() - info.prefix.size() == DigestSize(info.md)) {
        md = info.md;
        digest = op.data.substr(info.prefix.size());
        return CKR_OK;
      }
    }
    return CKR_DATA_INVALID;  // only DigestInfo of SHA-256/384/512 is signed
  }
  const char* by_size = MdForDigestSize(op.data.size());
  if (by_size == nullptr || (!op.md.empty() && op.md != by_size)) return CKR_DATA_LEN_RANGE;
  md = by_size;
  digest = op.data;
  return CKR_OK;
}

}  // namespace

ck_rv_t PrepareOperation(OpKind kind, const ck_mechanism& mech, const Object& obj, Operation& op) {
  op = Operation();
  op.mechanism = mech.mechanism;
  if (kind == kEncryptOp || kind == kDecryptOp) {
    if (mech.mechanism != CKM_AES_GCM) return CKR_MECHANISM_INVALID;
    if (obj.info.kind != kKindAes) return CKR_KEY_TYPE_INCONSISTENT;
    return PrepareGcm(mech, kind, op);
  }
  for (const SignMech& s : kSignMechs) {
    if (s.type != mech.mechanism) continue;
    if (s.kind != obj.info.kind) return CKR_KEY_TYPE_INCONSISTENT;
    bool pair = s.kind == kKindEc || s.kind == kKindRsa;
    // Pairs sign with the private half and verify with either half.
    if (kind == kSignOp && pair && obj.cls != CKO_PRIVATE_KEY) return CKR_KEY_FUNCTION_NOT_PERMITTED;
    op.hash_first = s.md != nullptr;
    if (s.md != nullptr) op.md = s.md;
    if (IsPss(s.type)) return PreparePss(mech, op);
    return CKR_OK;
  }
  return CKR_MECHANISM_INVALID;
}

ck_rv_t RunSign(WorkerPool& pool, const Object& obj, Operation& op, std::string& out) {
  Request q;
  q.key_id = obj.info.key_id;
  if (op.mechanism == CKM_SHA256_HMAC) {
    if (op.data.size() > kMaxData) return CKR_DATA_LEN_RANGE;
    q.op = Op::kHmac;
    q.data = op.data;
    Response r = pool.Call(q);
    out = std::move(r.data);
    return r.rv;
  }
  std::string digest, md;
  ck_rv_t rv = DigestFor(op, digest, md);
  if (rv != CKR_OK) return rv;
  q.op = Op::kSign;
  q.scheme = SchemeFor(op.mechanism, obj.info.kind);
  q.md_name = md;
  q.data = digest;
  Response r = pool.Call(q);
  if (r.rv != CKR_OK) return r.rv;
  if (obj.info.kind != kKindEc) {
    out = std::move(r.data);
    return CKR_OK;
  }
  size_t field = obj.info.algorithm == kAlgEcP256 ? 32 : 48;
  return DerToRaw(r.data, field, out) ? CKR_OK : CKR_DEVICE_ERROR;
}

ck_rv_t RunEncrypt(WorkerPool& pool, const Object& obj, Operation& op, std::string& out) {
  if (op.data.size() > kMaxData) return CKR_DATA_LEN_RANGE;
  Request q;
  q.op = Op::kEncrypt;
  q.key_id = obj.info.key_id;
  q.data = op.data;
  q.aad = op.aad;
  Response r = pool.Call(q);
  if (r.rv != CKR_OK) return r.rv;
  if (r.iv.size() != 12) return CKR_DEVICE_ERROR;
  std::memcpy(op.iv_out, r.iv.data(), r.iv.size());
  out = std::move(r.data);
  return CKR_OK;
}

ck_rv_t RunDecrypt(WorkerPool& pool, const Object& obj, Operation& op, std::string& out) {
  if (op.data.size() < 16 || op.data.size() > kMaxData + 16) return CKR_ENCRYPTED_DATA_LEN_RANGE;
  Request q;
  q.op = Op::kDecrypt;
  q.key_id = obj.info.key_id;
  q.iv = op.iv;
  q.data = op.data;
  q.aad = op.aad;
  Response r = pool.Call(q);
  out = std::move(r.data);
  return r.rv;
}

ck_rv_t RunVerify(ModuleState& m, Object& obj, Operation& op, const std::string& signature) {
  if (op.mechanism == CKM_SHA256_HMAC) {
    if (signature.size() != 32) return CKR_SIGNATURE_LEN_RANGE;
    Request q;
    q.op = Op::kVerifyHmac;
    q.key_id = obj.info.key_id;
    q.data = op.data;
    q.mac = signature;
    Response r = Send(m, q);
    if (r.rv != CKR_OK) return r.rv;
    return r.flag == 1 ? CKR_OK : CKR_SIGNATURE_INVALID;
  }
  std::string digest, md;
  ck_rv_t rv = DigestFor(op, digest, md);
  if (rv != CKR_OK) return rv;
  rv = LoadPublic(m, obj);
  if (rv != CKR_OK) return rv;
  std::string sig = signature;
  if (obj.info.kind == kKindEc) {
    size_t field = obj.info.algorithm == kAlgEcP256 ? 32 : 48;
    if (signature.size() != 2 * field) return CKR_SIGNATURE_LEN_RANGE;
    if (!RawToDer(signature, sig)) return CKR_SIGNATURE_INVALID;
  } else if (signature.size() != obj.modulus.size()) {
    return CKR_SIGNATURE_LEN_RANGE;
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(obj.spki.data());
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(obj.spki.size()));
  EVP_PKEY_CTX* ctx = pkey == nullptr ? nullptr : EVP_PKEY_CTX_new(pkey, nullptr);
  const EVP_MD* type = EVP_get_digestbyname(md.c_str());
  bool ok = ctx != nullptr && type != nullptr && EVP_PKEY_verify_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_signature_md(ctx, type) == 1;
  if (ok && obj.info.kind == kKindRsa) {
    bool pss = IsPss(op.mechanism);
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) == 1 &&
         (!pss || (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, type) == 1 &&
                   EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, static_cast<int>(digest.size())) == 1));
  }
  int verified = ok ? EVP_PKEY_verify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                      reinterpret_cast<const unsigned char*>(digest.data()), digest.size())
                    : -1;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  if (!ok) return CKR_FUNCTION_FAILED;
  return verified == 1 ? CKR_OK : CKR_SIGNATURE_INVALID;
}

const std::vector<ck_mechanism_type_t>& Mechanisms() {
  static const std::vector<ck_mechanism_type_t> kAll = [] {
    std::vector<ck_mechanism_type_t> v{CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN, CKM_EC_KEY_PAIR_GEN,
                                       CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_AES_GCM};
    for (const SignMech& s : kSignMechs) v.push_back(s.type);
    return v;
  }();
  return kAll;
}

bool MechanismInfo(ck_mechanism_type_t type, ck_mechanism_info& info) {
  info = {};
  switch (type) {
    case CKM_AES_KEY_GEN: info = {32, 32, CKF_HW | CKF_GENERATE}; return true;
    case CKM_GENERIC_SECRET_KEY_GEN: info = {32, 32, CKF_HW | CKF_GENERATE}; return true;
    case CKM_EC_KEY_PAIR_GEN:
      info = {256, 384, CKF_HW | CKF_GENERATE_KEY_PAIR | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS};
      return true;
    case CKM_RSA_PKCS_KEY_PAIR_GEN: info = {2048, 3072, CKF_HW | CKF_GENERATE_KEY_PAIR}; return true;
    case CKM_AES_GCM: info = {32, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT}; return true;
    default: break;
  }
  for (const SignMech& s : kSignMechs) {
    if (s.type != type) continue;
    unsigned long min = s.kind == kKindEc ? 256 : s.kind == kKindRsa ? 2048 : 32;
    unsigned long max = s.kind == kKindEc ? 384 : s.kind == kKindRsa ? 3072 : 32;
    info = {min, max, CKF_HW | CKF_SIGN | CKF_VERIFY};
    return true;
  }
  return false;
}

}  // namespace rampart::hsmnet::p11
