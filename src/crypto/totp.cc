#include "rampart/crypto/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <chrono>

#include "rampart/core/check.h"

namespace rampart::crypto {

std::string HotpCode(std::string_view secret, uint64_t counter) {
  std::array<unsigned char, 8> message{};
  for (int i = 7; i >= 0; --i) {
    message[static_cast<size_t>(i)] = static_cast<unsigned char>(counter & 0xff);
    counter >>= 8;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  RAMPART_CHECK(HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), message.data(),
                     message.size(), mac.data(), &mac_len) != nullptr);
  RAMPART_CHECK(mac_len == 20);
  // Dynamic truncation (RFC 4226 section 5.3).
  const size_t offset = mac[19] & 0x0f;
  const uint32_t binary = (static_cast<uint32_t>(mac[offset] & 0x7f) << 24) |
                          (static_cast<uint32_t>(mac[offset + 1]) << 16) |
                          (static_cast<uint32_t>(mac[offset + 2]) << 8) |
                          static_cast<uint32_t>(mac[offset + 3]);
  std::string code = std::to_string(binary % 1000000);
  return std::string(kTotpDigits - code.size(), '0') + code;
}

uint64_t TotpStep(TimePoint t) {
  const int64_t seconds =
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return seconds < 0 ? 0 : static_cast<uint64_t>(seconds / kTotpStepSeconds);
}

std::string Base32Encode(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  out.reserve((data.size() + 4) / 5 * 8);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : data) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kAlphabet[(buffer >> (bits - 5)) & 0x1f]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 0x1f]);
  while (out.size() % 8 != 0) out.push_back('=');
  return out;
}

}  // namespace rampart::crypto
