// NetToken: pkcs11::Token over one network HSM node (net_token.h).
#include "rampart/hsmnet/net_token.h"

#include <openssl/crypto.h>

#include <utility>

#include "hsmnet/rules.h"
#include "pkcs11/p11.h"

namespace rampart::hsmnet {
namespace {

using pkcs11::KeyAlgorithm;
using pkcs11::KeyKind;
using pkcs11::KeyRef;

ErrorCode CodeFor(uint32_t rv) {
  switch (rv) {
    case CKR_KEY_HANDLE_INVALID:
      return ErrorCode::kNotFound;
    case CKR_PIN_INCORRECT:
    case CKR_PIN_LOCKED:
    case CKR_ACTION_PROHIBITED:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_KEY_UNEXTRACTABLE:
      return ErrorCode::kAccessDenied;
    case CKR_ARGUMENTS_BAD:
    case CKR_ENCRYPTED_DATA_INVALID:
    case CKR_KEY_TYPE_INCONSISTENT:
      return ErrorCode::kValidation;
    default:
      // CKR_DEVICE_ERROR (no node answered, or the node's token failed),
      // CKR_USER_NOT_LOGGED_IN after a revocation, and anything unknown.
      return ErrorCode::kUnavailable;
  }
}

// The key info a node answered for one new key.
Result<KeyRef> NewKey(const Response& r, const std::string& node) {
  if (r.keys.size() != 1 || r.keys[0].key_id.empty() || r.keys[0].kind > kMaxKind) {
    return Status::Error(ErrorCode::kUnavailable, "network HSM " + node + " answered no key");
  }
  return KeyRef{r.keys[0].key_id, static_cast<KeyKind>(r.keys[0].kind)};
}

}  // namespace

Result<std::unique_ptr<NetToken>> NetToken::Open(const NetTokenOptions& options) {
  ClientConfig config;
  std::string error;
  if (!LoadClientConfig(options.client_config, config, &error)) {
    return Status::Validation("network HSM client config " + options.client_config + ": " + error);
  }
  // One member is one node: no node list from Hello, no failover.
  config.nodes.resize(1);
  config.learn_nodes = false;
  std::string node = config.nodes[0];
  std::unique_ptr<Client> client = Client::Create(std::move(config), &error);
  if (client == nullptr) return Status::Validation("network HSM client: " + error);
  std::unique_ptr<NetToken> token(new NetToken(std::move(client), std::move(node)));
  Request login;
  login.op = Op::kLogin;
  login.role = Role::kCryptoUser;
  login.name = options.user;
  login.password.assign(options.password.reveal());
  RETURN_IF_ERROR(token->Call(std::move(login)).status());
  return token;
}

NetToken::NetToken(std::unique_ptr<Client> client, std::string node)
    : client_(std::move(client)), node_(std::move(node)) {}

// No Logout: closing the connection ends the node's session, and a Logout
// to a node that is down would wait for the connect timeout. The client
// wipes the remembered password.
NetToken::~NetToken() = default;

Result<Response> NetToken::Call(Request q) {
  Response r = client_->Call(q);
  // The password lives on in the client (for a re-login), not here.
  OPENSSL_cleanse(q.password.data(), q.password.size());
  if (r.rv == CKR_OK) return r;
  return Status::Error(CodeFor(r.rv), "network HSM " + node_ + ": " + OpName(q.op) + ": " +
                                          pkcs11::CkrName(r.rv));
}

Result<KeyRef> NetToken::GenerateKey(const pkcs11::KeySpec& spec) {
  Request q;
  q.op = Op::kGenerateKey;
  q.algorithm = static_cast<uint8_t>(spec.algorithm);
  q.usage = UsageBits(spec.usage);
  q.label = spec.label;
  q.key_id = spec.id;
  q.flag = spec.extractable ? 1 : 0;
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  return NewKey(r, node_);
}

Result<std::vector<pkcs11::KeyListing>> NetToken::ListKeys() {
  std::vector<pkcs11::KeyListing> out;
  Request q;
  q.op = Op::kListKeys;
  // The server answers in pages (wire.h, kMaxKeysPerPage), each request
  // naming the last key id seen; a page that does not move on is an error.
  for (;;) {
    ASSIGN_OR_RETURN(Response r, Call(Request(q)));
    for (const KeyInfo& k : r.keys) {
      // Keys shared with this user are someone else's to replicate.
      if (!k.owned || k.kind > kMaxKind || k.algorithm > kMaxAlgorithm) continue;
      pkcs11::KeyListing l;
      l.ref = KeyRef{k.key_id, static_cast<KeyKind>(k.kind)};
      l.label = k.label;
      l.algorithm = static_cast<KeyAlgorithm>(k.algorithm);
      l.usage = UsageFor(l.ref.kind, k.usage);
      l.extractable = true;  // unknown: see net_token.h
      l.sensitive = true;
      out.push_back(std::move(l));
    }
    if (r.flag == 0) return out;
    if (r.keys.empty() || r.keys.back().key_id <= q.key_id) {
      return Status::Error(ErrorCode::kUnavailable, "network HSM " + node_ + ": ListKeys did not move on");
    }
    q.key_id = r.keys.back().key_id;
  }
}

Result<KeyRef> NetToken::FindKeyByLabel(std::string_view label) {
  ASSIGN_OR_RETURN(std::vector<pkcs11::KeyListing> keys, ListKeys());
  const pkcs11::KeyListing* found = nullptr;
  for (const pkcs11::KeyListing& k : keys) {
    if (k.label != label) continue;
    if (found != nullptr) return Status::Validation("several keys have this label");
    found = &k;
  }
  if (found == nullptr) return Status::Error(ErrorCode::kNotFound, "no key with this label");
  return found->ref;
}

Status NetToken::CheckKey(const KeyRef& key) {
  ASSIGN_OR_RETURN(std::vector<pkcs11::KeyListing> keys, ListKeys());
  for (const pkcs11::KeyListing& k : keys) {
    if (k.ref == key) return Status::Ok();
  }
  return Status::Error(ErrorCode::kNotFound, "no such key on network HSM " + node_);
}

Status NetToken::DestroyKey(const KeyRef& key) {
  Request q;
  q.op = Op::kDestroyKey;
  q.key_id = key.id;
  return Call(std::move(q)).status();
}

Result<pkcs11::GcmCiphertext> NetToken::EncryptGcm(const KeyRef& key, std::string_view plaintext,
                                                   std::string_view aad) {
  if (plaintext.size() > kMaxData || aad.size() > kMaxAad) {
    return Status::Validation("the network HSM takes at most 64 KiB of data and 8 KiB of AAD");
  }
  Request q;
  q.op = Op::kEncrypt;
  q.key_id = key.id;
  q.data.assign(plaintext);
  q.aad.assign(aad);
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  return pkcs11::GcmCiphertext{std::move(r.iv), std::move(r.data)};
}

Result<SecretBytes> NetToken::DecryptGcm(const KeyRef& key, std::string_view iv,
                                         std::string_view ciphertext, std::string_view aad) {
  if (iv.size() > kMaxDigest || ciphertext.size() > kMaxData + 16 || aad.size() > kMaxAad) {
    return Status::Validation("the ciphertext or associated data did not authenticate");
  }
  Request q;
  q.op = Op::kDecrypt;
  q.key_id = key.id;
  q.iv.assign(iv);
  q.data.assign(ciphertext);
  q.aad.assign(aad);
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  SecretBytes out(r.data);
  OPENSSL_cleanse(r.data.data(), r.data.size());
  return out;
}

Result<std::string> NetToken::SignDigest(const KeyRef& key, std::string_view digest,
                                         std::string_view md_name, pkcs11::SignScheme scheme) {
  if (digest.size() > kMaxDigest || md_name.size() > kMaxMdName) {
    return Status::Validation("digest length does not match " + std::string(md_name));
  }
  Request q;
  q.op = Op::kSign;
  q.key_id = key.id;
  q.scheme = static_cast<uint8_t>(scheme);
  q.md_name.assign(md_name);
  q.data.assign(digest);
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  return std::move(r.data);
}

Result<std::string> NetToken::PublicKeyDer(const KeyRef& key) {
  Request q;
  q.op = Op::kPublicKey;
  q.key_id = key.id;
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  return std::move(r.data);
}

Result<std::string> NetToken::HmacSha256(const KeyRef& key, std::string_view data) {
  if (data.size() > kMaxData) return Status::Validation("the network HSM takes at most 64 KiB of data");
  Request q;
  q.op = Op::kHmac;
  q.key_id = key.id;
  q.data.assign(data);
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  return std::move(r.data);
}

Result<bool> NetToken::VerifyHmacSha256(const KeyRef& key, std::string_view data,
                                        std::string_view mac) {
  if (data.size() > kMaxData) return Status::Validation("the network HSM takes at most 64 KiB of data");
  if (mac.size() > kMaxDigest) return false;
  Request q;
  q.op = Op::kVerifyHmac;
  q.key_id = key.id;
  q.data.assign(data);
  q.mac.assign(mac);
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  return r.flag == 1;
}

Result<std::string> NetToken::WrapKey(const KeyRef& wrapping_key, const KeyRef& key) {
  Request q;
  q.op = Op::kWrapKey;
  q.wrapping_key_id = wrapping_key.id;
  q.key_id = key.id;
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  return std::move(r.data);
}

Result<std::string> NetToken::WrapKeyWithPublicKey(std::string_view public_key_der,
                                                   const KeyRef& key) {
  if (public_key_der.size() > kMaxPublicKey) return Status::Validation("public key is too large");
  Request q;
  q.op = Op::kWrapKeyWithPublicKey;
  q.public_key.assign(public_key_der);
  q.key_id = key.id;
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  return std::move(r.data);
}

Result<KeyRef> NetToken::Unwrap(const KeyRef& wrapping_key, std::string_view wrapped,
                                std::string_view public_key_der, const pkcs11::KeySpec& spec) {
  if (wrapped.empty() || wrapped.size() > kMaxWrapped) {
    return Status::Validation("wrapped key must be 1 to 16384 bytes");
  }
  if (public_key_der.size() > kMaxPublicKey) return Status::Validation("public key is too large");
  Request q;
  q.op = Op::kUnwrapKey;
  q.wrapping_key_id = wrapping_key.id;
  q.data.assign(wrapped);
  q.public_key.assign(public_key_der);
  q.algorithm = static_cast<uint8_t>(spec.algorithm);
  q.usage = UsageBits(spec.usage);
  q.label = spec.label;
  q.key_id = spec.id;
  q.flag = spec.extractable ? 1 : 0;
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  ASSIGN_OR_RETURN(KeyRef ref, NewKey(r, node_));
  if (ref.kind != pkcs11::KindOfAlgorithm(spec.algorithm)) {
    return Status::Error(ErrorCode::kUnavailable, "network HSM " + node_ + " made another kind of key");
  }
  return ref;
}

Result<KeyRef> NetToken::UnwrapKey(const KeyRef& wrapping_key, std::string_view wrapped,
                                   const pkcs11::KeySpec& spec) {
  return Unwrap(wrapping_key, wrapped, "", spec);
}

Result<KeyRef> NetToken::UnwrapKeyPair(const KeyRef& wrapping_key, std::string_view wrapped,
                                       std::string_view public_key_der, const pkcs11::KeySpec& spec) {
  if (public_key_der.empty()) return Status::Validation("a key pair needs its public key");
  return Unwrap(wrapping_key, wrapped, public_key_der, spec);
}

Status NetToken::MakeNonExtractable(const KeyRef& key) {
  Request q;
  q.op = Op::kSetNonExtractable;
  q.key_id = key.id;
  return Call(std::move(q)).status();
}

Result<std::string> NetToken::GenerateRandom(size_t n) {
  if (n < 1 || n > kMaxRandom) return Status::Validation("random length must be 1 to 65536");
  Request q;
  q.op = Op::kRandom;
  q.count = static_cast<uint32_t>(n);
  ASSIGN_OR_RETURN(Response r, Call(std::move(q)));
  return std::move(r.data);
}

}  // namespace rampart::hsmnet
