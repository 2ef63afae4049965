#include "rampart/crypto/aead.h"

#include <openssl/evp.h>

#include <climits>
#include <cstdint>
#include <memory>

#include "rampart/core/check.h"
#include "rampart/crypto/random.h"

namespace rampart::crypto {
namespace {

// Nonces are public: they come from FillPublicRandom's per-thread buffer.
static_assert(kAeadNonceSize <= kMaxBufferedPublic);

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  RAMPART_CHECK(cipher != nullptr);
  return cipher;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Starts an AES-256-GCM operation with key and nonce and feeds the aad.
Result<CipherCtx> Start(bool encrypt, const SecretBytes& key, std::string_view nonce,
                        std::string_view aad) {
  if (key.size() != kAeadKeySize) return Status::Internal("AEAD key must be 32 bytes");
  if (aad.size() > INT_MAX) return Status::Validation("AEAD associated data too large");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return Status::Internal("cipher context allocation failed");
  // The default GCM IV length is 12 bytes, which is ours.
  int ok = EVP_CipherInit_ex2(ctx.get(), Aes256Gcm(), Bytes(key.reveal()), Bytes(nonce),
                              encrypt ? 1 : 0, nullptr);
  int len = 0;
  if (ok == 1 && !aad.empty()) {
    ok = EVP_CipherUpdate(ctx.get(), nullptr, &len, Bytes(aad), static_cast<int>(aad.size()));
  }
  if (ok != 1) return Status::Internal("cipher initialisation failed");
  return ctx;
}

}  // namespace

Result<std::string> AeadSeal(const SecretBytes& key32, std::string_view plaintext,
                             std::string_view aad) {
  if (plaintext.size() > kAeadMaxPlaintext) return Status::Validation("AEAD plaintext too large");
  std::string out(kAeadOverhead + plaintext.size(), '\0');
  auto* base = reinterpret_cast<unsigned char*>(out.data());
  if (!FillPublicRandom(base, kAeadNonceSize)) return Status::Internal("random generator failure");

  ASSIGN_OR_RETURN(CipherCtx ctx,
                   Start(true, key32, std::string_view(out.data(), kAeadNonceSize), aad));
  unsigned char* body = base + kAeadNonceSize;
  int len = 0;
  int tail = 0;
  bool ok = EVP_EncryptUpdate(ctx.get(), body, &len, Bytes(plaintext),
                              static_cast<int>(plaintext.size())) == 1 &&
            static_cast<size_t>(len) == plaintext.size() &&
            EVP_EncryptFinal_ex(ctx.get(), body + len, &tail) == 1 && tail == 0 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAeadTagSize,
                                body + plaintext.size()) == 1;
  if (!ok) return Status::Internal("AEAD seal failed");
  return out;
}

Result<SecretBytes> AeadOpen(const SecretBytes& key32, std::string_view sealed,
                             std::string_view aad) {
  if (sealed.size() < kAeadOverhead) return Status::Internal("AEAD authentication failed");
  const size_t n = sealed.size() - kAeadOverhead;
  if (n > kAeadMaxPlaintext) return Status::Validation("AEAD ciphertext too large");
  ASSIGN_OR_RETURN(CipherCtx ctx, Start(false, key32, sealed.substr(0, kAeadNonceSize), aad));

  std::string_view body = sealed.substr(kAeadNonceSize, n);
  std::string tag(sealed.substr(kAeadNonceSize + n));
  SecretBytes plain(n);
  auto* out = reinterpret_cast<unsigned char*>(plain.mutable_data());
  int len = 0;
  int tail = 0;
  bool ok = EVP_DecryptUpdate(ctx.get(), out, &len, Bytes(body), static_cast<int>(n)) == 1 &&
            static_cast<size_t>(len) == n &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAeadTagSize, tag.data()) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), out + len, &tail) == 1 && tail == 0;
  // On failure plain's destructor wipes whatever was decrypted.
  if (!ok) return Status::Internal("AEAD authentication failed");
  return plain;
}

}  // namespace rampart::crypto
