#include "rampart/core/ids.h"

#include <openssl/rand.h>

#include <cstdint>
#include <random>

namespace rampart::ids {
namespace {

Status Fill(void* buf, size_t n) {
  if (RAND_bytes(static_cast<unsigned char*>(buf), static_cast<int>(n)) != 1) {
    return Status::Internal("random generator failure");
  }
  return Status::Ok();
}

// splitmix64: fast, good enough for non-secret identifiers.
uint64_t NextFast() {
  thread_local uint64_t state = [] {
    uint64_t seed = 0;
    if (!Fill(&seed, sizeof seed).ok()) seed = std::random_device{}();
    return seed;
  }();
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string FormatUuid(const uint8_t b[16]) {
  static constexpr char kHex[] = "0123456789abcdef";
  char out[36];
  size_t n = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[n++] = '-';
    out[n++] = kHex[b[i] >> 4];
    out[n++] = kHex[b[i] & 0xF];
  }
  return std::string(out, n);
}

void SetUuidBits(uint8_t b[16]) {
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);
}

}  // namespace

std::string RequestId() {
  uint8_t b[16];
  uint64_t hi = NextFast();
  uint64_t lo = NextFast();
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(hi >> (8 * i));
    b[8 + i] = static_cast<uint8_t>(lo >> (8 * i));
  }
  SetUuidBits(b);
  return FormatUuid(b);
}

Result<std::string> SecureUuid() {
  uint8_t b[16];
  RETURN_IF_ERROR(Fill(b, sizeof b));
  SetUuidBits(b);
  return FormatUuid(b);
}

Result<std::string> AccessKeyId(std::string_view prefix) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  uint8_t b[16];
  RETURN_IF_ERROR(Fill(b, sizeof b));
  std::string out(prefix);
  for (uint8_t v : b) out += kAlphabet[v & 31];
  return out;
}

Result<SecretBytes> SecretAccessKey() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  SecretBytes raw(40);
  RETURN_IF_ERROR(Fill(raw.mutable_data(), raw.size()));
  SecretBytes out(40);
  for (size_t i = 0; i < 40; ++i) {
    out.mutable_data()[i] = kAlphabet[static_cast<uint8_t>(raw.reveal()[i]) & 63];
  }
  return out;
}

Result<std::string> AccountId() {
  uint64_t v = 0;
  RETURN_IF_ERROR(Fill(&v, sizeof v));
  v = 100000000000ull + v % 900000000000ull;
  return std::to_string(v);
}

}  // namespace rampart::ids
