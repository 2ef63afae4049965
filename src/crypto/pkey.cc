// EVP_PKEY wrapper (see include/rampart/crypto/pkey.h).
#include "rampart/crypto/pkey.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <memory>
#include <mutex>
#include <vector>

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

// One-shot SHA-1/SHA-2 (OpenSSL's one-shot functions, not deprecated):
// EVP_Digest would allocate a context, and with a legacy EVP_MD fetch the
// digest again, on every call. False for other names.
bool OneShotDigest(std::string_view name, std::string_view data, unsigned char* out,
                   unsigned int* len) {
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  if (name == "SHA1") {
    SHA1(in, data.size(), out);
    *len = SHA_DIGEST_LENGTH;
  } else if (name == "SHA224") {
    SHA224(in, data.size(), out);
    *len = SHA224_DIGEST_LENGTH;
  } else if (name == "SHA256") {
    SHA256(in, data.size(), out);
    *len = SHA256_DIGEST_LENGTH;
  } else if (name == "SHA384") {
    SHA384(in, data.size(), out);
    *len = SHA384_DIGEST_LENGTH;
  } else if (name == "SHA512") {
    SHA512(in, data.size(), out);
    *len = SHA512_DIGEST_LENGTH;
  } else {
    return false;
  }
  return true;
}

// What a pooled context was set up for.
enum class Op : uint8_t { kSign, kVerify, kEncrypt, kDecrypt };

struct Setup {
  Op op;
  const EVP_MD* md;
  SignPadding padding;  // kSign / kVerify only
  bool operator==(const Setup&) const = default;
};

// A new context for setup on pkey; null when OpenSSL refuses it.
CtxPtr NewCtx(EVP_PKEY* pkey, const Setup& setup) {
  CtxPtr ctx(EVP_PKEY_CTX_new(pkey, nullptr));
  if (!ctx) return nullptr;
  bool ok = false;
  switch (setup.op) {
    case Op::kSign:
      ok = EVP_PKEY_sign_init(ctx.get()) > 0 && SetPadding(ctx.get(), setup.md, setup.padding);
      break;
    case Op::kVerify:
      ok = EVP_PKEY_verify_init(ctx.get()) > 0 && SetPadding(ctx.get(), setup.md, setup.padding);
      break;
    case Op::kEncrypt:
      ok = EVP_PKEY_encrypt_init(ctx.get()) > 0 && SetOaep(ctx.get(), setup.md);
      break;
    case Op::kDecrypt:
      ok = EVP_PKEY_decrypt_init(ctx.get()) > 0 && SetOaep(ctx.get(), setup.md);
      break;
  }
  return ok ? std::move(ctx) : nullptr;
}

}  // namespace

// Idle contexts of one key, each set up for one operation. OpenSSL allows
// EVP_PKEY_sign/verify/encrypt/decrypt to be called again on a context
// with the same parameters; ECDSA draws a fresh nonce on every call.
struct PrivateKey::CtxPool {
  // Enough for every worker thread of a busy key without growing without
  // bound when a key is used with many setups.
  static constexpr size_t kMaxIdle = 16;
  struct Idle {
    Setup setup;
    EVP_PKEY_CTX* ctx;
  };
  std::mutex mu;
  std::vector<Idle> idle;  // guarded by mu

  ~CtxPool() {
    for (const Idle& i : idle) EVP_PKEY_CTX_free(i.ctx);
  }

  // A context for setup: an idle one, or a new one.
  CtxPtr Take(EVP_PKEY* pkey, const Setup& setup) {
    {
      std::lock_guard lock(mu);
      for (size_t i = idle.size(); i-- > 0;) {
        if (idle[i].setup == setup) {
          CtxPtr ctx(idle[i].ctx);
          idle[i] = idle.back();
          idle.pop_back();
          return ctx;
        }
      }
    }
    return NewCtx(pkey, setup);
  }

  // Returns a context after a successful operation (a failed one may have
  // left state behind: the caller drops it instead).
  void Give(const Setup& setup, CtxPtr ctx) {
    std::lock_guard lock(mu);
    if (idle.size() < kMaxIdle) idle.push_back({setup, ctx.release()});
  }
};

size_t DigestSize(std::string_view md_name) {
  const EVP_MD* md = MdByName(md_name);
  return md == nullptr ? 0 : static_cast<size_t>(EVP_MD_get_size(md));
}

Result<std::string> Digest(std::string_view md_name, std::string_view data) {
  const EVP_MD* md = MdByName(md_name);
  if (md == nullptr) return Status::Validation("unknown digest");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!OneShotDigest(md_name, data, out, &len)) return Failed("digest");
  return std::string(reinterpret_cast<const char*>(out), len);
}

PrivateKey::PrivateKey(evp_pkey_st* pkey) : pkey_(pkey), pool_(std::make_unique<CtxPool>()) {}

PrivateKey::PrivateKey(PrivateKey&& other) noexcept
    : pkey_(other.pkey_), pool_(std::move(other.pool_)) {
  other.pkey_ = nullptr;
}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
  if (this != &other) {
    pool_.reset();
    EVP_PKEY_free(pkey_);
    pkey_ = other.pkey_;
    pool_ = std::move(other.pool_);
    other.pkey_ = nullptr;
  }
  return *this;
}

// The pooled contexts hold references to pkey_: they go first.
PrivateKey::~PrivateKey() {
  pool_.reset();
  EVP_PKEY_free(pkey_);
}

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
  const Setup setup{Op::kSign, md, padding};
  CtxPtr ctx = pool_->Take(pkey_, setup);
  if (!ctx) return Failed("signature setup");
  // EVP_PKEY_get_size: the largest signature the key makes.
  size_t len = static_cast<size_t>(EVP_PKEY_get_size(pkey_));
  std::string sig(len, '\0');
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, Bytes(digest),
                    digest.size()) <= 0) {
    return Failed("signature");
  }
  sig.resize(len);
  pool_->Give(setup, std::move(ctx));
  return sig;
}

Result<bool> PrivateKey::VerifyDigest(std::string_view digest, std::string_view signature,
                                      std::string_view md_name, SignPadding padding) const {
  const EVP_MD* md = MdByName(md_name);
  if (md == nullptr) return Status::Validation("unknown digest");
  const Setup setup{Op::kVerify, md, padding};
  CtxPtr ctx = pool_->Take(pkey_, setup);
  if (!ctx) return Failed("verification setup");
  const int verdict = EVP_PKEY_verify(ctx.get(), Bytes(signature), signature.size(),
                                      Bytes(digest), digest.size());
  // A bad signature is an answer, not a failure of the context.
  if (verdict >= 0) pool_->Give(setup, std::move(ctx));
  return verdict == 1;
}

Result<std::string> PrivateKey::EncryptOaep(std::string_view plaintext,
                                            std::string_view md_name) const {
  const EVP_MD* md = MdByName(md_name);
  if (md == nullptr) return Status::Validation("unknown digest");
  const Setup setup{Op::kEncrypt, md, SignPadding::kPkcs1};
  CtxPtr ctx = pool_->Take(pkey_, setup);
  if (!ctx) return Failed("OAEP setup");
  size_t len = static_cast<size_t>(EVP_PKEY_get_size(pkey_));
  std::string out(len, '\0');
  if (EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                       Bytes(plaintext), plaintext.size()) <= 0) {
    return Status::Validation("plaintext too long for the key and padding");
  }
  out.resize(len);
  pool_->Give(setup, std::move(ctx));
  return out;
}

Result<SecretBytes> PrivateKey::DecryptOaep(std::string_view ciphertext,
                                            std::string_view md_name) const {
  const EVP_MD* md = MdByName(md_name);
  if (md == nullptr) return Status::Validation("unknown digest");
  const Setup setup{Op::kDecrypt, md, SignPadding::kPkcs1};
  CtxPtr ctx = pool_->Take(pkey_, setup);
  if (!ctx) return Failed("OAEP setup");
  size_t len = static_cast<size_t>(EVP_PKEY_get_size(pkey_));
  SecretBytes out(len);
  if (EVP_PKEY_decrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.mutable_data()), &len,
                       Bytes(ciphertext), ciphertext.size()) <= 0) {
    return Status::Validation("ciphertext does not decrypt");
  }
  pool_->Give(setup, std::move(ctx));
  return SecretBytes(out.reveal().substr(0, len));
}

}  // namespace rampart::crypto
