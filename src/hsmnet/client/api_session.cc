// librampart-pkcs11.so: session management and login (api.cc has the
// overview). Logging in or out changes what every session of the
// application may do (PKCS#11 login state is per application).
#include <openssl/crypto.h>

#include <cstring>
#include <mutex>
#include <string>

#include "hsmnet/client/p11_internal.h"

namespace rampart::hsmnet::p11 {
namespace {

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

}  // namespace
}  // namespace rampart::hsmnet::p11

using namespace rampart::hsmnet;       // NOLINT(google-build-using-namespace)
using namespace rampart::hsmnet::p11;  // NOLINT(google-build-using-namespace)

extern "C" {

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

}  // extern "C"
