// Pkcs11Token: opening, the retry loop, key lookup and randomness (see
// include/rampart/pkcs11/pkcs11_token.h). Key generation is in
// token_keys.cc, cryptographic operations in token_crypto.cc.
#include "rampart/pkcs11/pkcs11_token.h"

#include <cstring>

#include "pkcs11/module_impl.h"
#include "pkcs11/token_state.h"

namespace rampart::pkcs11 {
namespace {

constexpr size_t kMaxSessions = 256;
constexpr size_t kMaxPinSize = 256;
constexpr size_t kMaxRandom = 65536;
// Each logout by someone else costs up to three: stale handle, not logged
// in (log in), success; two logouts in a row are survived.
constexpr int kAttempts = 6;
constexpr std::chrono::seconds kAcquireTimeout{30};

bool LoggedIn(ck_function_list* f, ck_session_handle_t s) {
  ck_session_info si{};
  if (f->C_GetSessionInfo(s, &si) != CKR_OK) return false;
  return si.state == CKS_RW_USER_FUNCTIONS || si.state == CKS_RO_USER_FUNCTIONS;
}

// Answers with which SoftHSM2 reports an operation whose key material was
// wiped by a concurrent C_Logout.
bool MaybeLogoutRace(ck_rv_t rv) { return rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED; }

// The kind of a key object, or nothing for key types this room cannot use
// (DES, DSA, ...), which lookups then skip.
std::optional<KeyKind> KindOf(ck_object_class_t cls, ck_key_type_t type) {
  if (cls == CKO_PRIVATE_KEY && type == CKK_RSA) return KeyKind::kRsaPrivate;
  if (cls == CKO_PRIVATE_KEY && type == CKK_EC) return KeyKind::kEcPrivate;
  if (cls == CKO_SECRET_KEY && type == CKK_AES) return KeyKind::kAes;
  if (cls == CKO_SECRET_KEY && type == CKK_GENERIC_SECRET) return KeyKind::kGenericSecret;
  return std::nullopt;
}

}  // namespace

// ---- HandleCache -------------------------------------------------------

std::string HandleCache::Key(ck_object_class_t cls, ck_key_type_t type, const std::string& id) {
  return std::to_string(cls) + ":" + std::to_string(type) + ":" + id;
}

std::optional<ck_object_handle_t> HandleCache::Get(ck_object_class_t cls, ck_key_type_t type,
                                                   const std::string& id,
                                                   uint64_t generation) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(Key(cls, type, id));
  if (it == map_.end() || it->second.generation != generation) return std::nullopt;
  return it->second.handle;
}

void HandleCache::Put(ck_object_class_t cls, ck_key_type_t type, const std::string& id,
                      uint64_t generation, ck_object_handle_t h) {
  std::lock_guard<std::mutex> lock(mu_);
  if (map_.size() >= max_entries_) {
    map_.clear();
    ids_.clear();
  }
  std::string key = Key(cls, type, id);
  if (map_.insert_or_assign(key, Entry{h, generation}).second) ids_[id].push_back(key);
}

void HandleCache::Erase(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ids_.find(id);
  if (it == ids_.end()) return;
  for (const std::string& key : it->second) map_.erase(key);
  ids_.erase(it);
}

// ---- Attrs -------------------------------------------------------------

Attrs& Attrs::Add(ck_attribute_type_t type, std::string bytes) {
  storage_.push_back(std::make_unique<std::string>(std::move(bytes)));
  std::string& s = *storage_.back();
  attrs_.push_back(ck_attribute{type, s.empty() ? nullptr : s.data(), s.size()});
  return *this;
}

Attrs& Attrs::Bool(ck_attribute_type_t type, bool v) {
  return Add(type, std::string(1, v ? '\1' : '\0'));
}

Attrs& Attrs::Ulong(ck_attribute_type_t type, unsigned long v) {
  return Add(type, std::string(reinterpret_cast<const char*>(&v), sizeof v));
}

Attrs& Attrs::Bytes(ck_attribute_type_t type, std::string_view v) {
  return Add(type, std::string(v));
}

ck_object_class_t ClassOf(KeyKind kind) {
  switch (kind) {
    case KeyKind::kAes:
    case KeyKind::kGenericSecret:
      return CKO_SECRET_KEY;
    case KeyKind::kEcPrivate:
    case KeyKind::kRsaPrivate:
      return CKO_PRIVATE_KEY;
  }
  return CKO_SECRET_KEY;
}

ck_key_type_t TypeOf(KeyKind kind) {
  switch (kind) {
    case KeyKind::kAes:
      return CKK_AES;
    case KeyKind::kGenericSecret:
      return CKK_GENERIC_SECRET;
    case KeyKind::kEcPrivate:
      return CKK_EC;
    case KeyKind::kRsaPrivate:
      return CKK_RSA;
  }
  return CKK_AES;
}

// ---- State -------------------------------------------------------------

ck_rv_t Pkcs11Token::State::FindObjects(ck_session_handle_t s, Attrs& tmpl, size_t max,
                                        std::vector<ck_object_handle_t>* out) {
  ck_function_list* f = fns();
  out->assign(max, 0);
  ck_rv_t rv = f->C_FindObjectsInit(s, tmpl.data(), tmpl.size());
  if (rv != CKR_OK) return rv;
  unsigned long found = 0;
  rv = f->C_FindObjects(s, out->data(), max, &found);
  ck_rv_t final_rv = f->C_FindObjectsFinal(s);
  if (rv != CKR_OK) return rv;
  out->resize(found);
  return final_rv;
}

ck_rv_t Pkcs11Token::State::GetAttribute(ck_session_handle_t s, ck_object_handle_t obj,
                                         ck_attribute_type_t type, std::string* out) {
  ck_attribute a{type, nullptr, 0};
  ck_rv_t rv = fns()->C_GetAttributeValue(s, obj, &a, 1);
  if (rv != CKR_OK) return rv;
  if (a.value_len == CK_UNAVAILABLE_INFORMATION || a.value_len > (1u << 16)) {
    return CKR_ATTRIBUTE_VALUE_INVALID;
  }
  out->assign(a.value_len, '\0');
  a.value = out->data();
  rv = fns()->C_GetAttributeValue(s, obj, &a, 1);
  if (rv == CKR_OK) out->resize(a.value_len);
  return rv;
}

ck_rv_t Pkcs11Token::State::FindLoggedIn(ck_session_handle_t s, Attrs& tmpl, size_t max,
                                         std::vector<ck_object_handle_t>* out, bool* none) {
  auto hold = pool->HoldLoginState();
  *none = false;
  bool before = LoggedIn(fns(), s);
  ck_rv_t rv = FindObjects(s, tmpl, max, out);
  if (rv != CKR_OK || !out->empty()) return rv;
  // Private objects are invisible while logged out: an empty answer counts
  // only when the token was logged in throughout (see HoldLoginState).
  if (!before || !LoggedIn(fns(), s)) return CKR_USER_NOT_LOGGED_IN;
  *none = true;
  return CKR_OK;
}

ck_rv_t Pkcs11Token::State::Resolve(ck_session_handle_t s, const ObjectKey& key,
                                    ck_object_handle_t* obj, bool* missing) {
  uint64_t generation = pool->login_generation();
  if (auto cached = cache->Get(key.cls, key.type, key.id, generation)) {
    *obj = *cached;
    return CKR_OK;
  }
  Attrs t;
  t.Ulong(CKA_CLASS, key.cls).Ulong(CKA_KEY_TYPE, key.type).Bytes(CKA_ID, key.id);
  std::vector<ck_object_handle_t> found;
  ck_rv_t rv = FindLoggedIn(s, t, 1, &found, missing);
  if (rv != CKR_OK || *missing) return rv;
  *obj = found[0];
  cache->Put(key.cls, key.type, key.id, generation, *obj);
  return CKR_OK;
}

Status Pkcs11Token::State::Run(std::string_view fn, const std::optional<ObjectKey>& key,
                               const Op& op, ck_rv_t* last_rv) {
  Status last;
  size_t lost = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    ASSIGN_OR_RETURN(SessionPool::Lease lease, pool->Acquire());
    ck_rv_t rv = CKR_OK;
    bool raced = false;
    std::string_view failed = fn;
    {
      auto call = module->CallLock();
      uint64_t generation = pool->login_generation();
      ck_object_handle_t obj = 0;
      bool missing = false;
      if (key) rv = Resolve(lease.handle(), *key, &obj, &missing);
      if (missing) return Status::Error(ErrorCode::kNotFound, "no such key in the PKCS#11 token");
      if (rv != CKR_OK) failed = "C_FindObjects";
      if (rv == CKR_OK) rv = op(lease.handle(), obj);
      if (MaybeLogoutRace(rv) && pool->LoginChanged(generation, LoggedIn(fns(), lease.handle()))) {
        rv = CKR_USER_NOT_LOGGED_IN;
        raced = true;
      }
    }
    if (rv == CKR_OK) return Status::Ok();
    last = CkrStatus(failed, rv);
    if (last_rv != nullptr) *last_rv = rv;
    if (rv == CKR_USER_NOT_LOGGED_IN) {
      Status login = pool->Login(lease);
      // An operation cut short by a logout can stay active in SoftHSM2
      // (the next C_*Init then answers CKR_OPERATION_ACTIVE).
      if (raced) lease.Discard();
      RETURN_IF_ERROR(login);
    } else if (SessionLost(rv) || rv == CKR_OPERATION_ACTIVE) {
      lease.Discard();
      if (++lost <= pool->max_sessions()) --attempt;
    } else if (HandleStale(rv) && key) {
      cache->Erase(key->id);
    } else {
      // A session that failed for no reason we know is not reused.
      if (MaybeLogoutRace(rv)) lease.Discard();
      return last;
    }
  }
  return last;
}

// ---- Pkcs11Token -------------------------------------------------------

Result<std::unique_ptr<Pkcs11Token>> Pkcs11Token::Open(std::shared_ptr<Module> module,
                                                       TokenOptions options) {
  if (module == nullptr) return Status::Validation("no PKCS#11 module");
  if (options.max_sessions == 0 || options.max_sessions > kMaxSessions) {
    return Status::Validation("max_sessions must be between 1 and 256");
  }
  if (options.user_pin.empty() || options.user_pin.size() > kMaxPinSize) {
    return Status::Validation("the user PIN must be 1 to 256 bytes");
  }
  ASSIGN_OR_RETURN(SlotInfo slot, module->FindSlot(options.selector));
  if (!slot.token.has_value() || !slot.token.value().initialized) {
    return Status::Error(ErrorCode::kUnavailable, "PKCS#11 token is not initialized");
  }
  auto state = std::make_unique<State>();
  state->module = module;
  state->slot = slot.slot_id;
  state->info = slot.token.value();
  state->pool = std::make_unique<SessionPool>(module, slot.slot_id, std::move(options.user_pin),
                                              options.max_sessions, kAcquireTimeout);
  state->cache = std::make_unique<HandleCache>(
      options.handle_cache_entries == 0 ? 1 : options.handle_cache_entries);
  {
    ASSIGN_OR_RETURN(SessionPool::Lease lease, state->pool->Acquire());
    RETURN_IF_ERROR(state->pool->Login(lease));
  }
  return std::unique_ptr<Pkcs11Token>(new Pkcs11Token(std::move(state)));
}

Pkcs11Token::Pkcs11Token(std::unique_ptr<State> state) : s_(std::move(state)) {}
Pkcs11Token::~Pkcs11Token() = default;

const TokenInfo& Pkcs11Token::info() const { return s_->info; }
uint64_t Pkcs11Token::slot_id() const { return s_->slot; }
size_t Pkcs11Token::open_sessions() const { return s_->pool->open_sessions(); }
uint64_t Pkcs11Token::logins() const { return s_->pool->logins(); }

Status Pkcs11Token::CheckKey(const KeyRef& key) {
  return s_->RunWithKey("C_FindObjects", key,
                        [](ck_session_handle_t, ck_object_handle_t) { return CKR_OK; });
}

Result<KeyRef> Pkcs11Token::FindKeyByLabel(std::string_view label) {
  if (label.empty() || label.size() > 128)
    return Status::Validation("label must be 1 to 128 bytes");
  std::vector<KeyRef> keys;
  RETURN_IF_ERROR(s_->RunNoKey("C_FindObjects", [&](ck_session_handle_t s, ck_object_handle_t) {
    keys.clear();
    for (ck_object_class_t cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY}) {
      Attrs t;
      t.Ulong(CKA_CLASS, cls).Bytes(CKA_LABEL, label);
      std::vector<ck_object_handle_t> found;
      bool none = false;
      ck_rv_t rv = s_->FindLoggedIn(s, t, 2, &found, &none);
      if (rv != CKR_OK) return rv;
      for (ck_object_handle_t h : found) {
        std::string id, type;
        if ((rv = s_->GetAttribute(s, h, CKA_ID, &id)) != CKR_OK) return rv;
        if ((rv = s_->GetAttribute(s, h, CKA_KEY_TYPE, &type)) != CKR_OK) return rv;
        if (type.size() != sizeof(ck_key_type_t)) return CKR_ATTRIBUTE_VALUE_INVALID;
        ck_key_type_t kt;
        std::memcpy(&kt, type.data(), sizeof kt);
        if (auto kind = KindOf(cls, kt)) keys.push_back(KeyRef{id, *kind});
      }
    }
    return CKR_OK;
  }));
  if (keys.empty()) {
    return Status::Error(ErrorCode::kNotFound, "no key labelled " + std::string(label));
  }
  if (keys.size() > 1) {
    return Status::Validation("several keys are labelled " + std::string(label));
  }
  return keys[0];
}

Status Pkcs11Token::DestroyKey(const KeyRef& key) {
  s_->cache->Erase(key.id);
  bool any = false;
  RETURN_IF_ERROR(s_->RunNoKey("C_DestroyObject", [&](ck_session_handle_t s, ck_object_handle_t) {
    // Only while logged in throughout, or a hidden private half would
    // survive its public half.
    auto hold = s_->pool->HoldLoginState();
    if (!LoggedIn(s_->fns(), s)) return CKR_USER_NOT_LOGGED_IN;
    // Key objects only: certificates conventionally share the key's CKA_ID.
    for (ck_object_class_t cls : {CKO_SECRET_KEY, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
      Attrs t;
      t.Ulong(CKA_CLASS, cls).Bytes(CKA_ID, key.id);
      std::vector<ck_object_handle_t> found;
      ck_rv_t rv = s_->FindObjects(s, t, 16, &found);
      if (rv != CKR_OK) return rv;
      for (ck_object_handle_t h : found) {
        if ((rv = s_->fns()->C_DestroyObject(s, h)) != CKR_OK) return rv;
        any = true;
      }
    }
    return LoggedIn(s_->fns(), s) ? CKR_OK : CKR_USER_NOT_LOGGED_IN;
  }));
  s_->cache->Erase(key.id);
  if (!any) return Status::Error(ErrorCode::kNotFound, "no such key in the PKCS#11 token");
  return Status::Ok();
}

Result<std::string> Pkcs11Token::GenerateRandom(size_t n) {
  if (n == 0 || n > kMaxRandom) return Status::Validation("random length must be 1 to 65536");
  std::string out(n, '\0');
  RETURN_IF_ERROR(s_->RunNoKey("C_GenerateRandom", [&](ck_session_handle_t s, ck_object_handle_t) {
    return s_->fns()->C_GenerateRandom(s, Uc(out), out.size());
  }));
  return out;
}

}  // namespace rampart::pkcs11
