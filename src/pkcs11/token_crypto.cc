// Pkcs11Token cryptographic operations: AES-GCM, signatures, HMAC and
// public keys, each on one pooled session.
#include "pkcs11/public_key.h"
#include "pkcs11/token_state.h"
#include "rampart/crypto/pkey.h"
#include "rampart/crypto/random.h"

namespace rampart::pkcs11 {
namespace {

constexpr size_t kMaxGcmInput = size_t{1} << 20;
constexpr size_t kMaxAad = size_t{1} << 16;
constexpr size_t kMaxSignature = 1024;  // RSA-8192 fits
constexpr size_t kHmacSize = 32;

ck_gcm_params GcmParams(std::string_view iv, std::string_view aad) {
  ck_gcm_params p{};
  p.iv_ptr = Uc(iv);
  p.iv_len = iv.size();
  p.iv_bits = iv.size() * 8;
  p.aad_ptr = aad.empty() ? nullptr : Uc(aad);
  p.aad_len = aad.size();
  p.tag_bits = kGcmTagSize * 8;
  return p;
}

// A failed AES-GCM decryption. The standard answer to a tag that does not
// verify is CKR_ENCRYPTED_DATA_INVALID; SoftHSM2 2.6 answers
// CKR_GENERAL_ERROR instead (Run retires its session either way). Both are
// reported as data that did not authenticate rather than as an outage.
Status GcmDecryptFailure(Status st, ck_rv_t rv) {
  if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_GENERAL_ERROR) {
    return Status::Validation("the ciphertext or associated data did not authenticate (" +
                              st.message() + ")");
  }
  return st;
}

Status CheckKind(const KeyRef& key, KeyKind want, std::string_view what) {
  if (key.kind != want)
    return Status::Validation(std::string(what) + " needs a different key type");
  return Status::Ok();
}

ck_mechanism_type_t HashMechanism(std::string_view md_name) {
  if (md_name == "SHA384") return CKM_SHA384;
  if (md_name == "SHA512") return CKM_SHA512;
  return CKM_SHA256;
}

ck_rsa_pkcs_mgf_type_t Mgf1(std::string_view md_name) {
  if (md_name == "SHA384") return CKG_MGF1_SHA384;
  if (md_name == "SHA512") return CKG_MGF1_SHA512;
  return CKG_MGF1_SHA256;
}

// One single-part C_Sign into a buffer of kMaxSignature bytes.
ck_rv_t SignOnce(ck_function_list* f, ck_session_handle_t s, ck_object_handle_t key,
                 ck_mechanism* m, std::string_view data, std::string* out) {
  ck_rv_t rv = f->C_SignInit(s, m, key);
  if (rv != CKR_OK) return rv;
  out->assign(kMaxSignature, '\0');
  unsigned long len = out->size();
  rv = f->C_Sign(s, Uc(data), data.size(), Uc(*out), &len);
  if (rv == CKR_OK) out->resize(len);
  return rv;
}

}  // namespace

Result<GcmCiphertext> Pkcs11Token::EncryptGcm(const KeyRef& key, std::string_view plaintext,
                                              std::string_view aad) {
  RETURN_IF_ERROR(CheckKind(key, KeyKind::kAes, "AES-GCM"));
  if (plaintext.size() > kMaxGcmInput) return Status::Validation("plaintext is too long");
  if (aad.size() > kMaxAad) return Status::Validation("associated data is too long");
  GcmCiphertext out;
  // Our own CSPRNG: a fresh random 96-bit IV per message (NIST SP 800-38D
  // section 8.2.2), independent of the module's RNG quality.
  ASSIGN_OR_RETURN(out.iv, crypto::RandomBytes(kGcmIvSize));
  RETURN_IF_ERROR(
      s_->RunWithKey("C_Encrypt", key, [&](ck_session_handle_t s, ck_object_handle_t k) {
        ck_gcm_params p = GcmParams(out.iv, aad);
        ck_mechanism m{CKM_AES_GCM, &p, sizeof p};
        ck_rv_t rv = s_->fns()->C_EncryptInit(s, &m, k);
        if (rv != CKR_OK) return rv;
        out.ciphertext.assign(plaintext.size() + kGcmTagSize, '\0');
        unsigned long len = out.ciphertext.size();
        rv = s_->fns()->C_Encrypt(s, Uc(plaintext), plaintext.size(), Uc(out.ciphertext), &len);
        if (rv == CKR_OK) out.ciphertext.resize(len);
        return rv;
      }));
  if (out.ciphertext.size() != plaintext.size() + kGcmTagSize) {
    return Status::Error(ErrorCode::kUnavailable, "C_Encrypt: unexpected AES-GCM output size");
  }
  return out;
}

Result<SecretBytes> Pkcs11Token::DecryptGcm(const KeyRef& key, std::string_view iv,
                                            std::string_view ciphertext, std::string_view aad) {
  RETURN_IF_ERROR(CheckKind(key, KeyKind::kAes, "AES-GCM"));
  if (iv.size() != kGcmIvSize) return Status::Validation("AES-GCM IV must be 12 bytes");
  if (ciphertext.size() < kGcmTagSize || ciphertext.size() > kMaxGcmInput + kGcmTagSize) {
    return Status::Validation("ciphertext length is out of range");
  }
  if (aad.size() > kMaxAad) return Status::Validation("associated data is too long");
  SecretBytes plain(ciphertext.size());
  size_t plain_len = 0;
  ck_rv_t failed_rv = CKR_OK;
  Status st = s_->RunWithKey(
      "C_Decrypt", key,
      [&](ck_session_handle_t s, ck_object_handle_t k) {
        ck_gcm_params p = GcmParams(iv, aad);
        ck_mechanism m{CKM_AES_GCM, &p, sizeof p};
        ck_rv_t rv = s_->fns()->C_DecryptInit(s, &m, k);
        if (rv != CKR_OK) return rv;
        unsigned long len = plain.size();
        rv = s_->fns()->C_Decrypt(s, Uc(ciphertext), ciphertext.size(),
                                  reinterpret_cast<unsigned char*>(plain.mutable_data()), &len);
        plain_len = len;
        return rv;
      },
      &failed_rv);
  if (!st.ok()) return GcmDecryptFailure(std::move(st), failed_rv);
  if (plain_len != ciphertext.size() - kGcmTagSize) {
    return Status::Error(ErrorCode::kUnavailable, "C_Decrypt: unexpected AES-GCM output size");
  }
  return SecretBytes(plain.reveal().substr(0, plain_len));
}

Result<std::string> Pkcs11Token::SignDigest(const KeyRef& key, std::string_view digest,
                                            std::string_view md_name, SignScheme scheme) {
  if (md_name != "SHA256" && md_name != "SHA384" && md_name != "SHA512") {
    return Status::Validation("unsupported digest " + std::string(md_name));
  }
  if (digest.size() != crypto::DigestSize(md_name)) {
    return Status::Validation("digest length does not match " + std::string(md_name));
  }
  bool ec = scheme == SignScheme::kEcdsa;
  RETURN_IF_ERROR(
      CheckKind(key, ec ? KeyKind::kEcPrivate : KeyKind::kRsaPrivate, "this signature"));
  std::string data(digest);
  if (scheme == SignScheme::kRsaPkcs1) {
    ASSIGN_OR_RETURN(data, DigestInfo(md_name, digest));
  }
  ck_rsa_pkcs_pss_params pss{HashMechanism(md_name), Mgf1(md_name), digest.size()};
  ck_mechanism m{CKM_ECDSA, nullptr, 0};
  if (scheme == SignScheme::kRsaPkcs1) m.mechanism = CKM_RSA_PKCS;
  if (scheme == SignScheme::kRsaPss) m = ck_mechanism{CKM_RSA_PKCS_PSS, &pss, sizeof pss};
  std::string sig;
  RETURN_IF_ERROR(s_->RunWithKey("C_Sign", key, [&](ck_session_handle_t s, ck_object_handle_t k) {
    return SignOnce(s_->fns(), s, k, &m, data, &sig);
  }));
  if (ec) return EcdsaRawToDer(sig);
  return sig;
}

Result<std::string> Pkcs11Token::PublicKeyDer(const KeyRef& key) {
  if (key.kind != KeyKind::kEcPrivate && key.kind != KeyKind::kRsaPrivate) {
    return Status::Validation("only key pairs have a public key");
  }
  bool ec = key.kind == KeyKind::kEcPrivate;
  std::string a, b;
  RETURN_IF_ERROR(
      s_->Run("C_GetAttributeValue", State::ObjectKey{CKO_PUBLIC_KEY, TypeOf(key.kind), key.id},
              [&](ck_session_handle_t s, ck_object_handle_t k) {
                ck_rv_t rv = s_->GetAttribute(s, k, ec ? CKA_EC_PARAMS : CKA_MODULUS, &a);
                if (rv != CKR_OK) return rv;
                return s_->GetAttribute(s, k, ec ? CKA_EC_POINT : CKA_PUBLIC_EXPONENT, &b);
              }));
  return ec ? EcPublicKeyDer(a, b) : RsaPublicKeyDer(a, b);
}

Result<std::string> Pkcs11Token::HmacSha256(const KeyRef& key, std::string_view data) {
  RETURN_IF_ERROR(CheckKind(key, KeyKind::kGenericSecret, "HMAC"));
  if (data.size() > kMaxGcmInput) return Status::Validation("message is too long");
  ck_mechanism m{CKM_SHA256_HMAC, nullptr, 0};
  std::string mac;
  RETURN_IF_ERROR(s_->RunWithKey("C_Sign", key, [&](ck_session_handle_t s, ck_object_handle_t k) {
    return SignOnce(s_->fns(), s, k, &m, data, &mac);
  }));
  if (mac.size() != kHmacSize) {
    return Status::Error(ErrorCode::kUnavailable, "C_Sign: unexpected HMAC size");
  }
  return mac;
}

Result<bool> Pkcs11Token::VerifyHmacSha256(const KeyRef& key, std::string_view data,
                                           std::string_view mac) {
  RETURN_IF_ERROR(CheckKind(key, KeyKind::kGenericSecret, "HMAC"));
  if (data.size() > kMaxGcmInput) return Status::Validation("message is too long");
  if (mac.size() != kHmacSize) return false;
  ck_mechanism m{CKM_SHA256_HMAC, nullptr, 0};
  bool valid = false;
  RETURN_IF_ERROR(s_->RunWithKey("C_Verify", key, [&](ck_session_handle_t s, ck_object_handle_t k) {
    ck_rv_t rv = s_->fns()->C_VerifyInit(s, &m, k);
    if (rv != CKR_OK) return rv;
    rv = s_->fns()->C_Verify(s, Uc(data), data.size(), Uc(mac), mac.size());
    valid = rv == CKR_OK;
    return rv == CKR_SIGNATURE_INVALID ? CKR_OK : rv;
  }));
  return valid;
}

}  // namespace rampart::pkcs11
