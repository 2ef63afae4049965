// Internal to librampart-pkcs11.so: the module's state (sessions, the
// client-side object table, active operations) and the helpers its C API
// functions share. Only the C API symbols are exported (api.cc).
//
// Objects: every key the server lists becomes one PKCS#11 object (a secret
// key) or two (the private and public halves of a pair). Their handles are
// assigned here once per (server key id, class) and never reused while the
// module is initialised, so they survive failover to another node: the
// server knows keys only by key id.
//
// Thread-safety: every entry point holds g_mu (module.cc) for its whole
// duration; nothing here locks by itself.
#pragma once

#define CRYPTOKI_GNU 1
#pragma GCC visibility push(default)
#include <p11-kit/pkcs11.h>
#pragma GCC visibility pop

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rampart/hsmnet/client.h"
#include "rampart/hsmnet/wire.h"

namespace rampart::hsmnet::p11 {

struct Object {
  KeyInfo info;                // from the server's ListKeys
  ck_object_class_t cls = 0;   // CKO_SECRET_KEY, CKO_PRIVATE_KEY or CKO_PUBLIC_KEY
  // Public attributes of key pairs, read once from the server's PublicKey.
  bool public_loaded = false;
  std::string spki;            // DER SubjectPublicKeyInfo
  std::string ec_params;       // DER OID of the curve
  std::string ec_point;        // DER OCTET STRING of the uncompressed point
  std::string modulus, exponent;
};

enum OpKind { kSignOp = 0, kVerifyOp = 1, kEncryptOp = 2, kDecryptOp = 3 };

struct Operation {
  bool active = false;
  ck_mechanism_type_t mechanism = 0;
  ck_object_handle_t key = 0;
  std::string md;             // "SHA256"... for digest-then-sign mechanisms and PSS
  bool hash_first = false;    // the mechanism hashes the data (CKM_ECDSA_SHA256...)
  std::string data;           // input gathered by *Update calls
  std::string iv, aad;        // AES-GCM parameters
  unsigned char* iv_out = nullptr;  // the application's IV buffer (encrypt)
  std::optional<std::string> result;  // output waiting for a large enough buffer
};

struct SessionState {
  ck_flags_t flags = 0;
  std::array<Operation, 4> ops;
  bool finding = false;
  std::vector<ck_object_handle_t> found;
  size_t found_pos = 0;
};

struct ModuleState {
  std::unique_ptr<Client> client;
  bool logged_in = false;
  ck_user_type_t user_type = CKU_USER;
  std::map<ck_session_handle_t, SessionState> sessions;
  ck_session_handle_t next_session = 1;
  std::map<ck_object_handle_t, Object> objects;
  std::map<std::pair<std::string, ck_object_class_t>, ck_object_handle_t> handles;
  ck_object_handle_t next_object = 1;
};

// objects.cc
// Refreshes the object table from the server's key list (adds new keys,
// drops destroyed ones). Returns the server's rv.
ck_rv_t SyncObjects(ModuleState& m);
// Adds the objects of one key (one or two) and returns the handle of the
// secret or private half.
ck_object_handle_t AddKeyObjects(ModuleState& m, const KeyInfo& key);
// Loads the public attributes of a key pair object (PublicKey request).
ck_rv_t LoadPublic(ModuleState& m, Object& obj);
// The attribute's value, or nullopt when the object has no such attribute
// (*sensitive set when it exists and may not be read).
std::optional<std::string> AttributeValue(ModuleState& m, Object& obj, ck_attribute_type_t type,
                                          bool* sensitive);
// Whether obj matches every attribute of a C_FindObjectsInit template.
bool Matches(ModuleState& m, Object& obj, const ck_attribute* tmpl, unsigned long count);

// mechanisms.cc
// Validates a mechanism for an operation on obj and fills op (mechanism,
// md, hash_first, GCM parameters). CKR_MECHANISM_INVALID,
// CKR_MECHANISM_PARAM_INVALID, CKR_KEY_TYPE_INCONSISTENT or
// CKR_KEY_FUNCTION_NOT_PERMITTED on a mismatch.
ck_rv_t PrepareOperation(OpKind kind, const ck_mechanism& mech, const Object& obj, Operation& op);
// Runs a prepared sign/encrypt/decrypt over data through the server.
ck_rv_t RunSign(ModuleState& m, Object& obj, Operation& op, std::string& out);
ck_rv_t RunEncrypt(ModuleState& m, Object& obj, Operation& op, std::string& out);
ck_rv_t RunDecrypt(ModuleState& m, Object& obj, Operation& op, std::string& out);
// Verifies: HMAC through the server, EC and RSA locally with the public key.
ck_rv_t RunVerify(ModuleState& m, Object& obj, Operation& op, const std::string& signature);
// The mechanisms we offer, for C_GetMechanismList/Info.
const std::vector<ck_mechanism_type_t>& Mechanisms();
bool MechanismInfo(ck_mechanism_type_t type, ck_mechanism_info& info);

// Sends a request; the module's rv for it.
Response Send(ModuleState& m, const Request& request);

}  // namespace rampart::hsmnet::p11
