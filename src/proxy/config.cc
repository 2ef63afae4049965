#include "rampart/proxy/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "rampart/core/json.h"
#include "tls_server.h"

namespace rampart::proxy {
namespace {

using json::Value;

constexpr size_t kMaxConfigBytes = 16u << 20;
constexpr size_t kMaxDenyPageBytes = 64u << 10;
constexpr int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;

Status KeyError(std::string_view key, std::string_view why) {
  return Status::Validation("config: " + std::string(key) + ": " + std::string(why));
}

}  // namespace

Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Validation("cannot open " + path);
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      ::close(fd);
      return Status::Validation("cannot read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      ::close(fd);
      return Status::Validation(path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

namespace {

Result<std::string> GetString(const Value& v, std::string_view key) {
  if (!v.is_string()) return KeyError(key, "must be a string");
  return v.as_string();
}

Result<std::vector<std::string>> GetStrings(const Value& v, std::string_view key) {
  if (!v.is_array()) return KeyError(key, "must be an array of strings");
  std::vector<std::string> out;
  for (const Value& e : v.as_array()) {
    if (!e.is_string()) return KeyError(key, "must be an array of strings");
    out.push_back(e.as_string());
  }
  return out;
}

Result<int64_t> GetInt(const Value& v, std::string_view key, int64_t lo, int64_t hi) {
  if (!v.is_int() || v.as_int() < lo || v.as_int() > hi) {
    return KeyError(key, "must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v.as_int();
}

Result<std::vector<HostPort>> GetListen(const Value& v, std::string_view key) {
  std::vector<std::string> items;
  if (v.is_string()) {
    items.push_back(v.as_string());
  } else {
    ASSIGN_OR_RETURN(items, GetStrings(v, key));
  }
  std::vector<HostPort> out;
  for (const auto& s : items) {
    auto hp = ParseHostPort(s);
    if (!hp.ok()) return KeyError(key, hp.status().message());
    if (!ParseIp(hp->host)) return KeyError(key, "'" + s + "' must be an IP address and port");
    out.push_back(std::move(hp).value());
  }
  return out;
}

Result<std::vector<Cidr>> GetCidrs(const Value& v, std::string_view key) {
  ASSIGN_OR_RETURN(std::vector<std::string> items, GetStrings(v, key));
  std::vector<Cidr> out;
  for (const auto& s : items) {
    auto c = ParseCidr(s);
    if (!c.ok()) return KeyError(key, c.status().message());
    out.push_back(*c);
  }
  return out;
}

// Allowed clients: never wider than /8 (IPv4) or /32 (IPv6), so the proxy
// cannot be opened to the internet by a short prefix.
Status CheckClientPrefixes(const std::vector<Cidr>& cidrs) {
  for (const auto& c : cidrs) {
    int min = c.base.v6 ? 32 : 8;
    if (c.prefix < min) {
      return KeyError("allowed_clients", c.ToString() + " is wider than /" + std::to_string(min));
    }
  }
  return Status::Ok();
}

Result<std::vector<uint16_t>> GetPorts(const Value& v) {
  if (!v.is_array() || v.as_array().empty()) return KeyError("allowed_ports", "must be a non-empty array");
  std::vector<uint16_t> out;
  for (const Value& e : v.as_array()) {
    ASSIGN_OR_RETURN(int64_t p, GetInt(e, "allowed_ports", 1, 65535));
    out.push_back(static_cast<uint16_t>(p));
  }
  return out;
}

Status ApplyHosts(const Value& v, Config& cfg) {
  if (!v.is_object()) return KeyError("hosts", "must be an object of name: [addresses]");
  for (const auto& [name, addrs] : v.as_object()) {
    auto host = NormalizeHost(name);
    if (!host.ok() || host->is_ip) return KeyError("hosts", "'" + name + "' is not a host name");
    ASSIGN_OR_RETURN(std::vector<std::string> texts, GetStrings(addrs, "hosts." + name));
    std::vector<IpAddress> ips;
    for (const auto& t : texts) {
      auto ip = ParseIp(t);
      if (!ip) return KeyError("hosts." + name, "'" + t + "' is not an IP address");
      ips.push_back(*ip);
    }
    if (ips.empty()) return KeyError("hosts." + name, "needs at least one address");
    cfg.hosts[host->name] = std::move(ips);
  }
  return Status::Ok();
}

Result<std::chrono::milliseconds> GetMs(const Value& v, std::string_view key) {
  ASSIGN_OR_RETURN(int64_t ms, GetInt(v, key, 1, kMaxTimeoutMs));
  return std::chrono::milliseconds(ms);
}

Status ApplyLimits(const Value& v, Limits& limits) {
  if (!v.is_object()) return KeyError("limits", "must be an object");
  for (const auto& [key, value] : v.as_object()) {
    std::string k = "limits." + key;
    if (key == "max_connections") {
      ASSIGN_OR_RETURN(int64_t n, GetInt(value, k, 1, 1000000));
      limits.max_connections = static_cast<size_t>(n);
    } else if (key == "max_header_bytes") {
      ASSIGN_OR_RETURN(int64_t n, GetInt(value, k, 1024, 1 << 20));
      limits.max_header_bytes = static_cast<size_t>(n);
    } else if (key == "idle_timeout_ms") {
      ASSIGN_OR_RETURN(limits.idle_timeout, GetMs(value, k));
    } else if (key == "handshake_timeout_ms") {
      ASSIGN_OR_RETURN(limits.handshake_timeout, GetMs(value, k));
    } else if (key == "connect_timeout_ms") {
      ASSIGN_OR_RETURN(limits.connect_timeout, GetMs(value, k));
    } else if (key == "drain_timeout_ms") {
      ASSIGN_OR_RETURN(limits.drain_timeout, GetMs(value, k));
    } else if (key == "upstream_idle_connections") {
      ASSIGN_OR_RETURN(int64_t n, GetInt(value, k, 0, 10000));
      limits.upstream_idle_connections = static_cast<size_t>(n);
    } else if (key == "upstream_idle_timeout_ms") {
      ASSIGN_OR_RETURN(limits.upstream_idle_timeout, GetMs(value, k));
    } else {
      return KeyError(k, "unknown key");
    }
  }
  return Status::Ok();
}

// "IP" (port 53) or "IP:port" / "[v6]:port".
Result<HostPort> ParseDnsServer(const std::string& text) {
  if (auto ip = ParseIp(text)) return HostPort{ip->ToString(), 53};
  auto hp = ParseHostPort(text);
  if (!hp.ok()) return hp.status();
  auto ip = ParseIp(hp->host);
  if (!ip) return Status::Validation("'" + text + "' must be an IP address with an optional port");
  hp->host = ip->ToString();
  return hp;
}

Status ApplyDns(const Value& v, DnsSettings& dns) {
  if (!v.is_object()) return KeyError("dns", "must be an object");
  for (const auto& [key, value] : v.as_object()) {
    std::string k = "dns." + key;
    if (key == "servers") {
      ASSIGN_OR_RETURN(std::vector<std::string> items, GetStrings(value, k));
      if (items.size() > 8) return KeyError(k, "at most 8 servers");
      dns.servers.clear();
      for (const auto& s : items) {
        auto hp = ParseDnsServer(s);
        if (!hp.ok()) return KeyError(k, hp.status().message());
        dns.servers.push_back(std::move(hp).value());
      }
    } else if (key == "block_addresses") {
      ASSIGN_OR_RETURN(std::vector<std::string> items, GetStrings(value, k));
      dns.block_addresses.clear();
      for (const auto& s : items) {
        auto ip = ParseIp(s);
        if (!ip) return KeyError(k, "'" + s + "' is not an IP address");
        dns.block_addresses.push_back(*ip);
      }
    } else if (key == "cache_entries") {
      ASSIGN_OR_RETURN(int64_t n, GetInt(value, k, 0, 1000000));
      dns.cache_entries = static_cast<size_t>(n);
    } else {
      return KeyError(k, "unknown key");
    }
  }
  return Status::Ok();
}

// The admin endpoint has no authentication: it must only listen on loopback.
Status CheckAdminListen(const std::vector<HostPort>& admin) {
  for (const auto& hp : admin) {
    auto ip = ParseIp(hp.host);
    const char* why = ip ? NonPublicReason(*ip) : nullptr;
    if (why == nullptr || std::string_view(why) != "loopback") {
      return KeyError("admin_listen", "'" + hp.host + "' is not a loopback address");
    }
  }
  return Status::Ok();
}

std::string JoinPath(std::string_view base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return std::string(base_dir) + "/" + path;
}

// client_rules[i]: {"name", "clients", "allow", "deny", "allowed_ports"}.
// Ports default to the global list, so that part is filled in by Finish.
struct PendingRule {
  ClientRule rule;
  std::vector<std::string> allow, deny;
  bool have_ports = false;
};

// A client-certificate name as a rule key: printable ASCII without
// spaces, no wildcard (names are matched exactly), lowercased.
Result<std::vector<std::string>> GetCertNames(const Value& v, const std::string& key) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, GetStrings(v, key));
  for (std::string& name : names) {
    if (name.empty() || name.size() > kMaxCertNameBytes) {
      return KeyError(key, "names must be 1.." + std::to_string(kMaxCertNameBytes) + " characters");
    }
    for (char& c : name) {
      if (c <= 0x20 || c >= 0x7f) return KeyError(key, "'" + name + "' must be printable ASCII without spaces");
      if (c == '*') return KeyError(key, "'" + name + "': wildcards are not supported; names match exactly");
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return names;
}

Result<PendingRule> GetClientRule(const Value& v, const std::string& where) {
  if (!v.is_object()) return KeyError(where, "must be an object");
  PendingRule out;
  out.rule.name = where;
  for (const auto& [key, value] : v.as_object()) {
    std::string k = where + "." + key;
    if (key == "name") {
      ASSIGN_OR_RETURN(out.rule.name, GetString(value, k));
      if (out.rule.name.empty() || out.rule.name.size() > 64) return KeyError(k, "must be 1..64 characters");
    } else if (key == "clients") {
      ASSIGN_OR_RETURN(out.rule.clients, GetCidrs(value, k));
    } else if (key == "client_names") {
      ASSIGN_OR_RETURN(out.rule.client_names, GetCertNames(value, k));
    } else if (key == "allow") {
      ASSIGN_OR_RETURN(out.allow, GetStrings(value, k));
    } else if (key == "deny") {
      ASSIGN_OR_RETURN(out.deny, GetStrings(value, k));
    } else if (key == "allowed_ports") {
      auto ports = GetPorts(value);
      if (!ports.ok()) return KeyError(k, "must be a non-empty array of ports 1..65535");
      out.rule.allowed_ports = std::move(ports).value();
      out.have_ports = true;
    } else {
      return KeyError(k, "unknown key");
    }
  }
  if (out.rule.clients.empty() && out.rule.client_names.empty()) {
    return KeyError(where, "needs clients (CIDRs) or client_names (certificate names)");
  }
  auto matcher = DomainMatcher::Build(out.allow, out.deny);
  if (!matcher.ok()) return Status::Validation("config: " + where + "." + matcher.status().message());
  out.rule.matcher = std::move(matcher).value();
  return out;
}

Result<std::vector<PendingRule>> GetClientRules(const Value& v) {
  if (!v.is_array()) return KeyError("client_rules", "must be an array of objects");
  std::vector<PendingRule> out;
  size_t cidrs = 0;
  size_t names = 0;
  for (size_t i = 0; i < v.as_array().size(); ++i) {
    ASSIGN_OR_RETURN(PendingRule r, GetClientRule(v.as_array()[i], "client_rules[" + std::to_string(i) + "]"));
    cidrs += r.rule.clients.size();
    if (cidrs > kMaxClientRuleCidrs) {
      return KeyError("client_rules", "at most " + std::to_string(kMaxClientRuleCidrs) + " CIDRs in all");
    }
    names += r.rule.client_names.size();
    if (names > kMaxClientRuleNames) {
      return KeyError("client_rules", "at most " + std::to_string(kMaxClientRuleNames) + " client_names in all");
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool SameCidr(const Cidr& a, const Cidr& b) { return a.prefix == b.prefix && a.base == b.base; }

// Every rule CIDR lies inside allowed_clients (a rule never admits a
// client), and no CIDR is in two rules (longest-prefix must be unambiguous).
Status CheckClientRules(const Config& cfg) {
  for (size_t i = 0; i < cfg.client_rules.size(); ++i) {
    const ClientRule& r = cfg.client_rules[i];
    std::string where = "client_rules[" + std::to_string(i) + "].clients";
    for (const Cidr& c : r.clients) {
      bool inside = false;
      for (const Cidr& a : cfg.allowed_clients) inside = inside || (a.prefix <= c.prefix && a.Contains(c.base));
      if (!inside) return KeyError(where, c.ToString() + " is not inside allowed_clients");
      for (size_t j = 0; j < i; ++j) {
        for (const Cidr& other : cfg.client_rules[j].clients) {
          if (SameCidr(c, other)) {
            return KeyError(where, c.ToString() + " is also in client_rules[" + std::to_string(j) + "]");
          }
        }
      }
    }
  }
  return Status::Ok();
}

// Certificate names are unique across rules, so a name picks one rule;
// they only mean something when client certificates are asked for.
Status IndexCertNames(Config& cfg) {
  for (size_t i = 0; i < cfg.client_rules.size(); ++i) {
    std::string where = "client_rules[" + std::to_string(i) + "].client_names";
    for (const std::string& name : cfg.client_rules[i].client_names) {
      if (cfg.tls.client_ca_file.empty()) return KeyError(where, "need tls_listen with tls.client_ca_file");
      auto [it, added] = cfg.rule_by_cert_name.emplace(name, i);
      if (!added) {
        return KeyError(where, "'" + name + "' is also in client_rules[" + std::to_string(it->second) + "]");
      }
    }
  }
  return Status::Ok();
}

// tls.client_crl_file: one path or a non-empty array of them (at most
// kMaxCrlFiles), resolved against the config file's directory.
Status GetCrlFiles(const Value& v, std::string_view base_dir, std::vector<std::string>& out) {
  constexpr std::string_view k = "tls.client_crl_file";
  std::vector<std::string> files;
  if (v.is_string()) {
    files.push_back(v.as_string());
  } else {
    if (!v.is_array()) return KeyError(k, "must be a file name or an array of them");
    ASSIGN_OR_RETURN(files, GetStrings(v, k));
    if (files.empty()) return KeyError(k, "must not be an empty array");
  }
  if (files.size() > kMaxCrlFiles) return KeyError(k, "at most " + std::to_string(kMaxCrlFiles) + " files");
  out.clear();
  for (const std::string& file : files) {
    if (file.empty()) return KeyError(k, "file names must not be empty");
    out.push_back(JoinPath(base_dir, file));
  }
  return Status::Ok();
}

// tls: {"cert_file", "key_file", "client_ca_file", "require_client_cert",
// "client_crl_file"}.
Status ApplyTls(const Value& v, std::string_view base_dir, TlsSettings& tls) {
  if (!v.is_object()) return KeyError("tls", "must be an object");
  for (const auto& [key, value] : v.as_object()) {
    std::string k = "tls." + key;
    if (key == "cert_file" || key == "key_file" || key == "client_ca_file") {
      ASSIGN_OR_RETURN(std::string file, GetString(value, k));
      if (file.empty()) return KeyError(k, "must not be empty");
      std::string& field = key == "cert_file" ? tls.cert_file : key == "key_file" ? tls.key_file : tls.client_ca_file;
      field = JoinPath(base_dir, file);
    } else if (key == "require_client_cert") {
      if (!value.is_bool()) return KeyError(k, "must be true or false");
      tls.require_client_cert = value.as_bool();
    } else if (key == "client_crl_file") {
      RETURN_IF_ERROR(GetCrlFiles(value, base_dir, tls.client_crl_files));
    } else {
      return KeyError(k, "unknown key");
    }
  }
  if (tls.cert_file.empty()) return KeyError("tls.cert_file", "is required");
  if (tls.key_file.empty()) return KeyError("tls.key_file", "is required");
  if (tls.require_client_cert && tls.client_ca_file.empty()) {
    return KeyError("tls.require_client_cert", "needs tls.client_ca_file");
  }
  if (!tls.client_crl_files.empty() && tls.client_ca_file.empty()) {
    return KeyError("tls.client_crl_file", "needs tls.client_ca_file");
  }
  return Status::Ok();
}

// The TLS listeners and their settings come together; the files are read
// and the context built now, so a bad certificate rejects the config.
Status FinishTls(Config& cfg, bool have_tls) {
  if (cfg.tls_listen.empty() && !have_tls) return Status::Ok();
  if (cfg.tls_listen.empty()) return KeyError("tls", "applies only with tls_listen");
  if (!have_tls) return KeyError("tls_listen", "needs tls (cert_file and key_file)");
  ASSIGN_OR_RETURN(cfg.tls.context, TlsServerContext::Load(cfg.tls));
  return Status::Ok();
}

Status ApplyAllowlistPull(const Value& v, std::string_view base_dir, AllowlistPull& pull) {
  if (!v.is_object()) return KeyError("allowlist_pull", "must be an object");
  for (const auto& [key, value] : v.as_object()) {
    std::string k = "allowlist_pull." + key;
    if (key == "url") {
      ASSIGN_OR_RETURN(pull.url, GetString(value, k));
      std::string_view u = pull.url;
      if (u.substr(0, 7) != "http://" && u.substr(0, 8) != "https://") {
        return KeyError(k, "must start with http:// or https://");
      }
    } else if (key == "file") {
      ASSIGN_OR_RETURN(std::string file, GetString(value, k));
      if (file.empty()) return KeyError(k, "must not be empty");
      pull.file = JoinPath(base_dir, file);
    } else if (key == "interval_seconds") {
      ASSIGN_OR_RETURN(int64_t n, GetInt(value, k, 1, 86400));
      pull.interval = std::chrono::seconds(n);
    } else if (key == "timeout_ms") {
      ASSIGN_OR_RETURN(int64_t n, GetInt(value, k, 100, 600000));
      pull.timeout = std::chrono::milliseconds(n);
    } else if (key == "ca_file") {
      ASSIGN_OR_RETURN(std::string file, GetString(value, k));
      pull.ca_file = JoinPath(base_dir, file);
    } else {
      return KeyError(k, "unknown key");
    }
  }
  if (pull.url.empty() == pull.file.empty()) return KeyError("allowlist_pull", "give either url or file");
  if (!pull.ca_file.empty() && pull.url.substr(0, 8) != "https://") {
    return KeyError("allowlist_pull.ca_file", "applies to https:// URLs only");
  }
  return Status::Ok();
}

struct Lists {
  std::vector<std::string> allow, deny;
  std::vector<PendingRule> client_rules;
  bool have_clients = false;
  std::string deny_page_file;
  bool have_inline_page = false;
  bool have_tls = false;
};

// One member of the top-level object.
Status ApplyKey(const std::string& key, const Value& value, Config& cfg, Lists& lists, std::string_view base_dir) {
  if (key == "listen") {
    ASSIGN_OR_RETURN(cfg.listen, GetListen(value, key));
  } else if (key == "admin_listen") {
    ASSIGN_OR_RETURN(cfg.admin_listen, GetListen(value, key));
    if (cfg.admin_listen.size() > 1) return KeyError(key, "takes one address");
    RETURN_IF_ERROR(CheckAdminListen(cfg.admin_listen));
  } else if (key == "intercept_listen") {
    ASSIGN_OR_RETURN(cfg.intercept_listen, GetListen(value, key));
  } else if (key == "tls_listen") {
    ASSIGN_OR_RETURN(cfg.tls_listen, GetListen(value, key));
  } else if (key == "tls") {
    RETURN_IF_ERROR(ApplyTls(value, base_dir, cfg.tls));
    lists.have_tls = true;
  } else if (key == "allowed_clients") {
    ASSIGN_OR_RETURN(cfg.allowed_clients, GetCidrs(value, key));
    lists.have_clients = true;
  } else if (key == "allow") {
    ASSIGN_OR_RETURN(lists.allow, GetStrings(value, key));
  } else if (key == "deny") {
    ASSIGN_OR_RETURN(lists.deny, GetStrings(value, key));
  } else if (key == "allowed_ports") {
    ASSIGN_OR_RETURN(cfg.allowed_ports, GetPorts(value));
  } else if (key == "allowlist_pull") {
    RETURN_IF_ERROR(ApplyAllowlistPull(value, base_dir, cfg.allowlist_pull));
  } else if (key == "client_rules") {
    ASSIGN_OR_RETURN(lists.client_rules, GetClientRules(value));
  } else if (key == "ssrf_allow") {
    ASSIGN_OR_RETURN(cfg.ssrf_allow, GetCidrs(value, key));
  } else if (key == "deny_page") {
    ASSIGN_OR_RETURN(cfg.deny_page, GetString(value, key));
    lists.have_inline_page = true;
  } else if (key == "deny_page_file") {
    ASSIGN_OR_RETURN(lists.deny_page_file, GetString(value, key));
  } else if (key == "access_log") {
    ASSIGN_OR_RETURN(cfg.access_log, GetString(value, key));
  } else if (key == "access_log_format") {
    ASSIGN_OR_RETURN(std::string format, GetString(value, key));
    if (format != "json" && format != "squid") return KeyError(key, "must be \"json\" or \"squid\"");
    cfg.squid_log_format = format == "squid";
  } else if (key == "require_sni") {
    if (!value.is_bool()) return KeyError(key, "must be true or false");
    cfg.require_sni = value.as_bool();
  } else if (key == "splice") {
    if (!value.is_bool()) return KeyError(key, "must be true or false");
    cfg.splice = value.as_bool();
  } else if (key == "watch_config") {
    if (!value.is_bool()) return KeyError(key, "must be true or false");
    cfg.watch_config = value.as_bool();
  } else if (key == "hosts") {
    RETURN_IF_ERROR(ApplyHosts(value, cfg));
  } else if (key == "workers") {
    ASSIGN_OR_RETURN(int64_t n, GetInt(value, key, 0, 256));
    cfg.workers = static_cast<unsigned>(n);
  } else if (key == "limits") {
    RETURN_IF_ERROR(ApplyLimits(value, cfg.limits));
  } else if (key == "dns") {
    RETURN_IF_ERROR(ApplyDns(value, cfg.dns));
  } else {
    return KeyError(key, "unknown key");
  }
  return Status::Ok();
}

Status Finish(Config& cfg, Lists& lists, std::string_view base_dir) {
  if (cfg.listen.empty()) return KeyError("listen", "at least one address is required");
  if (!lists.have_clients || cfg.allowed_clients.empty()) {
    return KeyError("allowed_clients", "at least one CIDR is required");
  }
  RETURN_IF_ERROR(CheckClientPrefixes(cfg.allowed_clients));
  auto matcher = DomainMatcher::Build(lists.allow, lists.deny);
  if (!matcher.ok()) return Status::Validation("config: " + matcher.status().message());
  cfg.matcher = std::move(matcher).value();
  cfg.allow_entries = std::move(lists.allow);
  cfg.deny_entries = std::move(lists.deny);
  for (auto& pending : lists.client_rules) {
    if (!pending.have_ports) pending.rule.allowed_ports = cfg.allowed_ports;
    cfg.client_rules.push_back(std::move(pending.rule));
  }
  RETURN_IF_ERROR(CheckClientRules(cfg));
  RETURN_IF_ERROR(FinishTls(cfg, lists.have_tls));
  RETURN_IF_ERROR(IndexCertNames(cfg));
  if (lists.have_inline_page && !lists.deny_page_file.empty()) {
    return KeyError("deny_page", "give deny_page or deny_page_file, not both");
  }
  if (!lists.deny_page_file.empty()) {
    auto page = ReadSmallFile(JoinPath(base_dir, lists.deny_page_file), kMaxDenyPageBytes);
    if (!page.ok()) return KeyError("deny_page_file", page.status().message());
    cfg.deny_page = std::move(page).value();
  } else if (!lists.have_inline_page) {
    cfg.deny_page = kDefaultDenyPage;
  }
  if (cfg.deny_page.size() > kMaxDenyPageBytes) return KeyError("deny_page", "larger than 64 KiB");
  return Status::Ok();
}

}  // namespace

const char* const kDefaultDenyPage =
    "<!DOCTYPE html>\n<html><head><title>Access denied</title></head>\n"
    "<body><h1>Access denied</h1>\n"
    "<p>The proxy refused the request to <b>{host}</b> from {client}.</p>\n"
    "<p>Reason: {reason}</p>\n<p>Time: {time}</p>\n</body></html>\n";

bool Config::ClientAllowed(const IpAddress& client) const {
  return AnyContains(allowed_clients, client);
}

const ClientRule* Config::RuleFor(const IpAddress& client) const {
  const ClientRule* best = nullptr;
  int best_prefix = -1;
  for (const ClientRule& r : client_rules) {
    for (const Cidr& c : r.clients) {
      if (c.prefix > best_prefix && c.Contains(client)) {
        best = &r;
        best_prefix = c.prefix;
      }
    }
  }
  return best;
}

const ClientRule* Config::RuleFor(const IpAddress& client, std::span<const std::string> cert_names,
                                  std::string* matched_name) const {
  for (const std::string& name : cert_names) {
    auto it = rule_by_cert_name.find(name);
    if (it == rule_by_cert_name.end()) continue;
    if (matched_name != nullptr) *matched_name = name;
    return &client_rules[it->second];
  }
  if (matched_name != nullptr) matched_name->clear();
  return RuleFor(client);
}

bool Config::PortAllowed(uint16_t port) const {
  return std::find(allowed_ports.begin(), allowed_ports.end(), port) != allowed_ports.end();
}

const char* Config::RefuseAddress(const IpAddress& a) const {
  const char* reason = NonPublicReason(a);
  if (reason == nullptr || AnyContains(ssrf_allow, a)) return nullptr;
  return reason;
}

Result<std::shared_ptr<const Config>> ParseConfig(std::string_view text, std::string_view base_dir) {
  auto doc = json::Parse(text, json::ParseLimits{.max_depth = 8, .max_bytes = kMaxConfigBytes});
  if (!doc.ok()) return Status::Validation("config: not valid JSON: " + doc.status().message());
  if (!doc->is_object()) return Status::Validation("config: must be a JSON object");
  auto cfg = std::make_shared<Config>();
  Lists lists;
  for (const auto& [key, value] : doc->as_object()) {
    RETURN_IF_ERROR(ApplyKey(key, value, *cfg, lists, base_dir));
  }
  RETURN_IF_ERROR(Finish(*cfg, lists, base_dir));
  return std::shared_ptr<const Config>(std::move(cfg));
}

Result<std::vector<std::string>> ParseAllowlistText(std::string_view text) {
  std::vector<std::string> out;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++line_no;
    line = line.substr(0, line.find('#'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) continue;
    std::string_view name = line.front() == '.' ? line.substr(1) : line;
    auto host = NormalizeHost(name);
    if (!host.ok()) return Status::Validation("line " + std::to_string(line_no) + ": " + host.status().message());
    if (line.front() == '.' && host->is_ip) {
      return Status::Validation("line " + std::to_string(line_no) + ": a leading dot does not apply to an IP address");
    }
    out.emplace_back(line);
  }
  return out;
}

Result<std::shared_ptr<const Config>> WithPulledAllowlist(const Config& base, const std::vector<std::string>& pulled) {
  std::vector<std::string> allow = base.allow_entries;
  allow.insert(allow.end(), pulled.begin(), pulled.end());
  auto matcher = DomainMatcher::Build(allow, base.deny_entries);
  if (!matcher.ok()) return Status::Validation("allowlist pull: " + matcher.status().message());
  auto cfg = std::make_shared<Config>(base);
  cfg->matcher = std::move(matcher).value();
  cfg->pulled_entries = pulled.size();
  return std::shared_ptr<const Config>(std::move(cfg));
}

Result<std::shared_ptr<const Config>> LoadConfigFile(const std::string& path) {
  auto text = ReadSmallFile(path, kMaxConfigBytes);
  if (!text.ok()) return Status::Validation("config: " + text.status().message());
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  return ParseConfig(*text, dir);
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string RenderDenyPage(std::string_view tmpl, const DenyDetails& d) {
  const std::pair<std::string_view, std::string> values[] = {
      {"{host}", HtmlEscape(d.host)},
      {"{client}", HtmlEscape(d.client)},
      {"{reason}", HtmlEscape(d.reason)},
      {"{time}", HtmlEscape(FormatIso8601(d.time))},
  };
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    bool replaced = false;
    if (tmpl[i] == '{') {
      for (const auto& [name, value] : values) {
        if (tmpl.substr(i, name.size()) == name) {
          out += value;
          i += name.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out.push_back(tmpl[i++]);
  }
  return out;
}

}  // namespace rampart::proxy
