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
//   (connect timeout) -> tunnel: relay both ways (idle timeout) -> close;
//   forwarded HTTP: one exchange (request body up, response head parsed
//   and rewritten, response body down, both by their framing) -> on a
//   keep-alive connection the next request from the start (checked on
//   its own, with the config snapshot of its time), else close.
// On an intercept listener the original destination port comes from
// SO_ORIGINAL_DST; a first byte 0x16 means TLS: ClientHello first, SNI as
// the host (InterceptedTls), no "200", denials answered with a TLS alert;
// otherwise an origin-form HTTP request decided by Host
// (InterpretIntercepted).
// The access-log line of the last request is written when the Session is
// destroyed (earlier ones when the next request starts), so every request
// produces exactly one line however its connection ends.
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
#include "rampart/proxy/http_body.h"
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
    WriteRecord();
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

  // The access-log line and counters of the current request (a keep-alive
  // connection writes one per request, the last from the destructor).
  void WriteRecord() {
    shared_.counters.bytes_up += record_.bytes_up;
    shared_.counters.bytes_down += record_.bytes_down;
    if (record_.decision.empty()) return;  // nothing was asked (a probe or a close)
    if (record_.decision == "allow") shared_.counters.allowed++;
    if (record_.decision == "deny") shared_.counters.denied++;
    if (record_.decision == "error") shared_.counters.failed++;
    record_.duration = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started_);
    shared_.log->Write(config_->squid_log_format ? FormatSquidRecord(record_) : FormatAccessRecord(record_));
  }

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
    record_.path = request_.path.substr(0, request_.path.find('?'));
    // Intercepted connections stay one request each: the firewall chose
    // their destination, and a later request could name another.
    keep_alive_ = !intercept_ && !is_connect_ && in.error_status == 0 && ClientWantsKeepAlive(request_head_);
    if (in.error_status == 403) return Deny(in.error, "");
    if (in.error_status != 0) return Fail(in.error_status, in.error);
    Decision d = CheckDestination(*config_, client_ip_, request_.host, request_.port);
    record_.client_rule = d.client_rule;
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
    Decision d = CheckDestination(*config_, client_ip_, request_.host, request_.port);
    record_.client_rule = d.client_rule;
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
      up_remaining_ = request_.framing.content_length;
      // Body bytes that came with the head, never more than the body:
      // anything after it is the next request, checked on its own.
      std::string_view extra(head_.data() + head_end_, head_len_ - head_end_);
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
                        if (ec) return self->Fail(502, "upstream write failed: " + ec.message());
                        if (self->is_connect_) return self->StartTunnel();
                        self->StartExchange();
                      });
  }

  // --- tunnels ------------------------------------------------------------------

  struct Direction {
    std::unique_ptr<char[]> buf;
    bool done = false;
  };

  // Each direction waits for readability without a buffer, then reads what
  // is there into a kRelayChunk buffer and writes it on; the buffer is
  // dropped as soon as a read would block, so an idle tunnel holds no relay
  // memory and a busy one at most kRelayChunk per direction.
  void StartTunnel() {
    phase_ = Phase::kRelay;
    last_activity_ = SteadyClock::now();
    Arm(config_->limits.idle_timeout);
    error_code ec;
    client_.non_blocking(true, ec);
    if (!ec) upstream_.non_blocking(true, ec);
    if (ec) {
      record_.reason = "cannot set up the relay: " + ec.message();
      return Close();
    }
    WaitReadable(false);
    WaitReadable(true);
  }

  // up: client -> upstream; otherwise upstream -> client.
  void WaitReadable(bool up) {
    (up ? up_ : down_).buf.reset();
    tcp::socket& from = up ? client_ : upstream_;
    from.async_wait(tcp::socket::wait_read, [self = shared_from_this(), up](error_code ec) {
      if (self->phase_ != Phase::kRelay) return;
      if (ec) return self->OnRelayEnd(up, ec);
      self->ReadNow(up);
    });
  }

  // Reads without blocking; with nothing there, goes back to waiting.
  void ReadNow(bool up) {
    tcp::socket& from = up ? client_ : upstream_;
    Direction& dir = up ? up_ : down_;
    if (!dir.buf) dir.buf = std::make_unique<char[]>(kRelayChunk);
    error_code ec;
    size_t n = from.read_some(asio::buffer(dir.buf.get(), kRelayChunk), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return WaitReadable(up);
    if (ec) return OnRelayEnd(up, ec);
    last_activity_ = SteadyClock::now();
    (up ? record_.bytes_up : record_.bytes_down) += n;
    tcp::socket& to = up ? upstream_ : client_;
    asio::async_write(to, asio::buffer(dir.buf.get(), n), [self = shared_from_this(), up](error_code ec, size_t) {
      if (self->phase_ != Phase::kRelay) return;
      if (ec) return self->OnRelayEnd(up, ec);
      self->ReadNow(up);
    });
  }

  // EOF passes the half-close on; an error ends both directions.
  void OnRelayEnd(bool up, error_code ec) {
    Direction& dir = up ? up_ : down_;
    dir.done = true;
    if (ec != asio::error::eof) {
      NoteRelayError(up, ec);
      return Close();
    }
    error_code ignored;
    (up ? upstream_ : client_).shutdown(tcp::socket::shutdown_send, ignored);
    if (up_.done && down_.done) Close();
  }

  void NoteRelayError(bool client_side, error_code ec) {
    if (record_.reason.empty() && ec != asio::error::operation_aborted) {
      record_.reason = (client_side ? "client: " : "upstream: ") + ec.message();
    }
  }

  // --- forwarded HTTP: one exchange ----------------------------------------------
  //
  // The request body goes up (Content-Length or chunked, relayed as sent)
  // while the response comes down: its head is parsed and rewritten
  // (hop-by-hop fields, Connection), its body relayed to its end. Then,
  // if the client wants it and both bodies ended cleanly, the connection
  // takes the next request (NextRequest); otherwise it closes.

  void StartExchange() {
    phase_ = Phase::kRelay;
    last_activity_ = SteadyClock::now();
    Arm(config_->limits.idle_timeout);
    down_.buf = std::make_unique<char[]>(kRelayChunk);
    ReadResponse();
    if (up_complete_) return;
    up_.buf = std::make_unique<char[]>(kRelayChunk);
    PumpRequestBody();
  }

  // How many of `bytes` belong to the request body; notes its end.
  size_t ConsumeRequestBody(std::string_view bytes) {
    size_t n = 0;
    if (request_.framing.chunked) {
      n = up_chunks_.Feed(bytes);
      up_complete_ = up_chunks_.done();
    } else {
      n = static_cast<size_t>(std::min<uint64_t>(bytes.size(), up_remaining_));
      up_remaining_ -= n;
      up_complete_ = up_remaining_ == 0;
    }
    return n;
  }

  // The same for the response body; kUntilClose takes everything.
  size_t ConsumeResponseBody(std::string_view bytes) {
    using Kind = ResponseFraming::Kind;
    size_t n = bytes.size();
    if (response_framing_.kind == Kind::kChunked) {
      n = down_chunks_.Feed(bytes);
      down_complete_ = down_chunks_.done();
    } else if (response_framing_.kind == Kind::kLength) {
      n = static_cast<size_t>(std::min<uint64_t>(bytes.size(), down_remaining_));
      down_remaining_ -= n;
      down_complete_ = down_remaining_ == 0;
    } else if (response_framing_.kind == Kind::kNone) {
      n = 0;
      down_complete_ = true;
    }
    return n;
  }

  void PumpRequestBody() {
    size_t want = kRelayChunk;
    if (!request_.framing.chunked) want = static_cast<size_t>(std::min<uint64_t>(want, up_remaining_));
    client_.async_read_some(asio::buffer(up_.buf.get(), want), [self = shared_from_this()](error_code ec, size_t n) {
      self->OnRequestBodyRead(ec, n);
    });
  }

  void OnRequestBodyRead(error_code ec, size_t n) {
    if (phase_ != Phase::kRelay) return;
    if (ec) {
      // The client stopped before its body ended: the request cannot be
      // completed, so neither can the exchange.
      if (ec == asio::error::eof && record_.reason.empty()) record_.reason = "client closed before the request body ended";
      NoteRelayError(true, ec);
      return Close();
    }
    last_activity_ = SteadyClock::now();
    std::string_view got(up_.buf.get(), n);
    size_t body = ConsumeRequestBody(got);
    if (up_chunks_.failed()) {
      record_.decision = "error";
      record_.reason = "malformed chunked request body";
      return Close();
    }
    carry_.append(got.substr(body));  // pipelined: the next request's bytes
    record_.bytes_up += body;
    up_writing_ = true;
    asio::async_write(upstream_, asio::buffer(up_.buf.get(), body), [self = shared_from_this()](error_code ec, size_t) {
      self->up_writing_ = false;
      if (self->phase_ != Phase::kRelay) return;
      if (ec) {
        self->NoteRelayError(false, ec);
        return self->Close();
      }
      if (self->up_complete_) {
        self->up_.buf.reset();
        return self->MaybeFinishExchange();
      }
      self->PumpRequestBody();
    });
  }

  void ReadResponse() {
    if (!down_.buf) down_.buf = std::make_unique<char[]>(kRelayChunk);
    upstream_.async_read_some(asio::buffer(down_.buf.get(), kRelayChunk),
                              [self = shared_from_this()](error_code ec, size_t n) { self->OnResponseRead(ec, n); });
  }

  void OnResponseRead(error_code ec, size_t n) {
    if (phase_ != Phase::kRelay) return;
    if (ec) return OnResponseEnd(ec);
    last_activity_ = SteadyClock::now();
    std::string_view got(down_.buf.get(), n);
    if (!response_started_) {
      response_head_.append(got);
      return OnResponseHeadBytes();
    }
    size_t body = ConsumeResponseBody(got);
    if (down_chunks_.failed()) {
      record_.reason = "malformed chunked response body";
      return Close();
    }
    SendDown(std::string(got.substr(0, body)));
  }

  // Response head bytes so far in response_head_: interim 1xx heads are
  // passed on and dropped; the final head starts the response.
  void OnResponseHeadBytes() {
    auto end = FindHeadEnd(response_head_);
    if (!end) {
      if (response_head_.size() >= config_->limits.max_header_bytes) return Fail(502, "upstream response head too large");
      return ReadResponse();
    }
    auto head = ParseResponseHead(std::string_view(response_head_).substr(0, *end));
    if (!head.ok()) return Fail(502, "bad upstream response: " + head.status().message());
    if (head->status == 101) return Fail(502, "upstream switched protocols");
    if (head->status < 200) {
      std::string interim = BuildClientResponseHead(*head, "");
      response_head_.erase(0, *end);
      record_.bytes_down += interim.size();
      pending_down_ = std::move(interim);
      return asio::async_write(client_, asio::buffer(pending_down_), [self = shared_from_this()](error_code ec, size_t) {
        if (self->phase_ != Phase::kRelay) return;
        if (ec) {
          self->NoteRelayError(true, ec);
          return self->Close();
        }
        self->OnResponseHeadBytes();
      });
    }
    auto framing = GetResponseFraming(*head, request_head_.method);
    if (!framing.ok()) return Fail(502, "bad upstream response: " + framing.status().message());
    response_framing_ = *framing;
    down_remaining_ = framing->length;
    if (framing->kind == ResponseFraming::Kind::kUntilClose) keep_alive_ = false;
    record_.status = head->status;
    response_started_ = true;
    std::string out = BuildClientResponseHead(*head, keep_alive_ ? "keep-alive" : "close");
    std::string_view rest = std::string_view(response_head_).substr(*end);
    size_t body = ConsumeResponseBody(rest);
    if (down_chunks_.failed()) {
      record_.reason = "malformed chunked response body";
      return Close();
    }
    out.append(rest.substr(0, body));
    response_head_.clear();
    response_head_.shrink_to_fit();
    SendDown(std::move(out));
  }

  // Writes response bytes to the client, then reads more or finishes.
  void SendDown(std::string bytes) {
    record_.bytes_down += bytes.size();
    pending_down_ = std::move(bytes);
    asio::async_write(client_, asio::buffer(pending_down_), [self = shared_from_this()](error_code ec, size_t) {
      if (self->phase_ != Phase::kRelay) return;
      if (ec) {
        self->NoteRelayError(true, ec);
        return self->Close();
      }
      self->pending_down_.clear();
      if (!self->down_complete_) return self->ReadResponse();
      self->down_.buf.reset();
      self->MaybeFinishExchange();
    });
  }

  void OnResponseEnd(error_code ec) {
    if (ec != asio::error::eof) {
      NoteRelayError(false, ec);
      return Close();
    }
    if (!response_started_) return Fail(502, "upstream closed without a response");
    if (response_framing_.kind != ResponseFraming::Kind::kUntilClose) {
      record_.reason = "upstream closed before the response body ended";
      return Close();
    }
    down_complete_ = true;
    MaybeFinishExchange();
  }

  // Both bodies done: the next request on this connection, or the end.
  void MaybeFinishExchange() {
    if (!down_complete_ || up_writing_) return;  // a body write still pending calls again
    if (!up_complete_) {
      // The origin answered before the request body ended (an early error,
      // say): the rest of the body cannot be told from a next request.
      record_.reason = record_.reason.empty() ? "response before the request body ended" : record_.reason;
      return Close();
    }
    error_code ignored;
    upstream_.close(ignored);
    if (keep_alive_ && !shared_.stopping) return NextRequest();
    client_.shutdown(tcp::socket::shutdown_send, ignored);
    phase_ = Phase::kLinger;
    Arm(kLingerTime);
    Linger();
  }

  // Logs the finished request and starts reading the next one, beginning
  // with any bytes already read past the last body. Each request takes
  // the config snapshot of its own time and is checked on its own.
  void NextRequest() {
    WriteRecord();
    std::string client = std::move(record_.client);
    record_ = AccessRecord{};
    record_.client = std::move(client);
    record_.time = std::chrono::system_clock::now();
    started_ = SteadyClock::now();
    ResetExchange();
    config_ = shared_.Snapshot();
    if (!config_->ClientAllowed(client_ip_)) {
      record_.decision = "deny";
      record_.reason = "client not allowed";
      return Close();
    }
    head_ = std::move(carry_);
    carry_.clear();
    head_len_ = head_.size();
    head_.resize(std::max(head_len_, config_->limits.max_header_bytes));
    phase_ = Phase::kHead;
    Arm(head_len_ == 0 ? config_->limits.idle_timeout : config_->limits.handshake_timeout);
    auto end = FindHeadEnd(std::string_view(head_.data(), head_len_));
    if (end && *end > config_->limits.max_header_bytes) return Fail(431, "request head too large");
    if (!end) return ReadHead();
    head_end_ = *end;
    OnHead();
  }

  void ResetExchange() {
    request_head_ = RequestHead{};
    request_ = ProxyRequest{};
    is_connect_ = false;
    keep_alive_ = false;
    candidates_.clear();
    last_connect_error_.clear();
    up_remaining_ = down_remaining_ = 0;
    up_complete_ = down_complete_ = response_started_ = false;
    up_chunks_ = ChunkedScanner{};
    down_chunks_ = ChunkedScanner{};
    response_framing_ = ResponseFraming{};
    response_head_.clear();
    up_ = Direction{};
    down_ = Direction{};
    upstream_ = tcp::socket(client_.get_executor());
  }

  // --- answers and endings -------------------------------------------------

  void Deny(const std::string& reason, const std::string& rule) {
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
    if (keep) carry_.assign(head_.data() + head_end_, head_len_ - head_end_);
    record_.status = 403;
    RespondRaw(BuildDenyResponse(*config_, details, keep), keep);
  }

  void Fail(int status, const std::string& reason) {
    record_.decision = "error";
    record_.reason = reason;
    if (phase_ == Phase::kRelay) {
      // A forwarded request failed before its response began: stop the
      // request body relay so the answer is the only thing left running.
      error_code ignored;
      client_.cancel(ignored);
      upstream_.close(ignored);
    }
    if (intercept_tls_) return RespondRaw(TlsAlert(kTlsAlertInternalError));
    Respond(status, BuildResponse(status, "text/plain; charset=utf-8", std::string(StatusText(status)) + "\n"));
  }

  void Respond(int status, std::string response) {
    record_.status = status;
    RespondRaw(std::move(response));
  }

  // keep_open: the connection takes another request after this answer.
  void RespondRaw(std::string response, bool keep_open = false) {
    record_.bytes_down += response.size();
    phase_ = Phase::kLinger;
    ReleaseHead();
    pending_first_ = std::move(response);
    Arm(kLingerTime);
    asio::async_write(client_, asio::buffer(pending_first_), [self = shared_from_this(), keep_open](error_code ec, size_t) {
      if (ec) return self->Close();
      if (keep_open && self->phase_ == Phase::kLinger) return self->NextRequest();
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
  std::shared_ptr<const Config> config_;  // the snapshot of the current request
  SteadyClock::time_point started_;       // of the current request

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
  Direction up_, down_;
  // Forwarded HTTP (see StartExchange).
  bool keep_alive_ = false;        // the client may send another request after this one
  std::string carry_;              // bytes read past the current request: the next one's start
  uint64_t up_remaining_ = 0;      // Content-Length request body still to relay
  uint64_t down_remaining_ = 0;    // Content-Length response body still to relay
  bool up_complete_ = false;       // the request body has ended
  bool down_complete_ = false;     // the response body has ended
  bool response_started_ = false;  // the final response head has been parsed
  bool up_writing_ = false;        // a request body write to the origin is in flight
  ChunkedScanner up_chunks_, down_chunks_;
  ResponseFraming response_framing_;
  std::string response_head_;      // response head bytes until the head is complete
  std::string pending_down_;       // response bytes being written to the client
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
