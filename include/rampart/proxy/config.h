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
#include <span>
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
  // Idle keep-alive connections to origins kept for reuse by forwarded
  // HTTP, per worker (0: one origin connection per request), and how long
  // one may sit idle.
  size_t upstream_idle_connections = 64;
  std::chrono::milliseconds upstream_idle_timeout{30000};
};

// Name resolution (c-ares). An empty server list means the system's
// resolv.conf (and /etc/hosts); with servers given only they are asked.
struct DnsSettings {
  std::vector<HostPort> servers;           // IP:port; at most 8
  std::vector<IpAddress> block_addresses;  // answers that mean "filtered" (besides 0.0.0.0 and ::)
  size_t cache_entries = 10000;            // per worker; 0 disables the cache
};

// Destination rules for a group of clients, used instead of the global
// allow/deny lists and ports for requests from them. Clients are matched
// by certificate name (TLS listeners with client certificates) or by
// source CIDR; a rule has at least one of the two.
struct ClientRule {
  std::string name;                  // for the access log; "client_rules[i]" when not given
  std::vector<Cidr> clients;         // each inside allowed_clients
  std::vector<std::string> client_names;  // verified client-certificate names, lowercase, exact
  DomainMatcher matcher;
  std::vector<uint16_t> allowed_ports;  // default: the global allowed_ports
};

// Where extra allowlist entries are pulled from, periodically (see
// WithPulledAllowlist). Exactly one of url and file is set when enabled.
struct AllowlistPull {
  std::string url;                           // http:// or https://
  std::string file;                          // resolved against the config file's directory
  std::chrono::seconds interval{300};
  std::chrono::milliseconds timeout{10000};  // one fetch
  std::string ca_file;                       // https: trust anchors (default: system store)

  bool enabled() const { return !url.empty() || !file.empty(); }
};

class TlsServerContext;  // src/proxy/tls_server.h: the OpenSSL side

// The TLS listeners (tls_listen): clients speak TLS to the proxy
// (https_proxy=https://...) and may authenticate with a certificate.
// File names are resolved against the config file's directory; the files
// are read, and the context built, whenever the config is parsed (start
// and every reload).
struct TlsSettings {
  std::string cert_file;       // PEM: the proxy's certificate, then its chain
  std::string key_file;        // PEM: its private key (unencrypted)
  std::string client_ca_file;  // PEM: CAs client certificates must chain to; empty: none asked for
  bool require_client_cert = false;  // refuse clients without a valid certificate
  // PEM CRLs from the client CAs (client_crl_file: one path or several);
  // with any, a client certificate whose issuer has no CRL here, or that a
  // CRL lists, is refused. Needs client_ca_file.
  std::vector<std::string> client_crl_files;
  std::shared_ptr<const TlsServerContext> context;  // built from the files; null without tls_listen
};

struct Config {
  std::vector<HostPort> listen;            // at least one
  std::vector<HostPort> admin_listen;      // zero or one (loopback only)
  std::vector<HostPort> intercept_listen;  // transparent listeners (SO_ORIGINAL_DST); may be empty
  std::vector<HostPort> tls_listen;        // explicit-proxy listeners speaking TLS; may be empty
  TlsSettings tls;                         // for tls_listen
  std::vector<Cidr> allowed_clients;       // at least one
  DomainMatcher matcher;
  std::vector<uint16_t> allowed_ports = {80, 443};
  std::vector<ClientRule> client_rules;    // per-client lists (see RuleFor)
  // Certificate name -> index into client_rules (names are unique).
  std::unordered_map<std::string, size_t> rule_by_cert_name;
  std::vector<std::string> allow_entries;  // as written, for rebuilding the matcher
  std::vector<std::string> deny_entries;
  AllowlistPull allowlist_pull;
  size_t pulled_entries = 0;               // entries merged in from the last good pull
  std::vector<Cidr> ssrf_allow;            // non-public ranges allowed anyway
  std::string deny_page;                   // template (see RenderDenyPage)
  std::string access_log;                  // path; empty = no access log
  bool squid_log_format = false;           // access_log_format "squid" (default "json")
  bool require_sni = true;                 // tunnels need a TLS ClientHello with SNI
  bool watch_config = true;                // reload when the config file changes (inotify)
  bool splice = true;                      // tunnels relay with splice(2) through pipes
  // Static answers consulted before DNS, like a hosts file (keys normalised).
  std::unordered_map<std::string, std::vector<IpAddress>> hosts;
  unsigned workers = 0;                    // 0 = one per core
  Limits limits;
  DnsSettings dns;

  bool ClientAllowed(const IpAddress& client) const;
  bool PortAllowed(uint16_t port) const;
  // The client rule whose CIDR holds the client with the longest prefix,
  // or nullptr when none does (the global lists apply). Cost: linear in
  // the number of rule CIDRs (at most kMaxClientRuleCidrs).
  const ClientRule* RuleFor(const IpAddress& client) const;
  // The same for a client that presented a verified certificate: the
  // first of its names (in the order given, see CertificateNames) that a
  // rule lists decides, and *matched_name is set to it; with no name
  // listed, RuleFor(client) and *matched_name is cleared. Cost: one hash
  // lookup per name, then the CIDR scan.
  const ClientRule* RuleFor(const IpAddress& client, std::span<const std::string> cert_names,
                            std::string* matched_name) const;
  // Why the proxy must not connect to this address, or nullptr when it may.
  const char* RefuseAddress(const IpAddress& a) const;
};

inline constexpr size_t kMaxClientRuleCidrs = 4096;
inline constexpr size_t kMaxClientRuleNames = 100000;
inline constexpr size_t kMaxCertNameBytes = 253;
inline constexpr size_t kMaxCrlFiles = 16;        // tls.client_crl_file entries

// An allowlist pull's text: one entry per line (allowlist syntax), '#'
// starts a comment, blank lines are ignored, CRLF accepted. A bad entry
// fails the whole list: "line 3: 'a..b' is not a valid host name: ...".
Result<std::vector<std::string>> ParseAllowlistText(std::string_view text);

// A copy of `base` whose allowlist is its own entries plus `pulled`.
Result<std::shared_ptr<const Config>> WithPulledAllowlist(const Config& base, const std::vector<std::string>& pulled);

// A whole file of at most max_bytes ("cannot open PATH", "PATH is larger
// than N bytes").
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);

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
