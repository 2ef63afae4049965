// The client-side object table and the attributes PKCS#11 applications
// read: only public ones. Secret values answer CKR_ATTRIBUTE_SENSITIVE.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstring>
#include <set>

#include "hsmnet/client/p11_internal.h"

namespace rampart::hsmnet::p11 {
namespace {

// pkcs11::KeyKind and KeyAlgorithm numbers (rampart/pkcs11/token.h).
constexpr uint8_t kKindAes = 0, kKindGeneric = 1, kKindEc = 2;
constexpr uint8_t kAlgEcP256 = 2;

std::string Ulong(unsigned long v) { return std::string(reinterpret_cast<const char*>(&v), sizeof(v)); }
std::string Bool(bool v) { return std::string(1, v ? '\1' : '\0'); }

bool IsPair(const Object& obj) { return obj.cls != CKO_SECRET_KEY; }

ck_key_type_t KeyType(const Object& obj) {
  switch (obj.info.kind) {
    case kKindAes: return CKK_AES;
    case kKindGeneric: return CKK_GENERIC_SECRET;
    case kKindEc: return CKK_EC;
    default: return CKK_RSA;
  }
}

std::string BnBytes(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  std::string out;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) == 1) {
    out.resize(static_cast<size_t>(BN_num_bytes(bn)));
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  BN_free(bn);
  return out;
}

// Fills EC or RSA public attributes from a SubjectPublicKeyInfo.
bool ParsePublic(Object& obj, const std::string& spki) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(spki.data());
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));
  if (pkey == nullptr) return false;
  bool ok = true;
  if (obj.info.kind == kKindEc) {
    unsigned char point[200];
    size_t len = 0;
    ok = EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &len) == 1 &&
         len < 128;
    static const char kP256[] = "\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07";
    static const char kP384[] = "\x06\x05\x2b\x81\x04\x00\x22";
    obj.ec_params = obj.info.algorithm == kAlgEcP256 ? std::string(kP256, 10) : std::string(kP384, 7);
    obj.ec_point = std::string("\x04", 1) + static_cast<char>(len) +
                   std::string(reinterpret_cast<const char*>(point), len);
  } else {
    obj.modulus = BnBytes(pkey, OSSL_PKEY_PARAM_RSA_N);
    obj.exponent = BnBytes(pkey, OSSL_PKEY_PARAM_RSA_E);
    ok = !obj.modulus.empty() && !obj.exponent.empty();
  }
  EVP_PKEY_free(pkey);
  if (ok) obj.spki = spki;
  return ok;
}

std::optional<std::string> KeyAttribute(ModuleState& m, Object& obj, ck_attribute_type_t type,
                                        bool* sensitive) {
  bool secret = obj.cls == CKO_SECRET_KEY;
  bool priv = obj.cls == CKO_PRIVATE_KEY;
  bool sign = obj.info.kind != kKindAes;
  // Keys listed before usage bits existed have none: AES encrypts, the rest sign.
  uint8_t usage = obj.info.usage != 0 ? obj.info.usage : sign ? kUsageSign : kUsageEncrypt;
  switch (type) {
    case CKA_SENSITIVE:
    case CKA_ALWAYS_SENSITIVE:
      if (obj.cls == CKO_PUBLIC_KEY) return std::nullopt;
      return Bool(true);
    case CKA_NEVER_EXTRACTABLE:
    case CKA_EXTRACTABLE:
      if (obj.cls == CKO_PUBLIC_KEY) return std::nullopt;
      return Bool(obj.extractable == (type == CKA_EXTRACTABLE));
    case CKA_ALWAYS_AUTHENTICATE:
      if (obj.cls == CKO_PUBLIC_KEY) return std::nullopt;
      return Bool(false);
    case CKA_ENCRYPT:
    case CKA_DECRYPT: return Bool(secret && !sign && (usage & kUsageEncrypt) != 0);
    case CKA_SIGN: return Bool((secret || priv) && sign);
    case CKA_VERIFY: return Bool(sign && !priv);
    case CKA_WRAP:
    case CKA_UNWRAP: return Bool(secret && !sign && (usage & kUsageWrap) != 0);
    case CKA_DERIVE:
    case CKA_SIGN_RECOVER:
    case CKA_VERIFY_RECOVER: return Bool(false);
    case CKA_VALUE:
      if (obj.cls == CKO_PUBLIC_KEY) return std::nullopt;
      *sensitive = true;
      return std::nullopt;
    case CKA_VALUE_LEN:
      if (!secret) return std::nullopt;
      return Ulong(32);
    default: break;
  }
  if (!IsPair(obj)) return std::nullopt;
  if (type != CKA_EC_PARAMS && type != CKA_EC_POINT && type != CKA_MODULUS &&
      type != CKA_PUBLIC_EXPONENT && type != CKA_MODULUS_BITS) {
    return std::nullopt;
  }
  if (LoadPublic(m, obj) != CKR_OK) return std::nullopt;
  bool ec = obj.info.kind == kKindEc;
  if (type == CKA_EC_PARAMS && ec) return obj.ec_params;
  if (type == CKA_EC_POINT && ec && obj.cls == CKO_PUBLIC_KEY) return obj.ec_point;
  if (type == CKA_MODULUS && !ec) return obj.modulus;
  if (type == CKA_PUBLIC_EXPONENT && !ec) return obj.exponent;
  if (type == CKA_MODULUS_BITS && !ec) return Ulong(obj.modulus.size() * 8);
  return std::nullopt;
}

}  // namespace

Response Send(ModuleState& m, const Request& request) { return m.client->Call(request); }

ck_object_handle_t AddKeyObjects(ModuleState& m, const KeyInfo& key) {
  bool pair = key.kind >= kKindEc;
  ck_object_handle_t first = 0;
  for (ck_object_class_t cls : {pair ? CKO_PRIVATE_KEY : CKO_SECRET_KEY, CKO_PUBLIC_KEY}) {
    if (cls == CKO_PUBLIC_KEY && !pair) break;
    auto id = std::make_pair(key.key_id, cls);
    auto it = m.handles.find(id);
    ck_object_handle_t h = it == m.handles.end() ? m.next_object++ : it->second;
    m.handles[id] = h;
    Object& obj = m.objects[h];
    obj.info = key;
    obj.cls = cls;
    if (first == 0) first = h;
  }
  return first;
}

ck_rv_t SyncObjects(ModuleState& m) {
  // The server lists keys in pages, in key id order; each page asks for
  // the keys after the last one seen.
  std::set<std::string> present;
  Request q;
  q.op = Op::kListKeys;
  for (size_t pages = 0;; ++pages) {
    Response r = Send(m, q);
    if (r.rv != CKR_OK) return r.rv;
    for (const KeyInfo& key : r.keys) {
      present.insert(key.key_id);
      AddKeyObjects(m, key);
    }
    // A page that does not move forward would loop: the server is broken.
    if (r.flag == 0) break;
    if (r.keys.empty() || r.keys.back().key_id <= q.key_id || pages > kMaxListed) return CKR_DEVICE_ERROR;
    q.key_id = r.keys.back().key_id;
  }
  for (auto it = m.objects.begin(); it != m.objects.end();) {
    if (present.count(it->second.info.key_id) == 0) {
      m.handles.erase({it->second.info.key_id, it->second.cls});
      it = m.objects.erase(it);
    } else {
      ++it;
    }
  }
  return CKR_OK;
}

ck_rv_t LoadPublic(ModuleState& m, Object& obj) {
  if (obj.public_loaded) return CKR_OK;
  Request q;
  q.op = Op::kPublicKey;
  q.key_id = obj.info.key_id;
  Response r = Send(m, q);
  if (r.rv != CKR_OK) return r.rv;
  if (!ParsePublic(obj, r.data)) return CKR_DEVICE_ERROR;
  obj.public_loaded = true;
  // Both halves share the public attributes.
  for (ck_object_class_t cls : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
    auto it = m.handles.find({obj.info.key_id, cls});
    if (it == m.handles.end()) continue;
    Object& other = m.objects[it->second];
    if (other.public_loaded) continue;
    ck_object_class_t keep = other.cls;
    other = obj;
    other.cls = keep;
  }
  return CKR_OK;
}

std::optional<std::string> AttributeValue(ModuleState& m, Object& obj, ck_attribute_type_t type,
                                          bool* sensitive) {
  *sensitive = false;
  switch (type) {
    case CKA_CLASS: return Ulong(obj.cls);
    case CKA_KEY_TYPE: return Ulong(KeyType(obj));
    case CKA_TOKEN:
    case CKA_LOCAL: return Bool(true);
    case CKA_PRIVATE: return Bool(obj.cls != CKO_PUBLIC_KEY);
    case CKA_MODIFIABLE: return Bool(false);
    case CKA_LABEL: return obj.info.label;
    case CKA_ID: return obj.info.app_id;
    default: return KeyAttribute(m, obj, type, sensitive);
  }
}

bool Matches(ModuleState& m, Object& obj, const ck_attribute* tmpl, unsigned long count) {
  for (unsigned long i = 0; i < count; ++i) {
    bool sensitive = false;
    auto value = AttributeValue(m, obj, tmpl[i].type, &sensitive);
    if (!value || value->size() != tmpl[i].value_len) return false;
    if (tmpl[i].value_len > 0 &&
        (tmpl[i].value == nullptr || std::memcmp(value->data(), tmpl[i].value, value->size()) != 0)) {
      return false;
    }
  }
  return true;
}

}  // namespace rampart::hsmnet::p11
