// librampart-pkcs11.so: encryption, decryption, signing and verification
// (api.cc has the overview). Single-part and multi-part calls share one
// path: *Update gathers the data, the final call sends it in one request.
#include <openssl/crypto.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "hsmnet/client/p11_internal.h"

namespace rampart::hsmnet::p11 {
namespace {

ck_rv_t OpInit(ck_session_handle_t h, OpKind kind, ck_mechanism* mech, ck_object_handle_t key) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(h, &s, true);
  if (rv != CKR_OK) return rv;
  if (mech == nullptr) return CKR_ARGUMENTS_BAD;
  Operation& op = s->ops[kind];
  if (op.active) return CKR_OPERATION_ACTIVE;
  Object* obj = ResolveKey(key);
  if (obj == nullptr) return CKR_KEY_HANDLE_INVALID;
  rv = PrepareOperation(kind, *mech, *obj, op);
  if (rv != CKR_OK) {
    op = Operation();
    return rv;
  }
  static uint64_t next_serial = 0;  // guarded by g_mu
  op.key = key;
  op.active = true;
  op.serial = ++next_serial;
  return CKR_OK;
}

ck_rv_t OpUpdate(ck_session_handle_t h, OpKind kind, const unsigned char* part, unsigned long len) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(h, &s, true);
  if (rv != CKR_OK) return rv;
  Operation& op = s->ops[kind];
  if (!op.active) return CKR_OPERATION_NOT_INITIALIZED;
  if (op.computing) return CKR_OPERATION_ACTIVE;
  if (part == nullptr && len > 0) return CKR_ARGUMENTS_BAD;
  if (op.data.size() + len > kMaxData + 16) {
    op = Operation();
    return CKR_DATA_LEN_RANGE;
  }
  op.data.append(reinterpret_cast<const char*>(part), len);
  return CKR_OK;
}

// The network part of a sign, encrypt or decrypt, on copies of the key and
// the operation, without g_mu.
ck_rv_t RunOperation(WorkerPool& pool, OpKind kind, const Object& key, Operation& work,
                     std::string& result) {
  if (kind == kSignOp) return RunSign(pool, key, work, result);
  if (kind == kEncryptOp) return RunEncrypt(pool, key, work, result);
  return RunDecrypt(pool, key, work, result);
}

// Computes the output of the session's operation over its gathered data:
// g_mu is released for the round trip, so other threads' sessions proceed.
// The session may be closed (or the module finalised) meanwhile; that is
// checked when the lock is taken again.
ck_rv_t ComputeResult(std::unique_lock<std::mutex>& lock, ck_session_handle_t h, OpKind kind) {
  Operation& op = FindSession(h)->ops[kind];
  Object* obj = FindObject(op.key);
  if (obj == nullptr) {
    op = Operation();
    return CKR_KEY_HANDLE_INVALID;
  }
  Object key = *obj;
  Operation work = op;
  std::shared_ptr<WorkerPool> pool = g_state->workers;
  op.computing = true;
  lock.unlock();
  std::string result;
  ck_rv_t rv = RunOperation(*pool, kind, key, work, result);
  OPENSSL_cleanse(work.data.data(), work.data.size());
  lock.lock();
  SessionState* s = g_state == nullptr ? nullptr : FindSession(h);
  if (s == nullptr) {
    OPENSSL_cleanse(result.data(), result.size());
    return g_state == nullptr ? CKR_CRYPTOKI_NOT_INITIALIZED : CKR_SESSION_HANDLE_INVALID;
  }
  Operation& done = s->ops[kind];
  if (!done.active || done.serial != work.serial) {
    // Ended while this thread was away (the session logged out or was
    // closed and its handle reused): the result belongs to nobody.
    OPENSSL_cleanse(result.data(), result.size());
    return CKR_OPERATION_NOT_INITIALIZED;
  }
  done.computing = false;
  if (rv != CKR_OK) {
    done = Operation();
    return rv;
  }
  done.result = std::move(result);
  return CKR_OK;
}

// Runs the operation once over the gathered data and hands the output out
// with PKCS#11's length convention: a null buffer asks for the length; a
// short one answers CKR_BUFFER_TOO_SMALL; both keep the operation (and the
// result already computed) alive for the next call.
ck_rv_t OpFinish(ck_session_handle_t h, OpKind kind, const unsigned char* last, unsigned long last_len,
                 unsigned char* out, unsigned long* out_len) {
  std::unique_lock<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(h, &s, true);
  if (rv != CKR_OK) return rv;
  if (!s->ops[kind].active) return CKR_OPERATION_NOT_INITIALIZED;
  if (s->ops[kind].computing) return CKR_OPERATION_ACTIVE;
  if (out_len == nullptr || (last == nullptr && last_len > 0)) return CKR_ARGUMENTS_BAD;
  if (!s->ops[kind].result) {
    Operation& op = s->ops[kind];
    if (op.data.size() + last_len > kMaxData + 16) {
      op = Operation();
      return CKR_DATA_LEN_RANGE;
    }
    op.data.append(reinterpret_cast<const char*>(last), last_len);
    rv = ComputeResult(lock, h, kind);
    if (rv != CKR_OK) return rv;
    s = FindSession(h);
  }
  Operation& op = s->ops[kind];
  size_t size = op.result->size();
  if (out == nullptr) {
    *out_len = size;
    return CKR_OK;
  }
  if (*out_len < size) {
    *out_len = size;
    return CKR_BUFFER_TOO_SMALL;
  }
  std::memcpy(out, op.result->data(), size);
  *out_len = size;
  OPENSSL_cleanse(op.result->data(), op.result->size());
  op = Operation();
  return CKR_OK;
}

ck_rv_t VerifyFinish(ck_session_handle_t h, const unsigned char* last, unsigned long last_len,
                     const unsigned char* sig, unsigned long sig_len) {
  std::lock_guard<std::mutex> lock(g_mu);
  SessionState* s = nullptr;
  ck_rv_t rv = Enter(h, &s, true);
  if (rv != CKR_OK) return rv;
  Operation& op = s->ops[kVerifyOp];
  if (!op.active) return CKR_OPERATION_NOT_INITIALIZED;
  if ((sig == nullptr && sig_len > 0) || (last == nullptr && last_len > 0) || sig_len > 1024 ||
      op.data.size() + last_len > kMaxData) {
    op = Operation();
    return CKR_ARGUMENTS_BAD;
  }
  op.data.append(reinterpret_cast<const char*>(last), last_len);
  Object* obj = FindObject(op.key);
  std::string signature(reinterpret_cast<const char*>(sig), sig_len);
  rv = obj == nullptr ? CKR_KEY_HANDLE_INVALID : RunVerify(*g_state, *obj, op, signature);
  op = Operation();
  return rv;
}

}  // namespace
}  // namespace rampart::hsmnet::p11

using namespace rampart::hsmnet;       // NOLINT(google-build-using-namespace)
using namespace rampart::hsmnet::p11;  // NOLINT(google-build-using-namespace)

extern "C" {

ck_rv_t C_EncryptInit(ck_session_handle_t h, ck_mechanism* mech, ck_object_handle_t key) {
  return OpInit(h, kEncryptOp, mech, key);
}
ck_rv_t C_Encrypt(ck_session_handle_t h, unsigned char* data, unsigned long len, unsigned char* out,
                  unsigned long* out_len) {
  return OpFinish(h, kEncryptOp, data, len, out, out_len);
}
ck_rv_t C_EncryptUpdate(ck_session_handle_t h, unsigned char* part, unsigned long len, unsigned char* out,
                        unsigned long* out_len) {
  if (out_len == nullptr) return CKR_ARGUMENTS_BAD;
  *out_len = 0;  // GCM output comes at C_EncryptFinal
  return OpUpdate(h, kEncryptOp, part, len);
}
ck_rv_t C_EncryptFinal(ck_session_handle_t h, unsigned char* out, unsigned long* out_len) {
  return OpFinish(h, kEncryptOp, nullptr, 0, out, out_len);
}
ck_rv_t C_DecryptInit(ck_session_handle_t h, ck_mechanism* mech, ck_object_handle_t key) {
  return OpInit(h, kDecryptOp, mech, key);
}
ck_rv_t C_Decrypt(ck_session_handle_t h, unsigned char* data, unsigned long len, unsigned char* out,
                  unsigned long* out_len) {
  return OpFinish(h, kDecryptOp, data, len, out, out_len);
}
ck_rv_t C_DecryptUpdate(ck_session_handle_t h, unsigned char* part, unsigned long len, unsigned char* out,
                        unsigned long* out_len) {
  if (out_len == nullptr) return CKR_ARGUMENTS_BAD;
  *out_len = 0;  // the tag is checked before any plaintext is released
  return OpUpdate(h, kDecryptOp, part, len);
}
ck_rv_t C_DecryptFinal(ck_session_handle_t h, unsigned char* out, unsigned long* out_len) {
  return OpFinish(h, kDecryptOp, nullptr, 0, out, out_len);
}
ck_rv_t C_SignInit(ck_session_handle_t h, ck_mechanism* mech, ck_object_handle_t key) {
  return OpInit(h, kSignOp, mech, key);
}
ck_rv_t C_Sign(ck_session_handle_t h, unsigned char* data, unsigned long len, unsigned char* sig,
               unsigned long* sig_len) {
  return OpFinish(h, kSignOp, data, len, sig, sig_len);
}
ck_rv_t C_SignUpdate(ck_session_handle_t h, unsigned char* part, unsigned long len) {
  return OpUpdate(h, kSignOp, part, len);
}
ck_rv_t C_SignFinal(ck_session_handle_t h, unsigned char* sig, unsigned long* sig_len) {
  return OpFinish(h, kSignOp, nullptr, 0, sig, sig_len);
}
ck_rv_t C_VerifyInit(ck_session_handle_t h, ck_mechanism* mech, ck_object_handle_t key) {
  return OpInit(h, kVerifyOp, mech, key);
}
ck_rv_t C_Verify(ck_session_handle_t h, unsigned char* data, unsigned long len, unsigned char* sig,
                 unsigned long sig_len) {
  return VerifyFinish(h, data, len, sig, sig_len);
}
ck_rv_t C_VerifyUpdate(ck_session_handle_t h, unsigned char* part, unsigned long len) {
  return OpUpdate(h, kVerifyOp, part, len);
}
ck_rv_t C_VerifyFinal(ck_session_handle_t h, unsigned char* sig, unsigned long sig_len) {
  return VerifyFinish(h, nullptr, 0, sig, sig_len);
}

}  // extern "C"
