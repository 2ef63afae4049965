#include "rampart/core/metrics.h"

#include <charconv>
#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace rampart::metrics {
namespace {

using namespace std::chrono_literals;

// Parses an exposition into "name{labels}" -> value, checking each line
// against the 0.0.4 grammar and that HELP/TYPE precede a family's samples.
struct Parsed {
  std::map<std::string, std::string> samples;
  std::map<std::string, std::string> types;
  bool ok = true;
  std::string error;
};

Parsed Parse(const std::string& text) {
  static const std::regex kSample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\\\|\\"|\\n)*")*\})? (\S+)$)");
  static const std::regex kHelp(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$)");
  static const std::regex kType(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$)");
  Parsed p;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, kHelp)) continue;
    if (std::regex_match(line, m, kType)) {
      p.types[m[1]] = m[2];
      continue;
    }
    if (!std::regex_match(line, m, kSample)) {
      p.ok = false;
      p.error = "bad line: " + line;
      return p;
    }
    std::string name = m[1];
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s = suffix;
      if (!p.types.count(family) && family.size() > s.size() &&
          family.compare(family.size() - s.size(), s.size(), s) == 0) {
        family = family.substr(0, family.size() - s.size());
      }
    }
    if (!p.types.count(family)) {
      p.ok = false;
      p.error = "sample before TYPE: " + line;
      return p;
    }
    std::string value = m[m.size() - 1];
    p.samples[line.substr(0, line.size() - value.size() - 1)] = value;
  }
  if (!text.empty() && text.back() != '\n') {
    p.ok = false;
    p.error = "no final newline";
  }
  return p;
}

double Value(const Parsed& p, const std::string& key) {
  auto it = p.samples.find(key);
  if (it == p.samples.end()) return -1;
  return std::stod(it->second);
}

TEST(MetricsTest, CountsRequestsAndObservesLatency) {
  Registry r;
  r.RecordRequest("iam", "GetUser", 200, 50us);
  r.RecordRequest("iam", "GetUser", 200, 2ms);
  r.RecordRequest("iam", "GetUser", 404, 20s);
  r.RecordRequest("kms", "Encrypt", 200, 100us);  // on a bucket bound: counted there
  Parsed p = Parse(r.RenderPrometheus());
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.types["rampart_requests_total"], "counter");
  EXPECT_EQ(p.types["rampart_request_duration_seconds"], "histogram");
  const std::string iam = R"(service="iam",operation="GetUser")";
  EXPECT_EQ(Value(p, "rampart_requests_total{" + iam + R"(,status="200"})"), 2);
  EXPECT_EQ(Value(p, "rampart_requests_total{" + iam + R"(,status="404"})"), 1);
  EXPECT_EQ(Value(p, "rampart_request_duration_seconds_bucket{" + iam + R"(,le="0.0001"})"), 1);
  EXPECT_EQ(Value(p, "rampart_request_duration_seconds_bucket{" + iam + R"(,le="0.001"})"), 1);
  EXPECT_EQ(Value(p, "rampart_request_duration_seconds_bucket{" + iam + R"(,le="0.0025"})"), 2);
  EXPECT_EQ(Value(p, "rampart_request_duration_seconds_bucket{" + iam + R"(,le="10"})"), 2);
  EXPECT_EQ(Value(p, "rampart_request_duration_seconds_bucket{" + iam + R"(,le="+Inf"})"), 3);
  EXPECT_EQ(Value(p, "rampart_request_duration_seconds_count{" + iam + "}"), 3);
  EXPECT_NEAR(Value(p, "rampart_request_duration_seconds_sum{" + iam + "}"), 20.00205, 1e-9);
  EXPECT_EQ(Value(p, R"(rampart_request_duration_seconds_bucket{service="kms",operation="Encrypt",le="0.0001"})"), 1);
}

TEST(MetricsTest, BucketsAreCumulativeAndComplete) {
  Registry r;
  for (int i = 0; i < 200; ++i) r.RecordRequest("s", "o", 200, std::chrono::microseconds(i * 97));
  Parsed p = Parse(r.RenderPrometheus());
  ASSERT_TRUE(p.ok) << p.error;
  double previous = 0;
  size_t buckets = 0;
  for (const auto& [key, value] : p.samples) {
    (void)value;
    if (key.rfind("rampart_request_duration_seconds_bucket", 0) == 0) ++buckets;
  }
  EXPECT_EQ(buckets, kLatencyBuckets.size() + 1);
  for (double le : kLatencyBuckets) {
    char buf[64];
    std::string label(buf, std::to_chars(buf, buf + sizeof buf, le, std::chars_format::general).ptr);
    double v = Value(p, R"(rampart_request_duration_seconds_bucket{service="s",operation="o",le=")" +
                            label + "\"}");
    ASSERT_GE(v, 0) << label;
    EXPECT_GE(v, previous);
    previous = v;
  }
  EXPECT_EQ(Value(p, R"(rampart_request_duration_seconds_bucket{service="s",operation="o",le="+Inf"})"), 200);
}

TEST(MetricsTest, HostileLabelValuesAreEscapedAndBounded) {
  Registry r;
  r.RecordRequest("a\"b\\c\nd", "op\xff\x01", 200, 1ms);
  r.RecordRequest(std::string(1000, 'x'), "o", 200, 1ms);
  std::string text = r.RenderPrometheus();
  Parsed p = Parse(text);
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(Value(p, R"(rampart_requests_total{service="a\"b\\c_d",operation="op__",status="200"})"), 1);
  EXPECT_EQ(Value(p, "rampart_requests_total{service=\"" + std::string(kMaxLabelLength, 'x') +
                         R"(",operation="o",status="200"})"),
            1);
}

TEST(MetricsTest, OddStatusesCountAs500) {
  Registry r;
  r.RecordRequest("s", "o", 42, 1ms);
  r.RecordRequest("s", "o", 1000, 1ms);
  Parsed p = Parse(r.RenderPrometheus());
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(Value(p, R"(rampart_requests_total{service="s",operation="o",status="500"})"), 2);
}

TEST(MetricsTest, SeriesCountIsBounded) {
  Registry r;
  for (size_t i = 0; i < kMaxSeries + 50; ++i) {
    r.RecordRequest("svc", "Op" + std::to_string(i), 200, 1ms);
  }
  Parsed p = Parse(r.RenderPrometheus());
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(Value(p, R"(rampart_requests_total{service="_overflow",operation="_overflow",status="200"})"), 50);
  size_t counters = 0;
  for (const auto& [key, value] : p.samples) {
    (void)value;
    if (key.rfind("rampart_requests_total{", 0) == 0) ++counters;
  }
  EXPECT_EQ(counters, kMaxSeries + 1);
}

TEST(MetricsTest, GaugesAreReadAtRenderAndCanBeReplacedOrRemoved) {
  Registry r;
  double connections = 3;
  r.SetGauge("rampart_connections_active", "Open client connections.", [&] { return connections; });
  r.SetGauge("rampart_weird", "Help with \\ and\nnewline.", [] { return std::nan(""); });
  Parsed p = Parse(r.RenderPrometheus());
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.types["rampart_connections_active"], "gauge");
  EXPECT_EQ(Value(p, "rampart_connections_active"), 3);
  EXPECT_EQ(p.samples["rampart_weird"], "NaN");
  connections = 7;
  EXPECT_EQ(Value(Parse(r.RenderPrometheus()), "rampart_connections_active"), 7);
  r.SetGauge("rampart_connections_active", "Open client connections.", [] { return 1.5; });
  EXPECT_EQ(Value(Parse(r.RenderPrometheus()), "rampart_connections_active"), 1.5);
  r.RemoveGauge("rampart_connections_active");
  r.RemoveGauge("never_registered");
  EXPECT_EQ(Parse(r.RenderPrometheus()).samples.count("rampart_connections_active"), 0u);
}

TEST(MetricsTest, ConcurrentRecordingLosesNothing) {
  Registry r;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r, t] {
      for (int i = 0; i < kPerThread; ++i) {
        r.RecordRequest("sts", i % 2 ? "GetCallerIdentity" : "AssumeRole", 200 + (t % 2) * 200,
                        std::chrono::microseconds(i % 5000));
      }
    });
  }
  std::string during = r.RenderPrometheus();  // renders while recording
  for (auto& t : threads) t.join();
  EXPECT_TRUE(Parse(during).ok);
  Parsed p = Parse(r.RenderPrometheus());
  ASSERT_TRUE(p.ok) << p.error;
  double total = 0;
  for (const auto& [key, value] : p.samples) {
    if (key.rfind("rampart_requests_total{", 0) == 0) total += std::stod(value);
  }
  EXPECT_EQ(total, kThreads * kPerThread);
  EXPECT_EQ(Value(p, R"(rampart_request_duration_seconds_count{service="sts",operation="AssumeRole"})"),
            kThreads * kPerThread / 2);
}

TEST(MetricsTest, RegistriesAreIndependent) {
  // The per-thread cache must not leak series from one registry to another.
  auto a = std::make_unique<Registry>();
  a->RecordRequest("s", "o", 200, 1ms);
  a.reset();
  Registry b;
  b.RecordRequest("s", "o", 201, 1ms);
  Parsed p = Parse(b.RenderPrometheus());
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(Value(p, R"(rampart_requests_total{service="s",operation="o",status="200"})"), -1);
  EXPECT_EQ(Value(p, R"(rampart_requests_total{service="s",operation="o",status="201"})"), 1);
}

TEST(MetricsTest, DefaultRegistryFreeFunctions) {
  RecordRequest("default-test", "Op", 200, 1ms);
  SetGauge("rampart_test_gauge", "A test gauge.", [] { return 2.0; });
  Parsed p = Parse(RenderPrometheus());
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_GE(Value(p, R"(rampart_requests_total{service="default-test",operation="Op",status="200"})"), 1);
  EXPECT_EQ(Value(p, "rampart_test_gauge"), 2);
  RemoveGauge("rampart_test_gauge");
}

}  // namespace
}  // namespace rampart::metrics
