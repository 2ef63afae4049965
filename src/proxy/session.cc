// The Session's spine: life and access-log record, timers, the request
// head, the policy decision, DNS + SSRF, the upstream connect, and the
// answers and endings every mode shares. See session.h.
#include "session.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <boost/asio/write.hpp>

#include "socket_util.h"
#include "tls_server.h"

namespace rampart::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

Session::Session(Shared& shared, WorkerLocal& local, tcp::socket client, Listener listener)
    : intercept_(listener == Listener::kIntercept),
      tls_listener_(listener == Listener::kTls),
      shared_(shared),
      local_(local),
      client_(std::move(client)),
      upstream_(client_.socket().get_executor()),
      timer_(client_.socket().get_executor()),
      config_(shared.Snapshot()),
      started_(SteadyClock::now()) {
  shared_.counters.connections++;
  record_.time = std::chrono::system_clock::now();
}

Session::~Session() {
  shared_.counters.connections--;
  if (tunnel_counted_) shared_.counters.tunnels--;
  WriteRecord();
}

void Session::Start() {
  error_code ec;
  tcp::endpoint peer = client_.socket().remote_endpoint(ec);
  if (ec) return Close();
  client_ip_ = FromAsio(peer.address());
  record_.client = EndpointText(peer);
  if (!config_->ClientAllowed(client_ip_)) {
    record_.decision = "deny";
    record_.reason = "client not allowed";
    return Close();
  }
  client_.socket().set_option(tcp::no_delay(true), ec);
  if (intercept_ && !TakeOriginalDestination()) return Close();
  if (tls_listener_) return StartTls();
  Arm(config_->limits.handshake_timeout);
  ReadHead();
}

// A TLS listener: the handshake (with the context of the snapshot this
// connection started with) comes first; the verified certificate's names
// then stay with the connection, and every request on it is checked with
// them against the client rules of its own snapshot, as long as that
// snapshot trusts client certificates as the handshake's did.
void Session::StartTls() {
  const std::shared_ptr<const TlsServerContext>& tls = config_->tls.context;
  if (tls == nullptr) {
    // Listeners are bound at start; a reload that dropped tls_listen and
    // tls leaves this one without a certificate until the restart.
    record_.decision = "error";
    record_.reason = "tls listener: the running config has no tls settings";
    return Close();
  }
  standing_.emplace(tls);
  phase_ = Phase::kHandshake;
  Arm(config_->limits.handshake_timeout);
  client_.AsyncHandshake(tls->get(), [self = shared_from_this()](error_code ec) { self->OnTlsHandshake(ec); });
}

void Session::OnTlsHandshake(error_code ec) {
  if (phase_ != Phase::kHandshake) return;
  if (ec) {
    const ClientStream::TlsFailure& why = client_.tls_failure();
    if (!why.silent && ec != asio::error::operation_aborted) {
      record_.decision = why.certificate_refused ? "deny" : "error";
      record_.reason = why.reason;
    }
    return Close();
  }
  cert_names_ = client_.PeerNames();
  if (!cert_names_.empty()) record_.client_cert = cert_names_.front();
  phase_ = Phase::kHead;
  Arm(config_->limits.handshake_timeout);
  ReadHead();
}

// On a TLS listener: why the connection's client certificate (or its
// lack of one) no longer stands under `now`'s client trust, or "" when it
// does (see ClientStandingLost in tls_server.h). Names, or their absence,
// established under trust that no longer admits them must not decide a
// request or keep a tunnel open. The certificate is verified again only
// when `now` brings another TLS context than the one it last stood under
// (see ClientStanding), not on every request or review.
std::string Session::StandingLostUnder(const Config& now) {
  if (!tls_listener_ || !standing_) return "";
  return standing_->LostUnder(client_.ssl(), now.tls.context);
}

// The access-log line and counters of the current request (a keep-alive
// connection writes one per request, the last from the destructor).
void Session::WriteRecord() {
  shared_.counters.bytes_up += record_.bytes_up;
  shared_.counters.bytes_down += record_.bytes_down;
  if (record_.decision.empty()) return;  // nothing was asked (a probe or a close)
  if (record_.decision == "allow") shared_.counters.allowed++;
  if (record_.decision == "deny") shared_.counters.denied++;
  if (record_.decision == "error") shared_.counters.failed++;
  if (!shared_.log->enabled()) return;
  record_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started_);
  shared_.log->Write(config_->squid_log_format ? FormatSquidRecord(record_) : FormatAccessRecord(record_));
}

// --- timers ---------------------------------------------------------

// The current phase times out `after` from now. Phases change several
// times per forwarded request and mostly to a later deadline, so a wait
// already in flight that expires no later is left alone: when it fires
// early it waits again for the rest. Only an earlier deadline restarts
// the wait (each restart costs a cancelled wait, and often a system call
// to move the worker's timer).
void Session::Arm(std::chrono::milliseconds after) {
  deadline_ = SteadyClock::now() + after;
  if (timer_waiting_ && timer_expiry_ <= deadline_) return;
  StartTimer();
}

void Session::StartTimer() {
  uint64_t gen = ++timer_gen_;
  timer_waiting_ = true;
  timer_expiry_ = deadline_;
  timer_.expires_at(deadline_);
  timer_.async_wait([self = shared_from_this(), gen](error_code ec) {
    if (gen != self->timer_gen_) return;  // replaced by a later StartTimer, or closed
    self->timer_waiting_ = false;
    if (ec) return;
    if (SteadyClock::now() < self->deadline_) return self->StartTimer();
    self->OnTimeout();
  });
}

void Session::OnTimeout() {
  if (phase_ == Phase::kRelay) {
    auto idle = SteadyClock::now() - last_activity_;
    auto limit = config_->limits.idle_timeout;
    if (idle < limit) {
      return Arm(std::chrono::duration_cast<std::chrono::milliseconds>(limit - idle) +
                 std::chrono::milliseconds(1));
    }
    record_.reason = record_.reason.empty() ? "idle timeout" : record_.reason;
    return Close();
  }
  if (phase_ == Phase::kLinger || phase_ == Phase::kDone) return Close();
  if (phase_ == Phase::kHandshake) {
    record_.decision = "error";
    record_.reason = "timeout in the TLS handshake";
    return Close();
  }
  if (phase_ == Phase::kHead && head_len_ == 0) return Close();  // said nothing
  if (phase_ == Phase::kHead) {
    client_.Cancel();  // the pending head read must not race the answer
    return Fail(408, "timeout reading the request head");
  }
  if (phase_ == Phase::kResolve || (phase_ == Phase::kConnect && (!is_connect_ || intercept_tls_))) {
    return Fail(504, "timeout resolving or connecting upstream");
  }
  record_.reason = phase_ == Phase::kHello ? "timeout waiting for ClientHello" : "upstream connect timeout";
  if (phase_ == Phase::kHello) record_.decision = "deny";
  Close();
}

// --- request head -----------------------------------------------------

// The head buffer grows a read at a time, up to the header limit.
void Session::ReadHead() {
  size_t limit = config_->limits.max_header_bytes;
  if (head_len_ >= limit) return Fail(431, "request head too large");
  size_t want = std::min(kReadChunk, limit - head_len_);
  if (head_len_ + want > head_cap_) {
    size_t cap = std::max(head_len_ + want, std::min(limit, 2 * head_cap_));
    auto grown = std::make_unique_for_overwrite<char[]>(cap);
    if (head_len_ > 0) std::memcpy(grown.get(), head_.get(), head_len_);
    head_ = std::move(grown);
    head_cap_ = cap;
  }
  client_.AsyncReadSome(asio::buffer(head_.get() + head_len_, want),
                        [self = shared_from_this()](error_code ec, size_t n) { self->OnHeadRead(ec, n); });
}

void Session::OnHeadRead(error_code ec, size_t n) {
  if (phase_ != Phase::kHead) return;
  if (ec) {
    if (head_len_ > 0) {
      record_.decision = "error";
      record_.reason = "client closed before a full request head";
    }
    return Close();
  }
  size_t scan_from = head_len_ >= 3 ? head_len_ - 3 : 0;
  head_len_ += n;
  // Only a connection's first bytes can begin TLS; later a request follows.
  if (intercept_ && first_request_ && static_cast<unsigned char>(head_[0]) == 0x16) return OnInterceptedTls();
  auto end = FindHeadEnd(HeadBytes(scan_from, head_len_));
  if (!end) return ReadHead();
  head_end_ = scan_from + *end;
  OnHead();
}

void Session::OnHead() {
  if (!first_request_ || tls_listener_) {
    // A keep-alive connection's later request is decided by the config
    // running when it arrived, not when the connection began waiting. So
    // is a TLS connection's first: its handshake and head may take a while
    // after accept, and StandingLostUnder catches a reload in between.
    config_ = shared_.Snapshot();
    if (!config_->ClientAllowed(client_ip_)) {
      record_.decision = "deny";
      record_.reason = "client not allowed";
      return Close();
    }
  }
  auto head = ParseRequestHead(HeadBytes(0, head_end_));
  if (!head.ok()) return Fail(400, head.status().message());
  request_head_ = std::move(head).value();
  record_.bytes_up += head_end_;
  record_.method = request_head_.method;
  Interpreted in = intercept_ ? InterpretIntercepted(request_head_, original_port_) : InterpretRequest(request_head_);
  request_ = std::move(in.request);
  is_connect_ = request_.is_connect;
  record_.host = request_.host.name;
  record_.port = request_.port;
  record_.path = request_.path.substr(0, request_.path.find('?'));
  // An intercepted connection keeps alive too: each request is decided by
  // its own Host, and a pooled origin connection is only ever reused for
  // the same checked address and host (a Host naming another origin gets
  // its own check, resolution and connection).
  keep_alive_ = !is_connect_ && in.error_status == 0 && ClientWantsKeepAlive(request_head_);
  if (in.error_status == 403) return Deny(in.error, "");
  if (in.error_status != 0) return Fail(in.error_status, in.error);
  if (std::string why = StandingLostUnder(*config_); !why.empty()) {
    // Refused rather than decided without the names: the client may have
    // no standing at all under the new trust. A new connection handshakes
    // under it.
    keep_alive_ = false;
    return Deny("tls: client certificate trust changed by a reload (" + why + "); reconnect", "");
  }
  Decision d = CheckDestination(*config_, client_ip_, cert_names_, request_.host, request_.port);
  record_.client_rule = d.client_rule;
  rule_cert_name_ = d.client_cert;
  if (!d.client_cert.empty()) record_.client_cert = d.client_cert;
  if (!d.allowed) return Deny(d.reason, d.rule);
  record_.rule = d.rule;
  Resolve();
}

// --- DNS and SSRF -------------------------------------------------------

// Answers known at once (IP literals, `hosts`, the DNS cache) go straight
// on, and the next step arms its own timer.
void Session::Resolve() {
  phase_ = Phase::kResolve;
  if (request_.host.is_ip) return OnAddresses({*ParseIp(request_.host.name)});
  if (auto it = config_->hosts.find(request_.host.name); it != config_->hosts.end()) {
    return OnAddresses(it->second);
  }
  // A weak reference: a session that timed out or closed is not kept
  // alive by a lookup still in flight.
  std::weak_ptr<Session> weak = weak_from_this();
  Arm(config_->limits.connect_timeout);
  local_.dns.Resolve(*config_, request_.host.name, [weak](DnsAnswer answer) {
    if (auto self = weak.lock()) self->OnResolved(std::move(answer));
  });
}

// NXDOMAIN and block addresses (0.0.0.0, ::, dns.block_addresses) are a
// filtering resolver's way of saying no: a deny, with its own reason.
void Session::OnResolved(DnsAnswer answer) {
  if (phase_ != Phase::kResolve) return;  // timed out meanwhile
  if (answer.kind == DnsAnswer::Kind::kNotFound) return Deny("dns: filtered (name not found)", "");
  if (answer.kind == DnsAnswer::Kind::kError) return Fail(502, answer.error);
  if (auto why = FilteredAnswer(config_->dns, answer.addresses)) return Deny("dns: filtered (" + *why + ")", "");
  OnAddresses(answer.addresses);
}

// Keeps only the addresses the SSRF rules allow; connects to exactly
// those, so a second lookup can never swap in another answer.
void Session::OnAddresses(const std::vector<IpAddress>& addresses) {
  std::string refused;
  for (const auto& a : addresses) {
    if (const char* why = config_->RefuseAddress(a)) {
      if (refused.empty()) refused = std::string(why) + " address " + a.ToString();
      continue;
    }
    tcp::endpoint ep(ToAsio(a), request_.port);
    if (std::find(candidates_.begin(), candidates_.end(), ep) == candidates_.end()) candidates_.push_back(ep);
  }
  if (candidates_.empty()) return Deny(refused.empty() ? "dns: no address" : "ssrf: " + refused, "");
  // Intercepted TLS already holds its ClientHello: no 200 to send.
  if (!is_connect_ || intercept_tls_) return Connect();
  SendEstablished();
}

// --- upstream ---------------------------------------------------------------

void Session::Connect() {
  phase_ = Phase::kConnect;
  Arm(config_->limits.connect_timeout);  // a pooled connection's first write is bounded too
  if (!is_connect_ && TakePooledUpstream()) return;
  TryConnect(0);
}

// Forwarded HTTP: an idle connection the worker keeps to one of the
// checked addresses, made for this very host, in the candidates' order.
bool Session::TakePooledUpstream() {
  for (const tcp::endpoint& ep : candidates_) {
    auto socket = local_.upstreams.Take(UpstreamPool::Key(ep, request_.host.name),
                                        config_->limits.upstream_idle_timeout);
    if (!socket) continue;
    upstream_ = std::move(*socket);
    upstream_reused_ = true;
    OnConnected(ep);
    return true;
  }
  return false;
}

void Session::TryConnect(size_t index) {
  if (index >= candidates_.size()) {
    if (!is_connect_ || intercept_tls_) return Fail(502, "upstream connect failed: " + last_connect_error_);
    record_.decision = "error";
    record_.reason = "upstream connect failed: " + last_connect_error_;
    return Close();
  }
  error_code ignored;
  upstream_.close(ignored);
  upstream_.async_connect(candidates_[index], [self = shared_from_this(), index](error_code ec) {
    if (self->phase_ != Phase::kConnect) return;
    if (ec) {
      self->last_connect_error_ = ec.message();
      return self->TryConnect(index + 1);
    }
    self->OnConnected(self->candidates_[index]);
  });
}

void Session::OnConnected(const tcp::endpoint& ep) {
  record_.upstream = EndpointText(ep);
  record_.decision = "allow";
  error_code ec;
  if (!upstream_reused_) upstream_.set_option(tcp::no_delay(true), ec);  // a pooled one has it already
  std::string first;
  if (is_connect_) {
    first = std::move(flight_);
    record_.bytes_up += first.size();
    shared_.counters.tunnels++;
    tunnel_counted_ = true;
  } else {
    upstream_key_ = record_.upstream + " " + request_.host.name;  // UpstreamPool::Key(ep, host)
    first = BuildOriginHead(request_head_, request_, config_->limits.upstream_idle_connections > 0);
  }
  if (!is_connect_ && !retried_) {
    up_remaining_ = request_.framing.content_length;
    // Body bytes that came with the head, never more than the body:
    // anything after it is the next request, checked on its own.
    std::string_view extra = HeadBytes(head_end_, head_len_);
    size_t body = ConsumeRequestBody(extra);
    if (up_chunks_.failed()) return Fail(400, "malformed chunked request body");
    first.append(extra.substr(0, body));
    carry_.assign(extra.substr(body));
    record_.bytes_up += body;
    ReleaseHead();
  }
  pending_first_ = std::move(first);
  asio::async_write(upstream_, asio::buffer(pending_first_),
                    [self = shared_from_this()](error_code ec, size_t) {
                      self->pending_first_.clear();
                      self->pending_first_.shrink_to_fit();
                      if (ec && self->is_connect_) {
                        self->record_.reason = "upstream write failed: " + ec.message();
                        return self->Close();
                      }
                      if (ec && self->RetryOnFreshUpstream()) return;
                      if (ec) return self->Fail(502, "upstream write failed: " + ec.message());
                      if (self->is_connect_) return self->StartTunnel();
                      self->StartExchange();
                    });
}

void Session::NoteRelayError(bool client_side, error_code ec) {
  if (record_.reason.empty() && ec != asio::error::operation_aborted) {
    record_.reason = (client_side ? "client: " : "upstream: ") + ec.message();
  }
}

// --- answers and endings -------------------------------------------------

void Session::Deny(const std::string& reason, const std::string& rule) {
  record_.decision = "deny";
  record_.reason = reason;
  record_.rule = rule;
  if (intercept_tls_) return RespondRaw(TlsAlert(kTlsAlertAccessDenied));
  DenyDetails details{request_.host.name.empty() ? "(unknown)" : request_.host.name,
                      client_ip_.ToString(), reason, record_.time};
  // A denied request without a body leaves the connection clean: the
  // client may go on with its next request.
  bool keep = keep_alive_ && !request_.framing.chunked && request_.framing.content_length == 0 &&
              !shared_.stopping;
  if (keep) carry_.assign(HeadBytes(head_end_, head_len_));
  record_.status = 403;
  RespondRaw(BuildDenyResponse(*config_, details, keep), keep);
}

void Session::Fail(int status, const std::string& reason) {
  record_.decision = "error";
  record_.reason = reason;
  if (phase_ == Phase::kRelay) {
    // A forwarded request failed before its response began: stop the
    // request body relay so the answer is the only thing left running.
    error_code ignored;
    client_.Cancel();
    upstream_.close(ignored);
  }
  if (intercept_tls_) return RespondRaw(TlsAlert(kTlsAlertInternalError));
  Respond(status, BuildResponse(status, "text/plain; charset=utf-8", std::string(StatusText(status)) + "\n"));
}

void Session::Respond(int status, std::string response) {
  record_.status = status;
  RespondRaw(std::move(response));
}

// keep_open: the connection takes another request after this answer.
void Session::RespondRaw(std::string response, bool keep_open) {
  record_.bytes_down += response.size();
  phase_ = Phase::kLinger;
  ReleaseHead();
  pending_first_ = std::move(response);
  Arm(kLingerTime);
  client_.AsyncWrite(asio::buffer(pending_first_), [self = shared_from_this(), keep_open](error_code ec, size_t) {
    if (ec) return self->Close();
    if (keep_open && self->phase_ == Phase::kLinger) return self->NextRequest();
    self->client_.ShutdownSend();
    self->Linger();
  });
}

// Reads and drops what the client still sends until it closes (or the
// linger timer fires), so an unread body does not turn our answer into a
// TCP reset before the client has read it.
void Session::Linger() {
  auto buf = std::make_shared<std::array<char, 1024>>();
  client_.AsyncReadSome(asio::buffer(*buf), [self = shared_from_this(), buf](error_code ec, size_t) {
    if (ec || self->phase_ != Phase::kLinger) return self->Close();
    self->Linger();
  });
}

void Session::ReleaseHead() {
  head_.reset();
  head_cap_ = head_len_ = head_end_ = 0;
}

void Session::Close() {
  phase_ = Phase::kDone;
  ++timer_gen_;
  timer_waiting_ = false;
  error_code ignored;
  timer_.cancel();
  client_.Close();
  upstream_.close(ignored);
}

}  // namespace rampart::proxy
