#include "rampart/proxy/net.h"

#include <gtest/gtest.h>

namespace rampart::proxy {
namespace {

IpAddress Ip(const char* s) { return ParseIp(s).value(); }

TEST(ParseIp, AcceptsCanonicalForms) {
  EXPECT_EQ(Ip("192.0.2.1").ToString(), "192.0.2.1");
  EXPECT_FALSE(Ip("192.0.2.1").v6);
  EXPECT_EQ(Ip("2001:DB8:0:0::1").ToString(), "2001:db8::1");
  EXPECT_TRUE(Ip("::1").v6);
}

TEST(IpAddress, Ipv4TextRoundTripsEveryOctetValue) {
  for (unsigned b = 0; b < 256; ++b) {
    IpAddress ip;
    ip.bytes = {static_cast<uint8_t>(b), 0, static_cast<uint8_t>(255 - b), static_cast<uint8_t>(b / 2)};
    std::string text = ip.ToString();
    EXPECT_EQ(text, std::to_string(b) + ".0." + std::to_string(255 - b) + "." + std::to_string(b / 2));
    EXPECT_EQ(ParseIp(text), ip) << text;
  }
}

TEST(ParseIp, RejectsNonCanonicalAndJunk) {
  for (const char* s : {"", "1.2.3", "127.1", "0x7f.0.0.1", "1.2.3.4.5", "01.2.3.4", "1.2.3.256",
                        "[::1]", "fe80::1%eth0", " 1.2.3.4", "1.2.3.4 ", "2130706433", ":::"}) {
    EXPECT_FALSE(ParseIp(s).has_value()) << s;
  }
  EXPECT_FALSE(ParseIp(std::string(200, '1')).has_value());
}

TEST(Cidr, ParsesAndMatches) {
  auto c = ParseCidr("10.1.0.0/16");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Contains(Ip("10.1.255.3")));
  EXPECT_FALSE(c->Contains(Ip("10.2.0.1")));
  EXPECT_FALSE(c->Contains(Ip("::ffff:10.1.0.1")));  // families never mix
  auto odd = ParseCidr("172.16.0.0/12");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->Contains(Ip("172.31.255.255")));
  EXPECT_FALSE(odd->Contains(Ip("172.32.0.0")));
  auto host = ParseCidr("192.0.2.7");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->prefix, 32);
  auto v6 = ParseCidr("2001:db8::/32");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->Contains(Ip("2001:db8:ffff::1")));
  EXPECT_EQ(v6->ToString(), "2001:db8::/32");
  EXPECT_TRUE(ParseCidr("0.0.0.0/0")->Contains(Ip("8.8.8.8")));
}

TEST(Cidr, RejectsBadPrefixesAndHostBits) {
  for (const char* s : {"10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/08", "10.0.0.1/8",
                        "::/129", "10.0.0.0/8/8", "x/8", "10.0.0.0/ 8", "2001:db8::1/32"}) {
    EXPECT_FALSE(ParseCidr(s).ok()) << s;
  }
}

TEST(NonPublic, ClassifiesSpecialRanges) {
  struct Case {
    const char* ip;
    const char* reason;
  } cases[] = {
      {"127.0.0.1", "loopback"},         {"10.9.8.7", "private"},
      {"172.16.0.1", "private"},         {"192.168.1.1", "private"},
      {"169.254.169.254", "link-local"}, {"100.64.0.1", "cgnat"},
      {"0.0.0.0", "unspecified"},        {"224.0.0.1", "multicast"},
      {"255.255.255.255", "reserved"},   {"198.18.0.1", "reserved"},
      {"::", "unspecified"},             {"::1", "loopback"},
      {"::ffff:8.8.8.8", "ipv4-mapped"}, {"::ffff:127.0.0.1", "ipv4-mapped"},
      {"fe80::1", "link-local"},         {"fd00::1", "private"},
      {"ff02::1", "multicast"},          {"64:ff9b::a00:1", "translation"},
      {"2002:a00:1::", "translation"},   {"2001:db8::1", "documentation"},
  };
  for (const auto& c : cases) {
    const char* got = NonPublicReason(Ip(c.ip));
    ASSERT_NE(got, nullptr) << c.ip;
    EXPECT_STREQ(got, c.reason) << c.ip;
  }
  for (const char* pub : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111"}) {
    EXPECT_EQ(NonPublicReason(Ip(pub)), nullptr) << pub;
  }
}

TEST(HostPort, Parses) {
  auto a = ParseHostPort("127.0.0.1:3128");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 3128);
  auto b = ParseHostPort("[::1]:443");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  auto c = ParseHostPort("example.com:65535");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, 65535);
  for (const char* s : {"", ":80", "host", "host:", "host:0", "host:65536", "host:8o", "::1:80",
                        "[::1]", "[::1]80", "[zz]:80", "host:+80", "host:000080"}) {
    EXPECT_FALSE(ParseHostPort(s).ok()) << s;
  }
}

}  // namespace
}  // namespace rampart::proxy
