#include "rampart/proxy/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace rampart::proxy {
namespace {

constexpr const char* kMinimal = R"({"listen": "127.0.0.1:3128", "allowed_clients": ["127.0.0.0/8"]})";

std::string WithKey(std::string_view extra) {
  return std::string(R"({"listen": "127.0.0.1:3128", "allowed_clients": ["127.0.0.0/8"], )") +
         std::string(extra) + "}";
}

std::string ErrorOf(std::string_view text) {
  auto c = ParseConfig(text, "/nonexistent");
  return c.ok() ? "" : c.status().message();
}

TEST(Config, MinimalHasDefaults) {
  auto c = ParseConfig(kMinimal, "");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Config& cfg = **c;
  EXPECT_EQ(cfg.listen.size(), 1u);
  EXPECT_EQ(cfg.allowed_ports, (std::vector<uint16_t>{80, 443}));
  EXPECT_TRUE(cfg.ssrf_allow.empty());
  EXPECT_TRUE(cfg.require_sni);
  EXPECT_EQ(cfg.deny_page, kDefaultDenyPage);
  EXPECT_EQ(cfg.limits.max_header_bytes, 16u * 1024);
  EXPECT_TRUE(cfg.PortAllowed(443));
  EXPECT_FALSE(cfg.PortAllowed(8080));
  EXPECT_TRUE(cfg.ClientAllowed(*ParseIp("127.0.0.9")));
  EXPECT_FALSE(cfg.ClientAllowed(*ParseIp("10.0.0.1")));
  EXPECT_FALSE(cfg.matcher.Match(*NormalizeHost("example.com")).allowed);
}

TEST(Config, RelaySettings) {
  auto c = ParseConfig(kMinimal, "");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE((*c)->splice);
  EXPECT_EQ((*c)->limits.upstream_idle_connections, 64u);
  EXPECT_EQ((*c)->limits.upstream_idle_timeout, std::chrono::milliseconds(30000));
  c = ParseConfig(WithKey(R"("splice": false, "limits": {"upstream_idle_connections": 0, "upstream_idle_timeout_ms": 500})"), "");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_FALSE((*c)->splice);
  EXPECT_EQ((*c)->limits.upstream_idle_connections, 0u);
  EXPECT_EQ((*c)->limits.upstream_idle_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(ErrorOf(WithKey(R"("splice": 1)")), "config: splice: must be true or false");
  EXPECT_NE(ErrorOf(WithKey(R"("limits": {"upstream_idle_connections": 10001})")).find("limits.upstream_idle_connections"),
            std::string::npos);
  EXPECT_NE(ErrorOf(WithKey(R"("limits": {"upstream_idle_timeout_ms": 0})")).find("limits.upstream_idle_timeout_ms"),
            std::string::npos);
}

TEST(Config, FullExample) {
  auto c = ParseConfig(R"({
    "listen": ["127.0.0.1:3128", "[::1]:3128"],
    "admin_listen": "127.0.0.1:9090",
    "allowed_clients": ["10.0.0.0/8", "fd00::/48"],
    "allow": ["api.example.com", ".example.org"],
    "deny": ["bad.example.org"],
    "allowed_ports": [443, 8443],
    "ssrf_allow": ["127.0.0.0/8"],
    "deny_page": "<p>{host} {reason}</p>",
    "access_log": "/tmp/x.log",
    "require_sni": false,
    "hosts": {"Origin.Test.": ["127.0.0.1", "::1"]},
    "workers": 2,
    "limits": {"max_connections": 10, "max_header_bytes": 4096, "idle_timeout_ms": 1000,
               "handshake_timeout_ms": 2000, "connect_timeout_ms": 3000, "drain_timeout_ms": 4000}
  })", "");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Config& cfg = **c;
  EXPECT_EQ(cfg.listen[1].host, "::1");
  EXPECT_EQ(cfg.admin_listen.size(), 1u);
  EXPECT_FALSE(cfg.require_sni);
  EXPECT_EQ(cfg.hosts.at("origin.test").size(), 2u);
  EXPECT_EQ(cfg.limits.connect_timeout.count(), 3000);
  EXPECT_EQ(cfg.RefuseAddress(*ParseIp("127.0.0.1")), nullptr);
  EXPECT_STREQ(cfg.RefuseAddress(*ParseIp("10.0.0.1")), "private");
  EXPECT_EQ(cfg.RefuseAddress(*ParseIp("8.8.8.8")), nullptr);
  EXPECT_TRUE(cfg.matcher.Match(*NormalizeHost("x.example.org")).allowed);
  EXPECT_FALSE(cfg.matcher.Match(*NormalizeHost("bad.example.org")).allowed);
}

TEST(Config, ValidationMessagesNameTheKey) {
  struct Case {
    std::string text;
    const char* expect;
  } cases[] = {
      {"[]", "must be a JSON object"},
      {"{", "not valid JSON"},
      {R"({"allowed_clients": ["127.0.0.0/8"]})", "listen"},
      {R"({"listen": "127.0.0.1:3128"})", "allowed_clients"},
      {WithKey(R"("alow": [])"), "alow: unknown key"},
      {WithKey(R"("limits": {"max_conns": 1})"), "limits.max_conns: unknown key"},
      {WithKey(R"("allow": ["ok.com", "bad..com"])"), "allow[1]"},
      {WithKey(R"("allow": "ok.com")"), "allow: must be an array"},
      {WithKey(R"("allowed_ports": [0])"), "allowed_ports"},
      {WithKey(R"("allowed_ports": [])"), "allowed_ports"},
      {WithKey(R"("allowed_ports": ["443"])"), "allowed_ports"},
      {WithKey(R"("ssrf_allow": ["10.0.0.1/8"])"), "host bits"},
      {WithKey(R"("require_sni": "yes")"), "require_sni"},
      {WithKey(R"("workers": -1)"), "workers"},
      {WithKey(R"("limits": {"idle_timeout_ms": 0})"), "limits.idle_timeout_ms"},
      {WithKey(R"("limits": {"max_header_bytes": 100})"), "limits.max_header_bytes"},
      {WithKey(R"("hosts": {"a.test": []})"), "hosts.a.test"},
      {WithKey(R"("hosts": {"a.test": ["nope"]})"), "hosts.a.test"},
      {WithKey(R"("hosts": {"1.2.3.4": ["1.2.3.4"]})"), "hosts"},
      {WithKey(R"("deny_page": "x", "deny_page_file": "y")"), "not both"},
      {WithKey(R"("deny_page_file": "missing.html")"), "deny_page_file"},
      {WithKey(R"("admin_listen": ["127.0.0.1:1", "127.0.0.1:2"])"), "admin_listen"},
      {WithKey(R"("admin_listen": "0.0.0.0:9090")"), "admin_listen: '0.0.0.0' is not a loopback address"},
      {WithKey(R"("admin_listen": "10.1.2.3:9090")"), "not a loopback address"},
      {WithKey(R"("dns": [])"), "dns: must be an object"},
      {WithKey(R"("dns": {"server": []})"), "dns.server: unknown key"},
      {WithKey(R"("dns": {"servers": ["dns.example:53"]})"), "dns.servers"},
      {WithKey(R"("dns": {"servers": ["1.2.3.4:0"]})"), "dns.servers"},
      {WithKey(R"("dns": {"servers": "1.2.3.4"})"), "dns.servers"},
      {WithKey(R"("dns": {"servers": ["1.1.1.1","1.1.1.2","1.1.1.3","1.1.1.4","1.1.1.5","1.1.1.6","1.1.1.7","1.1.1.8","1.1.1.9"]})"), "at most 8"},
      {WithKey(R"("dns": {"block_addresses": ["x"]})"), "dns.block_addresses"},
      {WithKey(R"("dns": {"cache_entries": -1})"), "dns.cache_entries"},
      {R"({"listen": "localhost:3128", "allowed_clients": ["127.0.0.0/8"]})", "IP address"},
      {R"({"listen": "127.0.0.1:3128", "allowed_clients": ["0.0.0.0/0"]})", "wider than /8"},
      {R"({"listen": "127.0.0.1:3128", "allowed_clients": ["10.0.0.0/7"]})", "wider than /8"},
      {R"({"listen": "127.0.0.1:3128", "allowed_clients": ["::/0"]})", "wider than /32"},
      {R"({"listen": "127.0.0.1:3128", "allowed_clients": []})", "allowed_clients"},
  };
  for (const auto& c : cases) {
    std::string err = ErrorOf(c.text);
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.text << " -> '" << err << "'";
  }
}

TEST(Config, DnsSettings) {
  auto c = ParseConfig(WithKey(R"("dns": {"servers": ["127.0.0.1:5353", "192.0.2.53", "[::1]:53"],
                                          "block_addresses": ["192.0.2.66"], "cache_entries": 0})"), "");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const DnsSettings& dns = (*c)->dns;
  ASSERT_EQ(dns.servers.size(), 3u);
  EXPECT_EQ(dns.servers[0].port, 5353);
  EXPECT_EQ(dns.servers[1].host, "192.0.2.53");
  EXPECT_EQ(dns.servers[1].port, 53);
  EXPECT_EQ(dns.servers[2].host, "::1");
  EXPECT_EQ(dns.block_addresses.size(), 1u);
  EXPECT_EQ(dns.cache_entries, 0u);
  auto d = ParseConfig(kMinimal, "");
  EXPECT_TRUE((*d)->dns.servers.empty());
  EXPECT_EQ((*d)->dns.cache_entries, 10000u);
  EXPECT_EQ(ErrorOf(WithKey(R"("admin_listen": "[::1]:9090")")), "");
}

TEST(Config, AcceptsBoundaryClientPrefixes) {
  EXPECT_EQ(ErrorOf(R"({"listen": "127.0.0.1:1", "allowed_clients": ["10.0.0.0/8", "1.2.3.4/32", "2001:db8::/32"]})"), "");
}

TEST(Config, DenyPageFromFileRelativeToConfig) {
  std::string dir = ::testing::TempDir();
  std::string page = dir + "/rampart_proxy_deny.html";
  std::ofstream(page) << "<b>{host}</b>";
  std::string cfg_path = dir + "/rampart_proxy.json";
  std::ofstream(cfg_path) << WithKey(R"("deny_page_file": "rampart_proxy_deny.html")");
  auto c = LoadConfigFile(cfg_path);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ((*c)->deny_page, "<b>{host}</b>");
  std::remove(page.c_str());
  std::remove(cfg_path.c_str());
  EXPECT_FALSE(LoadConfigFile(dir + "/does-not-exist.json").ok());
}

TEST(DenyPage, RendersEscapedPlaceholders) {
  DenyDetails d{"a<b>.example", "127.0.0.1", "not \"in\" allowlist & more", TimePoint{}};
  std::string page = RenderDenyPage("{host}|{client}|{reason}|{time}|{other}|{", d);
  EXPECT_EQ(page,
            "a&lt;b&gt;.example|127.0.0.1|not &quot;in&quot; allowlist &amp; more|"
            "1970-01-01T00:00:00Z|{other}|{");
  EXPECT_EQ(HtmlEscape("'"), "&#39;");
}

}  // namespace
}  // namespace rampart::proxy

namespace rampart::proxy {
namespace {

constexpr const char* kWithRules = R"({"listen": "127.0.0.1:3128", "allowed_clients": ["10.0.0.0/8", "127.0.0.0/8"],
    "allow": ["global.example"], "allowed_ports": [443],
    "client_rules": [
      {"name": "builders", "clients": ["10.1.0.0/16"], "allow": [".debian.org"], "deny": ["bad.debian.org"]},
      {"clients": ["10.1.2.0/24", "127.0.0.2"], "allow": ["pypi.org"], "allowed_ports": [80, 443]}
    ]})";

TEST(ClientRules, LongestPrefixWinsElseGlobal) {
  auto c = ParseConfig(kWithRules, "");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const Config& cfg = **c;
  ASSERT_EQ(cfg.client_rules.size(), 2u);
  EXPECT_EQ(cfg.client_rules[0].name, "builders");
  EXPECT_EQ(cfg.client_rules[1].name, "client_rules[1]");
  // Ports default to the global list; given ones replace it.
  EXPECT_EQ(cfg.client_rules[0].allowed_ports, (std::vector<uint16_t>{443}));
  EXPECT_EQ(cfg.client_rules[1].allowed_ports, (std::vector<uint16_t>{80, 443}));
  EXPECT_EQ(cfg.RuleFor(*ParseIp("10.1.9.9")), &cfg.client_rules[0]);
  EXPECT_EQ(cfg.RuleFor(*ParseIp("10.1.2.3")), &cfg.client_rules[1]);  // /24 beats /16
  EXPECT_EQ(cfg.RuleFor(*ParseIp("127.0.0.2")), &cfg.client_rules[1]);
  EXPECT_EQ(cfg.RuleFor(*ParseIp("127.0.0.1")), nullptr);
  EXPECT_EQ(cfg.RuleFor(*ParseIp("10.2.0.1")), nullptr);
  EXPECT_TRUE(cfg.client_rules[0].matcher.Match(*NormalizeHost("ftp.debian.org")).allowed);
  EXPECT_FALSE(cfg.client_rules[0].matcher.Match(*NormalizeHost("bad.debian.org")).allowed);
}

TEST(ClientRules, ValidationNamesTheKey) {
  auto rules = [](std::string_view r) {
    return std::string(R"({"listen": "127.0.0.1:3128", "allowed_clients": ["10.0.0.0/8"], "client_rules": )") +
           std::string(r) + "}";
  };
  EXPECT_EQ(ErrorOf(rules("{}")), "config: client_rules: must be an array of objects");
  EXPECT_EQ(ErrorOf(rules("[1]")), "config: client_rules[0]: must be an object");
  EXPECT_EQ(ErrorOf(rules(R"([{"allow": []}])")),
            "config: client_rules[0]: needs clients (CIDRs) or client_names (certificate names)");
  EXPECT_EQ(ErrorOf(rules(R"([{"clients": [], "client_names": []}])")),
            "config: client_rules[0]: needs clients (CIDRs) or client_names (certificate names)");
  EXPECT_EQ(ErrorOf(rules(R"([{"clients": ["10.0.0.0/8"], "color": 1}])")),
            "config: client_rules[0].color: unknown key");
  EXPECT_EQ(ErrorOf(rules(R"([{"clients": ["192.168.0.0/16"]}])")),
            "config: client_rules[0].clients: 192.168.0.0/16 is not inside allowed_clients");
  EXPECT_EQ(ErrorOf(rules(R"([{"clients": ["10.0.0.0/7"]}])")),
            "config: client_rules[0].clients: 10.0.0.0/7 is not inside allowed_clients");
  EXPECT_EQ(ErrorOf(rules(R"([{"clients": ["10.1.0.0/16"]}, {"clients": ["10.1.0.0/16"]}])")),
            "config: client_rules[1].clients: 10.1.0.0/16 is also in client_rules[0]");
  EXPECT_EQ(ErrorOf(rules(R"([{"clients": ["10.0.0.0/8"], "allowed_ports": [0]}])")),
            "config: client_rules[0].allowed_ports: must be a non-empty array of ports 1..65535");
  EXPECT_NE(ErrorOf(rules(R"([{"clients": ["10.0.0.0/8"], "allow": ["a..b"]}])")).find("client_rules[0].allow"),
            std::string::npos);
  EXPECT_EQ(ErrorOf(rules(R"([{"clients": ["10.0.0.0/8"], "name": ""}])")),
            "config: client_rules[0].name: must be 1..64 characters");
}

}  // namespace
}  // namespace rampart::proxy

namespace rampart::proxy {
namespace {

TEST(AllowlistPull, ConfigValidation) {
  auto c = ParseConfig(WithKey(R"("allowlist_pull": {"url": "https://lists.example/allow.txt", "interval_seconds": 60,
                                   "timeout_ms": 2000, "ca_file": "ca.pem"})"),
                       "/etc/rampart");
  ASSERT_TRUE(c.ok()) << c.status().message();
  const AllowlistPull& p = (*c)->allowlist_pull;
  EXPECT_TRUE(p.enabled());
  EXPECT_EQ(p.interval, std::chrono::seconds(60));
  EXPECT_EQ(p.timeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(p.ca_file, "/etc/rampart/ca.pem");
  auto f = ParseConfig(WithKey(R"("allowlist_pull": {"file": "pulled.txt"})"), "/etc/rampart");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->allowlist_pull.file, "/etc/rampart/pulled.txt");
  EXPECT_EQ((*f)->allowlist_pull.interval, std::chrono::seconds(300));
  EXPECT_FALSE(ParseConfig(kMinimal, "").value()->allowlist_pull.enabled());
  EXPECT_EQ(ErrorOf(WithKey(R"("allowlist_pull": {})")), "config: allowlist_pull: give either url or file");
  EXPECT_EQ(ErrorOf(WithKey(R"("allowlist_pull": {"url": "http://a/", "file": "b"})")),
            "config: allowlist_pull: give either url or file");
  EXPECT_EQ(ErrorOf(WithKey(R"("allowlist_pull": {"url": "ftp://a/"})")),
            "config: allowlist_pull.url: must start with http:// or https://");
  EXPECT_EQ(ErrorOf(WithKey(R"("allowlist_pull": {"url": "http://a/", "interval_seconds": 0})")),
            "config: allowlist_pull.interval_seconds: must be an integer in 1..86400");
  EXPECT_EQ(ErrorOf(WithKey(R"("allowlist_pull": {"url": "http://a/", "ca_file": "x"})")),
            "config: allowlist_pull.ca_file: applies to https:// URLs only");
  EXPECT_EQ(ErrorOf(WithKey(R"("allowlist_pull": {"file": "a", "every": 1})")),
            "config: allowlist_pull.every: unknown key");
}

TEST(AllowlistPull, ParsesListText) {
  auto list = ParseAllowlistText("# pulled list\r\n  pypi.org  \r\n\n.Debian.org # mirrors\n\t192.0.2.7\nlast.example");
  ASSERT_TRUE(list.ok()) << list.status().message();
  EXPECT_EQ(*list, (std::vector<std::string>{"pypi.org", ".Debian.org", "192.0.2.7", "last.example"}));
  EXPECT_TRUE(ParseAllowlistText("").value().empty());
  auto bad = ParseAllowlistText("ok.example\n# c\nbad..example\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("line 3: ", 0), 0u) << bad.status().message();
  EXPECT_EQ(ParseAllowlistText(".192.0.2.1").status().message(),
            "line 1: a leading dot does not apply to an IP address");
}

TEST(AllowlistPull, MergesWithTheConfigsOwnLists) {
  auto base = ParseConfig(WithKey(R"("allow": ["a.example"], "deny": ["bad.pulled.example"])"), "");
  ASSERT_TRUE(base.ok());
  auto merged = WithPulledAllowlist(**base, {".pulled.example"});
  ASSERT_TRUE(merged.ok()) << merged.status().message();
  const Config& m = **merged;
  EXPECT_EQ(m.pulled_entries, 1u);
  EXPECT_TRUE(m.matcher.Match(*NormalizeHost("a.example")).allowed);
  EXPECT_TRUE(m.matcher.Match(*NormalizeHost("x.pulled.example")).allowed);
  EXPECT_FALSE(m.matcher.Match(*NormalizeHost("bad.pulled.example")).allowed);  // the deny list still wins
  EXPECT_FALSE((*base)->matcher.Match(*NormalizeHost("x.pulled.example")).allowed);  // base untouched
  EXPECT_EQ(m.allow_entries, (*base)->allow_entries);
}

}  // namespace
}  // namespace rampart::proxy

namespace rampart::proxy {
namespace {

TEST(Config, AccessLogFormat) {
  EXPECT_FALSE(ParseConfig(kMinimal, "").value()->squid_log_format);
  EXPECT_TRUE(ParseConfig(WithKey(R"("access_log_format": "squid")"), "").value()->squid_log_format);
  EXPECT_FALSE(ParseConfig(WithKey(R"("access_log_format": "json")"), "").value()->squid_log_format);
  EXPECT_EQ(ErrorOf(WithKey(R"("access_log_format": "clf")")),
            "config: access_log_format: must be \"json\" or \"squid\"");
}

}  // namespace
}  // namespace rampart::proxy
