// Process metrics in the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Families:
//   rampart_requests_total{service,operation,status}          counter
//   rampart_request_duration_seconds{service,operation}       histogram
//   any gauge registered with SetGauge (e.g. rampart_connections_active)
//
// Label values should be names from the service models, not raw request
// text. Whatever arrives is still made safe: values are cut to
// kMaxLabelLength bytes, bytes outside printable ASCII become '_', and after
// kMaxSeries distinct (service, operation) pairs further pairs are counted
// under service="_overflow", operation="_overflow", so hostile input cannot
// grow memory without bound.
//
// Thread-safety: every function may be called from any thread. The hot
// path (RecordRequest) takes no lock once a thread has seen a (service,
// operation) pair: each thread keeps a small cache of pointers to the
// pair's counters, which are atomics in storage that lives as long as the
// registry.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace rampart::metrics {

// Upper bounds of the latency histogram buckets, in seconds (+Inf implied).
inline constexpr std::array<double, 16> kLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,     2.5,    5,     10};
inline constexpr size_t kMaxSeries = 2048;
inline constexpr size_t kMaxLabelLength = 128;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Counts one request and observes its latency. A status outside 100..599
  // is counted as 500.
  void RecordRequest(std::string_view service, std::string_view operation, int status,
                     std::chrono::nanoseconds latency);

  // A gauge read by calling `value` at every render. Replaces a gauge of the
  // same name. `value` must be cheap, must not throw, and must not call back
  // into this registry.
  // REQUIRES: name matches [a-zA-Z_:][a-zA-Z0-9_:]* (names are code, not input).
  void SetGauge(std::string_view name, std::string_view help, std::function<double()> value);
  void RemoveGauge(std::string_view name);

  // The whole exposition, families in a fixed order, series sorted by labels.
  std::string RenderPrometheus() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The process-wide registry the free functions below use.
Registry& Default();

inline void RecordRequest(std::string_view service, std::string_view operation, int status,
                          std::chrono::nanoseconds latency) {
  Default().RecordRequest(service, operation, status, latency);
}
inline void SetGauge(std::string_view name, std::string_view help, std::function<double()> value) {
  Default().SetGauge(name, help, std::move(value));
}
inline void RemoveGauge(std::string_view name) { Default().RemoveGauge(name); }
inline std::string RenderPrometheus() { return Default().RenderPrometheus(); }

}  // namespace rampart::metrics
