// SHA-256 throughput per core: OpenSSL's EVP SHA-256 (SHA extensions on
// this CPU) against the multi-buffer kernels of src/crypto/sha256_mb.h on
// the same bytes. `rampart audit validate` hashes every log file's
// uncompressed bytes, so this decides how it hashes (docs/benchmarks.md).
//
//   build-x/sha256_mb_bench --benchmark_repetitions=5
//
// Each benchmark hashes 16 buffers of 256 KiB (the inflate chunk of
// validation), one after the other for OpenSSL and side by side in the
// lanes for the multi-buffer kernels; Lanes/N keeps only N lanes busy.
//
// The CRC-32 every gzip trailer check also needs over the same bytes:
// crypto::Crc32 (src/crypto/crc32.h), ISA-L's crc32_gzip_refl and zlib's
// crc32, over the same 16 buffers.
#include <benchmark/benchmark.h>

#include <isa-l/crc.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

#include "crypto/crc32.h"
#include "crypto/sha256_mb.h"

namespace {

using rampart::crypto::Sha256MultiBuffer;

constexpr size_t kPiece = 256 * 1024;

const std::vector<std::string>& Buffers() {
  static const std::vector<std::string> bufs = [] {
    std::mt19937 rng(1);
    std::vector<std::string> out(Sha256MultiBuffer::kMaxLanes, std::string(kPiece, '\0'));
    for (std::string& b : out) {
      for (char& c : b) c = static_cast<char>(rng());
    }
    return out;
  }();
  return bufs;
}

void BM_OpenSslEvpSha256(benchmark::State& state) {
  const auto& bufs = Buffers();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (auto _ : state) {
    for (const std::string& b : bufs) EVP_DigestUpdate(ctx, b.data(), b.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bufs.size() * kPiece));
}
BENCHMARK(BM_OpenSslEvpSha256);

// Lanes lanes busy, each fed one 256 KiB piece per Run.
void MultiBuffer(benchmark::State& state, Sha256MultiBuffer::Kernel kernel) {
  if (!Sha256MultiBuffer::Supported(kernel)) {
    state.SkipWithError("kernel not supported on this CPU");
    return;
  }
  const auto& bufs = Buffers();
  size_t lanes = static_cast<size_t>(state.range(0));
  Sha256MultiBuffer mb(kernel);
  for (size_t i = 0; i < lanes; ++i) mb.Start(i);
  for (auto _ : state) {
    for (size_t i = 0; i < lanes; ++i) mb.Feed(i, bufs[i]);
    mb.Run();
  }
  for (size_t i = 0; i < lanes; ++i) benchmark::DoNotOptimize(mb.Finish(i));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * lanes * kPiece));
}

void BM_MultiBufferAvx512(benchmark::State& state) {
  MultiBuffer(state, Sha256MultiBuffer::Kernel::kAvx512);
}
BENCHMARK(BM_MultiBufferAvx512)->ArgName("Lanes")->Arg(16)->Arg(8)->Arg(4)->Arg(1);

void BM_MultiBufferShaNi(benchmark::State& state) {
  MultiBuffer(state, Sha256MultiBuffer::Kernel::kShaNi);
}
BENCHMARK(BM_MultiBufferShaNi)->ArgName("Lanes")->Arg(16)->Arg(2)->Arg(1);

template <typename Crc>
void CrcOverBuffers(benchmark::State& state, Crc crc) {
  const auto& bufs = Buffers();
  uint32_t value = 0;
  for (auto _ : state) {
    for (const std::string& b : bufs) value = crc(value, b);
  }
  benchmark::DoNotOptimize(value);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bufs.size() * kPiece));
}

void BM_Crc32Rampart(benchmark::State& state) {
  state.SetLabel(rampart::crypto::Crc32Accelerated() ? "VPCLMULQDQ" : "table");
  CrcOverBuffers(state, [](uint32_t c, const std::string& b) { return rampart::crypto::Crc32(c, b); });
}
BENCHMARK(BM_Crc32Rampart);

void BM_Crc32Isal(benchmark::State& state) {
  CrcOverBuffers(state, [](uint32_t c, const std::string& b) {
    return crc32_gzip_refl(c, reinterpret_cast<const unsigned char*>(b.data()), b.size());
  });
}
BENCHMARK(BM_Crc32Isal);

void BM_Crc32Zlib(benchmark::State& state) {
  CrcOverBuffers(state, [](uint32_t c, const std::string& b) {
    return static_cast<uint32_t>(
        crc32(c, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size())));
  });
}
BENCHMARK(BM_Crc32Zlib);

void BM_MultiBufferScalar(benchmark::State& state) {
  MultiBuffer(state, Sha256MultiBuffer::Kernel::kScalar);
}
BENCHMARK(BM_MultiBufferScalar)->ArgName("Lanes")->Arg(16);

}  // namespace
