// The proxy's decisions as pure functions over a Config snapshot and the
// parsed request, kept apart from the socket code so that every rule is
// unit-tested: what a request means, whether its destination is allowed,
// whether a tunnel's ClientHello agrees with its CONNECT, and the bytes the
// proxy sends (origin-form request head, error and deny responses).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
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
// Malformed targets give 400; chunked request bodies 411 (not yet relayed).
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
};

// Port first, then the allow/deny lists.
Decision CheckDestination(const Config& cfg, const Host& host, uint16_t port);

// A tunnel's first flight: a TLS ClientHello whose SNI equals the CONNECT
// host, or (with require_sni off) anything.
Decision CheckFirstFlight(const Config& cfg, const Host& connect_host, const ClientHelloInfo& hello);

// The request head sent to the origin: origin-form target, hop-by-hop
// fields (and those named in Connection) removed, "Connection: close".
std::string BuildOriginHead(const RequestHead& head, const ProxyRequest& req);

// A complete response with Content-Length and "Connection: close".
std::string BuildResponse(int status, std::string_view content_type, std::string_view body);
std::string BuildDenyResponse(const Config& cfg, const DenyDetails& details);
std::string_view StatusText(int status);

}  // namespace rampart::proxy
