// x86 instruction-set extensions the hand-vectorised kernels of this room
// need beyond the build's baseline, read once with cpuid. A kernel is used
// only when its check is true, so the binary still runs on CPUs without
// them.
#pragma once

namespace rampart::crypto {

// SHA-NI (with the SSSE3 and SSE4.1 the SHA-256 kernel also uses).
bool CpuHasShaNi();
// VPCLMULQDQ on 256-bit registers: AVX2 (with the OS saving the YMM
// state) and the VPCLMULQDQ extension.
bool CpuHasVpclmulqdqAvx2();

}  // namespace rampart::crypto
