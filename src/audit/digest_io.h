// Files of the digest chain: gzip in and out, atomic writes. Internal to
// the audit room.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <filesystem>
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
// Writes bytes to path through a temporary file, fsync and rename, making
// the parent directories.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes);
// Reads a whole file; kNotFound when it does not exist.
Result<std::string> ReadWholeFile(const std::filesystem::path& path);

}  // namespace rampart::audit::internal
