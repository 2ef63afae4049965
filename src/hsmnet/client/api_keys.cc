// librampart-pkcs11.so: key generation, wrapping and unwrapping (api.cc
// has the overview). New keys are made on the server and become objects of
// the table at once.
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

#include "hsmnet/client/p11_internal.h"

namespace rampart::hsmnet::p11 {
namespace {

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

}  // extern "C"
