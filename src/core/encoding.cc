#include "rampart/core/encoding.h"

#include <array>
#include <cstdint>

namespace rampart {
namespace {

constexpr char kHexLower[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::array<int8_t, 256> MakeB64Table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kB64[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kB64Table = MakeB64Table();

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  std::string out;
  out.resize(bytes.size() * 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHexLower[b >> 4];
    out[2 * i + 1] = kHexLower[b & 0xF];
  }
  return out;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

void Base64EncodeAppend(std::string_view bytes, std::string& out) {
  // Sized once and written through a pointer: blobs on the JSON wire (KMS
  // plaintexts and ciphertexts) come through here on every request.
  const size_t n = bytes.size();
  const size_t start = out.size();
  out.resize(start + (n + 2) / 3 * 4);
  char* p = out.data() + start;
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    p[0] = kB64[v >> 18];
    p[1] = kB64[(v >> 12) & 63];
    p[2] = kB64[(v >> 6) & 63];
    p[3] = kB64[v & 63];
    p += 4;
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{in[i]} << 16;
    p[0] = kB64[v >> 18];
    p[1] = kB64[(v >> 12) & 63];
    p[2] = '=';
    p[3] = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8);
    p[0] = kB64[v >> 18];
    p[1] = kB64[(v >> 12) & 63];
    p[2] = kB64[(v >> 6) & 63];
    p[3] = '=';
  }
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  Base64EncodeAppend(bytes, out);
  return out;
}

bool Base64DecodeInto(std::string_view text, std::string& out) {
  out.clear();
  if (text.empty()) return true;
  if (text.size() % 4 != 0) return false;
  // Padding: at most two '=', only at the very end.
  size_t pad = 0;
  if (text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  out.resize(text.size() / 4 * 3 - pad);
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  auto sextet = [](char c) { return static_cast<int>(kB64Table[static_cast<unsigned char>(c)]); };
  const size_t full = text.size() - 4;  // every quad but the last
  for (size_t i = 0; i < full; i += 4) {
    int a = sextet(text[i]), b = sextet(text[i + 1]);
    int c = sextet(text[i + 2]), d = sextet(text[i + 3]);
    if ((a | b | c | d) < 0) return false;
    uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                 (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    p[0] = static_cast<unsigned char>(v >> 16);
    p[1] = static_cast<unsigned char>(v >> 8);
    p[2] = static_cast<unsigned char>(v);
    p += 3;
  }
  std::string_view last = text.substr(full);
  int a = sextet(last[0]), b = sextet(last[1]);
  int c = pad >= 2 ? 0 : sextet(last[2]);
  int d = pad >= 1 ? 0 : sextet(last[3]);
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

std::optional<std::string> Base64Decode(std::string_view text) {
  std::string out;
  if (!Base64DecodeInto(text, out)) return std::nullopt;
  return out;
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHexUpper[c >> 4];
      out += kHexUpper[c & 0xF];
    }
  }
  return out;
}

std::optional<std::string> UriDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (s.size() - i < 3) return std::nullopt;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>((hi << 4) | lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<Params> ParseParams(std::string_view s, bool plus_is_space) {
  Params out;
  while (!s.empty()) {
    size_t amp = s.find('&');
    std::string_view pair = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view() : s.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    auto key = UriDecode(pair.substr(0, eq), plus_is_space);
    auto val = UriDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1),
                         plus_is_space);
    if (!key || !val) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*val));
  }
  return out;
}

}  // namespace rampart
