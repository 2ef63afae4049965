// A loaded PKCS#11 v2.40 module (a vendor's shared library, e.g. SoftHSM2's
// libsofthsm2.so): dlopen, C_GetFunctionList, C_Initialize with OS locking,
// slot and token discovery, C_Finalize when the last user lets go.
//
// Cryptoki allows one C_Initialize per process per library, so Load() hands
// out one shared Module per canonical path; every Token opened on it keeps
// it alive. The PKCS#11 types stay out of this header: slots are plain
// integers here and the function list is reached through src/pkcs11.
//
// Thread-safety: a Module is immutable after Load and safe to share. When
// the module cannot use OS locking (C_Initialize answers CKR_CANT_LOCK) it
// is initialised single-threaded and serialized() is true: callers then
// hold CallLock() around every call into it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"

namespace rampart::pkcs11 {

// CKF_* token flags we report (a subset of ck_token_info.flags).
struct TokenInfo {
  std::string label;  // blank padding trimmed
  std::string manufacturer;
  std::string model;
  std::string serial;
  uint64_t flags = 0;        // raw CKF_* bits
  bool initialized = false;  // CKF_TOKEN_INITIALIZED
  bool login_required = false;
  bool user_pin_initialized = false;
  bool has_rng = false;
};

struct SlotInfo {
  uint64_t slot_id = 0;
  std::string description;
  std::string manufacturer;
  bool token_present = false;
  std::optional<TokenInfo> token;  // set when a token is present
};

// Which token a Token should open: the first slot matching every field set.
struct TokenSelector {
  std::optional<std::string> label;
  std::optional<std::string> serial;
  std::optional<uint64_t> slot_id;
};

struct LoadOptions {
  // Serialize every call into the module even when it accepts OS locking:
  // for vendor modules that claim thread safety and do not deliver it.
  bool serialize_calls = false;
};

class Module {
 public:
  struct Impl;  // src/pkcs11/module_impl.h

  // Loads the library at path (or returns the already-loaded one) and
  // initialises it. Errors: kValidation when the path is not an absolute
  // path to a loadable library exporting C_GetFunctionList; kUnavailable
  // with the CKR_ name when C_Initialize fails. An already-loaded module
  // keeps the options it was first loaded with.
  static Result<std::shared_ptr<Module>> Load(std::string_view path, LoadOptions options = {});

  ~Module();  // C_Finalize
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& path() const;
  // Cryptoki version and library description from C_GetInfo.
  std::string Description() const;
  bool serialized() const;

  // Every slot (token_present_only: only those holding a token).
  Result<std::vector<SlotInfo>> ListSlots(bool token_present_only) const;
  // The slot chosen by selector; kNotFound when none matches.
  Result<SlotInfo> FindSlot(const TokenSelector& selector) const;

  // Initialises the token in slot_id (C_InitToken: erases it), then sets
  // its user PIN (C_InitPIN as the security officer). Modules that move a
  // token to a new slot when it is initialised (SoftHSM2) are followed by
  // label. Returns the slot the token is in afterwards. Errors: kValidation
  // for a label over 32 bytes or empty PINs, the CKR_ name otherwise (e.g.
  // CKR_FUNCTION_NOT_SUPPORTED from modules without C_InitToken). The PINs
  // never appear in messages.
  Result<uint64_t> InitToken(uint64_t slot_id, std::string_view label, const SecretBytes& so_pin,
                             const SecretBytes& user_pin) const;

  // Held around each call when serialized(); an empty lock otherwise.
  std::unique_lock<std::mutex> CallLock() const;

  Impl& impl() const { return *impl_; }

 private:
  explicit Module(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rampart::pkcs11
