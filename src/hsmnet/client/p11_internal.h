// Internal to librampart-pkcs11.so: the module's state (sessions, the
// client-side object table, active operations) and the helpers its C API
// functions share. Only the C API symbols are exported (api*.cc, one file
// per function family: see api.cc).
//
// Objects: every key the server lists becomes one PKCS#11 object (a secret
// key) or two (the private and public halves of a pair). Their handles are
// assigned here once per (server key id, class) and never reused while the
// module is initialised, so they survive failover to another node: the
// server knows keys only by key id.
//
// Thread-safety: every entry point holds g_mu (api.cc) while it reads or
// changes ModuleState. Signing, encryption and decryption release g_mu for
// their network round trip and run it on a WorkerPool connection, so that
// threads of one application sign in parallel; WorkerPool locks by itself.
#pragma once

#define CRYPTOKI_GNU 1
#pragma GCC visibility push(default)
#include <p11-kit/pkcs11.h>
#pragma GCC visibility pop

#include <array>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
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
  // Whether the key may leave the HSM wrapped: known for keys this module
  // instance made (C_GenerateKey*, C_UnwrapKey); the key list does not say.
  bool extractable = false;
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
  // Which initialisation this is (OpInit numbers them), and whether its
  // result is being computed by a thread that released the module lock:
  // the session's other calls on it wait for that (CKR_OPERATION_ACTIVE),
  // and a result arriving for an operation that was replaced meanwhile is
  // dropped instead of being handed to its successor.
  uint64_t serial = 0;
  bool computing = false;
};

struct SessionState {
  ck_flags_t flags = 0;
  std::array<Operation, 4> ops;
  bool finding = false;
  std::vector<ck_object_handle_t> found;
  size_t found_pos = 0;
  // C_WrapKey's output for (wrapping key, key), kept until delivered.
  std::optional<std::pair<std::pair<ck_object_handle_t, ck_object_handle_t>, std::string>> wrapped;
};

// Extra connections for the key operations of concurrent threads. Each is a
// Client of its own (one TLS connection, its own failover), logged in with
// the application's credentials when it is made. PKCS#11 login state is per
// application, so a new login or a logout drops every pooled connection made
// under the previous one: connections checked out at that moment are closed
// when they come back.
//
// Thread-safety: thread-safe. It takes no module lock; callers hold g_mu
// only around SetLogin, never around Call (lock order: g_mu, then mu_).
class WorkerPool {
 public:
  // primary: the module's main connection, asked for the node list it has
  // learned when a new connection is made.
  WorkerPool(ClientConfig config, std::shared_ptr<Client> primary);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // The login new connections make (a Login request), or none after a
  // logout. Idle connections are closed either way.
  void SetLogin(const Request* login);
  // Sends the request on an idle connection, or on a new one logged in like
  // the application (at most kMaxConnections, opened one at a time; other
  // callers wait for whichever comes first).
  Response Call(const Request& request);

  static constexpr size_t kMaxConnections = 32;

 private:
  std::unique_ptr<Client> Open(const Request* login, Response& refused);

  const ClientConfig config_;
  const std::shared_ptr<Client> primary_;
  std::mutex mu_;
  std::condition_variable free_;
  std::vector<std::unique_ptr<Client>> idle_;  // guarded by mu_
  size_t busy_ = 0;                            // guarded by mu_: checked out
  bool opening_ = false;                       // guarded by mu_: one Open at a time
  uint64_t generation_ = 0;                    // guarded by mu_: bumped by SetLogin
  std::optional<Request> login_;               // guarded by mu_; password wiped on change
};

struct ModuleState {
  std::shared_ptr<Client> client;
  std::shared_ptr<WorkerPool> workers;
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
// Runs a prepared sign/encrypt/decrypt over data through the server, on a
// pooled connection. Works on copies, so the caller need not hold g_mu.
ck_rv_t RunSign(WorkerPool& pool, const Object& obj, Operation& op, std::string& out);
ck_rv_t RunEncrypt(WorkerPool& pool, const Object& obj, Operation& op, std::string& out);
ck_rv_t RunDecrypt(WorkerPool& pool, const Object& obj, Operation& op, std::string& out);
// Verifies: HMAC through the server, EC and RSA locally with the public key.
ck_rv_t RunVerify(ModuleState& m, Object& obj, Operation& op, const std::string& signature);
// The mechanisms we offer, for C_GetMechanismList/Info.
const std::vector<ck_mechanism_type_t>& Mechanisms();
bool MechanismInfo(ck_mechanism_type_t type, ck_mechanism_info& info);

// wrap.cc
// Usage bits (wire.h kUsage*) and CKA_EXTRACTABLE from a key template.
ck_rv_t UsageFromTemplate(const ck_attribute* tmpl, unsigned long count, uint8_t& usage, uint8_t& extractable);
// Checks the mechanism (CKM_AES_KEY_WRAP_PAD) and the (un)wrapping key;
// `missing` is the rv for an unknown key handle.
ck_rv_t PrepareWrap(const ck_mechanism* mech, const Object* wrapping, ck_rv_t missing);
// Fills an UnwrapKey request (algorithm, usage, extractable, label) from
// C_UnwrapKey's template: secret keys only.
ck_rv_t UnwrapTemplate(const ck_attribute* tmpl, unsigned long count, Request& q);

// Sends a request; the module's rv for it.
Response Send(ModuleState& m, const Request& request);

// api.cc: the module's state and the lookups every C API entry point
// (api*.cc) makes. All of these REQUIRE g_mu held.
inline constexpr ck_slot_id_t kSlot = 0;  // the one slot; its token is the cluster
extern std::mutex g_mu;
extern ModuleState* g_state;  // guarded by g_mu; set between C_Initialize and C_Finalize
// REQUIRES (these two): g_state set.
SessionState* FindSession(ck_session_handle_t h);
Object* FindObject(ck_object_handle_t h);
// The common entry checks: initialised, a known session, and (for key
// operations) logged in.
ck_rv_t Enter(ck_session_handle_t h, SessionState** session, bool need_login);
// The object a key operation names: known locally, or found after
// refreshing the list from the server. REQUIRES: g_state set.
Object* ResolveKey(ck_object_handle_t h);

}  // namespace rampart::hsmnet::p11
