// Opening the HSM backends and clusters named by the server config's "hsm"
// section (server::HsmConfig): PINs read from a file or an environment
// variable into SecretBytes, tokens opened with pkcs11::Pkcs11Token, and
// clusters built over them.
//
// Thread-safety: free functions without shared state; the objects they
// return are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/hsm/cluster.h"
#include "rampart/pkcs11/pkcs11_token.h"
#include "rampart/server/config.h"

namespace rampart::hsm {

// Reads a PIN file: at most 256 bytes, one trailing newline dropped; a file
// readable by group or others is refused (kValidation). The PIN never
// appears in an error message.
Result<SecretBytes> ReadPinFile(const std::string& path);
// The backend's user PIN from pin_file or pin_env.
Result<SecretBytes> ReadBackendPin(const server::HsmBackendConfig& backend);

// Loads the backend's module and opens its token logged in with pin.
Result<std::unique_ptr<pkcs11::Pkcs11Token>> OpenBackend(const server::HsmBackendConfig& backend,
                                                         SecretBytes pin);

// Opens cluster `id` of cfg, every member logged in with pin (KMS's
// kmsuser password), or with each backend's configured PIN when pin is
// null. A member that cannot be opened is kept as absent (nullptr token)
// and its error appended to *member_errors when given. kNotFound when cfg
// has no such cluster.
Result<std::unique_ptr<Cluster>> OpenCluster(const server::HsmConfig& cfg, std::string_view id,
                                             const SecretBytes* pin,
                                             std::vector<Status>* member_errors = nullptr);

}  // namespace rampart::hsm
