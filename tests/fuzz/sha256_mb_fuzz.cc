// Fuzzes the multi-buffer SHA-256 (src/crypto/sha256_mb.h) against
// OpenSSL's SHA-256. The input chooses the kernel, how many lanes are busy,
// and step by step what each lane does: take a piece of the input (of a
// chosen size, so pieces split blocks anywhere), sit out the step, or end
// its message and start another. Invariant: every message's digest equals
// OpenSSL's of the same bytes, whatever the splits and the other lanes do.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "crypto/sha256_mb.h"
#include "rampart/core/check.h"
#include "rampart/crypto/digest.h"

namespace {

using rampart::crypto::Sha256MultiBuffer;

void CheckDigest(const std::array<uint8_t, 32>& got, const std::string& message) {
  std::string want = rampart::crypto::Sha256(message);
  RAMPART_CHECK(std::string(reinterpret_cast<const char*>(got.data()), got.size()) == want);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  constexpr Sha256MultiBuffer::Kernel kKernels[] = {Sha256MultiBuffer::Kernel::kScalar,
                                                   Sha256MultiBuffer::Kernel::kAvx512,
                                                   Sha256MultiBuffer::Kernel::kShaNi};
  Sha256MultiBuffer::Kernel kernel = kKernels[in.ConsumeIntegralInRange<size_t>(0, 2)];
  if (!Sha256MultiBuffer::Supported(kernel)) kernel = Sha256MultiBuffer::Kernel::kScalar;
  Sha256MultiBuffer mb(kernel);
  size_t lanes = in.ConsumeIntegralInRange<size_t>(1, mb.width());
  std::vector<std::string> messages(lanes);  // each lane's message so far
  std::vector<std::string> pieces(lanes);    // the piece a lane reads until Run
  for (size_t lane = 0; lane < lanes; ++lane) mb.Start(lane);
  while (in.remaining_bytes() > 0) {
    for (size_t lane = 0; lane < lanes && in.remaining_bytes() > 0; ++lane) {
      uint8_t action = in.ConsumeIntegral<uint8_t>();
      if (action < 16) {
        CheckDigest(mb.Finish(lane), messages[lane]);  // pending bytes included
        messages[lane].clear();
        mb.Start(lane);
      } else if (action >= 32 && mb.Pending(lane) == 0) {
        // Mostly short pieces, now and then a few blocks' worth.
        size_t max = action >= 224 ? 1024 : 130;
        pieces[lane] = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(0, max));
        messages[lane] += pieces[lane];
        mb.Feed(lane, pieces[lane]);
      }  // else the lane sits out this step
    }
    if (in.ConsumeBool()) mb.Run();
  }
  for (size_t lane = 0; lane < lanes; ++lane) CheckDigest(mb.Finish(lane), messages[lane]);
  return 0;
}
