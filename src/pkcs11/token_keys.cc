// Pkcs11Token key generation, wrapping and unwrapping.
#include "pkcs11/public_key.h"
#include "pkcs11/token_state.h"
#include "rampart/crypto/random.h"

namespace rampart::pkcs11 {
namespace {

constexpr size_t kMaxLabel = 128;
constexpr size_t kMaxId = 64;
constexpr size_t kDefaultIdSize = 16;
constexpr size_t kMaxWrapped = 16384;

bool IsSecret(KeyAlgorithm a) {
  return a == KeyAlgorithm::kAes256 || a == KeyAlgorithm::kHmacSha256;
}
bool IsEc(KeyAlgorithm a) { return a == KeyAlgorithm::kEcP256 || a == KeyAlgorithm::kEcP384; }

// Which usages an algorithm allows: AES encrypts and/or wraps; HMAC, EC and
// RSA keys sign (RSA encryption is not offered yet).
Status ValidateSpec(const KeySpec& spec) {
  if (spec.label.empty() || spec.label.size() > kMaxLabel) {
    return Status::Validation("key label must be 1 to 128 bytes");
  }
  if (spec.id.size() > kMaxId) return Status::Validation("key id must be at most 64 bytes");
  const KeyUsage& u = spec.usage;
  bool rsa = spec.algorithm == KeyAlgorithm::kRsa2048 || spec.algorithm == KeyAlgorithm::kRsa3072;
  bool one_of_sign_or_wrap = u.sign != u.wrap && !u.encrypt;
  bool ok = spec.algorithm == KeyAlgorithm::kAes256 ? (u.encrypt || u.wrap) && !u.sign
            : rsa                                   ? one_of_sign_or_wrap
                                                    : u.sign && !u.encrypt && !u.wrap;
  if (!ok) return Status::Validation("key usage does not fit the key algorithm");
  return Status::Ok();
}

// The attributes every private or secret key gets.
void AddPrivateAttrs(Attrs& t, const KeySpec& spec, const std::string& id) {
  t.Bool(CKA_TOKEN, true)
      .Bool(CKA_PRIVATE, true)
      .Bool(CKA_SENSITIVE, true)
      .Bool(CKA_EXTRACTABLE, spec.extractable)
      .Bytes(CKA_LABEL, spec.label)
      .Bytes(CKA_ID, id);
}

void AddSecretAttrs(Attrs& t, const KeySpec& spec, const std::string& id) {
  bool aes = spec.algorithm == KeyAlgorithm::kAes256;
  t.Ulong(CKA_CLASS, CKO_SECRET_KEY)
      .Ulong(CKA_KEY_TYPE, aes ? CKK_AES : CKK_GENERIC_SECRET)
      .Bool(CKA_ENCRYPT, spec.usage.encrypt)
      .Bool(CKA_DECRYPT, spec.usage.encrypt)
      .Bool(CKA_WRAP, spec.usage.wrap)
      .Bool(CKA_UNWRAP, spec.usage.wrap)
      .Bool(CKA_SIGN, spec.usage.sign)
      .Bool(CKA_VERIFY, spec.usage.sign)
      .Bool(CKA_DERIVE, false);
  AddPrivateAttrs(t, spec, id);
}

// RSA-OAEP with SHA-1 and MGF1-SHA-1, no label: the parameters SoftHSM2
// (and most modules) accept for C_WrapKey / C_UnwrapKey.
ck_rsa_pkcs_oaep_params OaepParams() {
  ck_rsa_pkcs_oaep_params p{};
  p.hash_alg = CKM_SHA_1;
  p.mgf = CKG_MGF1_SHA1;
  p.source = CKZ_DATA_SPECIFIED;
  p.source_data = nullptr;
  p.source_data_len = 0;
  return p;
}

// Finds the object of key on session s (CKR_KEY_HANDLE_INVALID if absent).
ck_rv_t FindKeyObject(Pkcs11Token::State& st, ck_session_handle_t s, const KeyRef& key,
                      ck_object_handle_t* out) {
  Attrs t;
  t.Ulong(CKA_CLASS, ClassOf(key.kind)).Ulong(CKA_KEY_TYPE, TypeOf(key.kind));
  t.Bytes(CKA_ID, key.id);
  std::vector<ck_object_handle_t> found;
  bool none = false;
  ck_rv_t rv = st.FindLoggedIn(s, t, 1, &found, &none);
  if (rv != CKR_OK) return rv;
  if (none) return CKR_KEY_HANDLE_INVALID;
  *out = found[0];
  return CKR_OK;
}

// Two-call C_WrapKey into *wrapped (length checked).
ck_rv_t WrapInto(ck_function_list* f, ck_session_handle_t s, ck_mechanism* m,
                 ck_object_handle_t wrapping, ck_object_handle_t key, std::string* wrapped) {
  unsigned long len = 0;
  ck_rv_t rv = f->C_WrapKey(s, m, wrapping, key, nullptr, &len);
  if (rv != CKR_OK) return rv;
  if (len == 0 || len > kMaxWrapped) return CKR_WRAPPED_KEY_LEN_RANGE;
  wrapped->assign(len, '\0');
  rv = f->C_WrapKey(s, m, wrapping, key, Uc(*wrapped), &len);
  wrapped->resize(len);
  return rv;
}

// The public key object of a replicated key pair, from its DER
// SubjectPublicKeyInfo: kValidation when the DER is not a key of spec's
// algorithm. Usage mirrors what GenerateKey gives the public half.
Status AddPublicAttrs(Attrs& t, const KeySpec& spec, const std::string& id,
                      std::string_view public_key_der) {
  bool sign = spec.usage.sign;
  t.Bool(CKA_TOKEN, true).Bool(CKA_PRIVATE, false).Bool(CKA_VERIFY, sign);
  t.Bool(CKA_ENCRYPT, false).Bool(CKA_WRAP, !sign).Bool(CKA_DERIVE, false);
  t.Bytes(CKA_LABEL, spec.label).Bytes(CKA_ID, id);
  if (IsEc(spec.algorithm)) {
    ASSIGN_OR_RETURN(EcPublicParts ec, EcPublicKeyParts(public_key_der));
    if (ec.curve != (spec.algorithm == KeyAlgorithm::kEcP256 ? "P-256" : "P-384")) {
      return Status::Validation("the public key is on another curve than the key spec");
    }
    t.Ulong(CKA_CLASS, CKO_PUBLIC_KEY).Ulong(CKA_KEY_TYPE, CKK_EC);
    t.Bytes(CKA_EC_PARAMS, ec.ec_params).Bytes(CKA_EC_POINT, ec.ec_point);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(RsaPublicParts rsa, RsaPublicKeyParts(public_key_der));
  if (rsa.modulus.size() != (spec.algorithm == KeyAlgorithm::kRsa2048 ? 256u : 384u)) {
    return Status::Validation("the public key's size differs from the key spec");
  }
  t.Ulong(CKA_CLASS, CKO_PUBLIC_KEY).Ulong(CKA_KEY_TYPE, CKK_RSA);
  t.Bytes(CKA_MODULUS, rsa.modulus).Bytes(CKA_PUBLIC_EXPONENT, rsa.exponent);
  return Status::Ok();
}

Result<std::string> IdFor(const KeySpec& spec) {
  if (!spec.id.empty()) return spec.id;
  return crypto::RandomBytes(kDefaultIdSize);
}

}  // namespace

KeyKind KindOfAlgorithm(KeyAlgorithm a) {
  switch (a) {
    case KeyAlgorithm::kAes256:
      return KeyKind::kAes;
    case KeyAlgorithm::kHmacSha256:
      return KeyKind::kGenericSecret;
    case KeyAlgorithm::kEcP256:
    case KeyAlgorithm::kEcP384:
      return KeyKind::kEcPrivate;
    case KeyAlgorithm::kRsa2048:
    case KeyAlgorithm::kRsa3072:
      return KeyKind::kRsaPrivate;
  }
  return KeyKind::kAes;
}

Result<KeyRef> Pkcs11Token::GenerateKey(const KeySpec& spec) {
  RETURN_IF_ERROR(ValidateSpec(spec));
  ASSIGN_OR_RETURN(std::string id, IdFor(spec));
  KeyRef ref{id, KindOfAlgorithm(spec.algorithm)};
  Status exists = CheckKey(ref);
  if (exists.ok()) return Status::Validation("a key with this id already exists in the token");
  if (exists.code() != ErrorCode::kNotFound) return exists;

  auto gen = [&](ck_session_handle_t s, ck_object_handle_t) -> ck_rv_t {
    ck_function_list* f = s_->fns();
    ck_object_handle_t key = 0, pub = 0, priv = 0;
    if (IsSecret(spec.algorithm)) {
      Attrs t;
      AddSecretAttrs(t, spec, id);
      t.Ulong(CKA_VALUE_LEN, 32);
      bool aes = spec.algorithm == KeyAlgorithm::kAes256;
      ck_mechanism m{aes ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
      return f->C_GenerateKey(s, &m, t.data(), t.size(), &key);
    }
    Attrs pt, vt;
    // Sign-only pairs, or RSA transport pairs that only wrap/unwrap:
    // modules default other usages (decrypt, unwrap, derive) to true, so
    // every one is spelled out.
    bool sign = spec.usage.sign;
    pt.Bool(CKA_TOKEN, true).Bool(CKA_PRIVATE, false).Bool(CKA_VERIFY, sign);
    pt.Bool(CKA_ENCRYPT, false).Bool(CKA_WRAP, !sign).Bool(CKA_DERIVE, false);
    pt.Bytes(CKA_LABEL, spec.label).Bytes(CKA_ID, id);
    vt.Bool(CKA_SIGN, sign)
        .Bool(CKA_DECRYPT, false)
        .Bool(CKA_UNWRAP, !sign)
        .Bool(CKA_DERIVE, false);
    AddPrivateAttrs(vt, spec, id);
    ck_mechanism m{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    if (IsEc(spec.algorithm)) {
      pt.Bytes(CKA_EC_PARAMS,
               EcParamsFor(spec.algorithm == KeyAlgorithm::kEcP256 ? "P-256" : "P-384"));
    } else {
      static constexpr char kF4[] = {1, 0, 1};
      m.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
      pt.Ulong(CKA_MODULUS_BITS, spec.algorithm == KeyAlgorithm::kRsa2048 ? 2048 : 3072);
      pt.Bytes(CKA_PUBLIC_EXPONENT, std::string_view(kF4, sizeof kF4));
    }
    return f->C_GenerateKeyPair(s, &m, pt.data(), pt.size(), vt.data(), vt.size(), &pub, &priv);
  };
  RETURN_IF_ERROR(
      s_->RunNoKey(IsSecret(spec.algorithm) ? "C_GenerateKey" : "C_GenerateKeyPair", gen));
  s_->cache->Erase(id);
  return ref;
}

Result<std::string> Pkcs11Token::WrapKey(const KeyRef& wrapping_key, const KeyRef& key) {
  if (wrapping_key.kind != KeyKind::kAes) return Status::Validation("the wrapping key must be AES");
  // Resolve the wrapped key's handle first, then wrap under the wrapping key.
  std::string wrapped;
  RETURN_IF_ERROR(s_->RunWithKey(
      "C_WrapKey", wrapping_key, [&](ck_session_handle_t s, ck_object_handle_t wk) -> ck_rv_t {
        ck_object_handle_t target = 0;
        ck_rv_t rv = FindKeyObject(*s_, s, key, &target);
        if (rv != CKR_OK) return rv;
        ck_mechanism m{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
        return WrapInto(s_->fns(), s, &m, wk, target, &wrapped);
      }));
  return wrapped;
}

Result<KeyRef> Pkcs11Token::UnwrapKey(const KeyRef& wrapping_key, std::string_view wrapped,
                                      const KeySpec& spec) {
  bool rsa = wrapping_key.kind == KeyKind::kRsaPrivate;
  if (wrapping_key.kind != KeyKind::kAes && !rsa) {
    return Status::Validation("the wrapping key must be AES or an RSA transport key");
  }
  if (!IsSecret(spec.algorithm)) {
    return Status::Validation("only AES and HMAC keys can be unwrapped so far");
  }
  if (wrapped.empty() || wrapped.size() > kMaxWrapped) {
    return Status::Validation("wrapped key must be 1 to 16384 bytes");
  }
  RETURN_IF_ERROR(ValidateSpec(spec));
  ASSIGN_OR_RETURN(std::string id, IdFor(spec));
  KeyRef ref{id, KindOfAlgorithm(spec.algorithm)};
  Status exists = CheckKey(ref);
  if (exists.ok()) return Status::Validation("a key with this id already exists in the token");
  if (exists.code() != ErrorCode::kNotFound) return exists;
  RETURN_IF_ERROR(s_->RunWithKey(
      "C_UnwrapKey", wrapping_key, [&](ck_session_handle_t s, ck_object_handle_t wk) {
        Attrs t;
        AddSecretAttrs(t, spec, id);
        ck_rsa_pkcs_oaep_params oaep = OaepParams();
        ck_mechanism m{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
        if (rsa) m = ck_mechanism{CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
        ck_object_handle_t out = 0;
        return s_->fns()->C_UnwrapKey(s, &m, wk, Uc(wrapped), wrapped.size(), t.data(), t.size(),
                                      &out);
      }));
  s_->cache->Erase(id);
  return ref;
}

Result<KeyRef> Pkcs11Token::UnwrapKeyPair(const KeyRef& wrapping_key, std::string_view wrapped,
                                          std::string_view public_key_der, const KeySpec& spec) {
  if (wrapping_key.kind != KeyKind::kAes) return Status::Validation("the wrapping key must be AES");
  if (IsSecret(spec.algorithm)) return Status::Validation("UnwrapKeyPair needs an EC or RSA key spec");
  if (wrapped.empty() || wrapped.size() > kMaxWrapped) {
    return Status::Validation("wrapped key must be 1 to 16384 bytes");
  }
  RETURN_IF_ERROR(ValidateSpec(spec));
  ASSIGN_OR_RETURN(std::string id, IdFor(spec));
  Attrs pub;
  RETURN_IF_ERROR(AddPublicAttrs(pub, spec, id, public_key_der));
  KeyRef ref{id, KindOfAlgorithm(spec.algorithm)};
  Status exists = CheckKey(ref);
  if (exists.ok()) return Status::Validation("a key with this id already exists in the token");
  if (exists.code() != ErrorCode::kNotFound) return exists;
  RETURN_IF_ERROR(s_->RunWithKey(
      "C_UnwrapKey", wrapping_key, [&](ck_session_handle_t s, ck_object_handle_t wk) -> ck_rv_t {
        Attrs t;
        t.Ulong(CKA_CLASS, CKO_PRIVATE_KEY).Ulong(CKA_KEY_TYPE, TypeOf(ref.kind));
        t.Bool(CKA_SIGN, spec.usage.sign).Bool(CKA_DECRYPT, false);
        t.Bool(CKA_UNWRAP, !spec.usage.sign).Bool(CKA_DERIVE, false);
        AddPrivateAttrs(t, spec, id);
        ck_mechanism m{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
        ck_object_handle_t priv = 0, pub_obj = 0;
        ck_rv_t rv = s_->fns()->C_UnwrapKey(s, &m, wk, Uc(wrapped), wrapped.size(), t.data(),
                                            t.size(), &priv);
        if (rv != CKR_OK) return rv;
        rv = s_->fns()->C_CreateObject(s, pub.data(), pub.size(), &pub_obj);
        // Half a pair is no key: the private half goes when its public one fails.
        if (rv != CKR_OK) s_->fns()->C_DestroyObject(s, priv);
        return rv;
      }));
  s_->cache->Erase(id);
  return ref;
}

Result<std::string> Pkcs11Token::WrapKeyWithPublicKey(std::string_view public_key_der,
                                                      const KeyRef& key) {
  if (key.kind != KeyKind::kAes && key.kind != KeyKind::kGenericSecret) {
    return Status::Validation("only AES and HMAC keys can be wrapped under a public key");
  }
  ASSIGN_OR_RETURN(RsaPublicParts pub, RsaPublicKeyParts(public_key_der));
  std::string wrapped;
  RETURN_IF_ERROR(s_->RunNoKey("C_WrapKey", [&](ck_session_handle_t s, ck_object_handle_t) {
    ck_object_handle_t target = 0;
    ck_rv_t rv = FindKeyObject(*s_, s, key, &target);
    if (rv != CKR_OK) return rv;
    // The recipient's public key lives only in this session.
    Attrs t;
    t.Ulong(CKA_CLASS, CKO_PUBLIC_KEY).Ulong(CKA_KEY_TYPE, CKK_RSA);
    t.Bool(CKA_TOKEN, false).Bool(CKA_WRAP, true).Bool(CKA_ENCRYPT, false).Bool(CKA_VERIFY, false);
    t.Bytes(CKA_MODULUS, pub.modulus).Bytes(CKA_PUBLIC_EXPONENT, pub.exponent);
    ck_object_handle_t recipient = 0;
    rv = s_->fns()->C_CreateObject(s, t.data(), t.size(), &recipient);
    if (rv != CKR_OK) return rv;
    ck_rsa_pkcs_oaep_params oaep = OaepParams();
    ck_mechanism m{CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
    rv = WrapInto(s_->fns(), s, &m, recipient, target, &wrapped);
    s_->fns()->C_DestroyObject(s, recipient);
    return rv;
  }));
  return wrapped;
}

Status Pkcs11Token::MakeNonExtractable(const KeyRef& key) {
  return s_->RunWithKey("C_SetAttributeValue", key, [&](ck_session_handle_t s, ck_object_handle_t k) {
    // Idempotent: SoftHSM2 refuses to set an already-false CKA_EXTRACTABLE
    // (CKR_ATTRIBUTE_READ_ONLY), so only a key that is extractable is changed.
    unsigned char extractable = 1;
    ck_attribute a{CKA_EXTRACTABLE, &extractable, 1};
    ck_rv_t rv = s_->fns()->C_GetAttributeValue(s, k, &a, 1);
    if (rv != CKR_OK || extractable == 0) return rv;
    Attrs t;
    t.Bool(CKA_EXTRACTABLE, false);
    return s_->fns()->C_SetAttributeValue(s, k, t.data(), t.size());
  });
}

}  // namespace rampart::pkcs11
