#include "rampart/crypto/random.h"

#include <openssl/rand.h>

namespace rampart::crypto {

Result<std::string> RandomBytes(size_t n) {
  if (n > kMaxRandomBytes) return Status::Validation("too many random bytes requested");
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Status::Internal("random generator failure");
  }
  return out;
}

}  // namespace rampart::crypto
