#include "allowlist_pull.h"

#include <chrono>

#include "fetch.h"
#include "rampart/core/thread_name.h"

namespace rampart::proxy {
namespace {

constexpr size_t kMaxListBytes = 16u << 20;
// How often a puller without a configured source looks again.
constexpr std::chrono::seconds kIdleCheck{1};

}  // namespace

std::string PullSourceKey(const AllowlistPull& pull) {
  if (!pull.url.empty()) return "url:" + pull.url;
  if (!pull.file.empty()) return "file:" + pull.file;
  return "";
}

Result<std::string> FetchAllowlist(const AllowlistPull& pull) {
  if (!pull.file.empty()) return ReadSmallFile(pull.file, kMaxListBytes);
  FetchOptions options;
  options.timeout = pull.timeout;
  options.max_body_bytes = kMaxListBytes;
  options.ca_file = pull.ca_file;
  return FetchUrl(pull.url, options);
}

AllowlistPuller::AllowlistPuller(CurrentFn current, DeliverFn deliver)
    : current_(std::move(current)), deliver_(std::move(deliver)) {}

AllowlistPuller::~AllowlistPuller() { Stop(); }

void AllowlistPuller::Start() {
  thread_ = std::thread([this] {
    SetCurrentThreadName("proxy-pull");
    Loop();
  });
}

void AllowlistPuller::Wake() {
  std::lock_guard lock(mu_);
  wake_ = true;
  cv_.notify_all();
}

void AllowlistPuller::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void AllowlistPuller::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_ = false;
    std::shared_ptr<const Config> cfg = current_();
    AllowlistPull pull = cfg->allowlist_pull;
    cfg.reset();
    if (!pull.enabled()) {
      cv_.wait_for(lock, kIdleCheck, [this] { return stop_ || wake_; });
      continue;
    }
    lock.unlock();
    deliver_(PullSourceKey(pull), FetchAllowlist(pull));
    lock.lock();
    cv_.wait_for(lock, pull.interval, [this] { return stop_ || wake_; });
  }
}

}  // namespace rampart::proxy
