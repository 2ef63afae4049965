// AES-256-GCM sealing of small secrets (key material at rest, sealed access
// keys). The sealed form is self-contained:
//
//   nonce (12 bytes, random) || ciphertext || tag (16 bytes)
//
// The aad binds the ciphertext to its context (e.g. the owning key id); it
// must be presented again, byte for byte, to open. Random 96-bit nonces are
// safe for well under 2^32 seals per key (NIST SP 800-38D, 8.3).
//
// Thread-safety: safe to call from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"

namespace rampart::crypto {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kAeadOverhead = kAeadNonceSize + kAeadTagSize;
// Largest plaintext accepted by AeadSeal (and ciphertext by AeadOpen).
inline constexpr size_t kAeadMaxPlaintext = size_t{64} << 20;

// REQUIRES (else kInternal): key32.size() == 32.
// Fails with kValidation when plaintext exceeds kAeadMaxPlaintext.
Result<std::string> AeadSeal(const SecretBytes& key32, std::string_view plaintext,
                             std::string_view aad);

// Opens what AeadSeal produced. Any change to sealed, aad or key yields
// kInternal "AEAD authentication failed" and no plaintext.
Result<SecretBytes> AeadOpen(const SecretBytes& key32, std::string_view sealed,
                             std::string_view aad);

}  // namespace rampart::crypto
