// One client connection of the proxy and what the workers share. Internal
// to src/proxy; the code is split by concern:
//   session.cc            life, request head, policy, DNS + SSRF, upstream
//                         connect, answers and endings;
//   session_http.cc       forwarded HTTP: one exchange, keep-alive;
//   session_tunnel.cc     CONNECT: "200", first flight, the relay
//                         (splice(2) through pipes, or a buffer);
//   session_intercept.cc  intercept listeners: original destination, TLS
//                         decided by SNI;
//   client_stream.cc      the client connection, plain or TLS (OpenSSL);
//   server.cc             listeners, accept, workers (ProxyServer).
// What a worker's sessions share (resolver, pipes, idle origin
// connections) is in WorkerLocal.
//
// A Session's life:
//   [TLS listener: TLS handshake (handshake timeout), the verified client
//   certificate's names kept for the connection while reloads leave its
//   standing alone (see StandingLostUnder and OnReload); see
//   client_stream.h] ->
//   head (handshake timeout, header limit) -> InterpretRequest ->
//   CheckDestination -> resolve (static hosts, IP literal, or c-ares on the
//   worker's own loop, see dns_resolver.h) -> "filtered" answers denied ->
//   SSRF filter of every address ->
//   CONNECT: "200", first flight (handshake timeout), CheckFirstFlight |
//   HTTP: nothing more -> connect to the checked addresses in order
//   (connect timeout) -> tunnel: relay both ways (idle timeout) -> close;
//   forwarded HTTP (explicit or intercepted): an idle origin connection
//   for the same checked address and host from the worker's pool, else a
//   new one; one exchange (request body up, response head parsed and
//   rewritten, response body down, both by their framing); the origin
//   connection back to the pool if it can carry another request -> on a
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
//
// Thread-safety: a Session lives on one worker (its sockets' io_context)
// and is only touched from that worker's thread, so it needs no locks.
// Shared is touched from every worker: atomics, and the config snapshot
// under its mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "client_stream.h"
#include "dns_resolver.h"
#include "splice_pipe.h"
#include "tls_server.h"
#include "upstream_pool.h"
#include "rampart/proxy/access_log.h"
#include "rampart/proxy/config.h"
#include "rampart/proxy/http_body.h"
#include "rampart/proxy/policy.h"

namespace rampart::proxy {

using SteadyClock = std::chrono::steady_clock;

inline constexpr size_t kRelayChunk = 16 * 1024;  // relay buffer, per direction
inline constexpr size_t kReadChunk = 4096;        // request head and first flight reads
inline constexpr std::chrono::milliseconds kLingerTime{1000};
inline constexpr size_t kPipeCapacity = 256 * 1024;  // asked for each relay pipe
inline constexpr size_t kIdlePipes = 32;             // empty pipes a worker keeps
inline constexpr unsigned kSpliceRoundsPerTurn = 16;  // then other connections get a turn

struct Counters {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> tunnels{0};
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> denied{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> bytes_up{0};
  std::atomic<uint64_t> bytes_down{0};
  // TLS-listener tunnels a reload ended (see Session::OnReload).
  std::atomic<uint64_t> tunnels_ended_trust{0};
  std::atomic<uint64_t> tunnels_ended_rule{0};
};

// What every worker shares.
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

class Session;

// What one worker's sessions share. Touched only on that worker's thread.
struct WorkerLocal {
  WorkerLocal(boost::asio::io_context& ioc, DnsCounters* counters)
      : dns(ioc, counters), pipes(kIdlePipes, kPipeCapacity) {}
  DnsResolver dns;
  PipePool pipes;
  UpstreamPool upstreams;  // destroyed first: its sockets use the worker's io_context
  // Tunnels relaying inside TLS connections to the proxy, which a reload
  // may end (see Session::OnReload). Expired entries are pruned as the
  // list grows; sessions never touch it from their destructors (they may
  // outlive the WorkerLocal at shutdown).
  std::vector<std::weak_ptr<Session>> tls_tunnels;
  size_t tls_tunnels_prune_at = 64;
  // The config the tunnels were last reviewed against (weakly: it does not
  // keep an old config alive, and a freed one never compares equal).
  std::weak_ptr<const Config> reviewed_config;

  void AddTlsTunnel(std::weak_ptr<Session> session);
  // A reload posts this to every worker. It runs Session::OnReload for
  // every live entry with the config running when the review runs, not
  // the one of the reload that posted it: a later reload may have
  // replaced that one already (a rule removed and then restored must not
  // end tunnels the running config allows). A review finding that config
  // already reviewed does nothing, so a burst of reloads costs one review.
  // Returns the config reviewed against, null when skipped
  // (session_tunnel.cc).
  std::shared_ptr<const Config> ReviewTlsTunnels(const Shared& shared);
};

// Which kind of listener accepted a connection.
enum class Listener {
  kExplicit,   // the forward proxy (http_proxy=http://...)
  kIntercept,  // firewall-redirected traffic: HTTP by Host, TLS by SNI
  kTls,        // the forward proxy over TLS (https_proxy=https://...), client certificates
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;

  Session(Shared& shared, WorkerLocal& local, tcp::socket client, Listener listener);
  ~Session();

  tcp::socket::executor_type executor() { return client_.socket().get_executor(); }
  void Start();
  // A reload swapped in `now`. A tunnel inside a TLS connection to the
  // proxy ends here when its client lost its standing under `now` (see
  // ClientStandingLost in tls_server.h), or when the client-certificate
  // rule that admitted it is gone and `now` would refuse the tunnel; both
  // are logged as the tunnel's reason and counted. Everything else
  // (plain listeners, rule or allowlist changes) goes on untouched.
  void OnReload(const Config& now);

 private:
  enum class Phase { kHandshake, kHead, kResolve, kHello, kConnect, kRelay, kLinger, kDone };

  // One relay direction: its pipe (splice) or buffer, held only while
  // bytes flow.
  struct Direction {
    std::unique_ptr<char[]> buf;
    Pipe pipe;
    size_t in_pipe = 0;  // bytes spliced into the pipe, not yet out of it
    bool done = false;
  };

  // session.cc
  void WriteRecord();
  void Arm(std::chrono::milliseconds after);
  void StartTimer();
  void OnTimeout();
  void ReadHead();
  void OnHeadRead(error_code ec, size_t n);
  void OnHead();
  void Resolve();
  void OnResolved(DnsAnswer answer);
  void OnAddresses(const std::vector<IpAddress>& addresses);
  void Connect();
  bool TakePooledUpstream();
  void TryConnect(size_t index);
  void OnConnected(const tcp::endpoint& ep);
  void Deny(const std::string& reason, const std::string& rule);
  void Fail(int status, const std::string& reason);
  void Respond(int status, std::string response);
  void RespondRaw(std::string response, bool keep_open = false);
  void Linger();
  // Bytes [from, to) of the head buffer (empty when there is none).
  std::string_view HeadBytes(size_t from, size_t to) const {
    return from < to ? std::string_view(head_.get() + from, to - from) : std::string_view();
  }
  void ReleaseHead();
  void Close();
  void NoteRelayError(bool client_side, error_code ec);
  void StartTls();
  void OnTlsHandshake(error_code ec);
  std::string StandingLostUnder(const Config& now);
  std::string TunnelRuleLost(const Config& now) const;
  void EndTunnelOnReload(const std::string& reason, std::atomic<uint64_t>& counter);

  // session_intercept.cc
  bool TakeOriginalDestination();
  void OnInterceptedTls();
  void DecideInterceptedTls(const ClientHelloInfo& hello);

  // session_tunnel.cc
  void SendEstablished();
  void CheckFlight();
  void ReadFlight();
  void StartTunnel();
  void WaitReadable(bool up);
  void Pump(bool up);
  void SpliceIn(bool up, unsigned rounds);
  void SpliceOut(bool up, unsigned rounds);
  void ReadNow(bool up);
  void OnRelayEnd(bool up, error_code ec);
  void RelayTls(bool up);
  void OnTlsRelayRead(bool up, error_code ec, size_t n);

  // session_http.cc
  void StartExchange();
  size_t ConsumeRequestBody(std::string_view bytes);
  size_t ConsumeResponseBody(std::string_view bytes);
  void PumpRequestBody();
  void OnRequestBodyRead(error_code ec, size_t n);
  void ReadResponse();
  void OnResponseRead(error_code ec, size_t n);
  void OnResponseHeadBytes();
  void SendDown(std::string bytes);
  void OnResponseEnd(error_code ec);
  void MaybeFinishExchange();
  void ReleaseUpstream();
  bool RetryOnFreshUpstream();
  void NextRequest();
  void ResetExchange();

  const bool intercept_;
  const bool tls_listener_;
  bool intercept_tls_ = false;  // an intercepted connection that began with a TLS record
  uint16_t original_port_ = 0;  // intercept: the redirected connection's destination port
  Shared& shared_;
  WorkerLocal& local_;
  ClientStream client_;
  tcp::socket upstream_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<const Config> config_;  // the snapshot of the current request
  SteadyClock::time_point started_;       // of the current request

  Phase phase_ = Phase::kHead;
  // The timer (see Arm): when the current phase times out, and the
  // expiry of the wait in flight, if any. A later deadline leaves the
  // wait alone; it fires early and waits again for the rest.
  SteadyClock::time_point deadline_;
  SteadyClock::time_point timer_expiry_;
  bool timer_waiting_ = false;
  uint64_t timer_gen_ = 0;
  IpAddress client_ip_;
  std::vector<std::string> cert_names_;  // TLS listener: the verified client certificate's names
  // TLS listener: the context of the handshake, whose client CAs verified
  // cert_names_, and the one they last stood under (see StandingLostUnder).
  std::optional<ClientStanding> standing_;
  std::string rule_cert_name_;  // the certificate name whose client rule decided the request; empty: none
  AccessRecord record_;
  // The request head as read: head_len_ bytes of head_cap_, not
  // zero-filled (a std::string would clear each read's room first).
  std::unique_ptr<char[]> head_;
  size_t head_cap_ = 0;
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
  bool first_request_ = true;      // no earlier request on this connection
  // Origin connection reuse (forwarded HTTP; see UpstreamPool).
  std::string upstream_key_;       // the pool key of upstream_
  bool upstream_reused_ = false;   // upstream_ came from the pool
  bool upstream_reusable_ = false; // the origin may take another request on upstream_
  bool retried_ = false;           // this request already moved to a fresh connection
};

}  // namespace rampart::proxy
