// Internal: the state behind a Pkcs11Token and the retry loop every
// operation runs through.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "pkcs11/p11.h"
#include "pkcs11/session_pool.h"
#include "rampart/pkcs11/pkcs11_token.h"

namespace rampart::pkcs11 {

// Object handles by (CKA_CLASS, CKA_KEY_TYPE, CKA_ID), each valid for the login
// generation it was found in. Bounded: cleared when full.
// Thread-safety: thread-safe.
class HandleCache {
 public:
  explicit HandleCache(size_t max_entries) : max_entries_(max_entries) {}
  std::optional<ck_object_handle_t> Get(ck_object_class_t cls, ck_key_type_t type,
                                        const std::string& id, uint64_t generation) const;
  void Put(ck_object_class_t cls, ck_key_type_t type, const std::string& id, uint64_t generation,
           ck_object_handle_t h);
  // Drops every entry for CKA_ID id.
  void Erase(const std::string& id);

 private:
  struct Entry {
    ck_object_handle_t handle;
    uint64_t generation;
  };
  static std::string Key(ck_object_class_t cls, ck_key_type_t type, const std::string& id);
  const size_t max_entries_;
  mutable std::mutex mu_;
  // Keyed by Key(); ids_ maps a CKA_ID to the keys of its entries.
  std::unordered_map<std::string, Entry> map_;                     // guarded by mu_
  std::unordered_map<std::string, std::vector<std::string>> ids_;  // guarded by mu_
};

// Attribute template builder; keeps the bytes the pointers refer to alive.
class Attrs {
 public:
  Attrs& Bool(ck_attribute_type_t type, bool v);
  Attrs& Ulong(ck_attribute_type_t type, unsigned long v);
  Attrs& Bytes(ck_attribute_type_t type, std::string_view v);
  ck_attribute* data() { return attrs_.data(); }
  unsigned long size() const { return attrs_.size(); }

 private:
  Attrs& Add(ck_attribute_type_t type, std::string bytes);
  std::vector<std::unique_ptr<std::string>> storage_;
  std::vector<ck_attribute> attrs_;
};

ck_object_class_t ClassOf(KeyKind kind);
ck_key_type_t TypeOf(KeyKind kind);

struct Pkcs11Token::State {
  std::shared_ptr<Module> module;
  ck_slot_id_t slot = 0;
  TokenInfo info;
  std::unique_ptr<SessionPool> pool;
  std::unique_ptr<HandleCache> cache;

  ck_function_list* fns() const { return pool->fns(); }

  // An operation on one session: returns the module's answer. obj is the
  // resolved object handle of the key passed to Run (0 without a key).
  using Op = std::function<ck_rv_t(ck_session_handle_t session, ck_object_handle_t obj)>;

  // Runs op on a pooled session with the key (class cls, CKA_ID id) resolved
  // to an object handle, logging in again, replacing lost sessions and
  // re-resolving stale handles, each at most twice. fn names the PKCS#11
  // function for errors.
  // (CKA_CLASS, CKA_ID) of one object.
  // One key object: CKA_CLASS, CKA_KEY_TYPE and CKA_ID. The type is part
  // of the search so a reference of the wrong kind finds nothing.
  struct ObjectKey {
    ck_object_class_t cls;
    ck_key_type_t type;
    std::string id;
  };

  // A lost session is replaced without counting as an attempt, up to the
  // pool's size, since one lost session usually means all idle ones are.
  // *last_rv, when given, receives the module's final answer.
  Status Run(std::string_view fn, const std::optional<ObjectKey>& key, const Op& op,
             ck_rv_t* last_rv = nullptr);
  // The object's handle, from the cache or found; *missing when the object
  // does not exist (the token being logged in throughout the search).
  ck_rv_t Resolve(ck_session_handle_t s, const ObjectKey& key, ck_object_handle_t* obj,
                  bool* missing);
  Status RunWithKey(std::string_view fn, const KeyRef& key, const Op& op,
                    ck_rv_t* last_rv = nullptr) {
    return Run(fn, ObjectKey{ClassOf(key.kind), TypeOf(key.kind), key.id}, op, last_rv);
  }
  Status RunNoKey(std::string_view fn, const Op& op) { return Run(fn, std::nullopt, op); }

  // Finds objects matching the template on session (at most max).
  ck_rv_t FindObjects(ck_session_handle_t s, Attrs& tmpl, size_t max,
                      std::vector<ck_object_handle_t>* out);
  // FindObjects under HoldLoginState: CKR_USER_NOT_LOGGED_IN when nothing
  // was found and the token may have been logged out meanwhile; *none is
  // true when nothing was found while logged in throughout.
  ck_rv_t FindLoggedIn(ck_session_handle_t s, Attrs& tmpl, size_t max,
                       std::vector<ck_object_handle_t>* out, bool* none);
  // Reads one variable-length attribute.
  ck_rv_t GetAttribute(ck_session_handle_t s, ck_object_handle_t obj, ck_attribute_type_t type,
                       std::string* out);
};

}  // namespace rampart::pkcs11
