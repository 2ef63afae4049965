// The proxy's control plane: the admin HTTP endpoint (GET /metrics,
// GET /health, POST /reload), the config-file watcher (inotify, debounced)
// and the one thread on which every reload runs, whatever asked for it
// (SIGHUP, the admin endpoint or a file change), so reloads never race.
//
// Asio stays inside src/proxy/control.cc; this header is plain C++.
//
// Thread-safety: ControlLoop's Start and Stop are called from the owning
// (main) thread; Reload may be called from any thread except the control
// thread itself. FormatMetrics and HandleAdmin are pure.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/status.h"
#include "rampart/proxy/net.h"
#include "rampart/proxy/server.h"

namespace rampart::proxy {

struct ReloadCounts {
  uint64_t ok = 0;
  uint64_t rejected = 0;
  uint64_t pulls_ok = 0;       // allowlist pulls applied
  uint64_t pulls_failed = 0;   // fetch failed or the list was invalid (old list kept)
  uint64_t pulled_entries = 0; // entries from the last good pull in use
};

// Prometheus text exposition (version 0.0.4) of the proxy's counters.
std::string FormatMetrics(const ProxyStats& stats, const ReloadCounts& reloads);

struct AdminHooks {
  std::function<std::string()> metrics;
  // Runs a reload; the message on success, the validation error otherwise.
  std::function<Result<std::string>()> reload;
};

struct AdminResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string allow;  // for 405: the methods the path takes
};

// What the admin endpoint answers to `method target` (query strings are
// ignored).
AdminResponse HandleAdmin(std::string_view method, std::string_view target, const AdminHooks& hooks);

class ControlLoop {
 public:
  // `reload(source)` loads, validates and applies the config file; it runs
  // only on the control thread. source is "signal", "admin" or "file".
  using ReloadFn = std::function<Result<std::string>(std::string_view source)>;

  ControlLoop(std::string config_path, ReloadFn reload, std::function<std::string()> metrics);
  ~ControlLoop();  // stops
  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  // Binds the admin address (if any), starts watching the config file's
  // directory (if watch) and starts the control thread.
  Status Start(const std::vector<HostPort>& admin_listen, bool watch);
  // The bound admin port (0 without an admin endpoint).
  uint16_t admin_port() const;
  // Runs a reload on the control thread and waits for its result.
  Result<std::string> Reload(std::string_view source);
  // Runs fn on the control thread and waits for it (from another thread).
  void Run(const std::function<void()>& fn);
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rampart::proxy
