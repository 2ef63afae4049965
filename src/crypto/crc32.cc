// CRC-32 (see crc32.h).
//
// Folding: read as a polynomial over GF(2), the message's CRC is its
// remainder modulo P (after the initial and final inversions). A 128-bit
// piece X of the message that lies D bytes before piece Y may be replaced
// by X * x^(8D) mod P added into Y without changing the remainder; with
// X = Xhi * x^64 + Xlo, that is two 64 x 33-bit carry-less products with
// precomputed constants, XORed into Y. Eight such pieces side by side (four
// 256-bit registers, two pieces each) move through the message 128 bytes
// at a time; when fewer than 128 bytes are left, the 128 bytes of the
// registers stand for everything read so far, and the table finishes over
// them and the rest.
#include "crypto/crc32.h"

#include <immintrin.h>

#include <array>
#include <cstddef>
#include <cstring>

#include "crypto/cpu_features.h"

namespace rampart::crypto {
namespace {

constexpr uint32_t kReflectedPoly = 0xEDB88320;  // 0x04C11DB7, bits reversed
constexpr size_t kStep = 128;                    // bytes folded per step

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t r = i;
    for (int bit = 0; bit < 8; ++bit) r = (r >> 1) ^ ((r & 1) ? kReflectedPoly : 0);
    table[i] = r;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kTable = MakeTable();

// x^n mod P, bit-reflected into 32 bits and shifted left by one: the
// factor that moves a reflected 64-bit half n bits further along the
// message (the shift makes up for the product of two reflected values
// coming out one bit short).
constexpr uint64_t FoldConstant(int n) {
  uint64_t r = 1;  // x^0, in normal bit order
  for (int i = 0; i < n; ++i) {
    r <<= 1;
    if (r & (uint64_t{1} << 32)) r ^= 0x104C11DB7;
  }
  uint64_t reflected = 0;
  for (int i = 0; i < 32; ++i) {
    if ((r >> i) & 1) reflected |= uint64_t{1} << (31 - i);
  }
  return reflected << 1;
}
// For a 128-bit piece folded kStep bytes ahead: the low half travels
// 8 * kStep + 32 bits, the high half 8 * kStep - 32.
constexpr uint64_t kFoldLow = FoldConstant(8 * kStep + 32);
constexpr uint64_t kFoldHigh = FoldConstant(8 * kStep - 32);
static_assert(FoldConstant(8 * 64 + 32) == 0x154442bd4, "a known folding constant (64 bytes)");

uint32_t TableUpdate(uint32_t reg, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) reg = kTable[(reg ^ p[i]) & 0xFF] ^ (reg >> 8);
  return reg;
}

__attribute__((target("avx2"), always_inline)) inline __m256i Load(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// REQUIRES: n >= 2 * kStep. Returns the CRC register (not inverted) after
// the whole of p, starting from reg.
__attribute__((target("avx2,vpclmulqdq,pclmul"))) uint32_t FoldUpdate(uint32_t reg,
                                                                       const uint8_t* p,
                                                                       size_t n) {
  const __m256i k = _mm256_set_epi64x(static_cast<int64_t>(kFoldHigh),
                                      static_cast<int64_t>(kFoldLow),
                                      static_cast<int64_t>(kFoldHigh),
                                      static_cast<int64_t>(kFoldLow));
  // Starting from reg is the same as starting from 0 with reg XORed into
  // the first four bytes.
  __m256i acc[4] = {
      _mm256_xor_si256(Load(p), _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, static_cast<int>(reg))),
      Load(p + 32), Load(p + 64), Load(p + 96)};
  size_t off = kStep;
  for (; off + kStep <= n; off += kStep) {
    for (int j = 0; j < 4; ++j) {
      __m256i low = _mm256_clmulepi64_epi128(acc[j], k, 0x00);
      __m256i high = _mm256_clmulepi64_epi128(acc[j], k, 0x11);
      acc[j] = _mm256_xor_si256(_mm256_xor_si256(low, high), Load(p + off + 32 * j));
    }
  }
  alignas(32) uint8_t folded[kStep];
  for (int j = 0; j < 4; ++j) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(folded + 32 * j), acc[j]);
  }
  reg = TableUpdate(0, folded, kStep);
  return TableUpdate(reg, p + off, n - off);
}

}  // namespace

bool Crc32Accelerated() {
  static const bool accelerated = CpuHasVpclmulqdqAvx2();
  return accelerated;
}

uint32_t Crc32Portable(uint32_t crc, std::string_view data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  return ~TableUpdate(~crc, p, data.size());
}

uint32_t Crc32(uint32_t crc, std::string_view data) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  if (data.size() < 2 * kStep || !Crc32Accelerated()) return Crc32Portable(crc, data);
  return ~FoldUpdate(~crc, p, data.size());
}

}  // namespace rampart::crypto
