// The QR code PNG that CreateVirtualMFADevice returns for authenticator
// apps to scan. Not a public interface.
#pragma once

#include <string>
#include <string_view>

#include "rampart/core/status.h"

namespace rampart::iam::internal {

// A PNG image (8-bit grey, 4 pixels per module, a 4-module quiet zone) of
// the QR code holding text at error-correction level M.
Result<std::string> QrCodePng(std::string_view text);

}  // namespace rampart::iam::internal
