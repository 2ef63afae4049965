#include "rampart/core/error_table.h"

#include <array>

namespace rampart {
namespace {

// Indexed by ErrorCode. Codes and statuses follow what AWS sends for the
// same condition: JSON services name exceptions, query services (IAM, STS)
// use the older short codes.
constexpr std::array<WireError, 22> kTable = {{
    /* kOk */ {"", "", 200, false},
    /* kValidation */ {"ValidationException", "ValidationError", 400, true},
    /* kSerialization */ {"SerializationException", "MalformedInput", 400, true},
    /* kUnknownOperation */ {"UnknownOperationException", "InvalidAction", 400, true},
    /* kNotImplemented */ {"NotImplementedException", "NotImplemented", 501, false},
    /* kMissingAction */ {"UnknownOperationException", "MissingAction", 400, true},
    /* kInvalidQueryParameter */ {"SerializationException", "MalformedQueryString", 400, true},
    /* kMissingAuthentication */
    {"MissingAuthenticationTokenException", "MissingAuthenticationToken", 403, true},
    /* kIncompleteSignature */ {"IncompleteSignatureException", "IncompleteSignature", 400, true},
    /* kInvalidSignature */ {"InvalidSignatureException", "SignatureDoesNotMatch", 403, true},
    /* kUnrecognizedClient */ {"UnrecognizedClientException", "InvalidClientTokenId", 403, true},
    /* kRequestExpired */ {"InvalidSignatureException", "SignatureDoesNotMatch", 403, true},
    /* kExpiredToken */ {"ExpiredTokenException", "ExpiredToken", 403, true},
    /* kInvalidToken */ {"UnrecognizedClientException", "InvalidClientTokenId", 403, true},
    /* kAccessDenied */ {"AccessDeniedException", "AccessDenied", 403, true},
    /* kNotFound */ {"ResourceNotFoundException", "NoSuchEntity", 404, true},
    /* kRequestTooLarge */ {"RequestEntityTooLargeException", "RequestEntityTooLarge", 413, true},
    /* kUnknownService */ {"UnknownServiceException", "InvalidAction", 400, true},
    /* kThrottling */ {"ThrottlingException", "Throttling", 400, true},
    /* kServiceModeled */ {"", "", 400, true},
    /* kInternal */ {"InternalFailure", "InternalFailure", 500, false},
    /* kUnavailable */ {"ServiceUnavailableException", "ServiceUnavailable", 503, false},
}};

static_assert(kTable.size() == static_cast<size_t>(ErrorCode::kUnavailable) + 1,
              "error table must cover every ErrorCode");

}  // namespace

const WireError& WireErrorFor(ErrorCode code) { return kTable[static_cast<size_t>(code)]; }

}  // namespace rampart
