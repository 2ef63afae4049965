// librampart-pkcs11.so: the PKCS#11 v2.40 C API over the network HSM
// protocol. One slot (0) holds one token, the cluster. C_Login takes the
// PIN "user:password" (CKU_USER for crypto users, CKU_SO for officers),
// as CloudHSM's library does. Configuration: the file named by
// RAMPART_PKCS11_CONF (see rampart/hsmnet/client.h).
//
// The C API is split by function family: this file has the module's state
// and the general-purpose, slot, token, random and function-list functions;
// api_session.cc sessions and login, api_objects.cc object management and
// search, api_crypto.cc encryption, decryption, signing and verification,
// api_keys.cc key generation and wrapping, unsupported.cc the rest.
//
// Every entry point holds g_mu; the Client serializes network calls anyway.
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "hsmnet/client/p11_internal.h"

namespace rampart::hsmnet::p11 {

std::mutex g_mu;
ModuleState* g_state = nullptr;

SessionState* FindSession(ck_session_handle_t h) {
  auto it = g_state->sessions.find(h);
  return it == g_state->sessions.end() ? nullptr : &it->second;
}

Object* FindObject(ck_object_handle_t h) {
  auto it = g_state->objects.find(h);
  return it == g_state->objects.end() ? nullptr : &it->second;
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

namespace {

void Pad(unsigned char* dst, size_t size, std::string_view text) {
  std::memset(dst, ' ', size);
  std::memcpy(dst, text.data(), std::min(size, text.size()));
}

// Like ssh with identity files: the client's private key must not be
// readable (or writable) by the group or others.
bool PrivateToOwner(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) == 0;
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
