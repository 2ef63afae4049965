// WorkerPool: the connections librampart-pkcs11.so signs, encrypts and
// decrypts on, one per concurrent caller (p11_internal.h).
#include <openssl/crypto.h>

#include "hsmnet/client/p11_internal.h"

namespace rampart::hsmnet::p11 {
namespace {

constexpr uint32_t kDeviceError = 0x30;  // CKR_DEVICE_ERROR

void Wipe(std::optional<Request>& login) {
  if (login) OPENSSL_cleanse(login->password.data(), login->password.size());
  login.reset();
}

}  // namespace

WorkerPool::WorkerPool(ClientConfig config, std::shared_ptr<Client> primary)
    : config_(std::move(config)), primary_(std::move(primary)) {}

WorkerPool::~WorkerPool() { Wipe(login_); }

void WorkerPool::SetLogin(const Request* login) {
  std::vector<std::unique_ptr<Client>> closing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    closing.swap(idle_);
    Wipe(login_);
    if (login != nullptr) login_ = *login;
  }
  free_.notify_all();
  // The connections close (and their Client wipes its copy of the
  // password) outside the lock.
}

// A new connection, logged in when login is set. nullptr with *refused
// holding the answer when the certificates fail to load or the login is
// refused (a revoked user, no node up).
std::unique_ptr<Client> WorkerPool::Open(const Request* login, Response& refused) {
  ClientConfig config = config_;
  config.nodes = primary_->nodes();  // with the nodes learned from Hello
  std::string error;
  std::unique_ptr<Client> client = Client::Create(std::move(config), &error);
  refused.rv = kDeviceError;
  if (!client) return nullptr;
  if (login == nullptr) return client;
  Response r = client->Call(*login);
  if (r.rv == 0) return client;
  refused.rv = r.rv;
  return nullptr;
}

Response WorkerPool::Call(const Request& request) {
  std::unique_ptr<Client> client;
  std::optional<Request> login;
  uint64_t generation = 0;
  {
    std::unique_lock<std::mutex> lock(mu_);
    // One connection is opened at a time: each login costs the server a
    // password hash, and callers are better served by a connection that
    // frees up meanwhile than by a pile of logins.
    free_.wait(lock, [this] {
      return !idle_.empty() || (!opening_ && busy_ + idle_.size() < kMaxConnections);
    });
    if (!idle_.empty()) {
      client = std::move(idle_.back());
      idle_.pop_back();
    } else {
      login = login_;
      opening_ = true;
    }
    ++busy_;
    generation = generation_;
  }
  Response response;
  if (!client) {
    client = Open(login ? &*login : nullptr, response);
    Wipe(login);
    std::lock_guard<std::mutex> lock(mu_);
    opening_ = false;
  }
  free_.notify_all();
  if (client) response = client->Call(request);
  response.op = request.op;
  {
    std::lock_guard<std::mutex> lock(mu_);
    --busy_;
    if (client && generation == generation_) idle_.push_back(std::move(client));
  }
  free_.notify_one();
  return response;
}

}  // namespace rampart::hsmnet::p11
