// librampart-pkcs11.so: the PKCS#11 v2.40 C API over the network HSM
// protocol. One slot (0) holds one token, the cluster. C_Login takes the
// PIN "user:password" (CKU_USER for crypto users, CKU_SO for officers),
// as CloudHSM's library does. Configuration: the file named by
// RAMPART_PKCS11_CONF (see rampart/hsmnet/client.h).
//
// Every entry point holds g_mu; the Client serializes network calls anyway.
#include <openssl/crypto.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "hsmnet/client/p11_internal.h"

namespace rampart::hsmnet::p11 {
namespace {

std::mutex g_mu;
ModuleState* g_state = nullptr;  // guarded by g_mu; set between C_Initialize and C_Finalize

constexpr ck_slot_id_t kSlot = 0;

void Pad(unsigned char* dst, size_t size, std::string_view text) {
  std::memset(dst, ' ', size);
  std::memcpy(dst, text.data(), std::min(size, text.size()));
}

SessionState* FindSession(ck_session_handle_t h) {
  auto it = g_state->sessions.find(h);
  return it == g_state->sessions.end() ? nullptr : &it->second;
}

Object* FindObject(ck_object_handle_t h) {
  auto it = g_state->objects.find(h);
  return it == g_state->objects.end() ? nullptr : &it->second;
}

// Like ssh with identity files: the client's private key must not be
// readable (or writable) by the group or others.
bool PrivateToOwner(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) == 0;
}

// The common entry checks: initialised, a known session, and (for key
// operations) logged in.
ck_rv_t Enter(ck_session_handle_t h, SessionState** session, bool need_login) {
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  *session = FindSession(h);
  if (*session == nullptr) return CKR_SESSION_HANDLE_INVALID;
  if (need_login && !g_state->logged_in) return CKR_USER_NOT_LOGGED_IN;
  return CKR_OK;
}

// The object a key operation names: known locally, or found after
// refreshing the list from the server (a key made by another application).
Object* ResolveKey(ck_object_handle_t h) {
  Object* obj = FindObject(h);
  if (obj == nullptr && SyncObjects(*g_state) == CKR_OK) obj = FindObject(h);
  return obj;
}

// Ends the application's login: on the server, in the worker pool, and in
// the object table, whose objects belonged to that user (a later login, maybe
// as someone else, lists its own keys under new handles). Operations and
// searches in progress end too.
void EndLogin() {
  Request q;
  q.op = Op::kLogout;
  (void)Send(*g_state, q);
  g_state->logged_in = false;
  g_state->workers->SetLogin(nullptr);
  g_state->objects.clear();
  g_state->handles.clear();
  for (auto& entry : g_state->sessions) {
    entry.second.ops = {};
    entry.second.found.clear();
    entry.second.found_pos = 0;
    entry.second.wrapped.reset();
  }
}

ck_rv_t OpInit(ck_session_handle_t h, OpKind kind, ck_mechanism* mech, ck_object_handle_t key) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(h, &s, true);
  if (rv != CKR_OK) return rv;
  if (mech == nullptr) return CKR_ARGUMENTS_BAD;
  Operation& op = s->ops[kind];
  if (op.active) return CKR_OPERATION_ACTIVE;
  Object* obj = ResolveKey(key);
  if (obj == nullptr) return CKR_KEY_HANDLE_INVALID;
  rv = PrepareOperation(kind, *mech, *obj, op);
  if (rv != CKR_OK) {
    op = Operation();
    return rv;
  }
  static uint64_t next_serial = 0;  // guarded by g_mu
  op.key = key;
  op.active = true;
  op.serial = ++next_serial;
  return CKR_OK;
}

ck_rv_t OpUpdate(ck_session_handle_t h, OpKind kind, const unsigned char* part, unsigned long len) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(h, &s, true);
  if (rv != CKR_OK) return rv;
  Operation& op = s->ops[kind];
  if (!op.active) return CKR_OPERATION_NOT_INITIALIZED;
  if (op.computing) return CKR_OPERATION_ACTIVE;
  if (part == nullptr && len > 0) return CKR_ARGUMENTS_BAD;
  if (op.data.size() + len > kMaxData + 16) {
    op = Operation();
    return CKR_DATA_LEN_RANGE;
  }
  op.data.append(reinterpret_cast<const char*>(part), len);
  return CKR_OK;
}

// The network part of a sign, encrypt or decrypt, on copies of the key and
// the operation, without g_mu.
ck_rv_t RunOperation(WorkerPool& pool, OpKind kind, const Object& key, Operation& work,
                     std::string& result) {
  if (kind == kSignOp) return RunSign(pool, key, work, result);
  if (kind == kEncryptOp) return RunEncrypt(pool, key, work, result);
  return RunDecrypt(pool, key, work, result);
}

// Computes the output of the session's operation over its gathered data:
// g_mu is released for the round trip, so other threads' sessions proceed.
// The session may be closed (or the module finalised) meanwhile; that is
// checked when the lock is taken again.
ck_rv_t ComputeResult(std::unique_lock<std::mutex>& lock, ck_session_handle_t h, OpKind kind) {
  Operation& op = FindSession(h)->ops[kind];
  Object* obj = FindObject(op.key);
  if (obj == nullptr) {
    op = Operation();
    return CKR_KEY_HANDLE_INVALID;
  }
  Object key = *obj;
  Operation work = op;
  std::shared_ptr<WorkerPool> pool = g_state->workers;
  op.computing = true;
  lock.unlock();
  std::string result;
  ck_rv_t rv = RunOperation(*pool, kind, key, work, result);
  OPENSSL_cleanse(work.data.data(), work.data.size());
  lock.lock();
  SessionState* s = g_state == nullptr ? nullptr : FindSession(h);
  if (s == nullptr) {
    OPENSSL_cleanse(result.data(), result.size());
    return g_state == nullptr ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_SESSION_HANDLE_INVALID;
  }
  Operation& done = s->ops[kind];
  if (!done.active || done.serial != work.serial) {
    // Ended while this thread was away (the session logged out or was
    // closed and its handle reused): the result belongs to nobody.
    OPENSSL_cleanse(result.data(), result.size());
    return CKR_OPERATION_NOT_INITIALIZED;
  }
  done.computing = false;
  if (rv != CKR_OK) {
    done = Operation();
    return rv;
  }
  done.result = std::move(result);
  return CKR_OK;
}

// Runs the operation once over the gathered data and hands the output out
// with PKCS#11's length convention: a null buffer asks for the length; a
// short one answers CKR_BUFFER_TOO_SMALL; both keep the operation (and the
// result already computed) alive for the next call.
ck_rv_t OpFinish(ck_session_handle_t h, OpKind kind, const unsigned char* last, unsigned long last_len,
                 unsigned char* out, unsigned long* out_len) {
  std::unique_lock<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(h, &s, true);
  if (rv != CKR_OK) return rv;
  if (!s->ops[kind].active) return CKR_OPERATION_NOT_INITIALIZED;
  if (s->ops[kind].computing) return CKR_OPERATION_ACTIVE;
  if (out_len == nullptr || (last == nullptr && last_len > 0)) return CKR_ARGUMENTS_BAD;
  if (!s->ops[kind].result) {
    Operation& op = s->ops[kind];
    if (op.data.size() + last_len > kMaxData + 16) {
      op = Operation();
      return CKR_DATA_LEN_RANGE;
    }
    op.data.append(reinterpret_cast<const char*>(last), last_len);
    rv = ComputeResult(lock, h, kind);
    if (rv != CKR_OK) return rv;
    s = FindSession(h);
  }
  Operation& op = s->ops[kind];
  size_t size = op.result->size();
  if (out == nullptr) {
    *out_len = size;
    return CKR_OK;
  }
  if (*out_len < size) {
    *out_len = size;
    return CKR_BUFFER_TOO_SMALL;
  }
  std::memcpy(out, op.result->data(), size);
  *out_len = size;
  OPENSSL_cleanse(op.result->data(), op.result->size());
  op = Operation();
  return CKR_OK;
}

ck_rv_t VerifyFinish(ck_session_handle_t h, const unsigned char* last, unsigned long last_len,
                     const unsigned char* sig, unsigned long sig_len) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(h, &s, true);
  if (rv != CKR_OK) return rv;
  Operation& op = s->ops[kVerifyOp];
  if (!op.active) return CKR_OPERATION_NOT_INITIALIZED;
  if ((sig == nullptr && sig_len > 0) || (last == nullptr && last_len > 0) || sig_len > 1024 ||
      op.data.size() + last_len > kMaxData) {
    op = Operation();
    return CKR_ARGUMENTS_BAD;
  }
  op.data.append(reinterpret_cast<const char*>(last), last_len);
  Object* obj = FindObject(op.key);
  std::string signature(reinterpret_cast<const char*>(sig), sig_len);
  rv = obj == nullptr ? CKR_KEY_HANDLE_INVALID : RunVerify(*g_state, *obj, op, signature);
  op = Operation();
  return rv;
}

// Label and CKA_ID from a template; CKR_TEMPLATE_INCONSISTENT when too long.
ck_rv_t NameFromTemplate(const ck_attribute* tmpl, unsigned long count, std::string& label,
                         std::string& id) {
  for (unsigned long i = 0; tmpl != nullptr && i < count; ++i) {
    if (tmpl[i].type != CKA_LABEL && tmpl[i].type != CKA_ID) continue;
    if (tmpl[i].value == nullptr && tmpl[i].value_len > 0) return CKR_ATTRIBUTE_VALUE_INVALID;
    std::string v(static_cast<const char*>(tmpl[i].value), tmpl[i].value_len);
    size_t max = tmpl[i].type == CKA_LABEL ? kMaxLabel : kMaxKeyId;
    if (v.size() > max) return CKR_ATTRIBUTE_VALUE_INVALID;
    (tmpl[i].type == CKA_LABEL ? label : id) = std::move(v);
  }
  return CKR_OK;
}

const ck_attribute* FindAttr(const ck_attribute* tmpl, unsigned long count, ck_attribute_type_t type) {
  for (unsigned long i = 0; tmpl != nullptr && i < count; ++i) {
    if (tmpl[i].type == type) return &tmpl[i];
  }
  return nullptr;
}

// Sends q (GenerateKey or UnwrapKey) and adds the new key's objects;
// extractable is what the request asked for.
ck_rv_t CreateKey(ck_session_handle_t h, const Request& q, ck_object_handle_t* priv, ck_object_handle_t* pub) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(h, &s, true);
  if (rv != CKR_OK) return rv;
  Response r = Send(*g_state, q);
  if (r.rv != CKR_OK) return r.rv;
  if (r.keys.size() != 1) return CKR_DEVICE_ERROR;
  *priv = AddKeyObjects(*g_state, r.keys[0]);
  g_state->objects[*priv].extractable = q.flag == 1;
  if (pub != nullptr) *pub = g_state->handles[{r.keys[0].key_id, CKO_PUBLIC_KEY}];
  return CKR_OK;
}

// A GenerateKey request: the algorithm, names, usage and extractability.
// Tools set every usage flag they know (pkcs11-tool asks for CKA_ENCRYPT
// and CKA_WRAP on RSA pairs): only the usages the key type has are kept,
// and pairs always just sign (0 lets the server choose).
ck_rv_t GenerateRequest(uint8_t algorithm, const ck_attribute* tmpl, unsigned long count,
                        const ck_attribute* priv_tmpl, unsigned long priv_count, Request& q) {
  q.op = Op::kGenerateKey;
  q.algorithm = algorithm;
  ck_rv_t rv = NameFromTemplate(tmpl, count, q.label, q.app_id);
  if (rv == CKR_OK) rv = NameFromTemplate(priv_tmpl, priv_count, q.label, q.app_id);
  if (rv == CKR_OK) rv = UsageFromTemplate(tmpl, count, q.usage, q.flag);
  if (rv == CKR_OK) rv = UsageFromTemplate(priv_tmpl, priv_count, q.usage, q.flag);
  constexpr uint8_t kAes = 0, kHmac = 1;
  q.usage &= algorithm == kAes ? (kUsageEncrypt | kUsageWrap) : algorithm == kHmac ? kUsageSign : 0;
  return rv;
}

// Key pair algorithm from the templates: EC by curve OID, RSA by size.
ck_rv_t PairAlgorithm(ck_mechanism_type_t mech, const ck_attribute* pub, unsigned long pub_count,
                      uint8_t& algorithm) {
  static const std::string kP256("\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10);
  static const std::string kP384("\x06\x05\x2b\x81\x04\x00\x22", 7);
  if (mech == CKM_EC_KEY_PAIR_GEN) {
    const ck_attribute* params = FindAttr(pub, pub_count, CKA_EC_PARAMS);
    if (params == nullptr || params->value == nullptr) return CKR_TEMPLATE_INCOMPLETE;
    std::string oid(static_cast<const char*>(params->value), params->value_len);
    if (oid == kP256) algorithm = 2;
    else if (oid == kP384) algorithm = 3;
    else return CKR_CURVE_NOT_SUPPORTED;
    return CKR_OK;
  }
  if (mech != CKM_RSA_PKCS_KEY_PAIR_GEN) return CKR_MECHANISM_INVALID;
  const ck_attribute* bits = FindAttr(pub, pub_count, CKA_MODULUS_BITS);
  if (bits == nullptr || bits->value == nullptr || bits->value_len != sizeof(unsigned long)) {
    return CKR_TEMPLATE_INCOMPLETE;
  }
  unsigned long n = 0;
  std::memcpy(&n, bits->value, sizeof(n));
  if (n != 2048 && n != 3072) return CKR_KEY_SIZE_RANGE;
  const ck_attribute* e = FindAttr(pub, pub_count, CKA_PUBLIC_EXPONENT);
  if (e != nullptr && e->value != nullptr) {
    std::string exp(static_cast<const char*>(e->value), e->value_len);
    while (!exp.empty() && exp[0] == '\0') exp.erase(0, 1);
    if (exp != std::string("\x01\x00\x01", 3)) return CKR_ATTRIBUTE_VALUE_INVALID;
  }
  algorithm = n == 2048 ? 4 : 5;
  return CKR_OK;
}

}  // namespace
}  // namespace rampart::hsmnet::p11

using namespace rampart::hsmnet;       // NOLINT(google-build-using-namespace)
using namespace rampart::hsmnet::p11;  // NOLINT(google-build-using-namespace)

extern "C" {

ck_rv_t C_Initialize(void* init_args) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_state != nullptr) return CKR_CRYPTOKI_ALREADY_INITIALIZED;
  if (init_args != nullptr) {
    auto* args = static_cast<ck_c_initialize_args*>(init_args);
    if (args->reserved != nullptr) return CKR_ARGUMENTS_BAD;
    bool callbacks = args->create_mutex != nullptr;
    if (callbacks && !(args->flags & CKF_OS_LOCKING_OK)) return CKR_CANT_LOCK;
  }
  const char* path = std::getenv("RAMPART_PKCS11_CONF");
  ClientConfig config;
  std::string error;
  if (path == nullptr || !LoadClientConfig(path, config, &error)) return CKR_GENERAL_ERROR;
  if (!PrivateToOwner(config.key_file)) return CKR_GENERAL_ERROR;
  std::shared_ptr<Client> client = Client::Create(config, &error);
  if (!client) return CKR_GENERAL_ERROR;
  g_state = new ModuleState();
  g_state->client = client;
  g_state->workers = std::make_shared<WorkerPool>(std::move(config), std::move(client));
  // Connect now to learn the cluster's node list; a cluster that is down
  // is not an error until an operation needs it.
  Request hello;
  hello.op = Op::kHello;
  (void)Send(*g_state, hello);
  return CKR_OK;
}

ck_rv_t C_Finalize(void* reserved) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (reserved != nullptr) return CKR_ARGUMENTS_BAD;
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  delete g_state;
  g_state = nullptr;
  return CKR_OK;
}

ck_rv_t C_GetInfo(ck_info* info) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (info == nullptr) return CKR_ARGUMENTS_BAD;
  std::memset(info, 0, sizeof(*info));
  info->cryptoki_version = {2, 40};
  Pad(info->manufacturer_id, sizeof(info->manufacturer_id), "Rampart");
  Pad(info->library_description, sizeof(info->library_description), "Rampart network HSM client");
  info->library_version = {0, 1};
  return CKR_OK;
}

ck_rv_t C_GetSlotList(unsigned char token_present, ck_slot_id_t* slots, unsigned long* count) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (count == nullptr) return CKR_ARGUMENTS_BAD;
  if (slots != nullptr) {
    if (*count < 1) {
      *count = 1;
      return CKR_BUFFER_TOO_SMALL;
    }
    slots[0] = kSlot;
  }
  *count = 1;
  return CKR_OK;
}

ck_rv_t C_GetSlotInfo(ck_slot_id_t slot, ck_slot_info* info) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != kSlot) return CKR_SLOT_ID_INVALID;
  if (info == nullptr) return CKR_ARGUMENTS_BAD;
  std::memset(info, 0, sizeof(*info));
  Pad(info->slot_description, sizeof(info->slot_description), "Rampart network HSM cluster");
  Pad(info->manufacturer_id, sizeof(info->manufacturer_id), "Rampart");
  info->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
  return CKR_OK;
}

ck_rv_t C_GetTokenInfo(ck_slot_id_t slot, ck_token_info* info) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != kSlot) return CKR_SLOT_ID_INVALID;
  if (info == nullptr) return CKR_ARGUMENTS_BAD;
  std::memset(info, 0, sizeof(*info));
  Pad(info->label, sizeof(info->label), "Rampart HSM");
  Pad(info->manufacturer_id, sizeof(info->manufacturer_id), "Rampart");
  Pad(info->model, sizeof(info->model), "hsmnet");
  Pad(info->serial_number, sizeof(info->serial_number), "1");
  Pad(info->utc_time, sizeof(info->utc_time), "");
  info->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED;
  info->max_session_count = CK_EFFECTIVELY_INFINITE;
  info->max_rw_session_count = CK_EFFECTIVELY_INFINITE;
  info->session_count = g_state->sessions.size();
  info->rw_session_count = g_state->sessions.size();
  info->max_pin_len = kMaxUserName + 1 + kMaxPassword;
  info->min_pin_len = 10;
  info->total_public_memory = CK_UNAVAILABLE_INFORMATION;
  info->free_public_memory = CK_UNAVAILABLE_INFORMATION;
  info->total_private_memory = CK_UNAVAILABLE_INFORMATION;
  info->free_private_memory = CK_UNAVAILABLE_INFORMATION;
  return CKR_OK;
}

ck_rv_t C_GetMechanismList(ck_slot_id_t slot, ck_mechanism_type_t* list, unsigned long* count) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != kSlot) return CKR_SLOT_ID_INVALID;
  if (count == nullptr) return CKR_ARGUMENTS_BAD;
  const auto& all = Mechanisms();
  if (list != nullptr && *count < all.size()) {
    *count = all.size();
    return CKR_BUFFER_TOO_SMALL;
  }
  if (list != nullptr) std::copy(all.begin(), all.end(), list);
  *count = all.size();
  return CKR_OK;
}

ck_rv_t C_GetMechanismInfo(ck_slot_id_t slot, ck_mechanism_type_t type, ck_mechanism_info* info) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != kSlot) return CKR_SLOT_ID_INVALID;
  if (info == nullptr) return CKR_ARGUMENTS_BAD;
  return MechanismInfo(type, *info) ? CKR_OK : CKR_MECHANISM_INVALID;
}

ck_rv_t C_OpenSession(ck_slot_id_t slot, ck_flags_t flags, void* application, ck_notify_t notify,
                      ck_session_handle_t* session) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != kSlot) return CKR_SLOT_ID_INVALID;
  if (!(flags & CKF_SERIAL_SESSION)) return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
  if (session == nullptr) return CKR_ARGUMENTS_BAD;
  if (g_state->sessions.size() >= 4096) return CKR_SESSION_COUNT;
  *session = g_state->next_session++;
  g_state->sessions[*session].flags = flags;
  return CKR_OK;
}

ck_rv_t C_CloseSession(ck_session_handle_t session) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (g_state->sessions.erase(session) == 0) return CKR_SESSION_HANDLE_INVALID;
  // Closing the last session logs the application out (PKCS#11 5.6).
  if (g_state->sessions.empty() && g_state->logged_in) EndLogin();
  return CKR_OK;
}

ck_rv_t C_CloseAllSessions(ck_slot_id_t slot) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_state == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;
  if (slot != kSlot) return CKR_SLOT_ID_INVALID;
  g_state->sessions.clear();
  if (g_state->logged_in) EndLogin();
  return CKR_OK;
}

ck_rv_t C_GetSessionInfo(ck_session_handle_t session, ck_session_info* info) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(session, &s, false);
  if (rv != CKR_OK) return rv;
  if (info == nullptr) return CKR_ARGUMENTS_BAD;
  bool rw = (s->flags & CKF_RW_SESSION) != 0;
  info->slot_id = kSlot;
  info->flags = s->flags;
  info->device_error = 0;
  if (!g_state->logged_in) info->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
  else if (g_state->user_type == CKU_SO) info->state = CKS_RW_SO_FUNCTIONS;
  else info->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
  return CKR_OK;
}

ck_rv_t C_Login(ck_session_handle_t session, ck_user_type_t user_type, unsigned char* pin,
                unsigned long pin_len) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(session, &s, false);
  if (rv != CKR_OK) return rv;
  if (user_type != CKU_USER && user_type != CKU_SO) return CKR_USER_TYPE_INVALID;
  if (g_state->logged_in) return CKR_USER_ALREADY_LOGGED_IN;
  if (pin == nullptr || pin_len > kMaxUserName + 1 + kMaxPassword) return CKR_PIN_LEN_RANGE;
  Request q;
  q.op = Op::kLogin;
  q.role = user_type == CKU_SO ? Role::kOfficer : Role::kCryptoUser;
  std::string text(reinterpret_cast<const char*>(pin), pin_len);
  size_t colon = text.find(':');
  if (colon == std::string::npos) {
    OPENSSL_cleanse(text.data(), text.size());
    return CKR_PIN_INCORRECT;
  }
  q.name = text.substr(0, colon);
  q.password = text.substr(colon + 1);
  OPENSSL_cleanse(text.data(), text.size());
  Response r = Send(*g_state, q);
  if (r.rv == CKR_OK) g_state->workers->SetLogin(&q);
  OPENSSL_cleanse(q.password.data(), q.password.size());
  if (r.rv != CKR_OK) return r.rv;
  g_state->logged_in = true;
  g_state->user_type = user_type;
  return CKR_OK;
}

ck_rv_t C_Logout(ck_session_handle_t session) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(session, &s, true);
  if (rv != CKR_OK) return rv;
  EndLogin();
  return CKR_OK;
}

ck_rv_t C_DestroyObject(ck_session_handle_t session, ck_object_handle_t object) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(session, &s, true);
  if (rv != CKR_OK) return rv;
  Object* obj = ResolveKey(object);
  if (obj == nullptr) return CKR_OBJECT_HANDLE_INVALID;
  Request q;
  q.op = Op::kDestroyKey;
  q.key_id = obj->info.key_id;
  Response r = Send(*g_state, q);
  if (r.rv != CKR_OK) return r.rv;
  for (ck_object_class_t cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
    auto it = g_state->handles.find({q.key_id, cls});
    if (it == g_state->handles.end()) continue;
    g_state->objects.erase(it->second);
    g_state->handles.erase(it);
  }
  return CKR_OK;
}

ck_rv_t C_GetAttributeValue(ck_session_handle_t session, ck_object_handle_t object, ck_attribute* tmpl,
                            unsigned long count) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(session, &s, false);
  if (rv != CKR_OK) return rv;
  Object* obj = FindObject(object);
  if (obj == nullptr) return CKR_OBJECT_HANDLE_INVALID;
  if (tmpl == nullptr && count > 0) return CKR_ARGUMENTS_BAD;
  rv = CKR_OK;
  for (unsigned long i = 0; i < count; ++i) {
    bool sensitive = false;
    auto value = AttributeValue(*g_state, *obj, tmpl[i].type, &sensitive);
    if (!value) {
      tmpl[i].value_len = CK_UNAVAILABLE_INFORMATION;
      rv = sensitive ? CKR_ATTRIBUTE_SENSITIVE : CKR_ATTRIBUTE_TYPE_INVALID;
    } else if (tmpl[i].value == nullptr) {
      tmpl[i].value_len = value->size();
    } else if (tmpl[i].value_len < value->size()) {
      tmpl[i].value_len = CK_UNAVAILABLE_INFORMATION;
      rv = CKR_BUFFER_TOO_SMALL;
    } else {
      std::memcpy(tmpl[i].value, value->data(), value->size());
      tmpl[i].value_len = value->size();
    }
  }
  return rv;
}

ck_rv_t C_FindObjectsInit(ck_session_handle_t session, ck_attribute* tmpl, unsigned long count) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(session, &s, false);
  if (rv != CKR_OK) return rv;
  if (s->finding) return CKR_OPERATION_ACTIVE;
  if (tmpl == nullptr && count > 0) return CKR_ARGUMENTS_BAD;
  s->found.clear();
  s->found_pos = 0;
  // Every key is private to its owner and those it is shared with: without
  // a login there is nothing to find.
  if (g_state->logged_in && g_state->user_type == CKU_USER) {
    rv = SyncObjects(*g_state);
    if (rv != CKR_OK) return rv;
    for (auto& entry : g_state->objects) {
      if (Matches(*g_state, entry.second, tmpl, count)) s->found.push_back(entry.first);
    }
  }
  s->finding = true;
  return CKR_OK;
}

ck_rv_t C_FindObjects(ck_session_handle_t session, ck_object_handle_t* objects, unsigned long max,
                      unsigned long* count) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(session, &s, false);
  if (rv != CKR_OK) return rv;
  if (!s->finding) return CKR_OPERATION_NOT_INITIALIZED;
  if (count == nullptr || (objects == nullptr && max > 0)) return CKR_ARGUMENTS_BAD;
  unsigned long n = 0;
  while (n < max && s->found_pos < s->found.size()) objects[n++] = s->found[s->found_pos++];
  *count = n;
  return CKR_OK;
}

ck_rv_t C_FindObjectsFinal(ck_session_handle_t session) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(session, &s, false);
  if (rv != CKR_OK) return rv;
  if (!s->finding) return CKR_OPERATION_NOT_INITIALIZED;
  s->finding = false;
  s->found.clear();
  return CKR_OK;
}

ck_rv_t C_EncryptInit(ck_session_handle_t h, ck_mechanism* mech, ck_object_handle_t key) {
  return OpInit(h, kEncryptOp, mech, key);
}
ck_rv_t C_Encrypt(ck_session_handle_t h, unsigned char* data, unsigned long len, unsigned char* out,
                  unsigned long* out_len) {
  return OpFinish(h, kEncryptOp, data, len, out, out_len);
}
ck_rv_t C_EncryptUpdate(ck_session_handle_t h, unsigned char* part, unsigned long len, unsigned char* out,
                        unsigned long* out_len) {
  if (out_len == nullptr) return CKR_ARGUMENTS_BAD;
  *out_len = 0;  // GCM output comes at C_EncryptFinal
  return OpUpdate(h, kEncryptOp, part, len);
}
ck_rv_t C_EncryptFinal(ck_session_handle_t h, unsigned char* out, unsigned long* out_len) {
  return OpFinish(h, kEncryptOp, nullptr, 0, out, out_len);
}
ck_rv_t C_DecryptInit(ck_session_handle_t h, ck_mechanism* mech, ck_object_handle_t key) {
  return OpInit(h, kDecryptOp, mech, key);
}
ck_rv_t C_Decrypt(ck_session_handle_t h, unsigned char* data, unsigned long len, unsigned char* out,
                  unsigned long* out_len) {
  return OpFinish(h, kDecryptOp, data, len, out, out_len);
}
ck_rv_t C_DecryptUpdate(ck_session_handle_t h, unsigned char* part, unsigned long len, unsigned char* out,
                        unsigned long* out_len) {
  if (out_len == nullptr) return CKR_ARGUMENTS_BAD;
  *out_len = 0;  // the tag is checked before any plaintext is released
  return OpUpdate(h, kDecryptOp, part, len);
}
ck_rv_t C_DecryptFinal(ck_session_handle_t h, unsigned char* out, unsigned long* out_len) {
  return OpFinish(h, kDecryptOp, nullptr, 0, out, out_len);
}
ck_rv_t C_SignInit(ck_session_handle_t h, ck_mechanism* mech, ck_object_handle_t key) {
  return OpInit(h, kSignOp, mech, key);
}
ck_rv_t C_Sign(ck_session_handle_t h, unsigned char* data, unsigned long len, unsigned char* sig,
               unsigned long* sig_len) {
  return OpFinish(h, kSignOp, data, len, sig, sig_len);
}
ck_rv_t C_SignUpdate(ck_session_handle_t h, unsigned char* part, unsigned long len) {
  return OpUpdate(h, kSignOp, part, len);
}
ck_rv_t C_SignFinal(ck_session_handle_t h, unsigned char* sig, unsigned long* sig_len) {
  return OpFinish(h, kSignOp, nullptr, 0, sig, sig_len);
}
ck_rv_t C_VerifyInit(ck_session_handle_t h, ck_mechanism* mech, ck_object_handle_t key) {
  return OpInit(h, kVerifyOp, mech, key);
}
ck_rv_t C_Verify(ck_session_handle_t h, unsigned char* data, unsigned long len, unsigned char* sig,
                 unsigned long sig_len) {
  return VerifyFinish(h, data, len, sig, sig_len);
}
ck_rv_t C_VerifyUpdate(ck_session_handle_t h, unsigned char* part, unsigned long len) {
  return OpUpdate(h, kVerifyOp, part, len);
}
ck_rv_t C_VerifyFinal(ck_session_handle_t h, unsigned char* sig, unsigned long sig_len) {
  return VerifyFinish(h, nullptr, 0, sig, sig_len);
}

ck_rv_t C_GenerateKey(ck_session_handle_t session, ck_mechanism* mech, ck_attribute* tmpl,
                      unsigned long count, ck_object_handle_t* key) {
  if (mech == nullptr || key == nullptr) return CKR_ARGUMENTS_BAD;
  if (mech->mechanism != CKM_AES_KEY_GEN && mech->mechanism != CKM_GENERIC_SECRET_KEY_GEN) {
    return CKR_MECHANISM_INVALID;
  }
  const ck_attribute* len = FindAttr(tmpl, count, CKA_VALUE_LEN);
  if (len != nullptr) {
    unsigned long n = 0;
    if (len->value == nullptr || len->value_len != sizeof(n)) return CKR_ATTRIBUTE_VALUE_INVALID;
    std::memcpy(&n, len->value, sizeof(n));
    if (n != 32) return CKR_KEY_SIZE_RANGE;  // AES-256 and 32-byte HMAC keys only
  }
  Request q;
  ck_rv_t rv = GenerateRequest(mech->mechanism == CKM_AES_KEY_GEN ? 0 : 1, tmpl, count, nullptr, 0, q);
  if (rv != CKR_OK) return rv;
  return CreateKey(session, q, key, nullptr);
}

ck_rv_t C_GenerateKeyPair(ck_session_handle_t session, ck_mechanism* mech, ck_attribute* pub_tmpl,
                          unsigned long pub_count, ck_attribute* priv_tmpl, unsigned long priv_count,
                          ck_object_handle_t* pub, ck_object_handle_t* priv) {
  if (mech == nullptr || pub == nullptr || priv == nullptr) return CKR_ARGUMENTS_BAD;
  uint8_t algorithm = 0;
  ck_rv_t rv = PairAlgorithm(mech->mechanism, pub_tmpl, pub_count, algorithm);
  if (rv != CKR_OK) return rv;
  Request q;
  rv = GenerateRequest(algorithm, pub_tmpl, pub_count, priv_tmpl, priv_count, q);
  if (rv != CKR_OK) return rv;
  return CreateKey(session, q, priv, pub);
}

ck_rv_t C_WrapKey(ck_session_handle_t session, ck_mechanism* mech, ck_object_handle_t wrapping_key,
                  ck_object_handle_t key, unsigned char* wrapped, unsigned long* wrapped_len) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(session, &s, true);
  if (rv != CKR_OK) return rv;
  if (wrapped_len == nullptr) return CKR_ARGUMENTS_BAD;
  rv = PrepareWrap(mech, ResolveKey(wrapping_key), CKR_WRAPPING_KEY_HANDLE_INVALID);
  if (rv != CKR_OK) return rv;
  Object* target = FindObject(key);
  if (target == nullptr || target->cls == CKO_PUBLIC_KEY) return CKR_KEY_HANDLE_INVALID;
  // The wrapped key is made once and kept for the call that brings a large
  // enough buffer (PKCS#11's length convention), then wiped.
  if (!s->wrapped || s->wrapped->first != std::make_pair(wrapping_key, key)) {
    Request q;
    q.op = Op::kWrapKey;
    q.wrapping_key_id = FindObject(wrapping_key)->info.key_id;
    q.key_id = target->info.key_id;
    Response r = Send(*g_state, q);
    if (r.rv != CKR_OK) return r.rv;
    s->wrapped.emplace(std::make_pair(wrapping_key, key), std::move(r.data));
  }
  const std::string& out = s->wrapped->second;
  if (wrapped == nullptr || *wrapped_len < out.size()) {
    rv = wrapped == nullptr ? CKR_OK : CKR_BUFFER_TOO_SMALL;
    *wrapped_len = out.size();
    return rv;
  }
  std::memcpy(wrapped, out.data(), out.size());
  *wrapped_len = out.size();
  s->wrapped.reset();
  return CKR_OK;
}

ck_rv_t C_UnwrapKey(ck_session_handle_t session, ck_mechanism* mech, ck_object_handle_t unwrapping_key,
                    unsigned char* wrapped, unsigned long wrapped_len, ck_attribute* tmpl,
                    unsigned long count, ck_object_handle_t* key) {
  Request q;
  q.op = Op::kUnwrapKey;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    SessionState* s = nullptr;
    ck_rv_t rv = Enter(session, &s, true);
    if (rv != CKR_OK) return rv;
    if (key == nullptr || (wrapped == nullptr && wrapped_len > 0)) return CKR_ARGUMENTS_BAD;
    if (wrapped_len == 0 || wrapped_len > kMaxWrapped) return CKR_WRAPPED_KEY_LEN_RANGE;
    rv = PrepareWrap(mech, ResolveKey(unwrapping_key), CKR_UNWRAPPING_KEY_HANDLE_INVALID);
    if (rv != CKR_OK) return rv;
    rv = UnwrapTemplate(tmpl, count, q);
    if (rv != CKR_OK) return rv;
    q.wrapping_key_id = FindObject(unwrapping_key)->info.key_id;
    q.data.assign(reinterpret_cast<const char*>(wrapped), wrapped_len);
  }
  return CreateKey(session, q, key, nullptr);
}

ck_rv_t C_GenerateRandom(ck_session_handle_t session, unsigned char* out, unsigned long len) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(session, &s, true);
  if (rv != CKR_OK) return rv;
  if (out == nullptr && len > 0) return CKR_ARGUMENTS_BAD;
  size_t done = 0;
  while (done < len) {
    Request q;
    q.op = Op::kRandom;
    q.count = static_cast<uint32_t>(std::min<size_t>(len - done, kMaxRandom));
    Response r = Send(*g_state, q);
    if (r.rv != CKR_OK) return r.rv;
    if (r.data.size() != q.count) return CKR_DEVICE_ERROR;
    std::memcpy(out + done, r.data.data(), r.data.size());
    done += r.data.size();
  }
  return CKR_OK;
}

ck_rv_t C_SeedRandom(ck_session_handle_t session, unsigned char* seed, unsigned long seed_len) {
  return CKR_RANDOM_SEED_NOT_SUPPORTED;
}
ck_rv_t C_GetFunctionStatus(ck_session_handle_t session) { return CKR_FUNCTION_NOT_PARALLEL; }
ck_rv_t C_CancelFunction(ck_session_handle_t session) { return CKR_FUNCTION_NOT_PARALLEL; }

ck_rv_t C_GetFunctionList(ck_function_list** list) {
  static ck_function_list functions = {
      {2, 40},
      C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList, C_GetSlotList, C_GetSlotInfo,
      C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN,
      C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo, C_GetOperationState,
      C_SetOperationState, C_Login, C_Logout, C_CreateObject, C_CopyObject, C_DestroyObject,
      C_GetObjectSize, C_GetAttributeValue, C_SetAttributeValue, C_FindObjectsInit, C_FindObjects,
      C_FindObjectsFinal, C_EncryptInit, C_Encrypt, C_EncryptUpdate, C_EncryptFinal, C_DecryptInit,
      C_Decrypt, C_DecryptUpdate, C_DecryptFinal, C_DigestInit, C_Digest, C_DigestUpdate, C_DigestKey,
      C_DigestFinal, C_SignInit, C_Sign, C_SignUpdate, C_SignFinal, C_SignRecoverInit, C_SignRecover,
      C_VerifyInit, C_Verify, C_VerifyUpdate, C_VerifyFinal, C_VerifyRecoverInit, C_VerifyRecover,
      C_DigestEncryptUpdate, C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate,
      C_GenerateKey, C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey, C_SeedRandom,
      C_GenerateRandom, C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent};
  if (list == nullptr) return CKR_ARGUMENTS_BAD;
  *list = &functions;
  return CKR_OK;
}

}  // extern "C"
