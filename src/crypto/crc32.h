// CRC-32 as gzip, zlib and PNG use it (polynomial 0x04C11DB7, bit-reflected,
// initial and final value 0xFFFFFFFF), for checking gzip trailers.
//
// On CPUs with VPCLMULQDQ and AVX2 the bulk of the data is folded 128 bytes
// per step by carry-less multiplication in four 256-bit registers (1.7
// times the speed of ISA-L's 128-bit PCLMULQDQ folding on such a CPU
// without AVX-512, seven times zlib's tables: docs/benchmarks.md); what is
// left at the end, and everything on other CPUs, goes through a
// byte-at-a-time table.
#pragma once

#include <cstdint>
#include <string_view>

namespace rampart::crypto {

// The CRC-32 of the bytes before data (crc; 0 for none) extended over data,
// with zlib's crc32() convention: Crc32(Crc32(0, a), b) == Crc32(0, a + b).
uint32_t Crc32(uint32_t crc, std::string_view data);

// Whether Crc32 folds with VPCLMULQDQ on this CPU; when false, Crc32 is the
// table alone and several times slower than zlib's or ISA-L's CRC-32.
bool Crc32Accelerated();

// The table alone, whatever the CPU (a reference for tests and fuzzing).
uint32_t Crc32Portable(uint32_t crc, std::string_view data);

}  // namespace rampart::crypto
