// Multi-buffer SHA-256 (FIPS 180-4, section 6.2), lanes in SIMD registers.
//
// Each kernel function carries its own target attribute and is chosen at
// run time (__builtin_cpu_supports, or crypto/cpu_features.h), so
// the rest of the build keeps its compiler flags and the binary still runs
// on CPUs without AVX-512 or the SHA extensions.
#include "crypto/sha256_mb.h"

// GCC 12 reports the deliberately undefined source operand inside its own
// AVX-512 intrinsics (_mm512_undefined_epi32) as maybe uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "crypto/cpu_features.h"
#include "rampart/core/check.h"

namespace rampart::crypto {
namespace {

alignas(64) constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

constexpr uint32_t kInitial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// ---- Portable kernel: one lane at a time ----

inline uint32_t Ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline uint32_t LoadBe32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// One compression of FIPS 180-4 6.2.2 on h (8 words).
void CompressScalar(uint32_t* h, const uint8_t* block) {
  uint32_t w[64];
  for (int t = 0; t < 16; ++t) w[t] = LoadBe32(block + 4 * t);
  for (int t = 16; t < 64; ++t) {
    uint32_t s0 = Ror(w[t - 15], 7) ^ Ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = Ror(w[t - 2], 17) ^ Ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int t = 0; t < 64; ++t) {
    uint32_t t1 = hh + (Ror(e, 6) ^ Ror(e, 11) ^ Ror(e, 25)) + ((e & f) ^ (~e & g)) + kK[t] + w[t];
    uint32_t t2 = (Ror(a, 2) ^ Ror(a, 13) ^ Ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

// Compresses blocks blocks of one lane whose state is column lane of state.
void LaneScalar(uint32_t (*state)[Sha256MultiBuffer::kMaxLanes], size_t lane, const uint8_t* p,
                size_t blocks) {
  uint32_t h[8];
  for (int i = 0; i < 8; ++i) h[i] = state[i][lane];
  for (size_t b = 0; b < blocks; ++b) CompressScalar(h, p + b * Sha256MultiBuffer::kBlock);
  for (int i = 0; i < 8; ++i) state[i][lane] = h[i];
}

void BlocksScalar(uint32_t (*state)[Sha256MultiBuffer::kMaxLanes], const uint8_t* const* ptrs,
                  size_t blocks, uint32_t mask) {
  for (size_t lane = 0; lane < Sha256MultiBuffer::kMaxLanes; ++lane) {
    if (mask & (1u << lane)) LaneScalar(state, lane, ptrs[lane], blocks);
  }
}

// ---- AVX-512: 16 lanes ----
//
// Rotations are one instruction (vprord) and the three-input functions one
// vpternlogd, which is what makes 16 lanes beat the SHA extensions.

#define RAMPART_AVX512 __attribute__((target("avx512f,avx512bw"), always_inline)) inline

RAMPART_AVX512 __m512i Add(__m512i a, __m512i b) { return _mm512_add_epi32(a, b); }
RAMPART_AVX512 __m512i Xor3(__m512i a, __m512i b, __m512i c) {
  return _mm512_ternarylogic_epi32(a, b, c, 0x96);
}
RAMPART_AVX512 __m512i BigSigma0(__m512i a) {
  return Xor3(_mm512_ror_epi32(a, 2), _mm512_ror_epi32(a, 13), _mm512_ror_epi32(a, 22));
}
RAMPART_AVX512 __m512i BigSigma1(__m512i e) {
  return Xor3(_mm512_ror_epi32(e, 6), _mm512_ror_epi32(e, 11), _mm512_ror_epi32(e, 25));
}
RAMPART_AVX512 __m512i SmallSigma0(__m512i x) {
  return Xor3(_mm512_ror_epi32(x, 7), _mm512_ror_epi32(x, 18), _mm512_srli_epi32(x, 3));
}
RAMPART_AVX512 __m512i SmallSigma1(__m512i x) {
  return Xor3(_mm512_ror_epi32(x, 17), _mm512_ror_epi32(x, 19), _mm512_srli_epi32(x, 10));
}
// Ch(e,f,g) = e ? f : g; Maj(a,b,c) = majority: one vpternlogd each.
RAMPART_AVX512 __m512i Ch(__m512i e, __m512i f, __m512i g) {
  return _mm512_ternarylogic_epi32(e, f, g, 0xCA);
}
RAMPART_AVX512 __m512i Maj(__m512i a, __m512i b, __m512i c) {
  return _mm512_ternarylogic_epi32(a, b, c, 0xE8);
}

// Loads block b of each lane and transposes: w[j] holds word j (big
// endian) of every lane's block, lane i in element i.
RAMPART_AVX512 void LoadTransposed512(__m512i* w, const uint8_t* const* ptrs, size_t offset) {
  const __m512i swap = _mm512_set_epi8(
      60, 61, 62, 63, 56, 57, 58, 59, 52, 53, 54, 55, 48, 49, 50, 51, 44, 45, 46, 47, 40, 41, 42,
      43, 36, 37, 38, 39, 32, 33, 34, 35, 28, 29, 30, 31, 24, 25, 26, 27, 20, 21, 22, 23, 16, 17,
      18, 19, 12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
  __m512i r[16], t[16];
  for (int i = 0; i < 16; ++i) {
    r[i] = _mm512_shuffle_epi8(_mm512_loadu_si512(ptrs[i] + offset), swap);
  }
  // Within each 128-bit quarter: 4x4 transposes of rows in groups of four.
  for (int g = 0; g < 16; g += 4) {
    __m512i lo01 = _mm512_unpacklo_epi32(r[g], r[g + 1]);
    __m512i hi01 = _mm512_unpackhi_epi32(r[g], r[g + 1]);
    __m512i lo23 = _mm512_unpacklo_epi32(r[g + 2], r[g + 3]);
    __m512i hi23 = _mm512_unpackhi_epi32(r[g + 2], r[g + 3]);
    t[g] = _mm512_unpacklo_epi64(lo01, lo23);      // words 4q of rows g..g+3
    t[g + 1] = _mm512_unpackhi_epi64(lo01, lo23);  // words 4q+1
    t[g + 2] = _mm512_unpacklo_epi64(hi01, hi23);  // words 4q+2
    t[g + 3] = _mm512_unpackhi_epi64(hi01, hi23);  // words 4q+3
  }
  // Then move the quarters: two rounds of 128-bit shuffles.
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm512_shuffle_i32x4(t[k], t[k + 4], 0x88);       // quarters 0,2 of rows 0-7
    r[k + 4] = _mm512_shuffle_i32x4(t[k], t[k + 4], 0xDD);   // quarters 1,3
    r[k + 8] = _mm512_shuffle_i32x4(t[k + 8], t[k + 12], 0x88);
    r[k + 12] = _mm512_shuffle_i32x4(t[k + 8], t[k + 12], 0xDD);
  }
  for (int k = 0; k < 4; ++k) {
    w[k] = _mm512_shuffle_i32x4(r[k], r[k + 8], 0x88);        // words k
    w[k + 4] = _mm512_shuffle_i32x4(r[k + 4], r[k + 12], 0x88);  // words 4+k
    w[k + 8] = _mm512_shuffle_i32x4(r[k], r[k + 8], 0xDD);    // words 8+k
    w[k + 12] = _mm512_shuffle_i32x4(r[k + 4], r[k + 12], 0xDD);  // words 12+k
  }
}

// One round; the caller rotates the names instead of moving registers.
#define RAMPART_ROUND512(a, b, c, d, e, f, g, h, kw)                     \
  do {                                                                   \
    __m512i t1_ = Add(Add(h, kw), Add(BigSigma1(e), Ch(e, f, g)));       \
    d = Add(d, t1_);                                                     \
    h = Add(t1_, Add(BigSigma0(a), Maj(a, b, c)));                       \
  } while (0)

// Round t (0..63) with its message word; from round 16 on, the word is
// first expanded in place in the ring of 16.
#define RAMPART_STEP512(i, a, b, c, d, e, f, g, h)                                   \
  do {                                                                               \
    if (t0 >= 16) {                                                                  \
      w[i] = Add(Add(w[i], SmallSigma0(w[(i + 1) & 15])),                           \
                 Add(w[(i + 9) & 15], SmallSigma1(w[(i + 14) & 15])));               \
    }                                                                                \
    RAMPART_ROUND512(a, b, c, d, e, f, g, h,                                         \
                     Add(w[i], _mm512_set1_epi32(static_cast<int>(kK[t0 + i]))));    \
  } while (0)

__attribute__((target("avx512f,avx512bw"))) void BlocksAvx512(
    uint32_t (*state)[Sha256MultiBuffer::kMaxLanes], const uint8_t* const* ptrs, size_t blocks,
    uint32_t mask) {
  __m512i a = _mm512_load_si512(state[0]), b = _mm512_load_si512(state[1]);
  __m512i c = _mm512_load_si512(state[2]), d = _mm512_load_si512(state[3]);
  __m512i e = _mm512_load_si512(state[4]), f = _mm512_load_si512(state[5]);
  __m512i g = _mm512_load_si512(state[6]), h = _mm512_load_si512(state[7]);
  for (size_t blk = 0; blk < blocks; ++blk) {
    __m512i w[16];
    LoadTransposed512(w, ptrs, blk * Sha256MultiBuffer::kBlock);
    __m512i sa = a, sb = b, sc = c, sd = d, se = e, sf = f, sg = g, sh = h;
    for (int t0 = 0; t0 < 64; t0 += 16) {
      RAMPART_STEP512(0, a, b, c, d, e, f, g, h);
      RAMPART_STEP512(1, h, a, b, c, d, e, f, g);
      RAMPART_STEP512(2, g, h, a, b, c, d, e, f);
      RAMPART_STEP512(3, f, g, h, a, b, c, d, e);
      RAMPART_STEP512(4, e, f, g, h, a, b, c, d);
      RAMPART_STEP512(5, d, e, f, g, h, a, b, c);
      RAMPART_STEP512(6, c, d, e, f, g, h, a, b);
      RAMPART_STEP512(7, b, c, d, e, f, g, h, a);
      RAMPART_STEP512(8, a, b, c, d, e, f, g, h);
      RAMPART_STEP512(9, h, a, b, c, d, e, f, g);
      RAMPART_STEP512(10, g, h, a, b, c, d, e, f);
      RAMPART_STEP512(11, f, g, h, a, b, c, d, e);
      RAMPART_STEP512(12, e, f, g, h, a, b, c, d);
      RAMPART_STEP512(13, d, e, f, g, h, a, b, c);
      RAMPART_STEP512(14, c, d, e, f, g, h, a, b);
      RAMPART_STEP512(15, b, c, d, e, f, g, h, a);
    }
    a = Add(a, sa);
    b = Add(b, sb);
    c = Add(c, sc);
    d = Add(d, sd);
    e = Add(e, se);
    f = Add(f, sf);
    g = Add(g, sg);
    h = Add(h, sh);
  }
  __mmask16 m = static_cast<__mmask16>(mask);
  _mm512_mask_store_epi32(state[0], m, a);
  _mm512_mask_store_epi32(state[1], m, b);
  _mm512_mask_store_epi32(state[2], m, c);
  _mm512_mask_store_epi32(state[3], m, d);
  _mm512_mask_store_epi32(state[4], m, e);
  _mm512_mask_store_epi32(state[5], m, f);
  _mm512_mask_store_epi32(state[6], m, g);
  _mm512_mask_store_epi32(state[7], m, h);
}

#undef RAMPART_STEP512
#undef RAMPART_ROUND512

// ---- SHA extensions: lanes in pairs ----
//
// One SHA-256 stream with sha256rnds2 waits on the instruction's latency:
// each round pair needs the state the previous one produced. Two streams
// interleaved fill those gaps, so a pair hashes at nearly twice the speed of
// one stream (docs/benchmarks.md: 1.55 to 2.9 GB/s per core on this AMD
// EPYC); three or four gained no more there.
//
// The extensions keep the state as two registers, ABEF and CDGH (a in the
// highest element), and the message schedule in four registers of four
// words each, reused in a ring.

#define RAMPART_SHANI __attribute__((target("sha,sse4.1,ssse3"), always_inline)) inline

// Loads FIPS word order (h[0] = a ... h[7] = h) into ABEF and CDGH.
RAMPART_SHANI void LoadShaNiState(const uint32_t* h, __m128i& abef, __m128i& cdgh) {
  __m128i badc = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)), 0xB1);
  __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4)), 0x1B);
  abef = _mm_alignr_epi8(badc, hgfe, 8);
  cdgh = _mm_blend_epi16(hgfe, badc, 0xF0);
}

RAMPART_SHANI void StoreShaNiState(__m128i abef, __m128i cdgh, uint32_t* h) {
  __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), _mm_alignr_epi8(dchg, feba, 8));
}

// Compresses blocks blocks of kStreams independent streams, interleaved
// round by round. h[i] is stream i's state in FIPS word order.
template <int kStreams>
__attribute__((target("sha,sse4.1,ssse3"))) void CompressShaNi(uint32_t* const* h,
                                                                const uint8_t* const* ptrs,
                                                                size_t blocks) {
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i abef[kStreams], cdgh[kStreams];
  for (int i = 0; i < kStreams; ++i) LoadShaNiState(h[i], abef[i], cdgh[i]);
  for (size_t blk = 0; blk < blocks; ++blk) {
    __m128i w[kStreams][4], saved_abef[kStreams], saved_cdgh[kStreams];
    for (int i = 0; i < kStreams; ++i) {
      saved_abef[i] = abef[i];
      saved_cdgh[i] = cdgh[i];
    }
    // Group g does rounds 4g..4g+3 with schedule words 4g..4g+3, kept in
    // w[i][g % 4]; from group 4 on they come from the four before them.
#pragma GCC unroll 16
    for (int g = 0; g < 16; ++g) {
      const __m128i k = _mm_load_si128(reinterpret_cast<const __m128i*>(kK + 4 * g));
#pragma GCC unroll 4
      for (int i = 0; i < kStreams; ++i) {
        // Indexed directly (not through a pointer to w[i]) so that the
        // compiler keeps the ring in registers.
        if (g < 4) {
          const uint8_t* p = ptrs[i] + blk * Sha256MultiBuffer::kBlock + 16 * g;
          w[i][g] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), bswap);
        } else {
          // W[t-16] + s0(W[t-15]), then + W[t-7], then + s1(W[t-2]).
          __m128i x = _mm_sha256msg1_epu32(w[i][g & 3], w[i][(g + 1) & 3]);
          x = _mm_add_epi32(x, _mm_alignr_epi8(w[i][(g + 3) & 3], w[i][(g + 2) & 3], 4));
          w[i][g & 3] = _mm_sha256msg2_epu32(x, w[i][(g + 3) & 3]);
        }
        __m128i wk = _mm_add_epi32(w[i][g & 3], k);
        cdgh[i] = _mm_sha256rnds2_epu32(cdgh[i], abef[i], wk);
        abef[i] = _mm_sha256rnds2_epu32(abef[i], cdgh[i], _mm_shuffle_epi32(wk, 0x0E));
      }
    }
    for (int i = 0; i < kStreams; ++i) {
      abef[i] = _mm_add_epi32(abef[i], saved_abef[i]);
      cdgh[i] = _mm_add_epi32(cdgh[i], saved_cdgh[i]);
    }
  }
  for (int i = 0; i < kStreams; ++i) StoreShaNiState(abef[i], cdgh[i], h[i]);
}

#undef RAMPART_SHANI

// Hashes the lanes in mask two at a time (an odd one last, alone).
void BlocksShaNi(uint32_t (*state)[Sha256MultiBuffer::kMaxLanes], const uint8_t* const* ptrs,
                 size_t blocks, uint32_t mask) {
  uint32_t h[Sha256MultiBuffer::kMaxLanes][8];
  size_t lanes[Sha256MultiBuffer::kMaxLanes];
  size_t n = 0;
  for (size_t lane = 0; lane < Sha256MultiBuffer::kMaxLanes; ++lane) {
    if (!(mask & (1u << lane))) continue;
    for (int i = 0; i < 8; ++i) h[n][i] = state[i][lane];
    lanes[n++] = lane;
  }
  for (size_t j = 0; j + 1 < n; j += 2) {
    uint32_t* pair[2] = {h[j], h[j + 1]};
    const uint8_t* data[2] = {ptrs[lanes[j]], ptrs[lanes[j + 1]]};
    CompressShaNi<2>(pair, data, blocks);
  }
  if (n % 2 == 1) {
    uint32_t* one[1] = {h[n - 1]};
    const uint8_t* data[1] = {ptrs[lanes[n - 1]]};
    CompressShaNi<1>(one, data, blocks);
  }
  for (size_t j = 0; j < n; ++j) {
    for (int i = 0; i < 8; ++i) state[i][lanes[j]] = h[j][i];
  }
}

}  // namespace

Sha256MultiBuffer::Kernel Sha256MultiBuffer::Best() {
  static const Kernel best = Supported(Kernel::kAvx512)  ? Kernel::kAvx512
                             : Supported(Kernel::kShaNi) ? Kernel::kShaNi
                                                         : Kernel::kScalar;
  return best;
}

bool Sha256MultiBuffer::Supported(Kernel kernel) {
  __builtin_cpu_init();  // in case this runs from a static constructor
  switch (kernel) {
    case Kernel::kScalar: return true;
    case Kernel::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    case Kernel::kShaNi: return CpuHasShaNi();
  }
  return false;
}

Sha256MultiBuffer::Sha256MultiBuffer(Kernel kernel) : kernel_(kernel) {
  RAMPART_CHECK(Supported(kernel));
  std::memset(state_, 0, sizeof(state_));
}

size_t Sha256MultiBuffer::ParallelLanes(Kernel kernel) {
  switch (kernel) {
    case Kernel::kAvx512: return kMaxLanes;
    case Kernel::kShaNi: return 2;
    case Kernel::kScalar: return 1;
  }
  return 1;
}

void Sha256MultiBuffer::Start(size_t lane) {
  RAMPART_CHECK(lane < kMaxLanes && !lanes_[lane].busy);
  lanes_[lane] = Lane{};
  lanes_[lane].busy = true;
  for (int i = 0; i < 8; ++i) state_[i][lane] = kInitial[i];
}

void Sha256MultiBuffer::Feed(size_t lane, std::string_view piece) {
  Lane& l = lanes_[lane];
  RAMPART_CHECK(l.busy && l.used == l.size);
  l.data = reinterpret_cast<const uint8_t*>(piece.data());
  l.size = piece.size();
  l.used = 0;
  l.total += piece.size();
}

void Sha256MultiBuffer::Call(const uint8_t* const* ptrs, size_t blocks, uint32_t mask) {
  // Lanes outside the mask read some lane's blocks; their state is kept.
  const uint8_t* all[kMaxLanes];
  const uint8_t* any = nullptr;
  for (size_t i = 0; i < kMaxLanes; ++i) {
    if (mask & (1u << i)) any = ptrs[i];
  }
  for (size_t i = 0; i < kMaxLanes; ++i) all[i] = (mask & (1u << i)) ? ptrs[i] : any;
  switch (kernel_) {
    case Kernel::kAvx512: BlocksAvx512(state_, all, blocks, mask); break;
    case Kernel::kShaNi: BlocksShaNi(state_, all, blocks, mask); break;
    case Kernel::kScalar: BlocksScalar(state_, all, blocks, mask); break;
  }
}

void Sha256MultiBuffer::AbsorbTail(size_t lane) {
  Lane& l = lanes_[lane];
  size_t n = std::min(l.size - l.used, kBlock - l.tail_size);
  if (n == 0) return;
  std::memcpy(l.tail + l.tail_size, l.data + l.used, n);
  l.tail_size += n;
  l.used += n;
}

void Sha256MultiBuffer::Run() {
  const uint8_t* ptrs[kMaxLanes] = {};
  // A lane holding kept bytes first tops its tail up from its piece; a full
  // tail is hashed in a one-block step beside the other lanes' next block.
  uint32_t mask = 0;
  for (size_t i = 0; i < kMaxLanes; ++i) {
    Lane& l = lanes_[i];
    if (!l.busy) continue;
    if (l.tail_size > 0) AbsorbTail(i);
    if (l.tail_size == kBlock) {
      ptrs[i] = l.tail;
      mask |= 1u << i;
    }
  }
  if (mask != 0) {
    for (size_t i = 0; i < kMaxLanes; ++i) {
      Lane& l = lanes_[i];
      if (l.busy && !(mask & (1u << i)) && l.tail_size == 0 && l.size - l.used >= kBlock) {
        ptrs[i] = l.data + l.used;
        l.used += kBlock;
        mask |= 1u << i;
      }
    }
    Call(ptrs, 1, mask);
    for (size_t i = 0; i < kMaxLanes; ++i) {
      if (lanes_[i].tail_size == kBlock) lanes_[i].tail_size = 0;
    }
  }
  // Then whole blocks straight from the pieces, as many per step as the
  // shortest piece allows.
  while (true) {
    mask = 0;
    size_t blocks = SIZE_MAX;
    for (size_t i = 0; i < kMaxLanes; ++i) {
      Lane& l = lanes_[i];
      size_t whole = (l.size - l.used) / kBlock;
      if (!l.busy || l.tail_size != 0 || whole == 0) continue;
      ptrs[i] = l.data + l.used;
      mask |= 1u << i;
      blocks = std::min(blocks, whole);
    }
    if (mask == 0) break;
    Call(ptrs, blocks, mask);
    for (size_t i = 0; i < kMaxLanes; ++i) {
      if (mask & (1u << i)) lanes_[i].used += blocks * kBlock;
    }
  }
  // What is left of each piece is under a block: the lane keeps it.
  for (size_t i = 0; i < kMaxLanes; ++i) {
    if (lanes_[i].busy && Pending(i) > 0) AbsorbTail(i);
  }
}

std::array<uint8_t, 32> Sha256MultiBuffer::Finish(size_t lane) {
  Lane& l = lanes_[lane];
  RAMPART_CHECK(lane < kMaxLanes && l.busy);
  uint32_t h[8];
  for (int i = 0; i < 8; ++i) h[i] = state_[i][lane];
  // The kept bytes, then the rest of the piece, one block at a time.
  while (true) {
    AbsorbTail(lane);
    if (l.tail_size < kBlock) break;
    CompressScalar(h, l.tail);
    l.tail_size = 0;
  }
  // Padding (5.1.1): 0x80, zeros, and the length in bits, big endian.
  uint8_t pad[2 * kBlock] = {};
  std::memcpy(pad, l.tail, l.tail_size);
  pad[l.tail_size] = 0x80;
  size_t blocks = l.tail_size + 1 + 8 <= kBlock ? 1 : 2;
  uint64_t bits = l.total * 8;
  for (int i = 0; i < 8; ++i) pad[blocks * kBlock - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  for (size_t b = 0; b < blocks; ++b) CompressScalar(h, pad + b * kBlock);
  std::array<uint8_t, 32> out;
  for (int i = 0; i < 8; ++i) {
    out[4 * i] = static_cast<uint8_t>(h[i] >> 24);
    out[4 * i + 1] = static_cast<uint8_t>(h[i] >> 16);
    out[4 * i + 2] = static_cast<uint8_t>(h[i] >> 8);
    out[4 * i + 3] = static_cast<uint8_t>(h[i]);
  }
  l = Lane{};
  return out;
}

}  // namespace rampart::crypto
