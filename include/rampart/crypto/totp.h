// One-time passwords for virtual MFA devices: HOTP (RFC 4226) driven by
// time steps (TOTP, RFC 6238) with the parameters every authenticator app
// uses for AWS devices: HMAC-SHA1, 30-second steps, six digits.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rampart/core/clock.h"

namespace rampart::crypto {

inline constexpr int64_t kTotpStepSeconds = 30;
inline constexpr size_t kTotpDigits = 6;

// The six-digit code (zero-padded) of secret for counter value `counter`.
std::string HotpCode(std::string_view secret, uint64_t counter);

// The TOTP time step that contains t.
uint64_t TotpStep(TimePoint t);

// RFC 4648 base32 with the standard alphabet and '=' padding: the form in
// which authenticator apps take a seed.
std::string Base32Encode(std::string_view data);

}  // namespace rampart::crypto
