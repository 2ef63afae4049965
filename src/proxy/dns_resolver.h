// Asynchronous name resolution for one proxy worker: c-ares driven by the
// worker's own Asio io_context.
//
// How c-ares and Asio meet: a channel is created with a socket-state
// callback. When c-ares opens a socket (or wants to write on it) the
// callback wraps the descriptor in a non-owning posix::stream_descriptor
// and waits for readiness on the io_context; readiness calls
// ares_process_fd. A steady_timer follows ares_timeout() for retries and
// query timeouts. When c-ares closes a socket the wrapper is released
// (never closed: c-ares owns the descriptor). Everything runs on the
// worker's thread, so there are no locks and no extra threads.
//
// A channel is built for one set of DNS settings (servers, timeout, cache
// size). When a reload changes them, the next lookup builds a new channel
// (and cache); the old one is kept until its queries have answered, then
// destroyed.
//
// Thread-safety: a DnsResolver belongs to one io_context and must only be
// used from the thread running it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "rampart/proxy/config.h"
#include "rampart/proxy/dns.h"
#include "rampart/proxy/net.h"

namespace rampart::proxy {

struct DnsAnswer {
  enum class Kind {
    kOk,        // addresses (possibly empty: the name has no A/AAAA records)
    kNotFound,  // NXDOMAIN
    kError,     // timeout, refused, unreachable server...
  };
  Kind kind = Kind::kError;
  std::vector<IpAddress> addresses;
  std::string error;  // for kError
};

// Counters shared by every worker's resolver (atomics).
struct DnsCounters {
  DnsLatencyHistogram latency;  // lookups that went to the network
  std::atomic<uint64_t> cache_hits{0};
  std::atomic<uint64_t> failures{0};  // kError answers
};

class DnsResolver {
 public:
  using Callback = std::function<void(DnsAnswer)>;

  // REQUIRES: ioc and counters outlive the resolver.
  DnsResolver(boost::asio::io_context& ioc, DnsCounters* counters);
  ~DnsResolver();  // pending callbacks are dropped, never called
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // Resolves `name` (A and AAAA) with cfg.dns and a per-try timeout derived
  // from cfg.limits.connect_timeout. `done` runs on the io_context thread,
  // possibly before Resolve returns (cache hits, immediate errors). The
  // caller bounds the total time with its own timer and ignores late
  // answers.
  void Resolve(const Config& cfg, const std::string& name, Callback done);

  class Channel;

 private:
  boost::asio::io_context& ioc_;
  DnsCounters* counters_;
  std::unique_ptr<Channel> current_;
  std::vector<std::unique_ptr<Channel>> retired_;  // waiting for their queries
};

}  // namespace rampart::proxy
