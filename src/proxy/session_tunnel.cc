// CONNECT tunnels: the "200", the first flight (a TLS ClientHello whose
// SNI must match the CONNECT host), and the relay both ways once the
// upstream is connected. See session.h.
#include <algorithm>
#include <cerrno>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "session.h"
#include "socket_util.h"

namespace rampart::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// The checked CONNECT: answer 200, then wait for the first flight.
void Session::SendEstablished() {
  phase_ = Phase::kHello;
  Arm(config_->limits.handshake_timeout);
  // Anything the client sent after the CONNECT head is the first flight.
  flight_.assign(HeadBytes(head_end_, head_len_));
  ReleaseHead();
  static constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
  client_.AsyncWrite(asio::buffer(kEstablished), [self = shared_from_this()](error_code ec, size_t) {
    if (self->phase_ != Phase::kHello) return;
    if (ec) return self->Close();
    self->CheckFlight();
  });
}

// --- tunnels: the first flight ---------------------------------------------

void Session::CheckFlight() {
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

void Session::ReadFlight() {
  size_t have = flight_.size();
  flight_.resize(have + kReadChunk);
  client_.AsyncReadSome(asio::buffer(flight_.data() + have, kReadChunk),
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

// --- tunnels: the relay -------------------------------------------------------
//
// Each direction waits for readability holding nothing, then moves what is
// there. With `splice` (the default) the bytes go from the socket into a
// pipe borrowed from the worker's PipePool and from the pipe into the
// other socket: they never enter user space. Otherwise, or when no pipe
// can be made (descriptor limits), they go through a kRelayChunk buffer.
// The pipe (empty by then) or the buffer is given back as soon as a read
// would block, so an idle tunnel holds neither, and a busy one at most one
// pipe or buffer per direction. The first flight was already read into
// user space to check the ClientHello; it went up in OnConnected.

void Session::StartTunnel() {
  phase_ = Phase::kRelay;
  last_activity_ = SteadyClock::now();
  Arm(config_->limits.idle_timeout);
  if (client_.tls()) {
    local_.AddTlsTunnel(weak_from_this());
    RelayTls(false);
    RelayTls(true);
    // A reload between this tunnel's decision and now found it not yet
    // relaying: check against the running config once.
    if (auto running = shared_.Snapshot(); running != config_) OnReload(*running);
    return;
  }
  error_code ec;
  client_.socket().non_blocking(true, ec);
  if (!ec) upstream_.non_blocking(true, ec);
  if (ec) {
    record_.reason = "cannot set up the relay: " + ec.message();
    return Close();
  }
  WaitReadable(false);
  WaitReadable(true);
}

// up: client -> upstream; otherwise upstream -> client.
void Session::WaitReadable(bool up) {
  Direction& dir = up ? up_ : down_;
  dir.buf.reset();
  if (dir.pipe.valid()) local_.pipes.Give(std::move(dir.pipe));  // empty: everything read went out
  tcp::socket& from = up ? client_.socket() : upstream_;
  from.async_wait(tcp::socket::wait_read, [self = shared_from_this(), up](error_code ec) {
    if (self->phase_ != Phase::kRelay) return;
    if (ec) return self->OnRelayEnd(up, ec);
    self->Pump(up);
  });
}

void Session::Pump(bool up) {
  Direction& dir = up ? up_ : down_;
  if (config_->splice && !dir.pipe.valid()) dir.pipe = local_.pipes.Take();
  if (dir.pipe.valid()) return SpliceIn(up, 0);
  ReadNow(up);
}

// Socket -> pipe. Called with the pipe empty, so "would block" can only
// mean the socket has nothing more for now.
void Session::SpliceIn(bool up, unsigned rounds) {
  Direction& dir = up ? up_ : down_;
  tcp::socket& from = up ? client_.socket() : upstream_;
  SpliceResult r = SpliceOnce(from.native_handle(), dir.pipe.write_fd(), local_.pipes.capacity());
  if (r.would_block) return WaitReadable(up);
  if (r.eof) return OnRelayEnd(up, asio::error::eof);
  if (r.error != 0) return OnRelayEnd(up, error_code(r.error, boost::system::system_category()));
  last_activity_ = SteadyClock::now();
  (up ? record_.bytes_up : record_.bytes_down) += r.bytes;
  dir.in_pipe = r.bytes;
  SpliceOut(up, rounds);
}

// Pipe -> socket until the pipe is empty (waiting for writability when
// the peer is slow), then the next read; every kSpliceRoundsPerTurn rounds
// the worker's other connections get a turn first.
void Session::SpliceOut(bool up, unsigned rounds) {
  Direction& dir = up ? up_ : down_;
  tcp::socket& to = up ? upstream_ : client_.socket();
  while (dir.in_pipe > 0) {
    SpliceResult r = SpliceOnce(dir.pipe.read_fd(), to.native_handle(), dir.in_pipe);
    if (r.would_block) {
      return to.async_wait(tcp::socket::wait_write, [self = shared_from_this(), up](error_code ec) {
        if (self->phase_ != Phase::kRelay) return;
        if (ec) return self->OnRelayEnd(up, ec);
        self->SpliceOut(up, 0);
      });
    }
    if (r.error != 0 || r.eof) {
      return OnRelayEnd(up, error_code(r.eof ? EPIPE : r.error, boost::system::system_category()));
    }
    dir.in_pipe -= r.bytes;
  }
  if (++rounds < kSpliceRoundsPerTurn) return SpliceIn(up, rounds);
  asio::post(executor(), [self = shared_from_this(), up] {
    if (self->phase_ == Phase::kRelay) self->SpliceIn(up, 0);
  });
}

// The buffered relay: reads without blocking; with nothing there, goes
// back to waiting.
void Session::ReadNow(bool up) {
  tcp::socket& from = up ? client_.socket() : upstream_;
  Direction& dir = up ? up_ : down_;
  if (!dir.buf) dir.buf = std::make_unique_for_overwrite<char[]>(kRelayChunk);
  error_code ec;
  size_t n = from.read_some(asio::buffer(dir.buf.get(), kRelayChunk), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return WaitReadable(up);
  if (ec) return OnRelayEnd(up, ec);
  last_activity_ = SteadyClock::now();
  (up ? record_.bytes_up : record_.bytes_down) += n;
  tcp::socket& to = up ? upstream_ : client_.socket();
  asio::async_write(to, asio::buffer(dir.buf.get(), n), [self = shared_from_this(), up](error_code ec, size_t) {
    if (self->phase_ != Phase::kRelay) return;
    if (ec) return self->OnRelayEnd(up, ec);
    self->ReadNow(up);
  });
}

// EOF passes the half-close on; an error ends both directions.
void Session::OnRelayEnd(bool up, error_code ec) {
  Direction& dir = up ? up_ : down_;
  dir.done = true;
  if (dir.pipe.valid() && dir.in_pipe == 0) local_.pipes.Give(std::move(dir.pipe));
  dir.buf.reset();
  if (ec != asio::error::eof) {
    NoteRelayError(up, ec);
    return Close();
  }
  error_code ignored;
  if (up) {
    upstream_.shutdown(tcp::socket::shutdown_send, ignored);
  } else {
    client_.ShutdownSend();
  }
  if (up_.done && down_.done) Close();
}

// --- tunnels over a TLS client connection ------------------------------------
//
// The client's bytes arrive encrypted to the proxy: OpenSSL decrypts them
// into user space and encrypts the way down, so neither direction can
// splice. Each direction reads into a kRelayChunk buffer (the largest
// TLS record's payload) and writes it all out before reading again; the
// buffers live as long as the tunnel. (64 KiB buffers, filled with
// several records per read, measured no better.)

void Session::RelayTls(bool up) {
  Direction& dir = up ? up_ : down_;
  if (!dir.buf) dir.buf = std::make_unique_for_overwrite<char[]>(kRelayChunk);
  auto buffer = asio::buffer(dir.buf.get(), kRelayChunk);
  auto on_read = [self = shared_from_this(), up](error_code ec, size_t n) { self->OnTlsRelayRead(up, ec, n); };
  if (up) {
    client_.AsyncReadSome(buffer, on_read);
  } else {
    upstream_.async_read_some(buffer, on_read);
  }
}

void Session::OnTlsRelayRead(bool up, error_code ec, size_t n) {
  if (phase_ != Phase::kRelay) return;
  if (ec) return OnRelayEnd(up, ec);
  last_activity_ = SteadyClock::now();
  (up ? record_.bytes_up : record_.bytes_down) += n;
  auto buffer = asio::buffer((up ? up_ : down_).buf.get(), n);
  auto on_written = [self = shared_from_this(), up](error_code write_ec, size_t) {
    if (self->phase_ != Phase::kRelay) return;
    if (write_ec) return self->OnRelayEnd(up, write_ec);
    self->RelayTls(up);
  };
  if (up) {
    asio::async_write(upstream_, buffer, on_written);
  } else {
    client_.AsyncWrite(buffer, on_written);
  }
}

// --- tunnels and reloads ------------------------------------------------------

void WorkerLocal::AddTlsTunnel(std::weak_ptr<Session> session) {
  if (tls_tunnels.size() >= tls_tunnels_prune_at) {
    std::erase_if(tls_tunnels, [](const std::weak_ptr<Session>& s) { return s.expired(); });
    tls_tunnels_prune_at = std::max<size_t>(64, 2 * tls_tunnels.size());
  }
  tls_tunnels.push_back(std::move(session));
}

std::shared_ptr<const Config> WorkerLocal::ReviewTlsTunnels(const Shared& shared) {
  std::shared_ptr<const Config> now = shared.Snapshot();
  if (reviewed_config.lock() == now) return nullptr;
  reviewed_config = now;
  // OnReload may end sessions, which only expires their entries.
  std::vector<std::shared_ptr<Session>> live;
  for (const auto& weak : tls_tunnels) {
    if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  tls_tunnels.clear();
  for (const auto& s : live) tls_tunnels.push_back(s);
  tls_tunnels_prune_at = std::max<size_t>(64, 2 * tls_tunnels.size());
  for (const auto& s : live) s->OnReload(*now);
  return now;
}

void Session::OnReload(const Config& now) {
  if (phase_ != Phase::kRelay || !is_connect_ || !tls_listener_) return;
  if (std::string why = StandingLostUnder(now); !why.empty()) {
    return EndTunnelOnReload("tls: client certificate trust changed by a reload (" + why + "); tunnel closed",
                             shared_.counters.tunnels_ended_trust);
  }
  if (std::string why = TunnelRuleLost(now); !why.empty()) {
    return EndTunnelOnReload(why, shared_.counters.tunnels_ended_rule);
  }
}

// A tunnel admitted by a client-certificate rule: when `now` no longer
// picks that rule (by name) for the same certificate name, the tunnel is
// decided again under `now`; "" when it may go on, else why not. A rule
// that stays, even with other lists, leaves the tunnel alone like any
// allowlist change.
std::string Session::TunnelRuleLost(const Config& now) const {
  if (rule_cert_name_.empty()) return "";
  std::string matched;
  const ClientRule* rule = now.RuleFor(client_ip_, cert_names_, &matched);
  if (rule != nullptr && matched == rule_cert_name_ && rule->name == record_.client_rule) return "";
  Decision d = CheckDestination(now, client_ip_, cert_names_, request_.host, request_.port);
  if (d.allowed) return "";
  return "reload: client rule '" + record_.client_rule + "' for certificate name '" + rule_cert_name_ +
         "' withdrawn, and the tunnel is not allowed without it (" + d.reason + "); tunnel closed";
}

void Session::EndTunnelOnReload(const std::string& reason, std::atomic<uint64_t>& counter) {
  record_.reason = reason;
  counter++;
  Close();
}

}  // namespace rampart::proxy
