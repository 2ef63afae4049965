// The proxy's network side: forward-proxy and intercept listeners, one
// io_context (and one c-ares resolver) per worker thread, and the
// per-connection state machine (request head or ClientHello -> policy ->
// DNS + SSRF check -> upstream connect -> relay). Asio stays inside
// src/proxy/*.cc; this header is plain C++.
//
// Threading: Start spawns the workers; Reload, Stop and the accessors may
// be called from any one control thread. A connection lives on one worker
// and keeps the Config snapshot it started with.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "rampart/core/status.h"
#include "rampart/proxy/access_log.h"
#include "rampart/proxy/config.h"
#include "rampart/proxy/dns.h"

namespace rampart::proxy {

struct ProxyStats {
  uint64_t connections_active = 0;
  uint64_t tunnels_active = 0;
  uint64_t requests_allowed = 0;
  uint64_t requests_denied = 0;
  uint64_t requests_failed = 0;
  uint64_t bytes_up = 0;
  uint64_t bytes_down = 0;
  uint64_t dns_cache_hits = 0;
  uint64_t dns_failures = 0;
  DnsLatencyHistogram::Snapshot dns_latency;  // lookups that went to the network
  // Tunnels inside TLS connections to the proxy that a reload ended: their
  // client's certificate trust changed, or their certificate rule went.
  uint64_t tunnels_ended_by_reload_trust = 0;
  uint64_t tunnels_ended_by_reload_rule = 0;
};

class ProxyServer {
 public:
  // REQUIRES: log outlives the server.
  ProxyServer(std::shared_ptr<const Config> config, AccessLog* log);
  ~ProxyServer();  // stops (with the drain timeout) if still running
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Binds every listen address and starts the workers.
  Status Start();
  // New connections use `config` from now on, and so do the next
  // requests of open keep-alive connections. Open tunnels go on, except
  // those inside TLS connections to the proxy whose client standing
  // `config` withdraws, which each worker closes right after the swap
  // (see Session::OnReload). Listen addresses and the worker count are
  // fixed at Start; a change to them is ignored (the caller logs it).
  void Reload(std::shared_ptr<const Config> config);
  std::shared_ptr<const Config> config() const;
  // Stops accepting, lets open connections finish until the drain timeout,
  // then closes the rest. Idempotent.
  void Stop();

  // The bound ports: `listen` in order, then `intercept_listen`, then
  // `tls_listen` (useful with port 0).
  std::vector<uint16_t> ports() const;
  ProxyStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rampart::proxy
