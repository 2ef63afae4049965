// Session pool (see session_pool.h).
#include "pkcs11/session_pool.h"

#include "pkcs11/module_impl.h"
#include "rampart/core/log.h"

namespace rampart::pkcs11 {

SessionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Return(handle_, false);
}

void SessionPool::Lease::Discard() {
  if (pool_ == nullptr) return;
  pool_->Return(handle_, true);
  pool_ = nullptr;
}

SessionPool::SessionPool(std::shared_ptr<Module> module, ck_slot_id_t slot, SecretBytes pin,
                         size_t max_sessions, std::chrono::milliseconds acquire_timeout)
    : module_(std::move(module)),
      fns_(module_->impl().fns),
      slot_(slot),
      pin_(std::move(pin)),
      max_sessions_(max_sessions),
      acquire_timeout_(acquire_timeout) {}

SessionPool::~SessionPool() {
  std::lock_guard<std::mutex> lock(mu_);
  for (ck_session_handle_t h : idle_) {
    auto call = module_->CallLock();
    (void)fns_->C_CloseSession(h);
  }
  idle_.clear();
}

Result<SessionPool::Lease> SessionPool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  bool ready =
      cv_.wait_for(lock, acquire_timeout_, [&] { return !idle_.empty() || open_ < max_sessions_; });
  if (!ready) {
    return Status::Error(ErrorCode::kUnavailable, "PKCS#11 session pool exhausted");
  }
  if (!idle_.empty()) {
    ck_session_handle_t h = idle_.back();
    idle_.pop_back();
    return Lease(this, h);
  }
  ++open_;  // reserve the slot, then open outside the lock
  lock.unlock();
  ck_session_handle_t h = 0;
  ck_rv_t rv;
  {
    auto call = module_->CallLock();
    rv = fns_->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h);
  }
  if (rv != CKR_OK) {
    lock.lock();
    --open_;
    cv_.notify_one();
    return CkrStatus("C_OpenSession", rv);
  }
  return Lease(this, h);
}

void SessionPool::Return(ck_session_handle_t h, bool discard) {
  if (discard) {
    {
      auto call = module_->CallLock();
      (void)fns_->C_CloseSession(h);  // may already be gone; nothing to do then
    }
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(h);
  }
  cv_.notify_one();
}

Status SessionPool::Login(const Lease& lease) {
  // Lock order everywhere: the module's call lock, then login_mu_.
  auto call = module_->CallLock();
  std::unique_lock<std::shared_mutex> lock(login_mu_);
  ++logins_in_flight_;
  ++login_generation_;
  ck_rv_t rv = fns_->C_Login(lease.handle(), CKU_USER, Uc(pin_.reveal()), pin_.size());
  ++login_generation_;
  --logins_in_flight_;
  if (rv == CKR_USER_ALREADY_LOGGED_IN) return Status::Ok();
  if (rv != CKR_OK) return CkrStatus("C_Login", rv);
  ++logins_;
  log::Info("pkcs11 user logged in", {{"module", module_->path()}});
  return Status::Ok();
}

uint64_t SessionPool::login_generation() const { return login_generation_.load(); }

bool SessionPool::LoginChanged(uint64_t generation, bool logged_in_now) const {
  return !logged_in_now || logins_in_flight_.load() > 0 || login_generation_.load() != generation;
}

uint64_t SessionPool::logins() const { return logins_.load(); }

size_t SessionPool::open_sessions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

}  // namespace rampart::pkcs11
