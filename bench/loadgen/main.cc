// rampart-loadgen: an HTTP/1.1 load generator for Rampart (or any
// AWS-compatible endpoint, for a same-run comparison with a peer).
//
// N keep-alive connections, each with one request in flight at a time,
// spread over T threads (one io_context each). By default the loop is
// closed: each connection sends its next request as soon as the previous
// answer arrives. With --rate R the requests follow a fixed schedule of R
// per second in all (each connection R/N, staggered), and latency counts
// from each request's scheduled start, so time spent queued behind a slow
// answer is counted too (no coordinated omission); a connection that falls
// behind schedule sends at once. Every request is SigV4-signed like a real
// SDK does; since SigV4 dates have a resolution of one second, a thread
// renders its signed request once per second and sends those same bytes
// (see RequestSource). Requests and responses are written and parsed
// directly on the socket, so the client costs little of the CPU it shares
// with the server. Latency is measured from the start of the write to the
// end of the response and kept in a log-linear histogram (under 1% relative
// error), so memory stays constant however long the run.
//
// Exit status: 0 when every response was 2xx and no transport error
// happened, 1 otherwise, 2 on bad usage or setup failure.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "rampart/core/secret.h"
#include "rampart/http/message.h"
#include "rampart/http/sigv4.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kStsBody = "Action=GetCallerIdentity&Version=2011-06-15";
constexpr std::chrono::seconds kIoTimeout{10};
// A connection that fails this many times in a row gives up.
constexpr int kMaxConsecutiveFailures = 20;

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 4566;
  unsigned connections = 16;
  unsigned threads = 1;
  std::optional<double> duration_seconds;
  std::optional<uint64_t> requests;
  std::string access_key;
  rampart::SecretBytes secret_key;
  std::string session_token;
  std::string region = "us-east-1";
  std::string op = "sts-get-caller-identity";
  std::string service;  // json: credential-scope service
  std::string amz_target;
  std::string body = "{}";
  std::string content_type = "application/x-amz-json-1.1";
  bool tls = false;
  bool insecure = false;
  std::string ca_file;
  std::optional<double> rate;  // requests per second in all; closed loop when empty
};

// Log-linear histogram of nanoseconds: exact below 128, then 64 sub-buckets
// per power of two.
class Histogram {
 public:
  static constexpr size_t kSize = 128 + 57 * 64;

  void Record(uint64_t v) {
    ++counts_[Index(v)];
    ++total_;
    max_ = std::max(max_, v);
  }
  void Merge(const Histogram& o) {
    for (size_t i = 0; i < kSize; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }
  uint64_t total() const { return total_; }
  uint64_t max() const { return max_; }

  // The value at quantile q (0..1): the midpoint of its bucket, capped at max.
  uint64_t Quantile(double q) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kSize; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(max_, Midpoint(i));
    }
    return max_;
  }

 private:
  static size_t Index(uint64_t v) {
    if (v < 128) return static_cast<size_t>(v);
    int msb = 63 - std::countl_zero(v);
    int e = msb - 6;
    uint64_t m = v >> e;  // 64..127
    return 128 + static_cast<size_t>(e - 1) * 64 + static_cast<size_t>(m - 64);
  }
  static uint64_t Midpoint(size_t i) {
    if (i < 128) return i;
    size_t e = (i - 128) / 64 + 1;
    uint64_t m = (i - 128) % 64 + 64;
    return (m << e) + ((uint64_t{1} << e) >> 1);
  }

  std::vector<uint64_t> counts_ = std::vector<uint64_t>(kSize);
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

// What one thread observed; merged after the run.
struct Stats {
  Histogram latency;
  std::map<int, uint64_t> by_status;
  std::map<std::string, uint64_t> transport_errors;
  uint64_t reconnects = 0;
};

// Shared run control: the request budget and the deadline.
class Budget {
 public:
  Budget(std::optional<uint64_t> requests, std::optional<Clock::time_point> deadline)
      : limited_(requests.has_value()), remaining_(requests.value_or(0)), deadline_(deadline) {}

  // True once the deadline (if any) has passed.
  bool Expired() const { return deadline_ && Clock::now() >= *deadline_; }

  // True once no more requests should start.
  bool Done() const {
    if (deadline_ && Clock::now() >= *deadline_) return true;
    return limited_ && remaining_.load(std::memory_order_relaxed) <= 0;
  }

  bool Take() {
    if (deadline_ && Clock::now() >= *deadline_) return false;
    if (!limited_) return true;
    int64_t before = remaining_.fetch_sub(1, std::memory_order_relaxed);
    return before > 0;
  }

 private:
  const bool limited_;
  std::atomic<int64_t> remaining_;
  const std::optional<Clock::time_point> deadline_;
};

template <class T>
bool ParseNumber(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string HostHeader(const Options& o) {
  bool default_port = (o.tls && o.port == 443) || (!o.tls && o.port == 80);
  return default_port ? o.host : o.host + ":" + std::to_string(o.port);
}

// Renders one signed request as an SDK would send it.
std::string RenderSigned(const Options& o, std::chrono::system_clock::time_point now) {
  rampart::http::Request req;
  req.method = "POST";
  req.target = "/";
  req.headers.push_back({"Host", HostHeader(o)});
  std::string_view service;
  if (o.op == "json") {
    req.headers.push_back({"Content-Type", o.content_type});
    req.headers.push_back({"X-Amz-Target", o.amz_target});
    req.body = o.body;
    service = o.service;
  } else {
    req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"});
    req.body = std::string(kStsBody);
    service = "sts";
  }
  rampart::http::sigv4::SignRequest(req, o.access_key, o.secret_key, o.region, service, now,
                                    o.session_token);
  std::string out = req.method + " " + req.target + " HTTP/1.1\r\n";
  for (const auto& h : req.headers) out += h.name + ": " + h.value + "\r\n";
  out += "User-Agent: rampart-loadgen\r\nContent-Length: " + std::to_string(req.body.size()) +
         "\r\n\r\n";
  out += req.body;
  return out;
}

// The signed request of one thread's connections. SigV4 dates have a
// resolution of one second and the signer adds nothing random, so every
// request signed within the same second is byte for byte the same: signing
// it once per second and thread puts exactly the bytes on the wire that
// signing each request would, at a fraction of the client's CPU (the server
// still verifies every signature in full). Not thread-safe: one per thread.
class RequestSource {
 public:
  explicit RequestSource(const Options& o) : o_(o) {}

  // The request for now; a write holds its copy of the pointer until done.
  const std::shared_ptr<const std::string>& Current() {
    const auto now = std::chrono::system_clock::now();
    const auto second = std::chrono::floor<std::chrono::seconds>(now);
    if (!bytes_ || second != signed_at_) {
      bytes_ = std::make_shared<const std::string>(RenderSigned(o_, now));
      signed_at_ = second;
    }
    return bytes_;
  }

 private:
  const Options& o_;
  std::shared_ptr<const std::string> bytes_;
  std::chrono::sys_seconds signed_at_{};
};

// What a response's head says about its framing.
struct ResponseHead {
  int status = 0;
  size_t head_size = 0;  // through the blank line
  size_t content_length = 0;
  bool close = false;
};

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Whether a comma-separated header value (e.g. "keep-alive, close") holds
// token, ignoring case.
bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (IEquals(Trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

enum class HeadState { kIncomplete, kDone, kBad };

// Reads the status line and the fields this client needs. Responses must
// carry Content-Length (Rampart and nginx do); chunked bodies are refused
// rather than misread.
HeadState ParseHead(std::string_view buf, ResponseHead& out, std::string& why) {
  constexpr size_t kMaxHead = 64 * 1024;
  const size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (buf.size() <= kMaxHead) return HeadState::kIncomplete;
    why = "response head over 64 KiB";
    return HeadState::kBad;
  }
  out = {};
  out.head_size = end + 4;
  std::string_view rest = buf.substr(0, end + 2);
  size_t eol = rest.find("\r\n");
  std::string_view status_line = rest.substr(0, eol);
  rest.remove_prefix(eol + 2);
  if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.") || status_line[8] != ' ' ||
      !ParseNumber(status_line.substr(9, 3), out.status)) {
    why = "malformed status line";
    return HeadState::kBad;
  }
  if (status_line[7] == '0') out.close = true;  // HTTP/1.0: no keep-alive assumed
  bool have_length = false;
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));
    if (IEquals(name, "content-length")) {
      have_length = ParseNumber(value, out.content_length) && out.content_length <= (64u << 20);
    } else if (IEquals(name, "connection")) {
      out.close = out.close || HasToken(value, "close");
    } else if (IEquals(name, "transfer-encoding")) {
      why = "chunked responses are not supported";
      return HeadState::kBad;
    }
  }
  if (!have_length) {
    why = "response without a usable Content-Length";
    return HeadState::kBad;
  }
  return HeadState::kDone;
}

// A connection as its thread's watchdog sees it.
class Watched {
 public:
  virtual ~Watched() = default;
  // Closes the socket if an I/O operation has been waiting since before cutoff.
  virtual void AbortIfStuck(Clock::time_point cutoff) = 0;
};

// One per thread: every quarter second, aborts connections whose request
// has waited longer than kIoTimeout (a stalled server must not hang the
// run), and stops once no connection is left. Not thread-safe.
class Watchdog {
 public:
  explicit Watchdog(asio::io_context& ioc) : timer_(ioc) {}

  void Add(const std::shared_ptr<Watched>& c) { watched_.push_back(c); }

  void Start() {
    timer_.expires_after(std::chrono::milliseconds(250));
    timer_.async_wait([this](error_code ec) {
      if (ec) return;
      const Clock::time_point cutoff = Clock::now() - kIoTimeout;
      std::erase_if(watched_, [](const std::weak_ptr<Watched>& w) { return w.expired(); });
      for (const auto& w : watched_) {
        if (auto c = w.lock()) c->AbortIfStuck(cutoff);
      }
      if (!watched_.empty()) Start();
    });
  }

 private:
  asio::steady_timer timer_;
  std::vector<std::weak_ptr<Watched>> watched_;
};

template <class Stream>
class Connection : public Watched, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  // index: this connection's number, to stagger the fixed-rate schedules.
  Connection(asio::io_context& ioc, asio::ssl::context* tls, const Options& o,
             const tcp::resolver::results_type& endpoints, Budget& budget, Stats& stats,
             RequestSource& source, unsigned index)
      : ioc_(ioc),
        tls_(tls),
        o_(o),
        endpoints_(endpoints),
        budget_(budget),
        stats_(stats),
        source_(source) {
    if (o.rate) {
      interval_ = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(o.connections / *o.rate));
      next_ = Clock::now() + interval_ * index / o.connections;
    }
  }

  void Start() {
    if constexpr (kTls) {
      stream_.emplace(ioc_, *tls_);
      // SNI, and the name checked against the certificate unless --insecure.
      SSL_set_tlsext_host_name(stream_->native_handle(), o_.host.c_str());
      if (!o_.insecure) {
        stream_->set_verify_callback(asio::ssl::host_name_verification(o_.host));
      }
    } else {
      stream_.emplace(ioc_);
    }
    Busy();
    asio::async_connect(Lowest(), endpoints_,
                        [self = this->shared_from_this()](error_code ec, const tcp::endpoint&) {
                          if (ec) return self->Fail("connect", ec);
                          error_code ignored;
                          self->Lowest().set_option(tcp::no_delay(true), ignored);
                          if constexpr (kTls) {
                            self->stream_->async_handshake(
                                asio::ssl::stream_base::client, [self](error_code e) {
                                  if (e) return self->Fail("tls handshake", e);
                                  self->Send();
                                });
                          } else {
                            self->Send();
                          }
                        });
  }

  void AbortIfStuck(Clock::time_point cutoff) override {
    if (!busy_ || busy_since_ >= cutoff) return;
    ++stats_.transport_errors["timeout: no answer within 10 s"];
    timed_out_ = true;  // counted here, not again as the read's error
    error_code ignored;
    Lowest().close(ignored);  // the pending operation completes with an error
  }

 private:
  tcp::socket& Lowest() {
    if constexpr (kTls) {
      return stream_->next_layer();
    } else {
      return *stream_;
    }
  }

  void Busy() {
    busy_ = true;
    busy_since_ = Clock::now();
  }

  void Send() {
    busy_ = false;
    if (!budget_.Take()) return Finish();
    if (interval_ == Clock::duration::zero()) return Write();
    // Fixed rate: latency counts from the scheduled start.
    started_ = next_;
    next_ += interval_;
    if (Clock::now() >= started_) return Write();
    timer_.expires_at(started_);
    timer_.async_wait([self = this->shared_from_this()](error_code) {
      // The run may have ended while this request waited for its slot.
      if (self->budget_.Expired()) return self->Finish();
      self->Write();
    });
  }

  void Write() {
    request_ = source_.Current();
    used_ = 0;
    Busy();
    if (interval_ == Clock::duration::zero()) started_ = busy_since_;
    asio::async_write(*stream_, asio::buffer(*request_),
                      [self = this->shared_from_this()](error_code ec, size_t) {
                        if (ec || self->timed_out_) return self->Fail("write", ec);
                        self->Read();
                      });
  }

  void Read() {
    if (in_.size() - used_ < 4096) in_.resize(in_.size() * 2);
    stream_->async_read_some(asio::buffer(in_.data() + used_, in_.size() - used_),
                             [self = this->shared_from_this()](error_code ec, size_t n) {
                               // A read that completed just as the watchdog gave up counts
                               // as the timeout, not as an answer.
                               if (ec || self->timed_out_) return self->Fail("read", ec);
                               self->used_ += n;
                               self->OnBytes();
                             });
  }

  void OnBytes() {
    const std::string_view got(in_.data(), used_);
    if (!head_) {
      ResponseHead h;
      std::string why;
      switch (ParseHead(got, h, why)) {
        case HeadState::kIncomplete:
          return Read();
        case HeadState::kBad:
          return Broken(why);
        case HeadState::kDone:
          head_ = h;
          break;
      }
    }
    const size_t total = head_->head_size + head_->content_length;
    if (used_ < total) return Read();
    if (used_ > total) return Broken("bytes after the response");
    OnResponse();
  }

  void OnResponse() {
    auto latency = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started_);
    stats_.latency.Record(static_cast<uint64_t>(latency.count()));
    ++stats_.by_status[head_->status];
    consecutive_failures_ = 0;
    request_.reset();
    const bool close = head_->close;
    head_.reset();
    if (close) {
      ++stats_.reconnects;
      return Reconnect();
    }
    Send();
  }

  // The peer spoke something this client cannot follow: count it and start over.
  void Broken(const std::string& why) {
    head_.reset();
    Fail("response", asio::error::make_error_code(asio::error::invalid_argument), why);
  }

  void Fail(const char* what, const error_code& ec, const std::string& detail = "") {
    busy_ = false;
    head_.reset();
    if (!std::exchange(timed_out_, false)) {
      ++stats_.transport_errors[std::string(what) + ": " +
                                (detail.empty() ? ec.message() : detail)];
    }
    if (++consecutive_failures_ >= kMaxConsecutiveFailures) return Finish();
    // Back off a little so a dead server does not turn into a busy loop.
    timer_.expires_after(std::chrono::milliseconds(100));
    timer_.async_wait([self = this->shared_from_this()](error_code) { self->Reconnect(); });
  }

  void Reconnect() {
    error_code ignored;
    Lowest().close(ignored);
    if (budget_.Done()) return;
    Start();
  }

  void Finish() {
    busy_ = false;
    error_code ignored;
    Lowest().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close(ignored);
  }

  asio::io_context& ioc_;
  asio::ssl::context* tls_;
  const Options& o_;
  const tcp::resolver::results_type& endpoints_;
  Budget& budget_;
  Stats& stats_;
  RequestSource& source_;
  std::optional<Stream> stream_;
  asio::steady_timer timer_{ioc_};
  std::shared_ptr<const std::string> request_;  // held while it is written
  std::vector<char> in_ = std::vector<char>(16 * 1024);
  size_t used_ = 0;
  std::optional<ResponseHead> head_;
  Clock::time_point started_;
  bool busy_ = false;  // an I/O operation is pending (the watchdog's concern)
  bool timed_out_ = false;  // the watchdog closed the socket
  Clock::time_point busy_since_;
  Clock::duration interval_{};  // zero: closed loop
  Clock::time_point next_;      // fixed rate: the next request's scheduled start
  int consecutive_failures_ = 0;
};

void Usage() {
  std::fprintf(stderr,
               "usage: rampart-loadgen [--host H] [--port P] [--connections N] [--threads T]\n"
               "         [--duration SECONDS | --requests N] [--region R] [--tls [--insecure |"
               " --ca-file F]]\n"
               "         [--access-key AKID] [--secret-key SECRET] [--session-token T]\n"
               "         [--op sts-get-caller-identity | --op json --target X-Amz-Target"
               " --service S [--body JSON] [--content-type CT]]\n"
               "         [--rate REQUESTS_PER_SECOND]\n"
               "Credentials default to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /"
               " AWS_SESSION_TOKEN;\nprefer them to --secret-key, which other users can see"
               " in the process list.\n");
}

bool ParseDouble(const std::string& s, double& out) {
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() && out > 0 && out < 1e7;
}

std::optional<Options> ParseArgs(int argc, char** argv) {
  Options o;
  if (const char* v = std::getenv("AWS_ACCESS_KEY_ID")) o.access_key = v;
  if (const char* v = std::getenv("AWS_SECRET_ACCESS_KEY")) o.secret_key = rampart::SecretBytes(v);
  if (const char* v = std::getenv("AWS_SESSION_TOKEN")) o.session_token = v;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    bool ok = true;
    if (flag == "--tls") {
      o.tls = true;
    } else if (flag == "--insecure") {
      o.insecure = true;
    } else if (flag == "--sign-once-per-second") {
      // Accepted for old command lines: it is what every run does now.
    } else if (flag == "--help" || flag == "-h") {
      return std::nullopt;
    } else if (!value(v)) {
      ok = false;
    } else if (flag == "--host") {
      o.host = v;
    } else if (flag == "--port") {
      ok = ParseNumber(v, o.port) && o.port != 0;
    } else if (flag == "--connections") {
      ok = ParseNumber(v, o.connections) && o.connections > 0 && o.connections <= 100000;
    } else if (flag == "--threads") {
      ok = ParseNumber(v, o.threads) && o.threads > 0 && o.threads <= 256;
    } else if (flag == "--duration") {
      double d = 0;
      ok = ParseDouble(v, d);
      o.duration_seconds = d;
    } else if (flag == "--rate") {
      double r = 0;
      ok = ParseDouble(v, r);
      o.rate = r;
    } else if (flag == "--requests") {
      uint64_t n = 0;
      ok = ParseNumber(v, n) && n > 0 && n < (uint64_t{1} << 62);
      o.requests = n;
    } else if (flag == "--access-key") {
      o.access_key = v;
    } else if (flag == "--secret-key") {
      o.secret_key = rampart::SecretBytes(v);
    } else if (flag == "--session-token") {
      o.session_token = v;
    } else if (flag == "--region") {
      o.region = v;
    } else if (flag == "--op") {
      o.op = v;
      ok = v == "sts-get-caller-identity" || v == "json";
    } else if (flag == "--target") {
      o.amz_target = v;
    } else if (flag == "--service") {
      o.service = v;
    } else if (flag == "--body") {
      o.body = v;
    } else if (flag == "--content-type") {
      o.content_type = v;
    } else if (flag == "--ca-file") {
      o.ca_file = v;
    } else {
      ok = false;
    }
    std::fill(v.begin(), v.end(), '\0');  // may have held the secret
    if (!ok) {
      std::fprintf(stderr, "rampart-loadgen: bad or unknown argument %.*s\n",
                   static_cast<int>(flag.size()), flag.data());
      return std::nullopt;
    }
  }
  if (o.access_key.empty() || o.secret_key.empty()) {
    std::fprintf(stderr, "rampart-loadgen: credentials needed (--access-key/--secret-key or"
                         " AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)\n");
    return std::nullopt;
  }
  if (o.op == "json" && (o.amz_target.empty() || o.service.empty())) {
    std::fprintf(stderr, "rampart-loadgen: --op json needs --target and --service\n");
    return std::nullopt;
  }
  if (!o.duration_seconds && !o.requests) o.duration_seconds = 10;
  o.threads = std::min(o.threads, o.connections);
  return o;
}

double Millis(uint64_t nanos) { return static_cast<double>(nanos) / 1e6; }

int Run(const Options& o) {
  asio::io_context resolver_ioc;
  tcp::resolver resolver(resolver_ioc);
  error_code ec;
  tcp::resolver::results_type endpoints = resolver.resolve(o.host, std::to_string(o.port), ec);
  if (ec) {
    std::fprintf(stderr, "rampart-loadgen: cannot resolve %s: %s\n", o.host.c_str(),
                 ec.message().c_str());
    return 2;
  }
  std::unique_ptr<asio::ssl::context> tls;
  if (o.tls) {
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    if (o.insecure) {
      tls->set_verify_mode(asio::ssl::verify_none, ec);
    } else {
      tls->set_verify_mode(asio::ssl::verify_peer, ec);
      if (o.ca_file.empty()) {
        tls->set_default_verify_paths(ec);
      } else {
        tls->load_verify_file(o.ca_file, ec);
      }
    }
    if (ec) {
      std::fprintf(stderr, "rampart-loadgen: TLS setup: %s\n", ec.message().c_str());
      return 2;
    }
  }

  const Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> deadline;
  if (o.duration_seconds) {
    deadline = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(*o.duration_seconds));
  }
  Budget budget(o.requests, deadline);
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<Stats> stats(o.threads);
  std::vector<std::unique_ptr<RequestSource>> sources;
  std::vector<std::unique_ptr<Watchdog>> watchdogs;
  for (unsigned t = 0; t < o.threads; ++t) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    sources.push_back(std::make_unique<RequestSource>(o));
    watchdogs.push_back(std::make_unique<Watchdog>(*contexts.back()));
  }
  for (unsigned c = 0; c < o.connections; ++c) {
    const unsigned t = c % o.threads;
    std::shared_ptr<Watched> conn;
    if (tls) {
      auto tc = std::make_shared<Connection<asio::ssl::stream<tcp::socket>>>(
          *contexts[t], tls.get(), o, endpoints, budget, stats[t], *sources[t], c);
      tc->Start();
      conn = tc;
    } else {
      auto pc = std::make_shared<Connection<tcp::socket>>(*contexts[t], nullptr, o, endpoints,
                                                          budget, stats[t], *sources[t], c);
      pc->Start();
      conn = pc;
    }
    watchdogs[t]->Add(conn);
  }
  for (auto& w : watchdogs) w->Start();
  std::vector<std::thread> threads;
  for (auto& ioc : contexts) {
    asio::io_context* p = ioc.get();
    threads.emplace_back([p] { p->run(); });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  Stats all;
  for (const Stats& s : stats) {
    all.latency.Merge(s.latency);
    for (const auto& [k, v] : s.by_status) all.by_status[k] += v;
    for (const auto& [k, v] : s.transport_errors) all.transport_errors[k] += v;
    all.reconnects += s.reconnects;
  }
  const std::string scope_service = o.op == "json" ? o.service : "sts";
  std::printf("rampart-loadgen: %s:%u%s op=%s", o.host.c_str(), o.port, o.tls ? " (tls)" : "",
              o.op.c_str());
  if (o.op == "json") std::printf(" target=%s", o.amz_target.c_str());
  std::printf(" scope=%s/%s connections=%u threads=%u pipeline-depth=1\n", o.region.c_str(),
              scope_service.c_str(), o.connections, o.threads);
  if (o.rate) {
    std::printf("schedule: fixed rate %.0f req/s; latency from each scheduled start\n", *o.rate);
  } else {
    std::printf("schedule: closed loop; latency from each write\n");
  }
  std::printf("signing: SigV4, rendered once per second per thread (same bytes as per request)\n");
  const uint64_t n = all.latency.total();
  std::printf("requests: %llu in %.3f s = %.1f req/s\n", static_cast<unsigned long long>(n),
              elapsed, elapsed > 0 ? static_cast<double>(n) / elapsed : 0.0);
  std::printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
              Millis(all.latency.Quantile(0.50)), Millis(all.latency.Quantile(0.90)),
              Millis(all.latency.Quantile(0.99)), Millis(all.latency.Quantile(0.999)),
              Millis(all.latency.max()));
  std::printf("responses by status:");
  uint64_t errors = 0;
  for (const auto& [status, count] : all.by_status) {
    std::printf(" %d=%llu", status, static_cast<unsigned long long>(count));
    if (status < 200 || status > 299) errors += count;
  }
  std::printf("\nnon-2xx responses: %llu  reconnects: %llu\n",
              static_cast<unsigned long long>(errors),
              static_cast<unsigned long long>(all.reconnects));
  uint64_t transport = 0;
  for (const auto& [what, count] : all.transport_errors) {
    std::printf("transport error: %s x%llu\n", what.c_str(), static_cast<unsigned long long>(count));
    transport += count;
  }
  std::printf("transport errors: %llu\n", static_cast<unsigned long long>(transport));
  return errors == 0 && transport == 0 && n > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> options = ParseArgs(argc, argv);
  if (!options) {
    Usage();
    return 2;
  }
  try {
    return Run(*options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rampart-loadgen: %s\n", e.what());
    return 2;
  }
}
