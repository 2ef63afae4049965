// Cryptographically secure random bytes from OpenSSL's DRBG.
//
// Thread-safety: safe to call from any thread.
#pragma once

#include <cstddef>
#include <string>

#include "rampart/core/status.h"

namespace rampart::crypto {

// Upper bound for one RandomBytes call.
inline constexpr size_t kMaxRandomBytes = size_t{1} << 20;

// n random bytes. Fails with kValidation when n > kMaxRandomBytes and with
// kInternal when the DRBG cannot produce output (never silently weak).
Result<std::string> RandomBytes(size_t n);

}  // namespace rampart::crypto
