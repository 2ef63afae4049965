// C_WrapKey / C_UnwrapKey of librampart-pkcs11.so: CKM_AES_KEY_WRAP_PAD
// (RFC 5649) under an AES key made with CKA_WRAP/CKA_UNWRAP, done by the
// server (WrapKey / UnwrapKey requests). The server lets only a key's owner
// wrap it, and only when the key was made extractable; a crypto user a key
// is shared with gets CKR_ACTION_PROHIBITED. Unwrapping makes secret keys
// (AES-256, 32-byte generic secrets): PKCS#11's C_UnwrapKey carries no
// public half, which the server needs to rebuild a key pair.
#include <openssl/crypto.h>

#include <cstring>
#include <mutex>

#include "hsmnet/client/p11_internal.h"

namespace rampart::hsmnet::p11 {
namespace {

constexpr uint8_t kKindAes = 0;
constexpr uint8_t kAlgAes256 = 0, kAlgHmac = 1;

bool TrueAttr(const ck_attribute& a) {
  return a.value != nullptr && a.value_len == 1 && *static_cast<const unsigned char*>(a.value) != 0;
}

bool UlongAttr(const ck_attribute& a, unsigned long& out) {
  if (a.value == nullptr || a.value_len != sizeof(out)) return false;
  std::memcpy(&out, a.value, sizeof(out));
  return true;
}

}  // namespace

ck_rv_t UsageFromTemplate(const ck_attribute* tmpl, unsigned long count, uint8_t& usage, uint8_t& extractable) {
  for (unsigned long i = 0; tmpl != nullptr && i < count; ++i) {
    const ck_attribute& a = tmpl[i];
    uint8_t bit = 0;
    switch (a.type) {
      case CKA_ENCRYPT:
      case CKA_DECRYPT: bit = kUsageEncrypt; break;
      case CKA_SIGN:
      case CKA_VERIFY: bit = kUsageSign; break;
      case CKA_WRAP:
      case CKA_UNWRAP: bit = kUsageWrap; break;
      case CKA_EXTRACTABLE:
        if (a.value == nullptr || a.value_len != 1) return CKR_ATTRIBUTE_VALUE_INVALID;
        extractable = TrueAttr(a) ? 1 : 0;
        continue;
      default: continue;
    }
    if (a.value == nullptr || a.value_len != 1) return CKR_ATTRIBUTE_VALUE_INVALID;
    if (TrueAttr(a)) usage |= bit;
  }
  return CKR_OK;
}

ck_rv_t PrepareWrap(const ck_mechanism* mech, const Object* wrapping, ck_rv_t missing) {
  if (mech == nullptr) return CKR_ARGUMENTS_BAD;
  if (mech->mechanism != CKM_AES_KEY_WRAP_PAD) return CKR_MECHANISM_INVALID;
  if (mech->parameter != nullptr || mech->parameter_len != 0) return CKR_MECHANISM_PARAM_INVALID;
  if (wrapping == nullptr) return missing;
  if (wrapping->info.kind != kKindAes) {
    return missing == CKR_WRAPPING_KEY_HANDLE_INVALID ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT
                                                       : CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
  }
  if ((wrapping->info.usage & kUsageWrap) == 0) return CKR_KEY_FUNCTION_NOT_PERMITTED;
  return CKR_OK;
}

ck_rv_t UnwrapTemplate(const ck_attribute* tmpl, unsigned long count, Request& q) {
  unsigned long cls = CKO_SECRET_KEY, type = CKK_AES, len = 32;
  bool have_type = false;
  for (unsigned long i = 0; tmpl != nullptr && i < count; ++i) {
    const ck_attribute& a = tmpl[i];
    bool ok = true;
    if (a.type == CKA_CLASS) ok = UlongAttr(a, cls);
    if (a.type == CKA_KEY_TYPE) ok = have_type = UlongAttr(a, type);
    if (a.type == CKA_VALUE_LEN) ok = UlongAttr(a, len);
    if (!ok) return CKR_ATTRIBUTE_VALUE_INVALID;
  }
  if (cls != CKO_SECRET_KEY) return CKR_TEMPLATE_INCONSISTENT;
  if (!have_type) return CKR_TEMPLATE_INCOMPLETE;
  if (type != CKK_AES && type != CKK_GENERIC_SECRET) return CKR_TEMPLATE_INCONSISTENT;
  if (len != 32) return CKR_TEMPLATE_INCONSISTENT;
  q.algorithm = type == CKK_AES ? kAlgAes256 : kAlgHmac;
  for (unsigned long i = 0; tmpl != nullptr && i < count; ++i) {
    if (tmpl[i].type != CKA_LABEL) continue;
    if (tmpl[i].value == nullptr && tmpl[i].value_len > 0) return CKR_ATTRIBUTE_VALUE_INVALID;
    if (tmpl[i].value_len > kMaxLabel) return CKR_ATTRIBUTE_VALUE_INVALID;
    q.label.assign(static_cast<const char*>(tmpl[i].value), tmpl[i].value_len);
  }
  ck_rv_t rv = UsageFromTemplate(tmpl, count, q.usage, q.flag);
  if (rv != CKR_OK) return rv;
  // A secret of the other kind's usage makes no key the server can build.
  uint8_t allowed = type == CKK_AES ? (kUsageEncrypt | kUsageWrap) : kUsageSign;
  return (q.usage & ~allowed) == 0 ? CKR_OK : CKR_TEMPLATE_INCONSISTENT;
}

}  // namespace rampart::hsmnet::p11
