// Internal: conversions between PKCS#11 attribute encodings and the DER
// forms the rest of Rampart uses, over OpenSSL. Every input comes from a
// module and is parsed defensively.
#pragma once

#include <string>
#include <string_view>

#include "rampart/core/status.h"

namespace rampart::pkcs11 {

// DER OID (CKA_EC_PARAMS, namedCurve form) for "P-256" / "P-384".
std::string EcParamsFor(std::string_view curve);

// SubjectPublicKeyInfo DER of an EC public key from CKA_EC_PARAMS (a named
// curve OID) and CKA_EC_POINT (a DER OCTET STRING holding the uncompressed
// point; some modules return the bare point, which is accepted too).
Result<std::string> EcPublicKeyDer(std::string_view ec_params, std::string_view ec_point);
// SubjectPublicKeyInfo DER of an RSA public key from CKA_MODULUS and
// CKA_PUBLIC_EXPONENT (big-endian).
Result<std::string> RsaPublicKeyDer(std::string_view modulus, std::string_view exponent);
// The big-endian modulus and public exponent of an RSA public key given as
// DER SubjectPublicKeyInfo (from a caller: kValidation when it is not one,
// or smaller than 2048 bits).
struct RsaPublicParts {
  std::string modulus;
  std::string exponent;
};
Result<RsaPublicParts> RsaPublicKeyParts(std::string_view spki_der);
// CKA_EC_PARAMS (namedCurve OID) and CKA_EC_POINT (the uncompressed point
// in a DER OCTET STRING) of a P-256 or P-384 public key given as DER
// SubjectPublicKeyInfo (kValidation when it is not one).
struct EcPublicParts {
  std::string curve;      // "P-256" or "P-384"
  std::string ec_params;
  std::string ec_point;
};
Result<EcPublicParts> EcPublicKeyParts(std::string_view spki_der);
// CKM_ECDSA's r || s (equal halves) as a DER ECDSA-Sig-Value.
Result<std::string> EcdsaRawToDer(std::string_view raw);
// DigestInfo (RFC 8017 section 9.2) of a SHA-256/384/512 digest.
Result<std::string> DigestInfo(std::string_view md_name, std::string_view digest);

}  // namespace rampart::pkcs11
