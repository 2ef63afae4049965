#include "rampart/crypto/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>

#include "rampart/core/check.h"
#include "rampart/core/encoding.h"

namespace rampart::crypto {
namespace {

constexpr size_t kBlockSize = 64;  // SHA-256 block size, for HMAC padding

// Fetched once: an implicit fetch per EVP_DigestInit costs more than hashing
// a SigV4 string to sign.
const EVP_MD* Sha256Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  RAMPART_CHECK(md != nullptr);
  return md;
}

// One digest context per thread, re-initialised (not re-allocated) per use.
// EVP_MD_CTX_free cleanses the hash state at thread exit.
class ThreadDigest {
 public:
  ThreadDigest() : ctx_(EVP_MD_CTX_new()) { RAMPART_CHECK(ctx_ != nullptr); }
  ~ThreadDigest() { EVP_MD_CTX_free(ctx_); }
  ThreadDigest(const ThreadDigest&) = delete;
  ThreadDigest& operator=(const ThreadDigest&) = delete;

  void Begin() {
    // After the first init, a null type reuses the provider context.
    RAMPART_CHECK(EVP_DigestInit_ex2(ctx_, initialised_ ? nullptr : Sha256Md(), nullptr) == 1);
    initialised_ = true;
  }
  // Continues from a saved state instead of the initial one.
  void BeginFrom(const EVP_MD_CTX* state) {
    RAMPART_CHECK(EVP_MD_CTX_copy_ex(ctx_, state) == 1);
    initialised_ = true;
  }
  void Update(const void* p, size_t n) { RAMPART_CHECK(EVP_DigestUpdate(ctx_, p, n) == 1); }
  void Finish(unsigned char* out) {
    unsigned int len = 0;
    RAMPART_CHECK(EVP_DigestFinal_ex(ctx_, out, &len) == 1 && len == kSha256Size);
  }

 private:
  EVP_MD_CTX* ctx_;
  bool initialised_ = false;
};

ThreadDigest& Digest() {
  thread_local ThreadDigest d;
  return d;
}

}  // namespace

void Sha256Into(std::string_view data, Sha256Out out) {
  ThreadDigest& d = Digest();
  d.Begin();
  d.Update(data.data(), data.size());
  d.Finish(out.data());
}

namespace {

// The HMAC key block K of RFC 2104: the key, hashed if longer than a block,
// zero-padded. REQUIRES: block is zeroed.
void HmacKeyBlock(std::string_view key, unsigned char (&block)[kBlockSize]) {
  if (key.size() > kBlockSize) {
    Sha256Into(key, Sha256Out(block, kSha256Size));
  } else if (!key.empty()) {
    std::memcpy(block, key.data(), key.size());
  }
}

// A context that has absorbed block ^ pad_byte.
EVP_MD_CTX* PaddedKeyState(const unsigned char (&block)[kBlockSize], unsigned char pad_byte) {
  unsigned char pad[kBlockSize];
  for (size_t i = 0; i < kBlockSize; ++i) pad[i] = block[i] ^ pad_byte;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  RAMPART_CHECK(ctx != nullptr);
  RAMPART_CHECK(EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) == 1);
  RAMPART_CHECK(EVP_DigestUpdate(ctx, pad, kBlockSize) == 1);
  OPENSSL_cleanse(pad, sizeof(pad));
  return ctx;
}

}  // namespace

// RFC 2104 over the reused digest context: H(K^opad || H(K^ipad || data)).
void HmacSha256Into(std::string_view key, std::string_view data, Sha256Out out) {
  unsigned char block[kBlockSize] = {};
  HmacKeyBlock(key, block);
  unsigned char pad[kBlockSize];
  unsigned char inner[kSha256Size];
  ThreadDigest& d = Digest();

  for (size_t i = 0; i < kBlockSize; ++i) pad[i] = block[i] ^ 0x36;
  d.Begin();
  d.Update(pad, kBlockSize);
  d.Update(data.data(), data.size());
  d.Finish(inner);

  for (size_t i = 0; i < kBlockSize; ++i) pad[i] = block[i] ^ 0x5c;
  d.Begin();
  d.Update(pad, kBlockSize);
  d.Update(inner, kSha256Size);
  d.Finish(out.data());

  OPENSSL_cleanse(block, sizeof(block));
  OPENSSL_cleanse(pad, sizeof(pad));
  OPENSSL_cleanse(inner, sizeof(inner));
}

HmacSha256Key::HmacSha256Key(std::string_view key) {
  unsigned char block[kBlockSize] = {};
  HmacKeyBlock(key, block);
  inner_ = PaddedKeyState(block, 0x36);
  outer_ = PaddedKeyState(block, 0x5c);
  OPENSSL_cleanse(block, sizeof(block));
}

// EVP_MD_CTX_free cleanses the saved hash states.
HmacSha256Key::~HmacSha256Key() {
  EVP_MD_CTX_free(inner_);
  EVP_MD_CTX_free(outer_);
}

// Copying a saved context reads it only, so concurrent Signs are safe.
void HmacSha256Key::Sign(std::string_view data, Sha256Out out) const {
  unsigned char inner[kSha256Size];
  ThreadDigest& d = Digest();
  d.BeginFrom(inner_);
  d.Update(data.data(), data.size());
  d.Finish(inner);
  d.BeginFrom(outer_);
  d.Update(inner, kSha256Size);
  d.Finish(out.data());
  OPENSSL_cleanse(inner, sizeof(inner));
}

std::string Sha256(std::string_view data) {
  std::string out(kSha256Size, '\0');
  Sha256Into(data, Sha256Out(reinterpret_cast<unsigned char*>(out.data()), kSha256Size));
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char raw[kSha256Size];
  Sha256Into(data, Sha256Out(raw, kSha256Size));
  return HexEncode(std::string_view(reinterpret_cast<const char*>(raw), kSha256Size));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::string out(kSha256Size, '\0');
  HmacSha256Into(key, data, Sha256Out(reinterpret_cast<unsigned char*>(out.data()), kSha256Size));
  return out;
}

}  // namespace rampart::crypto
