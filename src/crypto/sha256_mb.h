// Multi-buffer SHA-256: up to 16 independent messages hashed side by side,
// one per 32-bit lane of an AVX-512 register, or two at a time interleaved
// through the SHA extensions.
// Each lane computes the ordinary SHA-256 of FIPS 180-4 over its own
// message: the digests equal OpenSSL's (or any other SHA-256) of each
// message. It pays off only when many messages are hashed together, e.g.
// `rampart audit validate` hashing many log files; for one message,
// crypto::Sha256 (OpenSSL, SHA extensions) is faster.
//
// Usage: Start(lane) begins a message; Feed(lane, piece) hands the lane its
// next piece (the bytes must stay valid until Pending(lane) is 0); Run()
// hashes what the busy lanes have been fed, in steps that take the same
// number of whole blocks from each lane; Finish(lane) hashes the rest and
// the padding and frees the lane. A lane whose piece ends in a partial
// block keeps those bytes (at most 63) itself, so the caller can feed the
// next piece at any boundary.
//
// Thread-safety: an instance belongs to one thread at a time; instances are
// independent.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rampart::crypto {

class Sha256MultiBuffer {
 public:
  static constexpr size_t kMaxLanes = 16;
  static constexpr size_t kBlock = 64;

  // The code that hashes the lanes. kScalar is portable C++, one lane
  // after the other (a reference and fallback, several times slower than
  // OpenSSL's SHA-NI code); kAvx512 needs AVX512F and AVX512BW and hashes
  // all 16 lanes in one register each step; kShaNi needs the SHA extensions
  // and hashes the lanes in interleaved pairs.
  enum class Kernel { kScalar, kAvx512, kShaNi };

  // The kernel to use on this CPU (checked once, at run time): AVX-512 if
  // present, else the SHA extensions, else kScalar. Where a CPU has both,
  // AVX-512 is chosen: it is the one measured faster on such a CPU (Intel,
  // docs/benchmarks.md); no CPU with both and a faster SHA unit was at hand.
  static Kernel Best();
  // Whether kernel runs on this CPU.
  static bool Supported(Kernel kernel);

  // REQUIRES: Supported(kernel).
  explicit Sha256MultiBuffer(Kernel kernel = Best());

  Kernel kernel() const { return kernel_; }
  // Lanes: 16 for every kernel (kScalar loops over them).
  size_t width() const { return kMaxLanes; }
  // How many busy lanes kernel hashes together: keeping more busy than this
  // gains no speed, only memory (16 for kAvx512, 2 for kShaNi, 1 for
  // kScalar).
  static size_t ParallelLanes(Kernel kernel);
  bool busy(size_t lane) const { return lanes_[lane].busy; }

  // Begins a new message on an idle lane. REQUIRES: lane < width(), !busy(lane).
  void Start(size_t lane);
  // Hands a busy lane its next piece. REQUIRES: Pending(lane) == 0.
  void Feed(size_t lane, std::string_view piece);
  // Bytes of the lane's last piece that Run has not consumed yet.
  size_t Pending(size_t lane) const { return lanes_[lane].size - lanes_[lane].used; }
  // Hashes the whole blocks of the busy lanes' pieces, in kernel calls that
  // advance every lane that has a block ready by the same number of blocks,
  // until no piece holds a whole block; a piece's last partial block is then
  // kept by the lane. Afterwards Pending(lane) is 0 for every lane.
  void Run();
  // Hashes the lane's kept bytes and pending piece with the padding, and
  // frees the lane. Other lanes' pending pieces stay pending.
  std::array<uint8_t, 32> Finish(size_t lane);

 private:
  struct Lane {
    bool busy = false;
    const uint8_t* data = nullptr;  // the fed piece
    size_t size = 0;
    size_t used = 0;   // bytes of the piece consumed
    uint64_t total = 0;  // message bytes so far (piece bytes fed)
    uint8_t tail[kBlock] = {};  // a partial block kept between pieces
    size_t tail_size = 0;
  };

  // One kernel call: blocks blocks from each lane in mask, read from ptrs.
  void Call(const uint8_t* const* ptrs, size_t blocks, uint32_t mask);
  // Moves the lane's leftover (< 64 bytes) into its tail; the tail, if it
  // fills, is hashed by the next step.
  void AbsorbTail(size_t lane);

  Kernel kernel_;
  // The lanes' chaining values, word-major: state_[word][lane], so a
  // kernel loads each word of all lanes in one register.
  alignas(64) uint32_t state_[8][kMaxLanes];
  Lane lanes_[kMaxLanes];
};

}  // namespace rampart::crypto
