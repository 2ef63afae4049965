// Token administration: C_InitToken + C_InitPIN (Module::InitToken) and
// the key listing of Pkcs11Token, for the `rampart hsm` CLI.
#include <cstring>

#include "pkcs11/module_impl.h"
#include "pkcs11/public_key.h"
#include "pkcs11/token_state.h"

namespace rampart::pkcs11 {
namespace {

constexpr size_t kMaxListed = 10000;

// A label blank-padded to the 32 bytes C_InitToken takes.
std::string PaddedLabel(std::string_view label) {
  std::string out(32, ' ');
  std::memcpy(out.data(), label.data(), label.size());
  return out;
}

// Sets the user PIN of the token in slot as its security officer.
ck_rv_t InitUserPin(ck_function_list* f, ck_slot_id_t slot, const SecretBytes& so_pin,
                    const SecretBytes& user_pin, std::string* failed_fn) {
  ck_session_handle_t s = 0;
  ck_rv_t rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
  *failed_fn = "C_OpenSession";
  if (rv != CKR_OK) return rv;
  rv = f->C_Login(s, CKU_SO, Uc(so_pin.reveal()), so_pin.size());
  *failed_fn = "C_Login";
  if (rv == CKR_OK) {
    rv = f->C_InitPIN(s, Uc(user_pin.reveal()), user_pin.size());
    *failed_fn = "C_InitPIN";
    f->C_Logout(s);
  }
  f->C_CloseSession(s);
  return rv;
}

KeyKind KindOf(ck_object_class_t cls, ck_key_type_t type, bool* known) {
  *known = true;
  if (cls == CKO_SECRET_KEY && type == CKK_AES) return KeyKind::kAes;
  if (cls == CKO_SECRET_KEY && type == CKK_GENERIC_SECRET) return KeyKind::kGenericSecret;
  if (cls == CKO_PRIVATE_KEY && type == CKK_EC) return KeyKind::kEcPrivate;
  if (cls == CKO_PRIVATE_KEY && type == CKK_RSA) return KeyKind::kRsaPrivate;
  *known = false;
  return KeyKind::kAes;
}

// Fills k's algorithm and usage from the object's attributes (k.ref.kind
// is set): the usage flags, the curve of an EC key, the modulus size of an
// RSA key.
ck_rv_t DescribeKey(Pkcs11Token::State& st, ck_session_handle_t s, ck_object_handle_t h,
                    KeyListing* k) {
  unsigned char encrypt = 0, sign = 0, wrap = 0, unwrap = 0;
  ck_attribute a[4] = {{CKA_ENCRYPT, &encrypt, 1}, {CKA_SIGN, &sign, 1},
                       {CKA_WRAP, &wrap, 1}, {CKA_UNWRAP, &unwrap, 1}};
  // A private key has no CKA_ENCRYPT/CKA_WRAP: their slots answer
  // "unavailable" (length -1) and keep the zero they start with.
  ck_rv_t rv = st.fns()->C_GetAttributeValue(s, h, a, 4);
  if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID) return rv;
  k->usage.encrypt = encrypt != 0;
  k->usage.sign = sign != 0;
  k->usage.wrap = wrap != 0 || unwrap != 0;
  switch (k->ref.kind) {
    case KeyKind::kAes:
      k->algorithm = KeyAlgorithm::kAes256;
      return CKR_OK;
    case KeyKind::kGenericSecret:
      k->algorithm = KeyAlgorithm::kHmacSha256;
      return CKR_OK;
    case KeyKind::kEcPrivate: {
      std::string params;
      rv = st.GetAttribute(s, h, CKA_EC_PARAMS, &params);
      if (rv != CKR_OK) return rv;
      k->algorithm = params == EcParamsFor("P-384") ? KeyAlgorithm::kEcP384 : KeyAlgorithm::kEcP256;
      return CKR_OK;
    }
    case KeyKind::kRsaPrivate: {
      std::string modulus;
      rv = st.GetAttribute(s, h, CKA_MODULUS, &modulus);
      if (rv != CKR_OK) return rv;
      k->algorithm = modulus.size() > 256 ? KeyAlgorithm::kRsa3072 : KeyAlgorithm::kRsa2048;
      return CKR_OK;
    }
  }
  return CKR_OK;
}

}  // namespace

Result<uint64_t> Module::InitToken(uint64_t slot_id, std::string_view label,
                                   const SecretBytes& so_pin, const SecretBytes& user_pin) const {
  if (label.empty() || label.size() > 32) return Status::Validation("token label must be 1 to 32 bytes");
  if (so_pin.size() == 0 || user_pin.size() == 0) return Status::Validation("PINs must not be empty");
  auto lock = CallLock();
  ck_function_list* f = impl_->fns;
  std::string padded = PaddedLabel(label);
  ck_rv_t rv = f->C_InitToken(slot_id, Uc(so_pin.reveal()), so_pin.size(), Uc(padded));
  if (rv != CKR_OK) return CkrStatus("C_InitToken", rv);
  lock = {};
  // SoftHSM2 moves a freshly initialised token to a slot of its own.
  TokenSelector sel;
  sel.label = std::string(label);
  ASSIGN_OR_RETURN(SlotInfo slot, FindSlot(sel));
  lock = CallLock();
  std::string failed_fn;
  rv = InitUserPin(f, slot.slot_id, so_pin, user_pin, &failed_fn);
  if (rv != CKR_OK) return CkrStatus(failed_fn, rv);
  return slot.slot_id;
}

Result<std::vector<KeyListing>> Pkcs11Token::ListKeys() {
  std::vector<KeyListing> out;
  RETURN_IF_ERROR(s_->RunNoKey("C_FindObjects", [&](ck_session_handle_t s, ck_object_handle_t) {
    out.clear();
    for (ck_object_class_t cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY}) {
      Attrs t;
      t.Ulong(CKA_CLASS, cls);
      std::vector<ck_object_handle_t> found;
      ck_rv_t rv = s_->FindObjects(s, t, kMaxListed, &found);
      if (rv != CKR_OK) return rv;
      for (ck_object_handle_t h : found) {
        ck_key_type_t type = 0;
        unsigned char extractable = 0, sensitive = 0;
        ck_attribute a[3] = {{CKA_KEY_TYPE, &type, sizeof type},
                             {CKA_EXTRACTABLE, &extractable, 1},
                             {CKA_SENSITIVE, &sensitive, 1}};
        rv = s_->fns()->C_GetAttributeValue(s, h, a, 3);
        if (rv != CKR_OK) return rv;
        KeyListing k;
        bool known = false;
        k.ref.kind = KindOf(cls, type, &known);
        if (!known) continue;
        k.extractable = extractable != 0;
        k.sensitive = sensitive != 0;
        rv = s_->GetAttribute(s, h, CKA_ID, &k.ref.id);
        if (rv == CKR_OK) rv = s_->GetAttribute(s, h, CKA_LABEL, &k.label);
        if (rv == CKR_OK) rv = DescribeKey(*s_, s, h, &k);
        if (rv != CKR_OK) return rv;
        out.push_back(std::move(k));
      }
    }
    return CKR_OK;
  }));
  return out;
}

}  // namespace rampart::pkcs11
