// SM2 signing and encryption over OpenSSL 3 (see kms_sm2.h).
#include "kms/kms_sm2.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include <memory>

namespace rampart::kms::internal {
namespace {

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

unsigned char* Bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

Status Failed(std::string_view what) {
  return Status::Internal("SM2 " + std::string(what) + " failed");
}

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// A digest-sign or digest-verify context over SM3 with the KMS
// distinguishing ID, from which OpenSSL computes the Z prefix.
Result<MdCtx> DigestContext(evp_pkey_st* pkey, bool sign) {
  MdCtx md(EVP_MD_CTX_new());
  if (!md) return Failed("context");
  std::string id(kSm2DistinguishingId);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_DIST_ID, id.data(), id.size()),
      OSSL_PARAM_construct_end()};
  // OpenSSL 3.0 takes the ID only after init (Z is computed at the first
  // update); the MD context owns pctx.
  EVP_PKEY_CTX* pctx = nullptr;
  int ok = sign ? EVP_DigestSignInit_ex(md.get(), &pctx, "SM3", nullptr, nullptr, pkey, nullptr)
                : EVP_DigestVerifyInit_ex(md.get(), &pctx, "SM3", nullptr, nullptr, pkey, nullptr);
  if (ok != 1 || pctx == nullptr) return Failed("digest init");
  if (EVP_PKEY_CTX_set_params(pctx, params) != 1) return Failed("distinguishing ID");
  return md;
}

}  // namespace

Status RequireSm2Region(std::string_view region) {
  if (region.starts_with("cn-")) return Status::Ok();
  return Status::Modeled("UnsupportedOperationException",
                         "The SM2 key spec is available only in China Regions (cn-*), not in " +
                             std::string(region) + ".");
}

Result<SecretBytes> GenerateSm2Pkcs8() {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2");
  if (pkey == nullptr) return Failed("key generation");
  PKCS8_PRIV_KEY_INFO* info = EVP_PKEY2PKCS8(pkey);
  EVP_PKEY_free(pkey);
  if (info == nullptr) return Failed("PKCS#8 encoding");
  unsigned char* buf = nullptr;
  int len = i2d_PKCS8_PRIV_KEY_INFO(info, &buf);
  PKCS8_PRIV_KEY_INFO_free(info);
  if (len <= 0) return Failed("PKCS#8 encoding");
  SecretBytes out(std::string_view(reinterpret_cast<const char*>(buf), static_cast<size_t>(len)));
  OPENSSL_clear_free(buf, static_cast<size_t>(len));
  return out;
}

Result<std::shared_ptr<const Sm2Key>> Sm2Key::FromPkcs8(const SecretBytes& der) {
  const unsigned char* p = Bytes(der.reveal());
  EVP_PKEY* pkey = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
  if (pkey == nullptr) return Failed("private key parsing");
  if (EVP_PKEY_is_a(pkey, "SM2") != 1) {
    EVP_PKEY_free(pkey);
    return Failed("key type check");
  }
  return std::shared_ptr<const Sm2Key>(new Sm2Key(pkey));
}

Sm2Key::~Sm2Key() { EVP_PKEY_free(pkey_); }

Result<std::string> Sm2Key::Sign(std::string_view message, bool is_digest) const {
  std::string sig(EVP_PKEY_get_size(pkey_), '\0');
  size_t len = sig.size();
  if (is_digest) {
    if (message.size() != kSm3DigestSize) return Status::Validation("bad SM3 digest length");
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_, nullptr));
    if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
        EVP_PKEY_sign(ctx.get(), Bytes(sig), &len, Bytes(message), message.size()) != 1) {
      return Failed("signing");
    }
  } else {
    ASSIGN_OR_RETURN(MdCtx md, DigestContext(pkey_, true));
    if (EVP_DigestSign(md.get(), Bytes(sig), &len, Bytes(message), message.size()) != 1) {
      return Failed("signing");
    }
  }
  sig.resize(len);
  return sig;
}

Result<bool> Sm2Key::Verify(std::string_view message, std::string_view signature,
                            bool is_digest) const {
  if (is_digest) {
    if (message.size() != kSm3DigestSize) return Status::Validation("bad SM3 digest length");
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_, nullptr));
    if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) return Failed("verification");
    return EVP_PKEY_verify(ctx.get(), Bytes(signature), signature.size(), Bytes(message),
                           message.size()) == 1;
  }
  ASSIGN_OR_RETURN(MdCtx md, DigestContext(pkey_, false));
  return EVP_DigestVerify(md.get(), Bytes(signature), signature.size(), Bytes(message),
                          message.size()) == 1;
}

Result<std::string> Sm2Key::Encrypt(std::string_view plaintext) const {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_, nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_encrypt(ctx.get(), nullptr, &len, Bytes(plaintext), plaintext.size()) != 1) {
    return Failed("encryption");
  }
  std::string out(len, '\0');
  if (EVP_PKEY_encrypt(ctx.get(), Bytes(out), &len, Bytes(plaintext), plaintext.size()) != 1) {
    return Failed("encryption");
  }
  out.resize(len);
  return out;
}

Result<SecretBytes> Sm2Key::Decrypt(std::string_view ciphertext) const {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_, nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_decrypt(ctx.get(), nullptr, &len, Bytes(ciphertext), ciphertext.size()) != 1) {
    return Failed("decryption");
  }
  std::string out(len, '\0');
  int ok = EVP_PKEY_decrypt(ctx.get(), Bytes(out), &len, Bytes(ciphertext), ciphertext.size());
  SecretBytes plaintext(std::string_view(out.data(), ok == 1 ? len : 0));
  OPENSSL_cleanse(out.data(), out.size());
  if (ok != 1) return Failed("decryption");
  return plaintext;
}

}  // namespace rampart::kms::internal
