// RunProxy: config, access log, the server, the control loop (admin
// endpoint, config watcher) and the signals that steer them. Signals are
// taken synchronously with sigwaitinfo on the main thread: they are blocked
// before any other thread starts, so no handler ever runs in
// async-signal context. Every reload runs on the control thread.
#include "rampart/proxy/proxy.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "allowlist_pull.h"
#include "rampart/core/log.h"
#include "rampart/proxy/access_log.h"
#include "rampart/proxy/config.h"
#include "rampart/proxy/control.h"
#include "rampart/proxy/server.h"

namespace rampart::proxy {
namespace {

sigset_t ControlSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGHUP, SIGUSR1, SIGTERM, SIGINT}) sigaddset(&set, s);
  return set;
}

std::string ListenText(const HostPort& hp) {
  bool v6 = hp.host.find(':') != std::string::npos;
  return (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

bool SameAddresses(const std::vector<HostPort>& a, const std::vector<HostPort>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].host != b[i].host || a[i].port != b[i].port) return false;
  }
  return true;
}

bool SameStartupSettings(const Config& a, const Config& b) {
  return SameAddresses(a.listen, b.listen) && SameAddresses(a.admin_listen, b.admin_listen) &&
         SameAddresses(a.intercept_listen, b.intercept_listen) && SameAddresses(a.tls_listen, b.tls_listen) &&
         a.workers == b.workers && a.watch_config == b.watch_config;
}

// Loads, validates and applies the config file, and merges in the entries
// of the last good allowlist pull. Runs on the control thread only, so two
// reloads (or a reload and a pull) never interleave.
class Reloader {
 public:
  Reloader(std::string path, ProxyServer& server, AccessLog& log)
      : path_(std::move(path)), server_(server), log_(log), base_(server.config()) {}

  Result<std::string> operator()(std::string_view source) {
    Result<std::string> result = Apply();
    std::string src(source);
    if (!result.ok()) {
      rejected_++;
      log::Error("proxy reload rejected; keeping the running config",
                 {{"source", src}, {"error", result.status().message()}});
    } else {
      ok_++;
      log::Info("proxy config reloaded", {{"config", path_}, {"source", src}});
    }
    return result;
  }

  std::function<void()> on_source_change;  // set before the control loop starts

  ReloadCounts counts() const {
    return ReloadCounts{ok_.load(), rejected_.load(), pulls_ok_.load(), pulls_failed_.load(), pulled_count_.load()};
  }

  // The outcome of one allowlist pull from `source`: a valid list replaces
  // the previous pull's entries; a failed fetch or a bad list changes
  // nothing (logged and counted).
  void ApplyPull(const std::string& source, Result<std::string> text) {
    if (source != PullSourceKey(base_->allowlist_pull)) return;  // the config changed meanwhile
    auto entries = text.ok() ? ParseAllowlistText(*text) : Result<std::vector<std::string>>(text.status());
    Result<std::shared_ptr<const Config>> merged =
        entries.ok() ? WithPulledAllowlist(*base_, *entries) : Result<std::shared_ptr<const Config>>(entries.status());
    if (!merged.ok()) {
      pulls_failed_++;
      log::Error("allowlist pull failed; keeping the current list",
                 {{"source", source}, {"error", merged.status().message()}});
      return;
    }
    pulls_ok_++;
    pulled_count_ = entries->size();
    if (pulled_ != *entries) {
      log::Info("allowlist pulled", {{"source", source}, {"entries", std::to_string(entries->size())}});
    }
    pulled_ = std::move(entries).value();
    server_.Reload(std::move(merged).value());
  }

 private:
  Result<std::string> Apply() {
    auto next = LoadConfigFile(path_);
    if (!next.ok()) return next.status();
    std::string message = "config reloaded: " + std::to_string((*next)->matcher.size()) + " allow/deny entries";
    if (!SameStartupSettings(*server_.config(), **next)) {
      message += "; listen addresses, workers and watch_config change only on restart";
      log::Warn("proxy reload: listen addresses, workers and watch_config change only on restart");
    }
    std::shared_ptr<const Config> apply = *next;
    bool same_source = PullSourceKey((*next)->allowlist_pull) == PullSourceKey(base_->allowlist_pull);
    if (same_source && pulled_ && (*next)->allowlist_pull.enabled()) {
      // Keep the pulled entries across the reload; they were valid, but the
      // new deny list or rules are checked again with them.
      ASSIGN_OR_RETURN(apply, WithPulledAllowlist(**next, *pulled_));
      message += " (+" + std::to_string(pulled_->size()) + " pulled)";
    } else {
      pulled_.reset();  // another source or none: its entries go
      pulled_count_ = 0;
    }
    if ((*next)->access_log != log_.path()) RETURN_IF_ERROR(log_.Open((*next)->access_log));
    base_ = std::move(next).value();
    server_.Reload(std::move(apply));
    // After the swap: the puller reads the new source from the running config.
    if (!same_source && on_source_change) on_source_change();
    return message;
  }

  const std::string path_;
  ProxyServer& server_;
  AccessLog& log_;
  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> pulls_ok_{0};
  std::atomic<uint64_t> pulls_failed_{0};
  std::atomic<uint64_t> pulled_count_{0};
  std::shared_ptr<const Config> base_;                // the config file as last loaded, without pulled entries
  std::optional<std::vector<std::string>> pulled_;    // the last good pull's entries
};

void ServeSignals(ControlLoop& control, AccessLog& log) {
  sigset_t set = ControlSignals();
  while (true) {
    int sig = sigwaitinfo(&set, nullptr);
    if (sig == SIGHUP) {
      (void)control.Reload("signal");  // the outcome is logged by the reloader
    } else if (sig == SIGUSR1) {
      Status st = log.Reopen();
      if (!st.ok()) log::Error("access log reopen failed", {{"error", st.message()}});
    } else if (sig == SIGTERM || sig == SIGINT) {
      log::Info("proxy stopping");
      return;
    }
  }
}

}  // namespace

int RunProxy(const std::string& config_path) {
  auto cfg = LoadConfigFile(config_path);
  if (!cfg.ok()) {
    log::Error("bad proxy config", {{"error", cfg.status().message()}});
    return 2;
  }
  sigset_t set = ControlSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread
  // splice(2) into a socket whose peer has gone raises SIGPIPE (it has no
  // MSG_NOSIGNAL); the relay handles the EPIPE it also returns.
  signal(SIGPIPE, SIG_IGN);
  AccessLog log;
  Status st = log.Open((*cfg)->access_log);
  if (!st.ok()) {
    log::Error("cannot start proxy", {{"error", st.message()}});
    return 1;
  }
  auto server = std::make_unique<ProxyServer>(*cfg, &log);
  st = server->Start();
  if (!st.ok()) {
    log::Error("cannot start proxy", {{"error", st.message()}});
    return 1;
  }
  Reloader reloader(config_path, *server, log);
  ControlLoop* control_ptr = nullptr;  // set before the puller starts
  AllowlistPuller puller([&server] { return server->config(); },
                         [&control_ptr, &reloader](const std::string& source, Result<std::string> text) {
                           control_ptr->Run([&] { reloader.ApplyPull(source, std::move(text)); });
                         });
  // A reload that changes the pull source has it fetched at once.
  reloader.on_source_change = [&puller] { puller.Wake(); };
  ControlLoop control(
      config_path, [&reloader](std::string_view source) { return reloader(source); },
      [&] { return FormatMetrics(server->stats(), reloader.counts()); });
  control_ptr = &control;
  st = control.Start((*cfg)->admin_listen, (*cfg)->watch_config);
  if (!st.ok()) {
    log::Error("cannot start proxy", {{"error", st.message()}});
    server->Stop();
    return 1;
  }
  // Pulls start once the control loop runs, which applies them.
  puller.Start();
  for (const auto& hp : (*cfg)->listen) {
    std::printf("rampart proxy listening on %s\n", ListenText(hp).c_str());
  }
  auto ports = server->ports();
  for (size_t i = 0; i < (*cfg)->intercept_listen.size(); ++i) {
    const HostPort& hp = (*cfg)->intercept_listen[i];
    uint16_t port = ports[(*cfg)->listen.size() + i];
    std::printf("rampart proxy intercept listening on %s\n", ListenText(HostPort{hp.host, port}).c_str());
  }
  for (size_t i = 0; i < (*cfg)->tls_listen.size(); ++i) {
    const HostPort& hp = (*cfg)->tls_listen[i];
    uint16_t port = ports[(*cfg)->listen.size() + (*cfg)->intercept_listen.size() + i];
    std::printf("rampart proxy tls listening on %s\n", ListenText(HostPort{hp.host, port}).c_str());
  }
  for (const auto& hp : (*cfg)->admin_listen) {
    std::printf("rampart proxy admin listening on %s\n",
                ListenText(HostPort{hp.host, control.admin_port()}).c_str());
  }
  std::fflush(stdout);
  ServeSignals(control, log);
  puller.Stop();
  control.Stop();
  server->Stop();
  log::Info("proxy stopped");
  return 0;
}

}  // namespace rampart::proxy
