// Fuzzes the audit event store's binary chunk decoder (event_chunk.h): the
// rows it reads are checked like input. Invariants: a blob either decodes
// or is refused; what decodes re-encodes to a blob that decodes to the same
// records (rendering both gives the same text).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "audit/event_chunk.h"
#include "rampart/core/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rampart::audit;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto decoded = internal::DecodeChunk(internal::ChunkFormat::kBinary, "", input);
  if (!decoded.ok() || decoded->empty()) return 0;
  auto again = internal::DecodeChunk(internal::ChunkFormat::kBinary, "",
                                     internal::EncodeChunk(*decoded).records);
  RAMPART_CHECK(again.ok() && again->size() == decoded->size());
  for (size_t i = 0; i < decoded->size(); ++i) {
    RAMPART_CHECK(RenderRecord((*decoded)[i]) == RenderRecord((*again)[i]));
  }
  return 0;
}
