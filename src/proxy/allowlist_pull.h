// The allowlist puller: a thread that fetches the configured list
// (allowlist_pull: a URL or a file) every interval and hands the outcome to
// a callback; fetching blocks, so it never runs on a worker or the control
// thread. Validation and the swap happen in the callback (the reloader, on
// the control thread), like any reload.
//
// Thread-safety: Start, Wake and Stop may be called from any thread; the
// callbacks run on the puller's thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "rampart/core/status.h"
#include "rampart/proxy/config.h"

namespace rampart::proxy {

// What identifies a pull source ("url:..." or "file:..."); empty when off.
std::string PullSourceKey(const AllowlistPull& pull);

// One fetch of the list text, bounded in size (16 MiB) and, for URLs, time.
Result<std::string> FetchAllowlist(const AllowlistPull& pull);

class AllowlistPuller {
 public:
  // current: the running config (its allowlist_pull is read before each
  // pull). deliver: the source key and the fetched text or error.
  using CurrentFn = std::function<std::shared_ptr<const Config>()>;
  using DeliverFn = std::function<void(const std::string& source, Result<std::string> text)>;

  AllowlistPuller(CurrentFn current, DeliverFn deliver);
  ~AllowlistPuller();  // stops
  AllowlistPuller(const AllowlistPuller&) = delete;
  AllowlistPuller& operator=(const AllowlistPuller&) = delete;

  void Start();
  // Pulls now (after a reload changed the pull settings).
  void Wake();
  void Stop();

 private:
  void Loop();

  CurrentFn current_;
  DeliverFn deliver_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  bool wake_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace rampart::proxy
