// The Beast/Asio server. All Boost includes of the http floor live in this
// file so that only one translation unit pays for them.
//
// Threading: one io_context per worker, each run by exactly one thread. A
// connection is created for one worker and every operation on it runs on
// that worker's thread, so connection state needs no locking. The acceptor
// lives on worker 0 and hands sockets out round-robin.
//
// A connection's life: [TLS handshake] -> wait for the first byte of a
// request (idle timeout, or header timeout for the first request) -> read the
// head (header timeout, header limit) -> [100 Continue] -> read the body
// (body timeout, body limit) -> handler -> write (body timeout) -> again, or a
// lingering close (half-close and discard what the peer still sends, so that
// an unread request body does not turn our response into a TCP reset).
#include "rampart/http/server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "http/request_parser.h"
#include "rampart/core/log.h"
#include "rampart/core/thread_name.h"

namespace rampart::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// Streams on the worker's own io_context executor type rather than the
// type-erased any_io_executor: every asynchronous step copies and destroys
// the executor, and the type-erased one showed in profiles.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using LowestStream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;
using PlainStream = LowestStream;
using TlsStream = beast::ssl_stream<LowestStream>;

// How long a closing connection keeps reading (and discarding) what the
// peer still sends, and how much of it, before the socket is closed.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr size_t kLingerBytes = 16u << 20;
constexpr size_t kReadChunk = 4096;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Server shutdown: close now if no request is in progress.
  virtual void OnShutdown() = 0;
  // Drain deadline passed: close regardless.
  virtual void ForceClose() = 0;
};

// State shared by all workers; constant after Start except the atomics.
struct Shared {
  ServerOptions options;
  Handler handler;
  std::unique_ptr<asio::ssl::context> tls;  // null for plain TCP
  std::atomic<size_t> active{0};  // connections open
  std::atomic<size_t> busy{0};    // connections with a request in progress
  std::atomic<bool> stopping{false};
};

struct Worker {
  // Only touched on this worker's thread (or once the thread is joined).
  // Declared before ioc so that connections destroyed with the io_context
  // can still unregister themselves.
  std::unordered_set<ConnectionBase*> connections;
  std::unique_ptr<asio::io_context> ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
};

bool IsHttpParseError(const error_code& ec) {
  if (ec.category() != bhttp::make_error_code(bhttp::error::end_of_stream).category()) {
    return false;
  }
  return ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

// RFC 9110 section 5.1: field-name = token.
bool IsToken(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// No CR, LF or NUL: a handler echoing hostile input must not split responses.
bool IsSafeValue(std::string_view s) {
  if (s.size() > 16 * 1024) return false;
  return std::none_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

// Framing headers are the server's to set.
bool IsFramingHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding") ||
         EqualsIgnoreCase(name, "connection") || EqualsIgnoreCase(name, "keep-alive") ||
         EqualsIgnoreCase(name, "upgrade");
}

// The status line and header fields of a response, ending with the empty
// line. Invalid handler headers are dropped (and logged); the framing
// fields are the server's: Content-Length when there is a length, and
// Connection as HTTP/1.0 and 1.1 need it for keep_alive.
std::string FormatHead(int status, unsigned version, bool keep_alive,
                       const std::vector<Header>& headers, std::optional<size_t> length) {
  std::string head;
  head.reserve(256);
  head += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  head += bhttp::obsolete_reason(bhttp::int_to_status(static_cast<unsigned>(status)));
  head += "\r\n";
  for (const Header& h : headers) {
    if (!IsToken(h.name) || !IsSafeValue(h.value) || IsFramingHeader(h.name)) {
      log::Warn("http handler set an invalid response header; dropped");
      continue;
    }
    head.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  if (length) head.append("Content-Length: ").append(std::to_string(*length)).append("\r\n");
  if (version == 10 && keep_alive) head += "Connection: keep-alive\r\n";
  if (version != 10 && !keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  return head;
}

std::string PeerAddress(const Socket& socket) {
  error_code ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return {};
  asio::ip::address a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a.to_string();
}

template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  template <class... StreamArgs>
  Connection(Shared& shared, Worker& worker, StreamArgs&&... args)
      : shared_(shared), worker_(worker), stream_(std::forward<StreamArgs>(args)...) {
    shared_.active.fetch_add(1, std::memory_order_relaxed);
  }

  ~Connection() override {
    SetState(State::kClosed);
    if (registered_) worker_.connections.erase(this);
    shared_.active.fetch_sub(1, std::memory_order_relaxed);
  }

  // REQUIRES: on the worker's thread.
  void Start() {
    worker_.connections.insert(this);
    registered_ = true;
    if (shared_.stopping.load()) return Close();
    remote_ip_ = PeerAddress(Lowest().socket());
    error_code ec;
    Lowest().socket().set_option(tcp::no_delay(true), ec);
    if constexpr (kTls) {
      Lowest().expires_after(shared_.options.header_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code e) {
                                if (e) return self->Close();
                                self->NoteTlsSession();
                                self->WaitForRequest(true);
                              });
    } else {
      WaitForRequest(true);
    }
  }

  void OnShutdown() override {
    if (state_ == State::kIdle) Close();
  }
  void ForceClose() override { Close(); }

 private:
  enum class State { kIdle, kBusy, kClosing, kClosed };

  // Remembers what the handshake negotiated, for the audit trail's
  // tlsDetails. OpenSSL returns static strings.
  void NoteTlsSession() {
    if constexpr (kTls) {
      SSL* ssl = stream_.native_handle();
      tls_version_ = SSL_get_version(ssl);
      const char* cipher = SSL_get_cipher_name(ssl);
      tls_cipher_ = cipher != nullptr ? cipher : "";
    }
  }

  LowestStream& Lowest() { return beast::get_lowest_layer(stream_); }

  // Keeps Shared::busy, which Shutdown drains on, in step with state_.
  void SetState(State next) {
    if (state_ == State::kBusy && next != State::kBusy) shared_.busy.fetch_sub(1);
    if (state_ != State::kBusy && next == State::kBusy) shared_.busy.fetch_add(1);
    state_ = next;
  }

  // Waits for the first byte of the next request unless pipelined bytes are
  // already buffered. The first request of a connection is under the header
  // timeout from accept; later ones get the idle timeout until a byte comes.
  void WaitForRequest(bool first) {
    if (shared_.stopping.load()) return LingeringClose();
    if (buffer_.size() > 0) return ReadHead(/*restart_deadline=*/true);
    SetState(State::kIdle);
    Lowest().expires_after(first ? shared_.options.header_timeout : shared_.options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = this->shared_from_this(), first](error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              // The first request's deadline started at accept
                              // and keeps running.
                              self->ReadHead(/*restart_deadline=*/!first);
                            });
  }

  void ReadHead(bool restart_deadline) {
    SetState(State::kBusy);
    if (restart_deadline) Lowest().expires_after(shared_.options.header_timeout);
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(
        std::min<size_t>(shared_.options.header_limit, std::numeric_limits<uint32_t>::max())));
    // Checked by hand once the head is in, so an oversized body is refused
    // without being read; re-armed below for chunked bodies.
    parser_->body_limit(boost::none);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](error_code ec, size_t) {
                               self->OnHead(ec);
                             });
  }

  void OnHead(error_code ec) {
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      return SendPlain(431, "Request Header Fields Too Large");
    }
    if (IsHttpParseError(ec)) return SendPlain(400, "Bad Request");
    if (ec) return Close();  // timeout, reset, EOF mid-head
    boost::optional<uint64_t> length = parser_->content_length();
    if (length && *length > shared_.options.body_limit) return Dispatch(/*too_large=*/true);
    parser_->body_limit(static_cast<uint64_t>(shared_.options.body_limit));
    if (parser_->is_done()) return Dispatch(false);
    bool expect_continue = parser_->version() >= 11 && parser_->expects_continue();
    Lowest().expires_after(shared_.options.body_timeout);
    if (!expect_continue || buffer_.size() > 0) return ReadBody();
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = this->shared_from_this()](error_code e, size_t) {
                        if (e) return self->Close();
                        self->ReadBody();
                      });
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](error_code ec, size_t) {
                        if (ec == bhttp::error::body_limit) return self->Dispatch(true);
                        if (IsHttpParseError(ec)) return self->SendPlain(400, "Bad Request");
                        if (ec) return self->Close();
                        self->Dispatch(false);
                      });
  }

  // Converts the parsed request, runs the handler, writes its answer.
  void Dispatch(bool too_large) {
    Request req = std::move(parser_->request());
    if (too_large) req.body.clear();
    req.remote_ip = remote_ip_;
    req.tls = kTls;
    req.tls_version = tls_version_;
    req.tls_cipher = tls_cipher_;
    req.body_too_large = too_large;
    const bool client_keep_alive = parser_->keep_alive();
    const unsigned version = parser_->version();
    const bool head_request = parser_->method() == bhttp::verb::head;

    Response res;
    bool handled = true;
    try {
      shared_.handler(req, res);
    } catch (...) {
      // The boundary of the handler: a throwing handler is a bug, but it must
      // not take the worker down with it.
      log::Error("http handler threw an exception", {{"method", req.method}});
      handled = false;
    }
    parser_.reset();
    if (!handled) return SendPlain(500, "Internal Server Error");
    const bool keep_alive =
        client_keep_alive && !res.close && !too_large && !shared_.stopping.load();
    Write(std::move(res), version, keep_alive, head_request);
  }

  void SendPlain(int status, std::string_view text) {
    parser_.reset();
    Response res;
    res.status = status;
    res.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
    res.body = std::string(text) + "\n";
    Write(std::move(res), 11, /*keep_alive=*/false);
  }

  // A response to HEAD carries the Content-Length of its body but not the
  // body itself (RFC 9110 section 9.3.2).
  void Write(Response res, unsigned version, bool keep_alive, bool head_request = false) {
    SetState(State::kBusy);
    int status = res.status;
    if (status < 200 || status > 599) status = 500;  // 1xx would break framing
    if (status == 204 || status == 304) {
      res.body.clear();
      out_head_ = FormatHead(status, version, keep_alive, res.headers, std::nullopt);
    } else {
      out_head_ = FormatHead(status, version, keep_alive, res.headers, res.body.size());
      if (head_request) res.body.clear();
    }
    out_body_ = std::move(res.body);
    Lowest().expires_after(shared_.options.body_timeout);
    std::array<asio::const_buffer, 2> buffers = {asio::buffer(out_head_), asio::buffer(out_body_)};
    asio::async_write(stream_, buffers,
                      [self = this->shared_from_this(), keep_alive](error_code ec, size_t) {
                        // Freed, not kept: an idle keep-alive connection
                        // should not hold its last response.
                        self->out_body_ = std::string();
                        if (ec) return self->Close();
                        if (!keep_alive) return self->LingeringClose();
                        self->WaitForRequest(false);
                      });
  }

  void LingeringClose() {
    if (state_ == State::kClosing || state_ == State::kClosed) return;
    SetState(State::kClosing);
    Lowest().expires_after(kLingerTime);
    if constexpr (kTls) {
      stream_.async_shutdown([self = this->shared_from_this()](error_code) { self->Close(); });
    } else {
      error_code ec;
      Lowest().socket().shutdown(Socket::shutdown_send, ec);
      if (ec) return Close();
      buffer_.consume(buffer_.size());
      Discard();
    }
  }

  void Discard() {
    Lowest().async_read_some(buffer_.prepare(kReadChunk),
                             [self = this->shared_from_this()](error_code ec, size_t n) {
                               self->discarded_ += n;
                               if (ec || self->discarded_ > kLingerBytes) return self->Close();
                               self->Discard();
                             });
  }

  void Close() {
    if (state_ == State::kClosed) return;
    SetState(State::kClosed);
    Lowest().close();  // cancels the timer and pending operations
  }

  Shared& shared_;
  Worker& worker_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<internal::RequestParser> parser_;
  std::string out_head_;  // the response being written: status line and fields
  std::string out_body_;
  std::string remote_ip_;
  const char* tls_version_ = "";
  const char* tls_cipher_ = "";
  State state_ = State::kIdle;
  bool registered_ = false;
  size_t discarded_ = 0;
};

void RunWorker(asio::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      log::Error("http worker: uncaught exception", {{"what", e.what()}});
    } catch (...) {
      log::Error("http worker: uncaught exception");
    }
  }
}

Status MakeTlsContext(const TlsFiles& files, std::unique_ptr<asio::ssl::context>& out) {
  try {
    out = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  } catch (const std::exception&) {
    return Status::Internal("cannot create a TLS context");
  }
  error_code ec;
  out->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                   ec);
  SSL_CTX* ctx = out->native_handle();
  if (ec || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return Status::Internal("cannot configure the TLS context");
  }
  // Client-initiated renegotiation is a cheap way to burn server CPU.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  out->use_certificate_chain_file(files.cert_chain_file, ec);
  if (ec) {
    return Status::Error(ErrorCode::kValidation,
                         "cannot load TLS certificate chain " + files.cert_chain_file + ": " +
                             ec.message());
  }
  out->use_private_key_file(files.private_key_file, asio::ssl::context::pem, ec);
  if (ec || SSL_CTX_check_private_key(ctx) != 1) {
    return Status::Error(ErrorCode::kValidation,
                         "cannot load TLS private key " + files.private_key_file +
                             " (or it does not match the certificate)");
  }
  return Status::Ok();
}

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, Handler handler) {
    shared_.options = std::move(options);
    shared_.handler = std::move(handler);
  }
  ~Impl() { Shutdown(std::chrono::milliseconds(0)); }

  Status Init();
  Status Run();
  void Shutdown(std::chrono::milliseconds drain);
  uint16_t port() const { return port_; }
  size_t active() const { return shared_.active.load(std::memory_order_relaxed); }

 private:
  Status Bind();
  void Accept();
  void OnAccept(error_code ec, Socket socket, Worker& worker);
  // Waits until counter is zero or the deadline passes.
  static void WaitForZero(const std::atomic<size_t>& counter, Clock::time_point deadline);

  // Declared first: destroyed after the workers and their connections.
  Shared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<tcp::acceptor> acceptor_;          // on workers_[0]
  std::unique_ptr<asio::steady_timer> accept_retry_;  // on workers_[0]
  size_t next_worker_ = 0;                            // worker 0's thread only
  std::atomic<bool> accepting_{true};
  uint16_t port_ = 0;
  std::mutex shutdown_mu_;
  bool shut_down_ = false;  // guarded by shutdown_mu_
};

Status Server::Impl::Init() {
  const ServerOptions& o = shared_.options;
  if (o.header_limit == 0 || o.max_connections == 0) {
    return Status::Validation("header_limit and max_connections must be positive");
  }
  if (o.tls) RETURN_IF_ERROR(MakeTlsContext(*o.tls, shared_.tls));
  unsigned n = o.threads != 0 ? o.threads : std::thread::hardware_concurrency();
  n = std::clamp(n, 1u, 256u);
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->ioc = std::make_unique<asio::io_context>(1);
    w->guard.emplace(w->ioc->get_executor());
    workers_.push_back(std::move(w));
  }
  return Bind();
}

Status Server::Impl::Bind() {
  const ServerOptions& o = shared_.options;
  asio::io_context& ioc = *workers_[0]->ioc;
  error_code ec;
  tcp::endpoint endpoint;
  asio::ip::address addr = asio::ip::make_address(o.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(addr, o.port);
  } else {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec || results.empty()) {
      return Status::Error(ErrorCode::kUnavailable, "cannot resolve listen host " + o.host);
    }
    endpoint = results.begin()->endpoint();
  }
  const std::string where = o.host + ":" + std::to_string(o.port);
  acceptor_ = std::make_unique<tcp::acceptor>(ioc);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Error(ErrorCode::kUnavailable, "cannot listen on " + where + ": " + ec.message());
  }
  tcp::endpoint bound = acceptor_->local_endpoint(ec);
  if (ec) return Status::Error(ErrorCode::kUnavailable, "cannot read the bound port: " + ec.message());
  port_ = bound.port();
  accept_retry_ = std::make_unique<asio::steady_timer>(ioc);
  return Status::Ok();
}

Status Server::Impl::Run() {
  asio::post(*workers_[0]->ioc, [this] { Accept(); });
  for (size_t i = 0; i < workers_.size(); ++i) {
    asio::io_context* ioc = workers_[i]->ioc.get();
    workers_[i]->thread = std::thread([ioc, i] {
      SetCurrentThreadName("http-worker-" + std::to_string(i));
      RunWorker(*ioc);
    });
  }
  return Status::Ok();
}

void Server::Impl::Accept() {
  Worker& target = *workers_[next_worker_++ % workers_.size()];
  acceptor_->async_accept(*target.ioc, [this, &target](error_code ec, Socket socket) {
    OnAccept(ec, std::move(socket), target);
  });
}

void Server::Impl::OnAccept(error_code ec, Socket socket, Worker& worker) {
  if (!accepting_.load() || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Typically EMFILE: back off instead of spinning on the error.
    log::Warn("http accept failed", {{"error", ec.message()}});
    accept_retry_->expires_after(std::chrono::milliseconds(50));
    accept_retry_->async_wait([this](error_code e) {
      if (!e && accepting_.load()) Accept();
    });
    return;
  }
  if (shared_.active.load(std::memory_order_relaxed) >= shared_.options.max_connections) {
    socket.close(ec);
    return Accept();
  }
  try {
    if (shared_.tls) {
      auto c = std::make_shared<Connection<TlsStream>>(shared_, worker, std::move(socket),
                                                       *shared_.tls);
      asio::post(*worker.ioc, [c = std::move(c)] { c->Start(); });
    } else {
      auto c = std::make_shared<Connection<PlainStream>>(shared_, worker, std::move(socket));
      asio::post(*worker.ioc, [c = std::move(c)] { c->Start(); });
    }
  } catch (const std::exception&) {
    log::Error("http accept: cannot set up a connection");
  }
  Accept();
}

void Server::Impl::WaitForZero(const std::atomic<size_t>& counter, Clock::time_point deadline) {
  while (counter.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void Server::Impl::Shutdown(std::chrono::milliseconds drain) {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  const Clock::time_point deadline = Clock::now() + drain;
  shared_.stopping.store(true);
  accepting_.store(false);
  if (acceptor_) {
    asio::post(*workers_[0]->ioc, [this] {
      error_code ec;
      acceptor_->close(ec);
      if (accept_retry_) accept_retry_->cancel();
    });
  }
  for (auto& w : workers_) {
    Worker* worker = w.get();
    asio::post(*worker->ioc, [worker] {
      for (ConnectionBase* c : worker->connections) c->OnShutdown();
    });
  }
  // In-flight requests finish; connections merely lingering after their
  // last response are closed with the idle ones below.
  WaitForZero(shared_.busy, deadline);
  for (auto& w : workers_) {
    Worker* worker = w.get();
    asio::post(*worker->ioc, [worker] {
      for (ConnectionBase* c : worker->connections) c->ForceClose();
    });
    worker->guard.reset();
  }
  // Closed connections unwind in a few handler runs; do not wait forever on
  // a handler that is stuck.
  WaitForZero(shared_.active, Clock::now() + std::chrono::milliseconds(500));
  for (auto& w : workers_) w->ioc->stop();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  // Threads are gone: destroy what is left, acceptor first, in this thread.
  accept_retry_.reset();
  acceptor_.reset();
  for (auto& w : workers_) w->ioc.reset();
}

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler) {
  if (!handler) return Status::Validation("http server needs a handler");
  try {
    auto impl = std::make_unique<Impl>(std::move(options), std::move(handler));
    RETURN_IF_ERROR(impl->Init());
    RETURN_IF_ERROR(impl->Run());
    return std::unique_ptr<Server>(new Server(std::move(impl)));
  } catch (const std::exception& e) {
    // std::thread or an allocation failed; the partly built Impl shut down.
    return Status::Internal(std::string("cannot start the http server: ") + e.what());
  }
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;  // Impl's destructor shuts down
uint16_t Server::port() const { return impl_->port(); }
void Server::Shutdown(std::chrono::milliseconds drain) { impl_->Shutdown(drain); }
size_t Server::active_connections() const { return impl_->active(); }

}  // namespace rampart::http
