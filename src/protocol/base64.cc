// Base64 for blob members on the JSON wire, written and read in place.
//
// Same alphabet and strictness as core's Base64Encode/Base64Decode
// (src/core/encoding.cc; base64_test.cc checks they agree), but without
// a temporary string per value or a capacity check per character: a
// KMS Encrypt's 256-byte plaintext and its ~450-character ciphertext
// blob went through those one character at a time.
#include <array>
#include <cstdint>

#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The 6-bit value of each alphabet byte; -1 for every other byte ('='
// included: padding is handled apart).
constexpr std::array<int8_t, 256> kValues = [] {
  std::array<int8_t, 256> table{};
  table.fill(-1);
  for (int i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return table;
}();

int SextetOf(char c) { return kValues[static_cast<unsigned char>(c)]; }

}  // namespace

void WriteBase64JsonString(std::string_view bytes, std::string& out) {
  const size_t n = bytes.size();
  const size_t start = out.size();
  out.resize(start + 2 + (n + 2) / 3 * 4);
  char* p = out.data() + start;
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  *p++ = '"';
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    p[0] = kAlphabet[v >> 18];
    p[1] = kAlphabet[(v >> 12) & 63];
    p[2] = kAlphabet[(v >> 6) & 63];
    p[3] = kAlphabet[v & 63];
    p += 4;
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{in[i]} << 16;
    p[0] = kAlphabet[v >> 18];
    p[1] = kAlphabet[(v >> 12) & 63];
    p[2] = '=';
    p[3] = '=';
    p += 4;
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
    p[0] = kAlphabet[v >> 18];
    p[1] = kAlphabet[(v >> 12) & 63];
    p[2] = kAlphabet[(v >> 6) & 63];
    p[3] = '=';
    p += 4;
  }
  *p = '"';
}

bool DecodeBase64(std::string_view text, std::string& out) {
  out.clear();
  if (text.empty()) return true;
  if (text.size() % 4 != 0) return false;
  // Padding: at most two '=', only at the very end.
  size_t pad = 0;
  if (text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  out.resize(text.size() / 4 * 3 - pad);
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  const size_t full = text.size() - 4;  // every quad but the last
  for (size_t i = 0; i < full; i += 4) {
    int a = SextetOf(text[i]), b = SextetOf(text[i + 1]);
    int c = SextetOf(text[i + 2]), d = SextetOf(text[i + 3]);
    if ((a | b | c | d) < 0) return false;
    uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                 (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    p[0] = static_cast<unsigned char>(v >> 16);
    p[1] = static_cast<unsigned char>(v >> 8);
    p[2] = static_cast<unsigned char>(v);
    p += 3;
  }
  std::string_view last = text.substr(full);
  int a = SextetOf(last[0]), b = SextetOf(last[1]);
  int c = pad >= 2 ? 0 : SextetOf(last[2]);
  int d = pad >= 1 ? 0 : SextetOf(last[3]);
  if ((a | b | c | d) < 0) return false;
  uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
               (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
  // Canonical form: the bits the padding drops must be zero.
  if ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0)) return false;
  p[0] = static_cast<unsigned char>(v >> 16);
  if (pad < 2) p[1] = static_cast<unsigned char>(v >> 8);
  if (pad < 1) p[2] = static_cast<unsigned char>(v);
  return true;
}

}  // namespace rampart::protocol::internal
