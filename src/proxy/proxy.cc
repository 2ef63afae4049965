// RunProxy: config, access log, the server, and the signals that steer it.
// Signals are taken synchronously with sigwaitinfo on the main thread:
// they are blocked before any worker starts, so no handler ever runs in
// async-signal context.
#include "rampart/proxy/proxy.h"

#include <csignal>
#include <cstdio>
#include <memory>

#include "rampart/core/log.h"
#include "rampart/proxy/access_log.h"
#include "rampart/proxy/config.h"
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

bool SameListeners(const Config& a, const Config& b) {
  if (a.listen.size() != b.listen.size() || a.workers != b.workers) return false;
  for (size_t i = 0; i < a.listen.size(); ++i) {
    if (a.listen[i].host != b.listen[i].host || a.listen[i].port != b.listen[i].port) return false;
  }
  return true;
}

void Reload(const std::string& path, ProxyServer& server, AccessLog& log) {
  auto next = LoadConfigFile(path);
  if (!next.ok()) {
    log::Error("proxy reload rejected; keeping the running config", {{"error", next.status().message()}});
    return;
  }
  auto current = server.config();
  if (!SameListeners(*current, **next)) {
    log::Warn("proxy reload: listen addresses and workers change only on restart");
  }
  if ((*next)->access_log != log.path()) {
    Status st = log.Open((*next)->access_log);
    if (!st.ok()) {
      log::Error("proxy reload rejected; keeping the running config", {{"error", st.message()}});
      return;
    }
  }
  server.Reload(std::move(next).value());
  log::Info("proxy config reloaded", {{"config", path}});
}

void ServeSignals(const std::string& path, ProxyServer& server, AccessLog& log) {
  sigset_t set = ControlSignals();
  while (true) {
    int sig = sigwaitinfo(&set, nullptr);
    if (sig == SIGHUP) {
      Reload(path, server, log);
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
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by the workers
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
  for (const auto& hp : (*cfg)->listen) {
    std::printf("rampart proxy listening on %s\n", ListenText(hp).c_str());
  }
  std::fflush(stdout);
  ServeSignals(config_path, *server, log);
  server->Stop();
  log::Info("proxy stopped");
  return 0;
}

}  // namespace rampart::proxy
