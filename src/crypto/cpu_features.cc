#include "crypto/cpu_features.h"

#include <cpuid.h>

namespace rampart::crypto {
namespace {

struct Leaves {
  unsigned leaf1_ecx = 0;
  unsigned leaf7_ebx = 0;
  unsigned leaf7_ecx = 0;
};

Leaves ReadLeaves() {
  Leaves out;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) out.leaf1_ecx = ecx;
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    out.leaf7_ebx = ebx;
    out.leaf7_ecx = ecx;
  }
  return out;
}

const Leaves& Cpu() {
  static const Leaves leaves = ReadLeaves();
  return leaves;
}

bool Bit(unsigned reg, int bit) { return (reg >> bit) & 1u; }

}  // namespace

bool CpuHasShaNi() {
  const Leaves& c = Cpu();
  return Bit(c.leaf7_ebx, 29) && Bit(c.leaf1_ecx, 9) && Bit(c.leaf1_ecx, 19);
}

bool CpuHasVpclmulqdqAvx2() {
  __builtin_cpu_init();
  // __builtin_cpu_supports("avx2") also checks that the OS saves the YMM
  // registers (XGETBV).
  return __builtin_cpu_supports("avx2") && Bit(Cpu().leaf7_ecx, 10) && Bit(Cpu().leaf1_ecx, 1);
}

}  // namespace rampart::crypto
