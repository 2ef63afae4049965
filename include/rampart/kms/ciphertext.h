// The ciphertext blob of KMS symmetric encryption, a versioned format of
// Rampart's own (documented in docs/kms.md):
//
//   magic "RK" | format 0x01 | key id length (1 byte) | key id (ASCII)
//   | material version (4 bytes, big-endian, >= 1)
//   | nonce (12) | AES-256-GCM ciphertext | tag (16)
//
// Everything before the nonce is the header. The GCM associated data is the
// header followed by the canonical encryption context, so neither the key
// reference nor the context can be changed without the tag failing.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/core/status.h"

namespace rampart::kms {

inline constexpr std::string_view kBlobMagic = "RK";
inline constexpr uint8_t kBlobFormat = 1;
inline constexpr size_t kMaxBlobKeyId = 64;
// nonce + tag: the smallest sealed body (an empty plaintext).
inline constexpr size_t kBlobSealedMin = 12 + 16;

struct BlobHeader {
  std::string key_id;  // the key's UUID, or its "mrk-" multi-Region id
  uint32_t material_version = 1;
};

// A parsed blob. The views point into the parsed input.
struct ParsedBlob {
  BlobHeader header;
  std::string_view header_bytes;  // AAD prefix
  std::string_view sealed;        // nonce || ciphertext || tag
};

// The header bytes for h. REQUIRES: 1 <= h.key_id.size() <= kMaxBlobKeyId,
// h.material_version >= 1.
std::string EncodeBlobHeader(const BlobHeader& h);

// Parses a blob from an untrusted client. Any malformation (wrong magic or
// format, bad lengths, a key id outside [0-9a-f-] after an optional
// "mrk-", version 0, a body too short to hold a nonce and tag) gives
// InvalidCiphertextException.
Result<ParsedBlob> ParseBlob(std::string_view blob);

// An encryption context: pairs sorted by key, keys unique.
using EncryptionContext = std::vector<std::pair<std::string, std::string>>;

// Reads an encryption context member of a request (a string map; nullptr
// or null is empty) and sorts it. ValidationException on a non-string
// value or a duplicate key.
Result<EncryptionContext> ReadEncryptionContext(const json::Value* member);

// The canonical byte form bound as associated data: a 4-byte big-endian
// pair count, then per pair (in key order) the 4-byte length and bytes of
// the key and of the value. Unambiguous for any keys and values.
std::string CanonicalContext(const EncryptionContext& context);

}  // namespace rampart::kms
