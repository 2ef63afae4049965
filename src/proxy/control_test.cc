#include "rampart/proxy/control.h"

#include <gtest/gtest.h>

namespace rampart::proxy {
namespace {

AdminHooks Hooks(int* reloads, bool fail = false) {
  AdminHooks h;
  h.metrics = [] { return std::string("metrics-text"); };
  h.reload = [reloads, fail]() -> Result<std::string> {
    ++*reloads;
    if (fail) return Status::Validation("config: allow[0]: bad");
    return std::string("config reloaded: 3 allow/deny entries");
  };
  return h;
}

TEST(HandleAdmin, Routes) {
  int reloads = 0;
  auto hooks = Hooks(&reloads);
  auto m = HandleAdmin("GET", "/metrics", hooks);
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "metrics-text");
  EXPECT_NE(m.content_type.find("version=0.0.4"), std::string::npos);
  EXPECT_EQ(HandleAdmin("GET", "/metrics?x=1", hooks).status, 200);
  EXPECT_EQ(HandleAdmin("GET", "/health", hooks).body, "ok\n");
  auto r = HandleAdmin("POST", "/reload", hooks);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "config reloaded: 3 allow/deny entries\n");
  EXPECT_EQ(reloads, 1);
  EXPECT_EQ(HandleAdmin("GET", "/nope", hooks).status, 404);
}

TEST(HandleAdmin, WrongMethodIs405AndDoesNotReload) {
  int reloads = 0;
  auto hooks = Hooks(&reloads);
  auto r = HandleAdmin("GET", "/reload", hooks);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "POST");
  EXPECT_EQ(reloads, 0);
  EXPECT_EQ(HandleAdmin("POST", "/metrics", hooks).allow, "GET");
  EXPECT_EQ(HandleAdmin("DELETE", "/health", hooks).status, 405);
}

TEST(HandleAdmin, RejectedReloadIs400WithTheError) {
  int reloads = 0;
  auto r = HandleAdmin("POST", "/reload", Hooks(&reloads, true));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "config: allow[0]: bad\n");
}

TEST(FormatMetrics, PrometheusText) {
  ProxyStats s;
  s.connections_active = 3;
  s.tunnels_active = 1;
  s.requests_allowed = 10;
  s.requests_denied = 4;
  s.requests_failed = 2;
  s.bytes_up = 100;
  s.bytes_down = 2000;
  s.dns_cache_hits = 7;
  s.dns_latency.counts[0] = 2;
  s.dns_latency.counts[2] = 1;
  s.dns_latency.counts.back() = 1;
  s.dns_latency.count = 4;
  s.dns_latency.sum_seconds = 3.5;
  std::string text = FormatMetrics(s, ReloadCounts{5, 1, 3, 2, 7});
  for (const char* line : {
           "# TYPE rampart_proxy_connections_active gauge\n",
           "rampart_proxy_connections_active 3\n",
           "rampart_proxy_tunnels_active 1\n",
           "rampart_proxy_requests_total{decision=\"allow\"} 10\n",
           "rampart_proxy_requests_total{decision=\"deny\"} 4\n",
           "rampart_proxy_requests_total{decision=\"error\"} 2\n",
           "rampart_proxy_bytes_total{direction=\"down\"} 2000\n",
           "rampart_proxy_dns_cache_hits_total 7\n",
           "# TYPE rampart_proxy_dns_lookup_seconds histogram\n",
           "rampart_proxy_dns_lookup_seconds_bucket{le=\"0.001\"} 2\n",
           "rampart_proxy_dns_lookup_seconds_bucket{le=\"0.005\"} 2\n",
           "rampart_proxy_dns_lookup_seconds_bucket{le=\"0.01\"} 3\n",
           "rampart_proxy_dns_lookup_seconds_bucket{le=\"2.5\"} 3\n",
           "rampart_proxy_dns_lookup_seconds_bucket{le=\"+Inf\"} 4\n",
           "rampart_proxy_dns_lookup_seconds_sum 3.5\n",
           "rampart_proxy_dns_lookup_seconds_count 4\n",
           "rampart_proxy_config_reloads_total{result=\"ok\"} 5\n",
           "rampart_proxy_config_reloads_total{result=\"rejected\"} 1\n",
           "rampart_proxy_allowlist_pulls_total{result=\"ok\"} 3\n",
           "rampart_proxy_allowlist_pulls_total{result=\"failed\"} 2\n",
           "rampart_proxy_allowlist_pulled_entries 7\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace rampart::proxy
