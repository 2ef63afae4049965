// Internal: a pool of R/W sessions on one token, logged in as CKU_USER.
//
// A session is used by one thread at a time: Acquire() hands out a Lease
// that returns the session when destroyed (or closes it after Discard()).
// Up to max_sessions are open at once; Acquire waits for a free one.
//
// PKCS#11 login state belongs to the token (all sessions of the process
// share it), so Login() is serialized and a CKR_USER_ALREADY_LOGGED_IN
// answer counts as success. login_generation() increases with every
// C_Login attempt (before and after the call): private object handles found
// before may be stale.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "pkcs11/p11.h"
#include "rampart/core/secret.h"
#include "rampart/pkcs11/module.h"

namespace rampart::pkcs11 {

class SessionPool {
 public:
  class Lease {
   public:
    Lease(Lease&& o) noexcept : pool_(o.pool_), handle_(o.handle_) { o.pool_ = nullptr; }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    ck_session_handle_t handle() const { return handle_; }
    // The session is unusable (closed or invalidated by the module): close
    // it instead of returning it.
    void Discard();

   private:
    friend class SessionPool;
    Lease(SessionPool* pool, ck_session_handle_t h) : pool_(pool), handle_(h) {}
    SessionPool* pool_;
    ck_session_handle_t handle_;
  };

  // REQUIRES: 1 <= max_sessions.
  SessionPool(std::shared_ptr<Module> module, ck_slot_id_t slot, SecretBytes pin,
              size_t max_sessions, std::chrono::milliseconds acquire_timeout);
  ~SessionPool();  // closes the idle sessions; REQUIRES: no lease outstanding
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  Result<Lease> Acquire();
  // C_Login(CKU_USER) on the lease's session.
  Status Login(const Lease& lease);
  // While held, no Login() of this pool runs. A caller that sees the token
  // logged in both before and after an operation under this hold knows no
  // logout happened in between (we never log out, and only Login could
  // have logged back in), so "no object found" then really means none.
  // REQUIRES: the caller holds no other lock of this pool; when the module
  // is serialized, it holds the module's call lock first.
  std::shared_lock<std::shared_mutex> HoldLoginState() const {
    return std::shared_lock<std::shared_mutex>(login_mu_);
  }

  ck_function_list* fns() const { return fns_; }
  const Module& module() const { return *module_; }
  size_t max_sessions() const { return max_sessions_; }
  uint64_t login_generation() const;
  // Whether the token may have been logged out and in again since
  // login_generation() returned generation, given whether the session
  // reports itself logged in now. An operation that failed inside that
  // window (SoftHSM2 answers CKR_GENERAL_ERROR when a C_Logout wipes its
  // key cache mid-operation) deserves a retry after logging in.
  bool LoginChanged(uint64_t generation, bool logged_in_now) const;
  uint64_t logins() const;
  size_t open_sessions() const;

 private:
  void Return(ck_session_handle_t h, bool discard);

  // Constant after construction.
  const std::shared_ptr<Module> module_;
  ck_function_list* const fns_;
  const ck_slot_id_t slot_;
  const SecretBytes pin_;
  const size_t max_sessions_;
  const std::chrono::milliseconds acquire_timeout_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ck_session_handle_t> idle_;  // guarded by mu_
  size_t open_ = 0;                        // guarded by mu_; idle + leased

  // Exclusive around C_Login; shared by HoldLoginState.
  mutable std::shared_mutex login_mu_;
  std::atomic<uint64_t> login_generation_{0};  // written under login_mu_
  std::atomic<int> logins_in_flight_{0};       // written under login_mu_
  std::atomic<uint64_t> logins_{0};            // written under login_mu_
};

}  // namespace rampart::pkcs11
