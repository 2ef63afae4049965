// librampart-pkcs11.so: object management and search (api.cc has the
// overview). The objects are the keys the server lists for the logged-in
// user (objects.cc keeps the table).
#include <cstring>
#include <mutex>

#include "hsmnet/client/p11_internal.h"

using namespace rampart::hsmnet;       // NOLINT(google-build-using-namespace)
using namespace rampart::hsmnet::p11;  // NOLINT(google-build-using-namespace)

extern "C" {

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

}  // extern "C"
