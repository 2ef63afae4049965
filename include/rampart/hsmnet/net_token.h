// NetToken: a pkcs11::Token over one node of the network HSM, logged in as
// a crypto user. It lets an hsm::Cluster (and so a KMS custom key store)
// list `rampart hsm-server` nodes as members: every Token method is one
// protocol request (docs/hsm.md, "A node as a cluster member").
//
// The token is pinned to its node: the client does not learn other nodes
// from Hello and does not fail over (the cluster fails over between its
// members instead). A node that does not answer is kUnavailable; after
// that the next call connects again and logs in with the remembered
// password.
//
// Errors: the node's CKR_* answers map back to Status codes as the
// service maps them out (CKR_KEY_HANDLE_INVALID: kNotFound; PIN, role and
// CKR_KEY_FUNCTION_NOT_PERMITTED: kAccessDenied; bad arguments and a GCM
// tag that does not verify: kValidation; the rest: kUnavailable).
//
// Thread-safety: thread-safe; calls are serialized on the one connection.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rampart/core/secret.h"
#include "rampart/core/status.h"
#include "rampart/hsmnet/client.h"
#include "rampart/pkcs11/token.h"

namespace rampart::hsmnet {

struct NetTokenOptions {
  std::string client_config;  // a librampart-pkcs11 client config file (one node is used)
  std::string user;           // the crypto user to log in as
  SecretBytes password;
};

class NetToken final : public pkcs11::Token {
 public:
  // Connects to the config's first node and logs in. kUnavailable when the
  // node does not answer, kAccessDenied for a refused login, kValidation
  // for a bad config.
  static Result<std::unique_ptr<NetToken>> Open(const NetTokenOptions& options);
  ~NetToken() override;

  const std::string& node() const { return node_; }

  Result<pkcs11::KeyRef> GenerateKey(const pkcs11::KeySpec& spec) override;
  Result<pkcs11::KeyRef> FindKeyByLabel(std::string_view label) override;
  Status CheckKey(const pkcs11::KeyRef& key) override;
  Status DestroyKey(const pkcs11::KeyRef& key) override;
  Result<pkcs11::GcmCiphertext> EncryptGcm(const pkcs11::KeyRef& key, std::string_view plaintext,
                                           std::string_view aad) override;
  Result<SecretBytes> DecryptGcm(const pkcs11::KeyRef& key, std::string_view iv,
                                 std::string_view ciphertext, std::string_view aad) override;
  Result<std::string> SignDigest(const pkcs11::KeyRef& key, std::string_view digest,
                                 std::string_view md_name, pkcs11::SignScheme scheme) override;
  Result<std::string> PublicKeyDer(const pkcs11::KeyRef& key) override;
  Result<std::string> HmacSha256(const pkcs11::KeyRef& key, std::string_view data) override;
  Result<bool> VerifyHmacSha256(const pkcs11::KeyRef& key, std::string_view data,
                                std::string_view mac) override;
  Result<std::string> WrapKey(const pkcs11::KeyRef& wrapping_key,
                              const pkcs11::KeyRef& key) override;
  Result<pkcs11::KeyRef> UnwrapKey(const pkcs11::KeyRef& wrapping_key, std::string_view wrapped,
                                   const pkcs11::KeySpec& spec) override;
  Result<std::string> GenerateRandom(size_t n) override;
  Result<std::string> WrapKeyWithPublicKey(std::string_view public_key_der,
                                           const pkcs11::KeyRef& key) override;
  Status MakeNonExtractable(const pkcs11::KeyRef& key) override;
  // The user's own keys. Extractability is not part of the protocol's key
  // info, so every key is listed as extractable (a resync then locks each
  // one again, which is idempotent).
  Result<std::vector<pkcs11::KeyListing>> ListKeys() override;
  Result<pkcs11::KeyRef> UnwrapKeyPair(const pkcs11::KeyRef& wrapping_key, std::string_view wrapped,
                                       std::string_view public_key_der,
                                       const pkcs11::KeySpec& spec) override;

 private:
  NetToken(std::unique_ptr<Client> client, std::string node);
  // Sends q; a non-OK rv becomes a Status naming the node and operation.
  Result<Response> Call(Request q);
  Result<pkcs11::KeyRef> Unwrap(const pkcs11::KeyRef& wrapping_key, std::string_view wrapped,
                                std::string_view public_key_der, const pkcs11::KeySpec& spec);

  std::unique_ptr<Client> client_;
  const std::string node_;
};

}  // namespace rampart::hsmnet
