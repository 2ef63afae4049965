// Cryptographically secure random bytes from OpenSSL's DRBG.
//
// Thread-safety: safe to call from any thread. FillPublicRandom and
// RandomSecret each keep a small buffer of DRBG output per thread (see
// below); nothing is shared between threads.
#pragma once

#include <cstddef>
#include <string>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"

namespace rampart::crypto {

// Upper bound for one RandomBytes call.
inline constexpr size_t kMaxRandomBytes = size_t{1} << 20;

// n random bytes. Fails with kValidation when n > kMaxRandomBytes and with
// kInternal when the DRBG cannot produce output (never silently weak).
Result<std::string> RandomBytes(size_t n);

// Fills out[0, n) with random bytes that need not stay secret once used
// (AES-GCM nonces, event ids), from OpenSSL's public DRBG. Requests of at
// most kMaxBufferedPublic bytes are served from a per-thread buffer
// refilled 4 KiB at a time, which saves the DRBG's per-call locking and
// bookkeeping; every byte is handed out once, and a forked child refills
// before its first use, so parent and child never hand out the same
// bytes. Larger requests go to the DRBG directly. False when the DRBG
// cannot produce output (out's content is then unspecified).
bool FillPublicRandom(unsigned char* out, size_t n);
inline constexpr size_t kMaxBufferedPublic = 64;

// n random bytes meant to stay secret (data keys), from OpenSSL's private
// DRBG. Requests of at most kMaxBufferedSecret bytes are served from a
// per-thread buffer of one memory page, refilled when it runs short; every
// byte is handed out once and wiped from the buffer as it is handed out.
// The page is left out of core dumps, wiped and unmapped at thread exit,
// and on Linux 4.14 or later reads as zeros in a forked child (which then
// refills it); where the kernel cannot do that, the child notices the
// fork and refills before its first use. Either way parent and child never
// hand out the same bytes. Larger requests go to the DRBG directly.
// Errors as RandomBytes.
Result<SecretBytes> RandomSecret(size_t n);
inline constexpr size_t kMaxBufferedSecret = 1024;

}  // namespace rampart::crypto
