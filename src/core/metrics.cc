#include "rampart/core/metrics.h"

#include <atomic>
#include <charconv>
#include <cmath>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rampart/core/check.h"

namespace rampart::metrics {
namespace {

constexpr size_t kBuckets = kLatencyBuckets.size();
constexpr int kMinStatus = 100;
constexpr int kMaxStatus = 599;
constexpr size_t kStatuses = kMaxStatus - kMinStatus + 1;

// Bucket bounds in nanoseconds, so the hot path compares integers.
constexpr std::array<int64_t, kBuckets> MakeBucketNanos() {
  std::array<int64_t, kBuckets> out{};
  for (size_t i = 0; i < kBuckets; ++i) {
    out[i] = static_cast<int64_t>(kLatencyBuckets[i] * 1e9 + 0.5);
  }
  return out;
}
constexpr std::array<int64_t, kBuckets> kBucketNanos = MakeBucketNanos();

// Counters of one (service, operation) pair. Never moves nor dies before its
// registry, so threads may cache pointers to it.
struct Series {
  std::string service;
  std::string operation;
  std::array<std::atomic<uint64_t>, kBuckets + 1> buckets{};  // not cumulative; last is +Inf
  std::atomic<uint64_t> sum_nanos{0};
  std::array<std::atomic<uint64_t>, kStatuses> by_status{};
};

using SeriesKey = std::pair<std::string, std::string>;

struct Gauge {
  std::string help;
  std::shared_ptr<const std::function<double()>> value;
};

std::atomic<uint64_t> g_next_registry_id{1};

// Label values reach here from request routing: keep them bounded and inside
// printable ASCII so the exposition stays valid UTF-8 whatever arrives.
std::string CleanLabel(std::string_view v) {
  std::string out(v.substr(0, kMaxLabelLength));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '_';
  }
  return out;
}

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

// Text format 0.0.4: label values escape backslash, double quote and newline.
void AppendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// HELP text escapes backslash and newline only.
void AppendHelp(std::string& out, std::string_view name, std::string_view help,
                std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void AppendUint(std::string& out, uint64_t v) { out += std::to_string(v); }

void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    // Shortest text that reads back as v: le="0.0025", not 0.0025000000000000001.
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
    out.append(buf, r.ptr);
  }
}

void AppendPairLabels(std::string& out, const Series& s) {
  out += "service=\"";
  AppendLabelValue(out, s.service);
  out += "\",operation=\"";
  AppendLabelValue(out, s.operation);
  out += '"';
}

// Per-thread pointers into one registry's series. Registry ids are never
// reused, so a cache filled for a destroyed registry is simply discarded.
struct PairHash {
  using is_transparent = void;
  size_t operator()(const std::pair<std::string_view, std::string_view>& k) const {
    size_t h = std::hash<std::string_view>()(k.first);
    return h ^ (std::hash<std::string_view>()(k.second) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  }
  size_t operator()(const SeriesKey& k) const {
    return (*this)(std::pair<std::string_view, std::string_view>(k.first, k.second));
  }
};
struct PairEq {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return std::string_view(a.first) == std::string_view(b.first) &&
           std::string_view(a.second) == std::string_view(b.second);
  }
};
struct ThreadCache {
  uint64_t registry_id = 0;
  std::unordered_map<SeriesKey, Series*, PairHash, PairEq> series;
};
thread_local ThreadCache t_cache;
constexpr size_t kMaxCachedPerThread = 4 * kMaxSeries;

}  // namespace

struct Registry::Impl {
  const uint64_t id = g_next_registry_id.fetch_add(1);

  mutable std::shared_mutex series_mu;
  std::map<SeriesKey, std::unique_ptr<Series>> series;  // guarded by series_mu
  Series overflow;  // service/operation set in the constructor; constant after

  mutable std::mutex gauges_mu;
  std::map<std::string, Gauge, std::less<>> gauges;  // guarded by gauges_mu

  Impl() {
    overflow.service = "_overflow";
    overflow.operation = "_overflow";
  }

  // The slow path: first sight of a pair on this thread.
  Series* FindOrCreate(std::string_view service, std::string_view operation) {
    SeriesKey key(CleanLabel(service), CleanLabel(operation));
    {
      std::shared_lock<std::shared_mutex> lock(series_mu);
      auto it = series.find(key);
      if (it != series.end()) return it->second.get();
    }
    std::unique_lock<std::shared_mutex> lock(series_mu);
    auto it = series.find(key);
    if (it != series.end()) return it->second.get();
    if (series.size() >= kMaxSeries) return &overflow;
    auto s = std::make_unique<Series>();
    s->service = key.first;
    s->operation = key.second;
    Series* raw = s.get();
    series.emplace(std::move(key), std::move(s));
    return raw;
  }

  Series* Lookup(std::string_view service, std::string_view operation) {
    ThreadCache& cache = t_cache;
    if (cache.registry_id != id) {
      cache.series.clear();
      cache.registry_id = id;
    }
    auto it = cache.series.find(std::pair<std::string_view, std::string_view>(service, operation));
    if (it != cache.series.end()) return it->second;
    Series* s = FindOrCreate(service, operation);
    // Keyed by the raw names so the next lookup needs no cleaning; bounded
    // because raw names that clean to the same label are distinct keys here.
    if (cache.series.size() >= kMaxCachedPerThread) cache.series.clear();
    cache.series.emplace(SeriesKey(service, operation), s);
    return s;
  }

  void RenderRequests(std::string& out) const;
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {}

Registry::~Registry() = default;

void Registry::RecordRequest(std::string_view service, std::string_view operation, int status,
                             std::chrono::nanoseconds latency) {
  Series* s = impl_->Lookup(service, operation);
  if (status < kMinStatus || status > kMaxStatus) status = 500;
  s->by_status[static_cast<size_t>(status - kMinStatus)].fetch_add(1, std::memory_order_relaxed);
  int64_t nanos = std::max<int64_t>(0, latency.count());
  size_t b = 0;
  while (b < kBuckets && nanos > kBucketNanos[b]) ++b;  // "le": upper bound inclusive
  s->buckets[b].fetch_add(1, std::memory_order_relaxed);
  s->sum_nanos.fetch_add(static_cast<uint64_t>(nanos), std::memory_order_relaxed);
}

void Registry::SetGauge(std::string_view name, std::string_view help,
                        std::function<double()> value) {
  RAMPART_CHECK(IsMetricName(name));
  RAMPART_CHECK(value != nullptr);
  Gauge g{std::string(help), std::make_shared<const std::function<double()>>(std::move(value))};
  std::lock_guard<std::mutex> lock(impl_->gauges_mu);
  impl_->gauges.insert_or_assign(std::string(name), std::move(g));
}

void Registry::RemoveGauge(std::string_view name) {
  std::lock_guard<std::mutex> lock(impl_->gauges_mu);
  auto it = impl_->gauges.find(name);
  if (it != impl_->gauges.end()) impl_->gauges.erase(it);
}

void Registry::Impl::RenderRequests(std::string& out) const {
  std::vector<const Series*> all;
  {
    std::shared_lock<std::shared_mutex> lock(series_mu);
    all.reserve(series.size() + 1);
    for (const auto& [key, s] : series) all.push_back(s.get());
  }
  all.push_back(&overflow);  // series are never removed: pointers stay valid

  AppendHelp(out, "rampart_requests_total", "Requests answered, by service, operation and HTTP status.",
             "counter");
  for (const Series* s : all) {
    for (size_t i = 0; i < kStatuses; ++i) {
      uint64_t n = s->by_status[i].load(std::memory_order_relaxed);
      if (n == 0) continue;
      out += "rampart_requests_total{";
      AppendPairLabels(out, *s);
      out += ",status=\"";
      AppendUint(out, kMinStatus + i);
      out += "\"} ";
      AppendUint(out, n);
      out += '\n';
    }
  }

  AppendHelp(out, "rampart_request_duration_seconds",
             "Time from a complete request to its response, by service and operation.", "histogram");
  for (const Series* s : all) {
    std::array<uint64_t, kBuckets + 1> counts{};
    uint64_t total = 0;
    for (size_t b = 0; b <= kBuckets; ++b) {
      counts[b] = s->buckets[b].load(std::memory_order_relaxed);
      total += counts[b];
    }
    if (total == 0) continue;
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets; ++b) {
      cumulative += counts[b];
      out += "rampart_request_duration_seconds_bucket{";
      AppendPairLabels(out, *s);
      out += ",le=\"";
      if (b < kBuckets) {
        AppendDouble(out, kLatencyBuckets[b]);
      } else {
        out += "+Inf";
      }
      out += "\"} ";
      AppendUint(out, cumulative);
      out += '\n';
    }
    out += "rampart_request_duration_seconds_sum{";
    AppendPairLabels(out, *s);
    out += "} ";
    AppendDouble(out, static_cast<double>(s->sum_nanos.load(std::memory_order_relaxed)) / 1e9);
    out += "\nrampart_request_duration_seconds_count{";
    AppendPairLabels(out, *s);
    out += "} ";
    // The bucket total, not a separate counter, so that _count always equals
    // the +Inf bucket even while requests are being recorded.
    AppendUint(out, total);
    out += '\n';
  }
}

std::string Registry::RenderPrometheus() const {
  std::string out;
  out.reserve(4096);
  impl_->RenderRequests(out);
  std::vector<std::pair<std::string, Gauge>> gauges;
  {
    std::lock_guard<std::mutex> lock(impl_->gauges_mu);
    gauges.assign(impl_->gauges.begin(), impl_->gauges.end());
  }
  // Callbacks run outside the lock: they may take locks of their own.
  for (const auto& [name, g] : gauges) {
    AppendHelp(out, name, g.help, "gauge");
    out += name;
    out += ' ';
    AppendDouble(out, (*g.value)());
    out += '\n';
  }
  return out;
}

Registry& Default() {
  static Registry* registry = new Registry();  // never destroyed: threads may outlive main
  return *registry;
}

}  // namespace rampart::metrics
