#include "rampart/proxy/dns.h"

#include <algorithm>

namespace rampart::proxy {

std::optional<std::string> FilteredAnswer(const DnsSettings& dns, const std::vector<IpAddress>& addresses) {
  for (const auto& a : addresses) {
    bool unspecified = std::all_of(a.bytes.begin(), a.bytes.begin() + a.size(), [](uint8_t b) { return b == 0; });
    bool listed = std::find(dns.block_addresses.begin(), dns.block_addresses.end(), a) != dns.block_addresses.end();
    if (unspecified || listed) return "answer " + a.ToString();
  }
  return std::nullopt;
}

std::string ServersCsv(const std::vector<HostPort>& servers) {
  std::string out;
  for (const auto& s : servers) {
    if (!out.empty()) out += ',';
    bool v6 = s.host.find(':') != std::string::npos;
    out += v6 ? "[" + s.host + "]" : s.host;
    out += ':' + std::to_string(s.port);
  }
  return out;
}

const std::vector<IpAddress>* DnsCache::Find(const std::string& name, Clock::time_point now) {
  auto it = index_.find(name);
  if (it == index_.end()) return nullptr;
  if (it->second->expires <= now) {
    lru_.erase(it->second);
    index_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->addresses;
}

void DnsCache::Put(const std::string& name, std::vector<IpAddress> addresses, std::chrono::seconds ttl,
                   Clock::time_point now) {
  if (capacity_ == 0 || ttl.count() <= 0 || addresses.empty()) return;
  Clock::time_point expires = now + std::min(ttl, kMaxTtl);
  if (auto it = index_.find(name); it != index_.end()) {
    it->second->addresses = std::move(addresses);
    it->second->expires = expires;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  if (index_.size() >= capacity_) {
    index_.erase(lru_.back().name);
    lru_.pop_back();
  }
  lru_.push_front(Entry{name, std::move(addresses), expires});
  index_.emplace(name, lru_.begin());
}

void DnsLatencyHistogram::Observe(std::chrono::microseconds latency) {
  double seconds = static_cast<double>(latency.count()) / 1e6;
  size_t i = 0;
  while (i < kBoundsSeconds.size() && seconds > kBoundsSeconds[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, latency.count())), std::memory_order_relaxed);
}

DnsLatencyHistogram::Snapshot DnsLatencyHistogram::Read() const {
  Snapshot s;
  for (size_t i = 0; i < counts_.size(); ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.count += s.counts[i];
  }
  s.sum_seconds = static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

}  // namespace rampart::proxy
