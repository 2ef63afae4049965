// The pure parts of the proxy's name resolution: what an answer means
// (filtered or usable), the bounded TTL cache, and the lookup-latency
// histogram. The c-ares channel that feeds them lives in
// src/proxy/dns_resolver.h (Asio-bound, private to the room).
//
// Thread-safety: DnsCache is not synchronised (one per worker thread);
// DnsLatencyHistogram is safe from any thread (atomics); the functions are
// pure.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rampart/proxy/config.h"
#include "rampart/proxy/net.h"

namespace rampart::proxy {

// Why a DNS answer means "the filtering resolver blocked this name", or
// nullopt when the addresses are a real answer: any 0.0.0.0, :: or
// configured block-page address in it. The text is the reason's detail,
// e.g. "answer 0.0.0.0".
std::optional<std::string> FilteredAnswer(const DnsSettings& dns, const std::vector<IpAddress>& addresses);

// The c-ares server list text: "1.2.3.4:53,[2001:db8::1]:5353".
std::string ServersCsv(const std::vector<HostPort>& servers);

// Name -> addresses until the answer's TTL ends, least recently used
// entries evicted first once `capacity` names are held. TTLs are capped
// at kMaxTtl; a TTL of zero is not cached.
class DnsCache {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kMaxTtl{3600};

  explicit DnsCache(size_t capacity) : capacity_(capacity) {}

  // The cached addresses, or nullptr when absent or expired (an expired
  // entry is dropped).
  const std::vector<IpAddress>* Find(const std::string& name, Clock::time_point now);
  void Put(const std::string& name, std::vector<IpAddress> addresses, std::chrono::seconds ttl,
           Clock::time_point now);
  size_t size() const { return index_.size(); }

 private:
  struct Entry {
    std::string name;
    std::vector<IpAddress> addresses;
    Clock::time_point expires;
  };
  size_t capacity_;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

// Latency of lookups that went to the network, in Prometheus histogram
// form (cumulative buckets are computed when exported).
class DnsLatencyHistogram {
 public:
  static constexpr std::array<double, 8> kBoundsSeconds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5};

  void Observe(std::chrono::microseconds latency);

  struct Snapshot {
    std::array<uint64_t, kBoundsSeconds.size() + 1> counts{};  // per bucket, last = +Inf; not cumulative
    uint64_t count = 0;
    double sum_seconds = 0;
  };
  Snapshot Read() const;

 private:
  std::array<std::atomic<uint64_t>, kBoundsSeconds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_us_{0};
};

}  // namespace rampart::proxy
