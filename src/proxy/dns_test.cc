#include "rampart/proxy/dns.h"

#include <gtest/gtest.h>

namespace rampart::proxy {
namespace {

using std::chrono::seconds;

IpAddress Ip(const char* text) { return *ParseIp(text); }

TEST(FilteredAnswer, UnspecifiedAndBlockAddressesMeanFiltered) {
  DnsSettings dns;
  dns.block_addresses = {Ip("192.0.2.66")};
  EXPECT_EQ(FilteredAnswer(dns, {Ip("0.0.0.0")}), "answer 0.0.0.0");
  EXPECT_EQ(FilteredAnswer(dns, {Ip("93.184.216.34"), Ip("::")}), "answer ::");
  EXPECT_EQ(FilteredAnswer(dns, {Ip("192.0.2.66")}), "answer 192.0.2.66");
  EXPECT_EQ(FilteredAnswer(dns, {Ip("93.184.216.34"), Ip("2001:db8::1")}), std::nullopt);
  EXPECT_EQ(FilteredAnswer(dns, {}), std::nullopt);
  // 0.0.0.1 is not the unspecified address.
  EXPECT_EQ(FilteredAnswer(dns, {Ip("0.0.0.1")}), std::nullopt);
}

TEST(ServersCsv, FormatsForCares) {
  EXPECT_EQ(ServersCsv({{"127.0.0.1", 5353}, {"2001:db8::1", 53}}), "127.0.0.1:5353,[2001:db8::1]:53");
  EXPECT_EQ(ServersCsv({}), "");
}

TEST(DnsCache, HonoursTtl) {
  DnsCache cache(10);
  auto t0 = DnsCache::Clock::time_point{} + seconds(1000);
  cache.Put("a.test", {Ip("192.0.2.1")}, seconds(30), t0);
  ASSERT_NE(cache.Find("a.test", t0 + seconds(29)), nullptr);
  EXPECT_EQ(cache.Find("a.test", t0 + seconds(29))->front(), Ip("192.0.2.1"));
  EXPECT_EQ(cache.Find("a.test", t0 + seconds(30)), nullptr);
  EXPECT_EQ(cache.size(), 0u);  // the expired entry was dropped
  cache.Put("zero.test", {Ip("192.0.2.1")}, seconds(0), t0);
  EXPECT_EQ(cache.Find("zero.test", t0), nullptr);
  cache.Put("empty.test", {}, seconds(60), t0);
  EXPECT_EQ(cache.Find("empty.test", t0), nullptr);
  // Huge TTLs are capped.
  cache.Put("long.test", {Ip("192.0.2.1")}, seconds(86400 * 30), t0);
  EXPECT_NE(cache.Find("long.test", t0 + DnsCache::kMaxTtl - seconds(1)), nullptr);
  EXPECT_EQ(cache.Find("long.test", t0 + DnsCache::kMaxTtl), nullptr);
}

TEST(DnsCache, BoundedLeastRecentlyUsedFirst) {
  DnsCache cache(2);
  auto t0 = DnsCache::Clock::time_point{} + seconds(1);
  cache.Put("a.test", {Ip("192.0.2.1")}, seconds(60), t0);
  cache.Put("b.test", {Ip("192.0.2.2")}, seconds(60), t0);
  ASSERT_NE(cache.Find("a.test", t0), nullptr);  // a is now the most recent
  cache.Put("c.test", {Ip("192.0.2.3")}, seconds(60), t0);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find("b.test", t0), nullptr);
  EXPECT_NE(cache.Find("a.test", t0), nullptr);
  EXPECT_NE(cache.Find("c.test", t0), nullptr);
  // Updating an entry replaces its answer without growing.
  cache.Put("c.test", {Ip("192.0.2.4")}, seconds(60), t0);
  EXPECT_EQ(cache.Find("c.test", t0)->front(), Ip("192.0.2.4"));
  EXPECT_EQ(cache.size(), 2u);
  DnsCache off(0);
  off.Put("a.test", {Ip("192.0.2.1")}, seconds(60), t0);
  EXPECT_EQ(off.Find("a.test", t0), nullptr);
}

TEST(DnsLatencyHistogram, BucketsAndSum) {
  DnsLatencyHistogram h;
  h.Observe(std::chrono::microseconds(500));      // <= 1 ms
  h.Observe(std::chrono::microseconds(1000));     // <= 1 ms (bounds are inclusive)
  h.Observe(std::chrono::microseconds(30000));    // <= 50 ms
  h.Observe(std::chrono::microseconds(9000000));  // +Inf
  auto s = h.Read();
  EXPECT_EQ(s.count, 4u);
  EXPECT_EQ(s.counts[0], 2u);
  EXPECT_EQ(s.counts[4], 1u);
  EXPECT_EQ(s.counts.back(), 1u);
  EXPECT_NEAR(s.sum_seconds, 9.0315, 1e-9);
}

}  // namespace
}  // namespace rampart::proxy
