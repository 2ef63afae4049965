// EVP_PKEY wrapper (see include/rampart/crypto/pkey.h).
#include "rampart/crypto/pkey.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>

namespace rampart::crypto {
namespace {

struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, CtxFree>;

const EVP_MD* MdByName(std::string_view name) {
  if (name == "SHA1") return EVP_sha1();
  if (name == "SHA224") return EVP_sha224();
  if (name == "SHA256") return EVP_sha256();
  if (name == "SHA384") return EVP_sha384();
  if (name == "SHA512") return EVP_sha512();
  return nullptr;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Status Failed(std::string_view what) { return Status::Internal(std::string(what) + " failed"); }

// Applies the signature padding to a sign/verify context.
bool SetPadding(EVP_PKEY_CTX* ctx, const EVP_MD* md, SignPadding padding) {
  if (EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0) return false;
  if (padding == SignPadding::kPkcs1) {
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0;
  }
  if (padding == SignPadding::kPss) {
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
  }
  return true;
}

bool SetOaep(EVP_PKEY_CTX* ctx, const EVP_MD* md) {
  return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
}

}  // namespace

size_t DigestSize(std::string_view md_name) {
  const EVP_MD* md = MdByName(md_name);
  return md == nullptr ? 0 : static_cast<size_t>(EVP_MD_get_size(md));
}

Result<std::string> Digest(std::string_view md_name, std::string_view data) {
  const EVP_MD* md = MdByName(md_name);
  if (md == nullptr) return Status::Validation("unknown digest");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return Failed("digest");
  return std::string(reinterpret_cast<const char*>(out), len);
}

PrivateKey::PrivateKey(PrivateKey&& other) noexcept : pkey_(other.pkey_) { other.pkey_ = nullptr; }

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(pkey_);
    pkey_ = other.pkey_;
    other.pkey_ = nullptr;
  }
  return *this;
}

PrivateKey::~PrivateKey() { EVP_PKEY_free(pkey_); }

Result<PrivateKey> PrivateKey::GenerateRsa(int bits) {
  if (bits != 2048 && bits != 3072 && bits != 4096) return Status::Internal("bad RSA size");
  EVP_PKEY* pkey = EVP_RSA_gen(static_cast<unsigned int>(bits));
  if (pkey == nullptr) return Failed("RSA key generation");
  return PrivateKey(pkey);
}

Result<PrivateKey> PrivateKey::GenerateEc(std::string_view curve) {
  std::string name(curve);
  EVP_PKEY* pkey = EVP_EC_gen(name.c_str());
  if (pkey == nullptr) return Failed("EC key generation");
  return PrivateKey(pkey);
}

Result<PrivateKey> PrivateKey::FromPkcs8(const SecretBytes& der) {
  const unsigned char* p = Bytes(der.reveal());
  EVP_PKEY* pkey = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
  if (pkey == nullptr) return Failed("private key parsing");
  return PrivateKey(pkey);
}

Result<SecretBytes> PrivateKey::ToPkcs8() const {
  PKCS8_PRIV_KEY_INFO* info = EVP_PKEY2PKCS8(pkey_);
  if (info == nullptr) return Failed("PKCS#8 encoding");
  unsigned char* buf = nullptr;
  int len = i2d_PKCS8_PRIV_KEY_INFO(info, &buf);
  PKCS8_PRIV_KEY_INFO_free(info);
  if (len <= 0) return Failed("PKCS#8 encoding");
  SecretBytes out(std::string_view(reinterpret_cast<const char*>(buf), static_cast<size_t>(len)));
  OPENSSL_clear_free(buf, static_cast<size_t>(len));
  return out;
}

Result<std::string> PrivateKey::PublicKeyDer() const {
  unsigned char* buf = nullptr;
  int len = i2d_PUBKEY(pkey_, &buf);
  if (len <= 0) return Failed("public key encoding");
  std::string out(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
  OPENSSL_free(buf);
  return out;
}

Result<std::string> PrivateKey::SignDigest(std::string_view digest, std::string_view md_name,
                                           SignPadding padding) const {
  const EVP_MD* md = MdByName(md_name);
  if (md == nullptr) return Status::Validation("unknown digest");
  CtxPtr ctx(EVP_PKEY_CTX_new(pkey_, nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) <= 0 || !SetPadding(ctx.get(), md, padding)) {
    return Failed("signature setup");
  }
  size_t len = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &len, Bytes(digest), digest.size()) <= 0) {
    return Failed("signature");
  }
  std::string sig(len, '\0');
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, Bytes(digest),
                    digest.size()) <= 0) {
    return Failed("signature");
  }
  sig.resize(len);
  return sig;
}

Result<bool> PrivateKey::VerifyDigest(std::string_view digest, std::string_view signature,
                                      std::string_view md_name, SignPadding padding) const {
  const EVP_MD* md = MdByName(md_name);
  if (md == nullptr) return Status::Validation("unknown digest");
  CtxPtr ctx(EVP_PKEY_CTX_new(pkey_, nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) <= 0 || !SetPadding(ctx.get(), md, padding)) {
    return Failed("verification setup");
  }
  return EVP_PKEY_verify(ctx.get(), Bytes(signature), signature.size(), Bytes(digest),
                         digest.size()) == 1;
}

Result<std::string> PrivateKey::EncryptOaep(std::string_view plaintext,
                                            std::string_view md_name) const {
  const EVP_MD* md = MdByName(md_name);
  if (md == nullptr) return Status::Validation("unknown digest");
  CtxPtr ctx(EVP_PKEY_CTX_new(pkey_, nullptr));
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) <= 0 || !SetOaep(ctx.get(), md)) {
    return Failed("OAEP setup");
  }
  size_t len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, Bytes(plaintext), plaintext.size()) <= 0) {
    return Status::Validation("plaintext too long for the key and padding");
  }
  std::string out(len, '\0');
  if (EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                       Bytes(plaintext), plaintext.size()) <= 0) {
    return Status::Validation("plaintext too long for the key and padding");
  }
  out.resize(len);
  return out;
}

Result<SecretBytes> PrivateKey::DecryptOaep(std::string_view ciphertext,
                                            std::string_view md_name) const {
  const EVP_MD* md = MdByName(md_name);
  if (md == nullptr) return Status::Validation("unknown digest");
  CtxPtr ctx(EVP_PKEY_CTX_new(pkey_, nullptr));
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) <= 0 || !SetOaep(ctx.get(), md)) {
    return Failed("OAEP setup");
  }
  size_t len = 0;
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, Bytes(ciphertext), ciphertext.size()) <= 0) {
    return Status::Validation("ciphertext does not decrypt");
  }
  SecretBytes out(len);
  if (EVP_PKEY_decrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.mutable_data()), &len,
                       Bytes(ciphertext), ciphertext.size()) <= 0) {
    return Status::Validation("ciphertext does not decrypt");
  }
  return SecretBytes(out.reveal().substr(0, len));
}

}  // namespace rampart::crypto
