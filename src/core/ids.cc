#include "rampart/core/ids.h"

#include <openssl/rand.h>

#include <array>
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

void SetUuidBits(uint8_t b[16]) {
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);
}

// Where each byte's two hex digits start in the 8-4-4-4-12 text.
constexpr std::array<uint8_t, kUuidBytes> kUuidDigitAt = {0,  2,  4,  6,  9,  11, 14, 16,
                                                          19, 21, 24, 26, 28, 30, 32, 34};

// Hex digit values, 0xFF for every other byte (lowercase only).
constexpr std::array<uint8_t, 256> kHexValue = [] {
  std::array<uint8_t, 256> t{};
  t.fill(0xFF);
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = static_cast<uint8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[static_cast<size_t>(c)] = static_cast<uint8_t>(c - 'a' + 10);
  return t;
}();

}  // namespace

void FormatUuidInto(const uint8_t bytes[kUuidBytes], std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.assign(kUuidTextSize, '-');
  for (size_t i = 0; i < kUuidBytes; ++i) {
    out[kUuidDigitAt[i]] = kHex[bytes[i] >> 4];
    out[kUuidDigitAt[i] + 1] = kHex[bytes[i] & 0xF];
  }
}

std::string FormatUuid(const uint8_t bytes[kUuidBytes]) {
  std::string out;
  FormatUuidInto(bytes, out);
  return out;
}

bool ParseUuid(std::string_view text, uint8_t out[kUuidBytes]) {
  if (text.size() != kUuidTextSize || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
      text[23] != '-') {
    return false;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  // Every digit's value is ORed into bad: any non-digit sets its high bits.
  uint8_t bad = 0;
  for (size_t i = 0; i < kUuidBytes; ++i) {
    uint8_t hi = kHexValue[p[kUuidDigitAt[i]]];
    uint8_t lo = kHexValue[p[kUuidDigitAt[i] + 1]];
    bad |= static_cast<uint8_t>(hi | lo);
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return (bad & 0xF0) == 0;
}

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
