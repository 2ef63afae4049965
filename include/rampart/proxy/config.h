// The egress proxy's configuration: a JSON file, parsed and validated into
// one immutable snapshot. Reload parses a new snapshot and swaps it in
// whole; connections keep the snapshot they started with.
//
// Thread-safety: a Config is immutable once built and shared read-only
// (std::shared_ptr<const Config>).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rampart/core/clock.h"
#include "rampart/core/status.h"
#include "rampart/proxy/domain.h"
#include "rampart/proxy/net.h"

namespace rampart::proxy {

struct Limits {
  size_t max_connections = 10000;
  size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{300000};      // tunnels and keep-alive
  std::chrono::milliseconds handshake_timeout{10000};  // request head, ClientHello
  std::chrono::milliseconds connect_timeout{10000};    // DNS + upstream connect
  std::chrono::milliseconds drain_timeout{10000};      // graceful stop
};

// Name resolution (c-ares). An empty server list means the system's
// resolv.conf (and /etc/hosts); with servers given only they are asked.
struct DnsSettings {
  std::vector<HostPort> servers;           // IP:port; at most 8
  std::vector<IpAddress> block_addresses;  // answers that mean "filtered" (besides 0.0.0.0 and ::)
  size_t cache_entries = 10000;            // per worker; 0 disables the cache
};

struct Config {
  std::vector<HostPort> listen;            // at least one
  std::vector<HostPort> admin_listen;      // zero or one (loopback only)
  std::vector<HostPort> intercept_listen;  // transparent listeners (SO_ORIGINAL_DST); may be empty
  std::vector<Cidr> allowed_clients;       // at least one
  DomainMatcher matcher;
  std::vector<uint16_t> allowed_ports = {80, 443};
  std::vector<Cidr> ssrf_allow;            // non-public ranges allowed anyway
  std::string deny_page;                   // template (see RenderDenyPage)
  std::string access_log;                  // path; empty = no access log
  bool require_sni = true;                 // tunnels need a TLS ClientHello with SNI
  bool watch_config = true;                // reload when the config file changes (inotify)
  // Static answers consulted before DNS, like a hosts file (keys normalised).
  std::unordered_map<std::string, std::vector<IpAddress>> hosts;
  unsigned workers = 0;                    // 0 = one per core
  Limits limits;
  DnsSettings dns;

  bool ClientAllowed(const IpAddress& client) const;
  bool PortAllowed(uint16_t port) const;
  // Why the proxy must not connect to this address, or nullptr when it may.
  const char* RefuseAddress(const IpAddress& a) const;
};

// The built-in deny page template.
extern const char* const kDefaultDenyPage;

// Parses a config text. base_dir resolves relative file names in it
// (deny_page_file). Unknown keys, wrong types and out-of-range values are
// errors whose message names the key.
Result<std::shared_ptr<const Config>> ParseConfig(std::string_view text, std::string_view base_dir);
Result<std::shared_ptr<const Config>> LoadConfigFile(const std::string& path);

struct DenyDetails {
  std::string host;
  std::string client;
  std::string reason;
  TimePoint time;
};

// Replaces {host}, {client}, {reason} and {time} (ISO 8601) with their
// HTML-escaped values; other text, including unknown braces, is kept.
std::string RenderDenyPage(std::string_view tmpl, const DenyDetails& details);
std::string HtmlEscape(std::string_view s);

}  // namespace rampart::proxy
