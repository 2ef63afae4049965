#include "rampart/core/secret.h"

#include <openssl/crypto.h>

namespace rampart {

SecretBytes& SecretBytes::operator=(const SecretBytes& o) {
  if (this != &o) {
    Wipe();
    data_ = o.data_;
  }
  return *this;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& o) noexcept {
  if (this != &o) {
    Wipe();
    data_ = std::move(o.data_);
    o.Wipe();
  }
  return *this;
}

void SecretBytes::Wipe() noexcept {
  // Cleanse the whole capacity, not just size(): short-string buffers and
  // earlier contents live there too.
  if (data_.capacity() > 0) {
    data_.resize(data_.capacity());
    OPENSSL_cleanse(data_.data(), data_.size());
  }
  data_.clear();
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace rampart
