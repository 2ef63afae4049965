// The server's root key (the key everything at rest is sealed under) kept
// under an HSM: with the config's root_key {backend, key_label}, the 32
// root-key bytes are stored in <data_dir>/root.key.hsm sealed by AES-256-GCM
// inside the token under a non-extractable key, and only ever exist in the
// clear in the server's memory. Without root_key, <data_dir>/root.key as
// before (server::LoadOrCreateRootKey). docs/hsm.md, "The root key in a
// token".
//
// Thread-safety: free functions; call once at start.
#pragma once

#include <string>
#include <string_view>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/pkcs11/token.h"
#include "rampart/server/config.h"

namespace rampart::hsm {

// File names inside the data directory.
inline constexpr std::string_view kPlainRootKeyFile = "root.key";
inline constexpr std::string_view kSealedRootKeyFile = "root.key.hsm";

// The root key for cfg: from the token when cfg.root_key is set, from
// root.key otherwise. Refuses to start (kValidation) when root.key.hsm
// exists but cfg.root_key is not set, instead of making a new key that
// would orphan the data.
Result<SecretBytes> LoadOrCreateRootKey(const server::Config& cfg);

// With an open token: unseals root.key.hsm; or, on first start under a
// token, seals the existing root.key (then wipes and removes it) or a new
// random key, creating the token key key_label if it does not exist.
Result<SecretBytes> LoadOrCreateSealedRootKey(pkcs11::Token& token, std::string_view key_label,
                                              const std::string& data_dir);

}  // namespace rampart::hsm
