// Intercept listeners: connections the firewall redirected to the proxy.
// The destination port comes from SO_ORIGINAL_DST; plain HTTP is decided
// by Host (in session.cc, InterpretIntercepted), TLS by the ClientHello's
// SNI here. See session.h.
#include <utility>

#include "session.h"
#include "socket_util.h"

namespace rampart::proxy {

using boost::system::error_code;

// Without a redirect, conntrack reports the listener itself as the
// destination: refusing that also keeps the proxy from looping.
bool Session::TakeOriginalDestination() {
  error_code ec;
  auto original = OriginalDestination(client_.socket());
  if (original && *original == client_.socket().local_endpoint(ec)) original.reset();
  if (!original) {
    record_.decision = "error";
    record_.reason = "intercept: no original destination (connection was not redirected)";
    return false;
  }
  original_port_ = original->port();
  return true;
}

// --- intercepted TLS ------------------------------------------------------

// A TLS handshake record on the intercept listener: gather the
// ClientHello (kHello: handshake timeout, kMaxClientHelloFlight), then
// decide by its SNI and the original destination port.
void Session::OnInterceptedTls() {
  intercept_tls_ = true;
  is_connect_ = true;
  record_.method = "TLS";
  record_.port = original_port_;
  flight_.assign(HeadBytes(0, head_len_));
  ReleaseHead();
  phase_ = Phase::kHello;
  CheckFlight();
}

void Session::DecideInterceptedTls(const ClientHelloInfo& hello) {
  InterceptedTls tls = HostFromClientHello(hello);
  if (!tls.ok) return Deny(tls.reason, "");
  request_.is_connect = true;
  request_.host = std::move(tls.host);
  request_.port = original_port_;
  record_.host = request_.host.name;
  Decision d = CheckDestination(*config_, client_ip_, request_.host, request_.port);
  record_.client_rule = d.client_rule;
  if (!d.allowed) return Deny(d.reason, d.rule);
  record_.rule = d.rule;
  Resolve();
}

}  // namespace rampart::proxy
