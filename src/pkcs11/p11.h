// Internal: the PKCS#11 C API (p11-kit's v2.40 header, in its GNU naming so
// that none of the compatibility macros such as `value` or `count` leak
// into C++ code) and the helpers every file of the room shares.
#pragma once

#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "rampart/core/status.h"

namespace rampart::pkcs11 {

// "CKR_PIN_INCORRECT" for its value; "CKR_0x..." for codes we do not know.
std::string CkrName(ck_rv_t rv);

// A Status for a failed call fn ("C_Sign") with rv: kAccessDenied for PIN
// and login failures, kValidation for bad data or signatures, kNotFound for
// unknown slots or tokens, kUnavailable otherwise. Message: "C_Sign: CKR_...".
Status CkrStatus(std::string_view fn, ck_rv_t rv);

// A fixed-width, blank-padded PKCS#11 string with trailing blanks and NULs
// removed.
std::string TrimPadded(const unsigned char* data, size_t size);

inline unsigned char* Uc(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }
inline unsigned char* Uc(std::string_view s) {
  // PKCS#11 takes non-const input pointers; modules do not write through them.
  return reinterpret_cast<unsigned char*>(const_cast<char*>(s.data()));
}

// Whether rv means the session is gone and a fresh one may succeed.
inline bool SessionLost(ck_rv_t rv) {
  return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}
inline bool HandleStale(ck_rv_t rv) {
  return rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID ||
         rv == CKR_WRAPPING_KEY_HANDLE_INVALID || rv == CKR_UNWRAPPING_KEY_HANDLE_INVALID;
}

}  // namespace rampart::pkcs11
