// Files of the digest chain: gzip in and out, atomic writes. Internal to
// the audit room.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "rampart/core/status.h"

namespace rampart::audit::internal {

// gzip (RFC 1952) of data.
Result<std::string> GzipBytes(std::string_view data);
// Inflates a gzip stream; kValidation when it is not one, or inflates to
// more than max_out bytes.
Result<std::string> GunzipBytes(std::string_view gz, size_t max_out);
// Lowercase hex SHA-256 of a gzip stream's inflated contents, computed
// while inflating (no copy of the whole file); kValidation when the bytes
// are not a gzip stream.
Result<std::string> Sha256OfGunzipped(std::string_view gz);
// Sha256OfGunzipped of the file at path, read in chunks (memory does not
// grow with the file); kNotFound when it cannot be opened, kInternal when
// reading fails.
Result<std::string> Sha256OfGunzippedFile(const std::filesystem::path& path);

// One file for Sha256OfGunzippedFiles.
struct GunzipHashJob {
  size_t id = 0;  // handed back with the result
  std::filesystem::path path;
};
// Hashes the files next() yields (until nullopt) in the lanes of a
// crypto::Sha256MultiBuffer with the best kernel, as many at a time as the
// kernel hashes together (16 with AVX-512, 2 with the SHA extensions):
// each open file is inflated one chunk per step, round-robin, and the
// step's chunks are hashed together. Calls done(id, result) for each file
// as it ends, with what Sha256OfGunzippedFile would return. Memory stays
// flat: per lane, ISA-L's state and one chunk in and out (about 400 KiB),
// whatever the file sizes. Only worth it with a SIMD kernel and files for
// every lane: one lane alone is slower than Sha256OfGunzippedFile.
void Sha256OfGunzippedFiles(const std::function<std::optional<GunzipHashJob>()>& next,
                            const std::function<void(size_t, Result<std::string>)>& done);
// Writes bytes to path through a temporary file, fsync and rename, making
// the parent directories.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes);
// Reads a whole file; kNotFound when it does not exist.
Result<std::string> ReadWholeFile(const std::filesystem::path& path);

}  // namespace rampart::audit::internal
