// Identifiers in AWS's formats. Ids that grant nothing (request ids) come
// from a fast per-thread generator; anything that is or protects a secret
// comes from OpenSSL's CSPRNG.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"

namespace rampart::ids {

// 8-4-4-4-12 lowercase hex (UUID v4 layout), for x-amzn-RequestId.
std::string RequestId();
// A random UUID v4 from the CSPRNG.
Result<std::string> SecureUuid();
// Prefix + 16 characters of AWS's key-id alphabet (A-Z, 2-7), e.g.
// AccessKeyId("AKIA") or UniqueId("AIDA") for user ids.
Result<std::string> AccessKeyId(std::string_view prefix);
// 40 characters of [A-Za-z0-9+/], as AWS secret access keys look.
Result<SecretBytes> SecretAccessKey();
// A random 12-digit account id that does not start with 0.
Result<std::string> AccountId();

// UUIDs as 16 bytes and as text: the one place that converts between them.
inline constexpr size_t kUuidBytes = 16;
inline constexpr size_t kUuidTextSize = 36;
// Writes the 16 bytes as lowercase 8-4-4-4-12 hex into out, reusing out's
// storage (no allocation once out has held 36 characters).
void FormatUuidInto(const uint8_t bytes[kUuidBytes], std::string& out);
std::string FormatUuid(const uint8_t bytes[kUuidBytes]);
// The 16 bytes of text when text is exactly a UUID's lowercase 8-4-4-4-12
// form (any version or variant); false for anything else, uppercase
// included (so that bytes formatted again give back the same text).
bool ParseUuid(std::string_view text, uint8_t out[kUuidBytes]);

}  // namespace rampart::ids
