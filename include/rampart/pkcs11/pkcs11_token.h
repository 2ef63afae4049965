// Pkcs11Token: the Token interface over one token of a loaded PKCS#11
// module, logged in as CKU_USER, with a session pool and an object-handle
// cache.
//
// Sessions: up to max_sessions R/W sessions, each used by one thread at a
// time (checked out of the pool, returned after the call). Login state is
// per token in PKCS#11, so a C_Logout on any session (ours or another part
// of the process) logs all of them out: a call that fails with
// CKR_USER_NOT_LOGGED_IN logs in again and is retried once; a call whose
// session was closed or invalidated (CKR_SESSION_HANDLE_INVALID,
// CKR_SESSION_CLOSED) drops that session and retries on a fresh one; a
// stale object handle (CKR_OBJECT_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID)
// is looked up again by CKA_ID. The PIN is held in SecretBytes and never
// logged.
//
// Thread-safety: every method may be called concurrently. Calls into the
// module are serialized only when the module asked for it (see Module).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/pkcs11/module.h"
#include "rampart/pkcs11/token.h"

namespace rampart::pkcs11 {

struct TokenOptions {
  TokenSelector selector;
  SecretBytes user_pin;
  size_t max_sessions = 8;  // 1..256
  size_t handle_cache_entries = 4096;
};

class Pkcs11Token final : public Token {
 public:
  // Opens the token chosen by options.selector on module and logs in.
  // Errors: kNotFound (no such token), kAccessDenied (CKR_PIN_INCORRECT,
  // CKR_PIN_LOCKED...), kUnavailable (other module failures), kValidation
  // (bad options).
  static Result<std::unique_ptr<Pkcs11Token>> Open(std::shared_ptr<Module> module,
                                                   TokenOptions options);
  ~Pkcs11Token() override;

  const TokenInfo& info() const;
  uint64_t slot_id() const;
  // Counters for tests and metrics.
  size_t open_sessions() const;
  uint64_t logins() const;  // successful C_Login calls, the first included

  // Every AES, generic-secret, EC and RSA private key visible to the
  // logged-in user (at most 10,000), in the module's order.
  Result<std::vector<KeyListing>> ListKeys() override;

  Result<KeyRef> GenerateKey(const KeySpec& spec) override;
  Result<KeyRef> FindKeyByLabel(std::string_view label) override;
  Status CheckKey(const KeyRef& key) override;
  Status DestroyKey(const KeyRef& key) override;
  Result<GcmCiphertext> EncryptGcm(const KeyRef& key, std::string_view plaintext,
                                   std::string_view aad) override;
  Result<SecretBytes> DecryptGcm(const KeyRef& key, std::string_view iv,
                                 std::string_view ciphertext, std::string_view aad) override;
  Result<std::string> SignDigest(const KeyRef& key, std::string_view digest,
                                 std::string_view md_name, SignScheme scheme) override;
  Result<std::string> PublicKeyDer(const KeyRef& key) override;
  Result<std::string> HmacSha256(const KeyRef& key, std::string_view data) override;
  Result<bool> VerifyHmacSha256(const KeyRef& key, std::string_view data,
                                std::string_view mac) override;
  Result<std::string> WrapKey(const KeyRef& wrapping_key, const KeyRef& key) override;
  Result<KeyRef> UnwrapKey(const KeyRef& wrapping_key, std::string_view wrapped,
                           const KeySpec& spec) override;
  Result<std::string> GenerateRandom(size_t n) override;
  Result<std::string> WrapKeyWithPublicKey(std::string_view public_key_der,
                                           const KeyRef& key) override;
  Status MakeNonExtractable(const KeyRef& key) override;
  Result<KeyRef> UnwrapKeyPair(const KeyRef& wrapping_key, std::string_view wrapped,
                               std::string_view public_key_der, const KeySpec& spec) override;

  struct State;  // src/pkcs11/token_state.h

 private:
  explicit Pkcs11Token(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace rampart::pkcs11
