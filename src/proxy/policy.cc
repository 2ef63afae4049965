#include "rampart/proxy/policy.h"

#include <algorithm>
#include <vector>

namespace rampart::proxy {
namespace {

// Fields that belong to one connection (RFC 9110 section 7.6.1), removed
// before a message is passed on. Transfer-Encoding is not among them: the
// proxy relays chunked bodies unchanged, so their framing field goes along.
constexpr std::string_view kHopByHop[] = {
    "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization",
    "Proxy-Authenticate", "TE", "Trailer", "Upgrade",
};

// Framing fields stay whatever Connection lists: dropping one would let the
// next hop read a body as another message (request smuggling).
bool IsFraming(std::string_view name) {
  return EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Transfer-Encoding");
}

Interpreted Error(int status, std::string why) {
  Interpreted out;
  out.error_status = status;
  out.error = std::move(why);
  return out;
}

// The field names listed in Connection headers (RFC 9110 section 7.6.1).
std::vector<std::string_view> ConnectionOptions(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::vector<std::string_view> out;
  for (const auto& [name, value] : fields) {
    if (!EqualsIgnoreCase(name, "Connection")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty()) out.push_back(item);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

// "name: value\r\n"
void AppendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

// Bytes the fields take as "name: value\r\n" lines.
size_t HeadSize(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t n = 0;
  for (const auto& [name, value] : fields) n += name.size() + value.size() + 4;
  return n;
}

bool IsDropped(std::string_view name, const std::vector<std::string_view>& options) {
  for (auto h : kHopByHop) {
    if (EqualsIgnoreCase(name, h)) return true;
  }
  if (IsFraming(name)) return false;
  for (auto o : options) {
    if (EqualsIgnoreCase(name, o)) return true;
  }
  return false;
}

Interpreted InterpretConnect(const RequestHead& head) {
  auto target = ParseAuthorityTarget(head.target);
  if (!target.ok()) return Error(400, target.status().message());
  auto host = NormalizeHost(target->host);
  if (!host.ok()) return Error(400, host.status().message());
  Interpreted out;
  out.request.is_connect = true;
  out.request.host = std::move(host).value();
  out.request.port = target->port;
  return out;
}

// RFC 9112 section 3.2.2: a proxy given an absolute-form target must agree
// with Host; we refuse disagreement instead of rewriting Host, so the
// origin sees exactly the name that was checked.
Interpreted InterpretForward(const RequestHead& head) {
  if (!head.target.empty() && head.target.front() == '/') {
    return Error(400, "a forward proxy request needs an absolute http:// URL");
  }
  auto target = ParseAbsoluteTarget(head.target);
  if (!target.ok()) return Error(400, target.status().message());
  auto host = NormalizeHost(target->host);
  if (!host.ok()) return Error(400, host.status().message());
  size_t host_fields = head.CountField("Host");
  if (host_fields > 1 || (host_fields == 0 && head.version_minor == 1)) {
    return Error(400, "exactly one Host header is required");
  }
  if (host_fields == 1) {
    auto header = ParseHostHeader(*head.Field("Host"), 80);
    if (!header.ok()) return Error(400, "bad Host header");
    auto header_host = NormalizeHost(header->host);
    if (!header_host.ok() || header_host->name != host->name || header->port != target->port) {
      return Error(403, "Host header does not match the URL");
    }
  }
  // Room for the Host and Connection fields the rewrite may add, so what we
  // forward is always a head our own parser would accept.
  if (head.fields.size() + 2 > kMaxHeaderFields) return Error(431, "too many header fields");
  auto framing = GetBodyFraming(head);
  if (!framing.ok()) return Error(400, framing.status().message());
  if (framing->chunked && head.version_minor == 0) return Error(400, "chunked body in an HTTP/1.0 request");
  Interpreted out;
  out.request.host = std::move(host).value();
  out.request.port = target->port;
  out.request.path = std::move(target->path);
  out.request.framing = *framing;
  return out;
}

}  // namespace

Interpreted InterpretIntercepted(const RequestHead& head, uint16_t original_port) {
  if (head.method == "CONNECT") return Error(400, "CONNECT on the intercept listener");
  if (head.target.empty() || head.target.front() != '/') {
    return Error(400, "an intercepted request needs an origin-form target");
  }
  if (head.CountField("Host") != 1) return Error(400, "exactly one Host header is required");
  auto header = ParseHostHeader(*head.Field("Host"), original_port);
  if (!header.ok()) return Error(400, "bad Host header");
  auto host = NormalizeHost(header->host);
  if (!host.ok()) return Error(400, host.status().message());
  if (header->port != original_port) return Error(403, "Host header port does not match the destination port");
  if (head.fields.size() + 2 > kMaxHeaderFields) return Error(431, "too many header fields");
  auto framing = GetBodyFraming(head);
  if (!framing.ok()) return Error(400, framing.status().message());
  if (framing->chunked && head.version_minor == 0) return Error(400, "chunked body in an HTTP/1.0 request");
  Interpreted out;
  out.request.host = std::move(host).value();
  out.request.port = original_port;
  out.request.path = head.target;
  out.request.framing = *framing;
  return out;
}

InterceptedTls HostFromClientHello(const ClientHelloInfo& hello) {
  using Outcome = ClientHelloInfo::Outcome;
  InterceptedTls out;
  if (hello.outcome != Outcome::kOk) {
    out.reason = OutcomeName(hello.outcome);
    return out;
  }
  if (!hello.has_sni) {
    out.reason = "no SNI";
    return out;
  }
  auto sni = NormalizeHost(hello.sni);
  if (!sni.ok() || sni->is_ip) {
    out.reason = "invalid SNI";
    return out;
  }
  out.ok = true;
  out.host = std::move(sni).value();
  return out;
}

std::string TlsAlert(uint8_t description) {
  // A plaintext alert record: content type 21, legacy version TLS 1.0 (as
  // in a ClientHello's record layer), length 2, level fatal (2).
  return std::string{'\x15', '\x03', '\x01', '\x00', '\x02', '\x02', static_cast<char>(description)};
}

Interpreted InterpretRequest(const RequestHead& head) {
  if (head.method == "CONNECT") return InterpretConnect(head);
  return InterpretForward(head);
}

namespace {

Decision CheckWith(const DomainMatcher& matcher, const std::vector<uint16_t>& ports, const Host& host,
                   uint16_t port) {
  Decision d;
  if (std::find(ports.begin(), ports.end(), port) == ports.end()) {
    d.reason = "port " + std::to_string(port) + " not allowed";
    return d;
  }
  MatchResult m = matcher.Match(host);
  d.allowed = m.allowed;
  d.rule = std::move(m.rule);
  d.reason = std::move(m.reason);
  return d;
}

}  // namespace

Decision CheckDestination(const Config& cfg, const Host& host, uint16_t port) {
  return CheckWith(cfg.matcher, cfg.allowed_ports, host, port);
}

Decision CheckDestination(const Config& cfg, const IpAddress& client, const Host& host, uint16_t port) {
  return CheckDestination(cfg, client, {}, host, port);
}

Decision CheckDestination(const Config& cfg, const IpAddress& client, std::span<const std::string> cert_names,
                          const Host& host, uint16_t port) {
  std::string cert_name;
  const ClientRule* rule = cfg.RuleFor(client, cert_names, &cert_name);
  if (rule == nullptr) return CheckDestination(cfg, host, port);
  Decision d = CheckWith(rule->matcher, rule->allowed_ports, host, port);
  d.client_rule = rule->name;
  d.client_cert = std::move(cert_name);
  return d;
}

Decision CheckFirstFlight(const Config& cfg, const Host& connect_host, const ClientHelloInfo& hello) {
  using Outcome = ClientHelloInfo::Outcome;
  Decision d;
  if (hello.outcome == Outcome::kOk && hello.has_sni) {
    auto sni = NormalizeHost(hello.sni);
    if (!sni.ok() || sni->is_ip) {
      d.reason = "invalid SNI";
    } else if (sni->name != connect_host.name) {
      d.reason = "SNI does not match CONNECT host";
    } else {
      d.allowed = true;
    }
    return d;
  }
  bool tolerable = hello.outcome == Outcome::kNotTls || hello.outcome == Outcome::kOk;
  if (tolerable && !cfg.require_sni) {
    d.allowed = true;
    return d;
  }
  d.reason = hello.outcome == Outcome::kOk ? "no SNI" : OutcomeName(hello.outcome);
  return d;
}

std::string BuildOriginHead(const RequestHead& head, const ProxyRequest& req, bool keep_alive) {
  std::vector<std::string_view> options = ConnectionOptions(head.fields);
  std::string out;
  out.reserve(HeadSize(head.fields) + head.method.size() + req.path.size() + 64);
  out.append(head.method).append(" ").append(req.path).append(" HTTP/1.");
  out.append(std::to_string(head.version_minor)).append("\r\n");
  bool has_host = false;
  for (const auto& [name, value] : head.fields) {
    if (IsDropped(name, options)) continue;
    has_host = has_host || EqualsIgnoreCase(name, "Host");
    AppendField(out, name, value);
  }
  if (!has_host) {
    bool v6 = req.host.is_ip && req.host.name.find(':') != std::string::npos;
    std::string host = v6 ? "[" + req.host.name + "]" : req.host.name;
    out += "Host: " + host + (req.port == 80 ? "" : ":" + std::to_string(req.port)) + "\r\n";
  }
  out += keep_alive && head.version_minor >= 1 ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return out;
}

std::string BuildClientResponseHead(const ResponseHead& head, std::string_view connection) {
  std::vector<std::string_view> options = ConnectionOptions(head.fields);
  std::string out;
  out.reserve(HeadSize(head.fields) + head.reason.size() + connection.size() + 40);
  char status[4] = {static_cast<char>('0' + head.status / 100 % 10), static_cast<char>('0' + head.status / 10 % 10),
                    static_cast<char>('0' + head.status % 10), ' '};
  out.append("HTTP/1.1 ").append(status, sizeof status).append(head.reason).append("\r\n");
  for (const auto& [name, value] : head.fields) {
    if (IsDropped(name, options)) continue;
    AppendField(out, name, value);
  }
  if (!connection.empty()) AppendField(out, "Connection", connection);
  out.append("\r\n");
  return out;
}

std::string_view StatusText(int status) {
  switch (status) {
    case 200: return "Connection established";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

std::string BuildResponse(int status, std::string_view content_type, std::string_view body, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(StatusText(status)) + "\r\n";
  out += "Content-Type: " + std::string(content_type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  out += body;
  return out;
}

std::string BuildDenyResponse(const Config& cfg, const DenyDetails& details, bool keep_alive) {
  return BuildResponse(403, "text/html; charset=utf-8", RenderDenyPage(cfg.deny_page, details), keep_alive);
}

}  // namespace rampart::proxy
