#include "rampart/crypto/password.h"

#include <openssl/evp.h>

#include <charconv>
#include <vector>

#include "rampart/core/encoding.h"
#include "rampart/core/secret.h"
#include "rampart/crypto/random.h"

namespace rampart::crypto {
namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
// Refuse stored costs that would pin a worker (a tampered row).
constexpr uint32_t kMaxIterations = 10000000;

Result<std::string> Derive(std::string_view password, std::string_view salt, uint32_t iterations) {
  std::string out(kHashBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(out.size()),
                        reinterpret_cast<unsigned char*>(out.data())) != 1) {
    return Status::Internal("PBKDF2 failed");
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

}  // namespace

Result<std::string> HashPassword(std::string_view password, uint32_t iterations) {
  if (iterations == 0 || iterations > kMaxIterations) {
    return Status::Internal("bad PBKDF2 iteration count");
  }
  ASSIGN_OR_RETURN(std::string salt, RandomBytes(kSaltBytes));
  ASSIGN_OR_RETURN(std::string hash, Derive(password, salt, iterations));
  return std::string(kScheme) + "$" + std::to_string(iterations) + "$" + Base64Encode(salt) + "$" +
         Base64Encode(hash);
}

bool VerifyPassword(std::string_view password, std::string_view stored) {
  std::vector<std::string_view> parts = Split(stored, '$');
  if (parts.size() != 4 || parts[0] != kScheme) return false;
  uint32_t iterations = 0;
  auto [end, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), iterations);
  if (ec != std::errc() || end != parts[1].data() + parts[1].size() || iterations == 0 ||
      iterations > kMaxIterations) {
    return false;
  }
  auto salt = Base64Decode(parts[2]);
  auto expected = Base64Decode(parts[3]);
  if (!salt || !expected || expected->size() != kHashBytes) return false;
  auto actual = Derive(password, *salt, iterations);
  return actual.ok() && ConstantTimeEquals(*actual, *expected);
}

}  // namespace rampart::crypto
