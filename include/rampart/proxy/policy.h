// The proxy's decisions as pure functions over a Config snapshot and the
// parsed request, kept apart from the socket code so that every rule is
// unit-tested: what a request means, whether its destination is allowed,
// whether a tunnel's ClientHello agrees with its CONNECT, and the bytes the
// proxy sends (origin-form request head, error and deny responses).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "rampart/proxy/config.h"
#include "rampart/proxy/domain.h"
#include "rampart/proxy/http_head.h"
#include "rampart/proxy/sni.h"

namespace rampart::proxy {

struct ProxyRequest {
  bool is_connect = false;
  Host host;           // normalised
  uint16_t port = 0;
  std::string path;    // origin-form, for forwarded requests
  BodyFraming framing;
};

struct Interpreted {
  ProxyRequest request;
  int error_status = 0;  // 0 when the request is well formed
  std::string error;     // reason for the access log and the response
};

// CONNECT takes an authority-form target; other methods an absolute http://
// URL whose host and port must equal the Host header's (403 otherwise).
// Malformed targets give 400 (so does a chunked body in an HTTP/1.0
// request).
Interpreted InterpretRequest(const RequestHead& head);

// Intercept mode, plain HTTP: an origin-form request whose single Host
// header names the destination; the port is the connection's original
// destination port (a port written in Host must equal it, 403 otherwise).
Interpreted InterpretIntercepted(const RequestHead& head, uint16_t original_port);

// Intercept mode, TLS: the first flight must be a complete ClientHello with
// a host-name SNI (an IP literal or no SNI is refused: there is nothing
// else to decide by).
struct InterceptedTls {
  bool ok = false;
  Host host;           // the normalised SNI
  std::string reason;  // why not, for the access log
};
InterceptedTls HostFromClientHello(const ClientHelloInfo& hello);

// A fatal TLS alert record, sent in the clear to a denied intercepted TLS
// client (RFC 8446 section 6): the only answer possible without a
// certificate for the name.
inline constexpr uint8_t kTlsAlertAccessDenied = 49;
inline constexpr uint8_t kTlsAlertInternalError = 80;
std::string TlsAlert(uint8_t description);

struct Decision {
  bool allowed = false;
  std::string rule;
  std::string reason;
  std::string client_rule;  // the ClientRule whose lists decided; empty: the global ones
  std::string client_cert;  // the certificate name that chose client_rule; empty: none did
};

// Port first, then the allow/deny lists (the global ones).
Decision CheckDestination(const Config& cfg, const Host& host, uint16_t port);
// The same with the lists of the client's rule (Config::RuleFor), or the
// global ones when no rule holds the client.
Decision CheckDestination(const Config& cfg, const IpAddress& client, const Host& host, uint16_t port);
// The same for a client with a verified certificate (TLS listeners): a
// rule listing one of cert_names (in order) first, then the client's CIDR
// rule, then the global lists (Config::RuleFor).
Decision CheckDestination(const Config& cfg, const IpAddress& client, std::span<const std::string> cert_names,
                          const Host& host, uint16_t port);

// A tunnel's first flight: a TLS ClientHello whose SNI equals the CONNECT
// host, or (with require_sni off) anything.
Decision CheckFirstFlight(const Config& cfg, const Host& connect_host, const ClientHelloInfo& hello);

// The request head sent to the origin: origin-form target, hop-by-hop
// fields (and those named in Connection, except the framing fields)
// removed, then "Connection: keep-alive" when the proxy wants to reuse
// the origin connection (only for HTTP/1.1 requests), else
// "Connection: close".
std::string BuildOriginHead(const RequestHead& head, const ProxyRequest& req, bool keep_alive = false);

// The origin's response head as the client gets it: an HTTP/1.1 status
// line, hop-by-hop fields removed (framing fields kept: bodies are relayed
// unchanged), then "Connection: <connection>" unless it is empty (interim
// 1xx responses).
std::string BuildClientResponseHead(const ResponseHead& head, std::string_view connection);

// A complete response with Content-Length and "Connection: close" (or
// "keep-alive" when the connection stays open for another request).
std::string BuildResponse(int status, std::string_view content_type, std::string_view body,
                          bool keep_alive = false);
std::string BuildDenyResponse(const Config& cfg, const DenyDetails& details, bool keep_alive = false);
std::string_view StatusText(int status);

}  // namespace rampart::proxy
