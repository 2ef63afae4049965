// The proxy's sockets. One io_context per worker thread; the acceptors live
// on worker 0 and hand connections out round-robin; a connection and its
// upstream stay on one worker, so a Session needs no locks.
//
// A Session's life:
//   head (handshake timeout, header limit) -> InterpretRequest ->
//   CheckDestination -> resolve (static hosts, IP literal, or c-ares on the
//   worker's own loop, see dns_resolver.h) -> "filtered" answers denied ->
//   SSRF filter of every address ->
//   CONNECT: "200", first flight (handshake timeout), CheckFirstFlight |
//   HTTP: nothing more -> connect to the checked addresses in order
//   (connect timeout) -> relay both ways (idle timeout) -> close.
// On an intercept listener the original destination port comes from
// SO_ORIGINAL_DST; a first byte 0x16 means TLS: ClientHello first, SNI as
// the host (InterceptedTls), no "200", denials answered with a TLS alert;
// otherwise an origin-form HTTP request decided by Host
// (InterpretIntercepted).
// The access-log line is written when the Session is destroyed, so every
// connection produces exactly one line however it ends.
#include "rampart/proxy/server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "dns_resolver.h"
#include "rampart/core/log.h"
#include "rampart/proxy/policy.h"

namespace rampart::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kRelayChunk = 16 * 1024;
constexpr size_t kReadChunk = 4096;
constexpr std::chrono::milliseconds kLingerTime{1000};

struct Counters {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> tunnels{0};
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> denied{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> bytes_up{0};
  std::atomic<uint64_t> bytes_down{0};
};

struct Shared {
  AccessLog* log = nullptr;
  Counters counters;
  DnsCounters dns;
  std::atomic<bool> stopping{false};
  mutable std::mutex mu;
  std::shared_ptr<const Config> config;  // guarded by mu

  std::shared_ptr<const Config> Snapshot() const {
    std::lock_guard lock(mu);
    return config;
  }
};

IpAddress FromAsio(const asio::ip::address& a) {
  IpAddress ip;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  } else {
    ip.v6 = true;
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  }
  return ip;
}

asio::ip::address ToAsio(const IpAddress& ip) {
  if (!ip.v6) {
    asio::ip::address_v4::bytes_type b;
    std::copy_n(ip.bytes.begin(), 4, b.begin());
    return asio::ip::address_v4(b);
  }
  asio::ip::address_v6::bytes_type b;
  std::copy_n(ip.bytes.begin(), 16, b.begin());
  return asio::ip::address_v6(b);
}

// Access-log text from hostile bytes: printable ASCII only, so every line
// stays valid UTF-8 JSON.
std::string Printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return out;
}

std::string EndpointText(const tcp::endpoint& ep) {
  IpAddress ip = FromAsio(ep.address());
  std::string host = ip.v6 ? "[" + ip.ToString() + "]" : ip.ToString();
  return host + ":" + std::to_string(ep.port());
}

// Where a connection redirected by the firewall (iptables REDIRECT/DNAT)
// was going: netfilter's SO_ORIGINAL_DST (IPv4) / IP6T_SO_ORIGINAL_DST
// (IPv6), both option 80. nullopt when netfilter knows nothing of it.
std::optional<tcp::endpoint> OriginalDestination(tcp::socket& socket) {
  constexpr int kSoOriginalDst = 80;
  error_code ec;
  bool v6 = socket.local_endpoint(ec).address().is_v6();
  if (ec) return std::nullopt;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
  if (::getsockopt(socket.native_handle(), level, kSoOriginalDst, &ss, &len) != 0) return std::nullopt;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), &in->sin_addr, 4);
    return tcp::endpoint(asio::ip::address_v4(b), ntohs(in->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), &in6->sin6_addr, 16);
    return tcp::endpoint(asio::ip::address_v6(b), ntohs(in6->sin6_port));
  }
  return std::nullopt;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  // intercept: the connection came through an intercept listener (the
  // firewall redirected it; no proxy protocol, HTTP by Host, TLS by SNI).
  Session(Shared& shared, DnsResolver& dns, tcp::socket client, bool intercept)
      : intercept_(intercept),
        shared_(shared),
        dns_(dns),
        client_(std::move(client)),
        upstream_(client_.get_executor()),
        timer_(client_.get_executor()),
        config_(shared.Snapshot()),
        started_(SteadyClock::now()) {
    shared_.counters.connections++;
    record_.time = std::chrono::system_clock::now();
  }

  ~Session() {
    shared_.counters.connections--;
    if (tunnel_counted_) shared_.counters.tunnels--;
    shared_.counters.bytes_up += record_.bytes_up;
    shared_.counters.bytes_down += record_.bytes_down;
    if (record_.decision.empty()) return;  // nothing was asked (a probe or a close)
    if (record_.decision == "allow") shared_.counters.allowed++;
    if (record_.decision == "deny") shared_.counters.denied++;
    if (record_.decision == "error") shared_.counters.failed++;
    record_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started_);
    shared_.log->Write(FormatAccessRecord(record_));
  }

  tcp::socket::executor_type executor() { return client_.get_executor(); }

  void Start() {
    error_code ec;
    tcp::endpoint peer = client_.remote_endpoint(ec);
    if (ec) return Close();
    client_ip_ = FromAsio(peer.address());
    record_.client = EndpointText(peer);
    if (!config_->ClientAllowed(client_ip_)) {
      record_.decision = "deny";
      record_.reason = "client not allowed";
      return Close();
    }
    client_.set_option(tcp::no_delay(true), ec);
    if (intercept_) {
      // Without a redirect, conntrack reports the listener itself as the
      // destination: refusing that also keeps the proxy from looping.
      auto original = OriginalDestination(client_);
      if (original && *original == client_.local_endpoint(ec)) original.reset();
      if (!original) {
        record_.decision = "error";
        record_.reason = "intercept: no original destination (connection was not redirected)";
        return Close();
      }
      original_port_ = original->port();
    }
    head_.resize(config_->limits.max_header_bytes);
    Arm(config_->limits.handshake_timeout);
    ReadHead();
  }

 private:
  enum class Phase { kHead, kResolve, kHello, kConnect, kRelay, kLinger, kDone };

  // --- timers ---------------------------------------------------------

  void Arm(std::chrono::milliseconds after) {
    uint64_t gen = ++timer_gen_;
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), gen](error_code ec) {
      if (!ec && gen == self->timer_gen_) self->OnTimeout();
    });
  }

  void OnTimeout() {
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
    if (phase_ == Phase::kHead && head_len_ == 0) return Close();  // said nothing
    if (phase_ == Phase::kHead) {
      error_code ignored;
      client_.cancel(ignored);  // the pending head read must not race the answer
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

  void ReadHead() {
    if (head_len_ == head_.size()) return Fail(431, "request head too large");
    size_t want = std::min(kReadChunk, head_.size() - head_len_);
    client_.async_read_some(asio::buffer(head_.data() + head_len_, want),
                            [self = shared_from_this()](error_code ec, size_t n) { self->OnHeadRead(ec, n); });
  }

  void OnHeadRead(error_code ec, size_t n) {
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
    if (intercept_ && static_cast<unsigned char>(head_[0]) == 0x16) return OnInterceptedTls();
    std::string_view seen(head_.data(), head_len_);
    auto end = FindHeadEnd(seen.substr(scan_from));
    if (!end) return ReadHead();
    head_end_ = scan_from + *end;
    OnHead();
  }

  void OnHead() {
    auto head = ParseRequestHead(std::string_view(head_.data(), head_end_));
    if (!head.ok()) return Fail(400, head.status().message());
    request_head_ = std::move(head).value();
    record_.bytes_up += head_end_;
    record_.method = request_head_.method;
    Interpreted in = intercept_ ? InterpretIntercepted(request_head_, original_port_) : InterpretRequest(request_head_);
    request_ = std::move(in.request);
    is_connect_ = request_.is_connect;
    record_.host = request_.host.name;
    record_.port = request_.port;
    if (in.error_status == 403) return Deny(in.error, "");
    if (in.error_status != 0) return Fail(in.error_status, in.error);
    Decision d = CheckDestination(*config_, request_.host, request_.port);
    if (!d.allowed) return Deny(d.reason, d.rule);
    record_.rule = d.rule;
    Resolve();
  }

  // --- intercepted TLS ------------------------------------------------------

  // A TLS handshake record on the intercept listener: gather the
  // ClientHello (kHello: handshake timeout, kMaxClientHelloFlight), then
  // decide by its SNI and the original destination port.
  void OnInterceptedTls() {
    intercept_tls_ = true;
    is_connect_ = true;
    record_.method = "TLS";
    record_.port = original_port_;
    flight_.assign(head_.data(), head_len_);
    ReleaseHead();
    phase_ = Phase::kHello;
    CheckFlight();
  }

  void DecideInterceptedTls(const ClientHelloInfo& hello) {
    InterceptedTls tls = HostFromClientHello(hello);
    if (!tls.ok) return Deny(tls.reason, "");
    request_.is_connect = true;
    request_.host = std::move(tls.host);
    request_.port = original_port_;
    record_.host = request_.host.name;
    Decision d = CheckDestination(*config_, request_.host, request_.port);
    if (!d.allowed) return Deny(d.reason, d.rule);
    record_.rule = d.rule;
    Resolve();
  }

  // --- DNS and SSRF -------------------------------------------------------

  void Resolve() {
    phase_ = Phase::kResolve;
    Arm(config_->limits.connect_timeout);
    if (request_.host.is_ip) return OnAddresses({*ParseIp(request_.host.name)});
    if (auto it = config_->hosts.find(request_.host.name); it != config_->hosts.end()) {
      return OnAddresses(it->second);
    }
    // A weak reference: a session that timed out or closed is not kept
    // alive by a lookup still in flight.
    std::weak_ptr<Session> weak = weak_from_this();
    dns_.Resolve(*config_, request_.host.name, [weak](DnsAnswer answer) {
      if (auto self = weak.lock()) self->OnResolved(std::move(answer));
    });
  }

  // NXDOMAIN and block addresses (0.0.0.0, ::, dns.block_addresses) are a
  // filtering resolver's way of saying no: a deny, with its own reason.
  void OnResolved(DnsAnswer answer) {
    if (phase_ != Phase::kResolve) return;  // timed out meanwhile
    if (answer.kind == DnsAnswer::Kind::kNotFound) return Deny("dns: filtered (name not found)", "");
    if (answer.kind == DnsAnswer::Kind::kError) return Fail(502, answer.error);
    if (auto why = FilteredAnswer(config_->dns, answer.addresses)) return Deny("dns: filtered (" + *why + ")", "");
    OnAddresses(answer.addresses);
  }

  // Keeps only the addresses the SSRF rules allow; connects to exactly
  // those, so a second lookup can never swap in another answer.
  void OnAddresses(const std::vector<IpAddress>& addresses) {
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
    phase_ = Phase::kHello;
    Arm(config_->limits.handshake_timeout);
    // Anything the client sent after the CONNECT head is the first flight.
    flight_.assign(head_.data() + head_end_, head_len_ - head_end_);
    ReleaseHead();
    static constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
    asio::async_write(client_, asio::buffer(kEstablished),
                      [self = shared_from_this()](error_code ec, size_t) {
                        if (self->phase_ != Phase::kHello) return;
                        if (ec) return self->Close();
                        self->CheckFlight();
                      });
  }

  // --- tunnels: the first flight ---------------------------------------------

  void CheckFlight() {
    ClientHelloInfo hello = ParseClientHello(flight_);
    if (hello.outcome == ClientHelloInfo::Outcome::kNeedMore) return ReadFlight();
    record_.sni = Printable(hello.sni.substr(0, 255));
    if (intercept_tls_) return DecideInterceptedTls(hello);
    Decision d = CheckFirstFlight(*config_, request_.host, hello);
    if (!d.allowed) {
      // After the 200 there is no page to show: close (the client's TLS
      // handshake fails).
      record_.decision = "deny";
      record_.reason = d.reason;
      return Close();
    }
    Connect();
  }

  void ReadFlight() {
    size_t have = flight_.size();
    flight_.resize(have + kReadChunk);
    client_.async_read_some(asio::buffer(flight_.data() + have, kReadChunk),
                            [self = shared_from_this(), have](error_code ec, size_t n) {
                              if (self->phase_ != Phase::kHello) return;
                              self->flight_.resize(have + (ec ? 0 : n));
                              if (ec) {
                                self->record_.decision = "deny";
                                self->record_.reason = "client closed before ClientHello";
                                return self->Close();
                              }
                              self->CheckFlight();
                            });
  }

  // --- upstream ---------------------------------------------------------------

  void Connect() {
    phase_ = Phase::kConnect;
    Arm(config_->limits.connect_timeout);
    TryConnect(0);
  }

  void TryConnect(size_t index) {
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

  void OnConnected(const tcp::endpoint& ep) {
    record_.upstream = EndpointText(ep);
    record_.decision = "allow";
    error_code ec;
    upstream_.set_option(tcp::no_delay(true), ec);
    std::string first;
    if (is_connect_) {
      first = std::move(flight_);
      record_.bytes_up += first.size();
      shared_.counters.tunnels++;
      tunnel_counted_ = true;
    } else {
      first = BuildOriginHead(request_head_, request_);
      // Body bytes that came with the head, never more than Content-Length:
      // anything after it would be a pipelined request we did not check.
      uint64_t body = request_.framing.content_length;
      size_t have = std::min<uint64_t>(head_len_ - head_end_, body);
      first.append(head_.data() + head_end_, have);
      up_remaining_ = body - have;
      record_.bytes_up += have;
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
                        if (ec) return self->Fail(502, "upstream write failed: " + ec.message());
                        self->StartRelay();
                      });
  }

  // --- relay ------------------------------------------------------------------

  struct Direction {
    std::unique_ptr<char[]> buf;
    bool done = false;
  };

  void StartRelay() {
    phase_ = Phase::kRelay;
    last_activity_ = SteadyClock::now();
    Arm(config_->limits.idle_timeout);
    down_.buf = std::make_unique<char[]>(kRelayChunk);
    Pump(false);
    if (is_connect_ || up_remaining_ > 0) {
      up_.buf = std::make_unique<char[]>(kRelayChunk);
      Pump(true);
    } else {
      up_.done = true;  // the request is complete: read nothing more from the client
    }
  }

  // up: client -> upstream; otherwise upstream -> client.
  void Pump(bool up) {
    tcp::socket& from = up ? client_ : upstream_;
    Direction& dir = up ? up_ : down_;
    size_t want = kRelayChunk;
    if (up && !is_connect_) want = static_cast<size_t>(std::min<uint64_t>(want, up_remaining_));
    from.async_read_some(asio::buffer(dir.buf.get(), want),
                         [self = shared_from_this(), up](error_code ec, size_t n) { self->OnRelayRead(up, ec, n); });
  }

  void OnRelayRead(bool up, error_code ec, size_t n) {
    if (phase_ != Phase::kRelay) return;
    if (ec) return OnRelayEnd(up, ec);
    last_activity_ = SteadyClock::now();
    (up ? record_.bytes_up : record_.bytes_down) += n;
    if (!up && !is_connect_ && record_.status == 0) NoteStatus(std::string_view(down_.buf.get(), n));
    if (up && !is_connect_) up_remaining_ -= n;
    tcp::socket& to = up ? upstream_ : client_;
    Direction& dir = up ? up_ : down_;
    asio::async_write(to, asio::buffer(dir.buf.get(), n), [self = shared_from_this(), up](error_code ec, size_t) {
      if (self->phase_ != Phase::kRelay) return;
      if (ec) return self->OnRelayEnd(up, ec);
      if (up && !self->is_connect_ && self->up_remaining_ == 0) {
        self->up_.done = true;
        return;
      }
      self->Pump(up);
    });
  }

  // EOF passes the half-close on; an error ends both directions.
  void OnRelayEnd(bool up, error_code ec) {
    Direction& dir = up ? up_ : down_;
    dir.done = true;
    if (ec != asio::error::eof) {
      if (record_.reason.empty() && ec != asio::error::operation_aborted) {
        record_.reason = (up ? "client: " : "upstream: ") + ec.message();
      }
      return Close();
    }
    error_code ignored;
    (up ? upstream_ : client_).shutdown(tcp::socket::shutdown_send, ignored);
    // A forwarded request ends when the origin closes its response.
    if ((!is_connect_ && !up) || (up_.done && down_.done)) Close();
  }

  // The origin's status code, for the access log: "HTTP/1.1 200 ...".
  void NoteStatus(std::string_view first) {
    if (first.size() < 12 || first.substr(0, 7) != "HTTP/1.") return;
    int code = 0;
    for (size_t i = 9; i < 12; ++i) {
      if (first[i] < '0' || first[i] > '9') return;
      code = code * 10 + (first[i] - '0');
    }
    record_.status = code;
  }

  // --- answers and endings -------------------------------------------------

  void Deny(const std::string& reason, const std::string& rule) {
    record_.decision = "deny";
    record_.reason = reason;
    record_.rule = rule;
    if (intercept_tls_) return RespondRaw(TlsAlert(kTlsAlertAccessDenied));
    DenyDetails details{request_.host.name.empty() ? "(unknown)" : request_.host.name,
                        client_ip_.ToString(), reason, record_.time};
    Respond(403, BuildDenyResponse(*config_, details));
  }

  void Fail(int status, const std::string& reason) {
    record_.decision = "error";
    record_.reason = reason;
    if (intercept_tls_) return RespondRaw(TlsAlert(kTlsAlertInternalError));
    Respond(status, BuildResponse(status, "text/plain; charset=utf-8", std::string(StatusText(status)) + "\n"));
  }

  void Respond(int status, std::string response) {
    record_.status = status;
    RespondRaw(std::move(response));
  }

  void RespondRaw(std::string response) {
    record_.bytes_down += response.size();
    phase_ = Phase::kLinger;
    ReleaseHead();
    pending_first_ = std::move(response);
    Arm(kLingerTime);
    asio::async_write(client_, asio::buffer(pending_first_), [self = shared_from_this()](error_code ec, size_t) {
      if (ec) return self->Close();
      error_code ignored;
      self->client_.shutdown(tcp::socket::shutdown_send, ignored);
      self->Linger();
    });
  }

  // Reads and drops what the client still sends until it closes (or the
  // linger timer fires), so an unread body does not turn our answer into a
  // TCP reset before the client has read it.
  void Linger() {
    auto buf = std::make_shared<std::array<char, 1024>>();
    client_.async_read_some(asio::buffer(*buf), [self = shared_from_this(), buf](error_code ec, size_t) {
      if (ec || self->phase_ != Phase::kLinger) return self->Close();
      self->Linger();
    });
  }

  void ReleaseHead() {
    head_.clear();
    head_.shrink_to_fit();
    head_len_ = head_end_ = 0;
  }

  void Close() {
    phase_ = Phase::kDone;
    ++timer_gen_;
    error_code ignored;
    timer_.cancel();
    client_.close(ignored);
    upstream_.close(ignored);
  }

  const bool intercept_;
  bool intercept_tls_ = false;  // an intercepted connection that began with a TLS record
  uint16_t original_port_ = 0;  // intercept: the redirected connection's destination port
  Shared& shared_;
  DnsResolver& dns_;
  tcp::socket client_;
  tcp::socket upstream_;
  asio::steady_timer timer_;
  const std::shared_ptr<const Config> config_;
  const SteadyClock::time_point started_;

  Phase phase_ = Phase::kHead;
  uint64_t timer_gen_ = 0;
  IpAddress client_ip_;
  AccessRecord record_;
  std::string head_;
  size_t head_len_ = 0;
  size_t head_end_ = 0;
  RequestHead request_head_;
  ProxyRequest request_;
  bool is_connect_ = false;
  std::vector<tcp::endpoint> candidates_;
  std::string last_connect_error_;
  std::string flight_;
  std::string pending_first_;
  uint64_t up_remaining_ = 0;
  Direction up_, down_;
  SteadyClock::time_point last_activity_;
  bool tunnel_counted_ = false;
};

struct Worker {
  std::unique_ptr<asio::io_context> ioc;
  std::unique_ptr<DnsResolver> resolver;  // after ioc: destroyed before it
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
};

}  // namespace

struct ProxyServer::Impl {
  Shared shared;
  std::vector<Worker> workers;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<bool> intercepting;  // per acceptor: an intercept listener
  std::vector<uint16_t> ports;
  size_t next_worker = 0;  // only touched on worker 0
  bool running = false;

  Status Bind(const HostPort& hp, bool intercept);
  void Accept(tcp::acceptor& acceptor, bool intercept);
  void Dispatch(Worker& worker, tcp::socket socket, bool intercept);
};

Status ProxyServer::Impl::Bind(const HostPort& hp, bool intercept) {
  auto ip = ParseIp(hp.host);
  if (!ip) return Status::Validation("listen address " + hp.host + " is not an IP address");
  tcp::endpoint ep(ToAsio(*ip), hp.port);
  auto acceptor = std::make_unique<tcp::acceptor>(*workers[0].ioc);
  error_code ec;
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && ip->v6) acceptor->set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Error(ErrorCode::kUnavailable,
                         "cannot listen on " + EndpointText(ep) + ": " + ec.message());
  }
  ports.push_back(acceptor->local_endpoint(ec).port());
  acceptors.push_back(std::move(acceptor));
  intercepting.push_back(intercept);
  return Status::Ok();
}

void ProxyServer::Impl::Accept(tcp::acceptor& acceptor, bool intercept) {
  Worker& target = workers[next_worker];
  next_worker = (next_worker + 1) % workers.size();
  acceptor.async_accept(*target.ioc, [this, &acceptor, &target, intercept](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || shared.stopping) return;
    if (!ec) Dispatch(target, std::move(socket), intercept);
    // EMFILE and friends: keep accepting; the next attempt may succeed.
    Accept(acceptor, intercept);
  });
}

void ProxyServer::Impl::Dispatch(Worker& worker, tcp::socket socket, bool intercept) {
  auto cfg = shared.Snapshot();
  if (shared.counters.connections.load() >= cfg->limits.max_connections) {
    error_code ignored;
    socket.close(ignored);
    shared.counters.failed++;
    return;
  }
  auto session = std::make_shared<Session>(shared, *worker.resolver, std::move(socket), intercept);
  // Start on the socket's own worker.
  asio::post(session->executor(), [session] { session->Start(); });
}

ProxyServer::ProxyServer(std::shared_ptr<const Config> config, AccessLog* log)
    : impl_(std::make_unique<Impl>()) {
  impl_->shared.config = std::move(config);
  impl_->shared.log = log;
}

ProxyServer::~ProxyServer() { Stop(); }

Status ProxyServer::Start() {
  auto cfg = impl_->shared.Snapshot();
  unsigned n = cfg->workers != 0 ? cfg->workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    Worker w;
    w.ioc = std::make_unique<asio::io_context>(1);
    w.resolver = std::make_unique<DnsResolver>(*w.ioc, &impl_->shared.dns);
    w.guard.emplace(w.ioc->get_executor());
    impl_->workers.push_back(std::move(w));
  }
  for (bool intercept : {false, true}) {
    for (const auto& hp : intercept ? cfg->intercept_listen : cfg->listen) {
      Status st = impl_->Bind(hp, intercept);
      if (!st.ok()) {
        impl_->acceptors.clear();
        impl_->workers.clear();
        return st;
      }
    }
  }
  for (size_t i = 0; i < impl_->acceptors.size(); ++i) impl_->Accept(*impl_->acceptors[i], impl_->intercepting[i]);
  for (auto& w : impl_->workers) {
    asio::io_context* ioc = w.ioc.get();
    w.thread = std::thread([ioc] { ioc->run(); });
  }
  impl_->running = true;
  return Status::Ok();
}

void ProxyServer::Reload(std::shared_ptr<const Config> config) {
  std::lock_guard lock(impl_->shared.mu);
  impl_->shared.config = std::move(config);
}

std::shared_ptr<const Config> ProxyServer::config() const { return impl_->shared.Snapshot(); }

void ProxyServer::Stop() {
  if (!impl_->running) return;
  impl_->running = false;
  impl_->shared.stopping = true;
  auto drain = impl_->shared.Snapshot()->limits.drain_timeout;
  asio::post(*impl_->workers[0].ioc, [this] {
    error_code ignored;
    for (auto& a : impl_->acceptors) a->close(ignored);
  });
  for (auto& w : impl_->workers) w.guard.reset();
  // Open connections finish on their own until the drain deadline.
  auto deadline = SteadyClock::now() + drain;
  while (impl_->shared.counters.connections.load() > 0 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& w : impl_->workers) w.ioc->stop();
  for (auto& w : impl_->workers) {
    if (w.thread.joinable()) w.thread.join();
  }
  impl_->acceptors.clear();
  // Destroying the io_contexts destroys the sessions still open.
  impl_->workers.clear();
}

std::vector<uint16_t> ProxyServer::ports() const { return impl_->ports; }

ProxyStats ProxyServer::stats() const {
  const Counters& c = impl_->shared.counters;
  const DnsCounters& d = impl_->shared.dns;
  return ProxyStats{c.connections.load(), c.tunnels.load(),    c.allowed.load(),    c.denied.load(),
                    c.failed.load(),      c.bytes_up.load(),   c.bytes_down.load(), d.cache_hits.load(),
                    d.failures.load(),    d.latency.Read()};
}

}  // namespace rampart::proxy
