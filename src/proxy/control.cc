// The control thread: one io_context running the admin endpoint, the
// config-file watcher and every reload (see control.h).
#include "rampart/proxy/control.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <future>
#include <optional>
#include <thread>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "rampart/core/log.h"
#include "rampart/core/thread_name.h"
#include "rampart/proxy/http_head.h"

namespace rampart::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr size_t kAdminHeadLimit = 8192;
constexpr std::chrono::seconds kAdminTimeout{5};
// Editors write a file in several steps; one reload after the last event.
constexpr std::chrono::milliseconds kDebounce{200};

void Metric(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void Sample(std::string& out, std::string_view name, std::string_view labels, uint64_t value) {
  out += name;
  out += labels;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

std::string Serialize(const AdminResponse& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(ReasonPhrase(r.status)) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (!r.allow.empty()) out += "Allow: " + r.allow + "\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  out += r.body;
  return out;
}

AdminResponse Text(int status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// One admin request per connection: read the head (bounded in size and
// time), answer, close.
class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
 public:
  AdminConnection(tcp::socket socket, const AdminHooks& hooks)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), hooks_(hooks) {}

  void Start() {
    buf_.resize(kAdminHeadLimit);
    timer_.expires_after(kAdminTimeout);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->Close();
    });
    Read();
  }

 private:
  void Read() {
    if (len_ == buf_.size()) return Answer(Text(431, "request head too large\n"));
    socket_.async_read_some(asio::buffer(buf_.data() + len_, buf_.size() - len_),
                            [self = shared_from_this()](error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->len_ += n;
                              self->OnRead();
                            });
  }

  void OnRead() {
    auto end = FindHeadEnd(std::string_view(buf_.data(), len_));
    if (!end) return Read();
    auto head = ParseRequestHead(std::string_view(buf_.data(), *end));
    if (!head.ok()) return Answer(Text(400, head.status().message() + "\n"));
    auto framing = GetBodyFraming(*head);
    if (!framing.ok() || framing->chunked || framing->content_length > 0) {
      return Answer(Text(413, "the admin endpoint takes no request body\n"));
    }
    Answer(HandleAdmin(head->method, head->target, hooks_));
  }

  void Answer(const AdminResponse& response) {
    out_ = Serialize(response);
    asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](error_code, size_t) {
      error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
      self->Close();
    });
  }

  void Close() {
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  const AdminHooks& hooks_;
  std::string buf_;
  size_t len_ = 0;
  std::string out_;
};

}  // namespace

std::string FormatMetrics(const ProxyStats& s, const ReloadCounts& reloads) {
  std::string out;
  Metric(out, "rampart_proxy_connections_active", "gauge", "Open client connections.");
  Sample(out, "rampart_proxy_connections_active", "", s.connections_active);
  Metric(out, "rampart_proxy_tunnels_active", "gauge", "Established CONNECT tunnels.");
  Sample(out, "rampart_proxy_tunnels_active", "", s.tunnels_active);
  Metric(out, "rampart_proxy_tunnels_closed_by_reload_total", "counter",
         "Tunnels inside TLS connections to the proxy ended by a reload: client certificate trust changed, "
         "or the certificate's client rule withdrawn.");
  Sample(out, "rampart_proxy_tunnels_closed_by_reload_total", "{reason=\"client_trust\"}",
         s.tunnels_ended_by_reload_trust);
  Sample(out, "rampart_proxy_tunnels_closed_by_reload_total", "{reason=\"client_rule\"}",
         s.tunnels_ended_by_reload_rule);
  Metric(out, "rampart_proxy_requests_total", "counter",
         "Finished requests and tunnels by decision (error: malformed, timeout or upstream failure).");
  Sample(out, "rampart_proxy_requests_total", "{decision=\"allow\"}", s.requests_allowed);
  Sample(out, "rampart_proxy_requests_total", "{decision=\"deny\"}", s.requests_denied);
  Sample(out, "rampart_proxy_requests_total", "{decision=\"error\"}", s.requests_failed);
  Metric(out, "rampart_proxy_bytes_total", "counter",
         "Bytes relayed by finished connections; up is client to upstream.");
  Sample(out, "rampart_proxy_bytes_total", "{direction=\"up\"}", s.bytes_up);
  Sample(out, "rampart_proxy_bytes_total", "{direction=\"down\"}", s.bytes_down);
  Metric(out, "rampart_proxy_dns_cache_hits_total", "counter", "Lookups answered from the DNS cache.");
  Sample(out, "rampart_proxy_dns_cache_hits_total", "", s.dns_cache_hits);
  Metric(out, "rampart_proxy_dns_failures_total", "counter", "Lookups that failed (timeout, server error).");
  Sample(out, "rampart_proxy_dns_failures_total", "", s.dns_failures);
  Metric(out, "rampart_proxy_dns_lookup_seconds", "histogram", "Latency of lookups sent to DNS servers.");
  uint64_t cumulative = 0;
  const auto& bounds = DnsLatencyHistogram::kBoundsSeconds;
  for (size_t i = 0; i < s.dns_latency.counts.size(); ++i) {
    cumulative += s.dns_latency.counts[i];
    std::string le = i < bounds.size() ? FormatDouble(bounds[i]) : "+Inf";
    Sample(out, "rampart_proxy_dns_lookup_seconds_bucket", "{le=\"" + le + "\"}", cumulative);
  }
  out += "rampart_proxy_dns_lookup_seconds_sum " + FormatDouble(s.dns_latency.sum_seconds) + "\n";
  Sample(out, "rampart_proxy_dns_lookup_seconds_count", "", s.dns_latency.count);
  Metric(out, "rampart_proxy_config_reloads_total", "counter", "Config reloads by result.");
  Sample(out, "rampart_proxy_config_reloads_total", "{result=\"ok\"}", reloads.ok);
  Sample(out, "rampart_proxy_config_reloads_total", "{result=\"rejected\"}", reloads.rejected);
  Metric(out, "rampart_proxy_allowlist_pulls_total", "counter",
         "Allowlist pulls by result (failed: fetch error or invalid list; the old list stays).");
  Sample(out, "rampart_proxy_allowlist_pulls_total", "{result=\"ok\"}", reloads.pulls_ok);
  Sample(out, "rampart_proxy_allowlist_pulls_total", "{result=\"failed\"}", reloads.pulls_failed);
  Metric(out, "rampart_proxy_allowlist_pulled_entries", "gauge", "Allowlist entries in use from the last good pull.");
  Sample(out, "rampart_proxy_allowlist_pulled_entries", "", reloads.pulled_entries);
  return out;
}

AdminResponse HandleAdmin(std::string_view method, std::string_view target, const AdminHooks& hooks) {
  std::string_view path = target.substr(0, target.find('?'));
  auto only = [&](std::string_view allowed) -> std::optional<AdminResponse> {
    if (method == allowed) return std::nullopt;
    AdminResponse r = Text(405, "use " + std::string(allowed) + "\n");
    r.allow = std::string(allowed);
    return r;
  };
  if (path == "/metrics") {
    if (auto r = only("GET")) return *r;
    AdminResponse r = Text(200, hooks.metrics());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  }
  if (path == "/health") {
    if (auto r = only("GET")) return *r;
    return Text(200, "ok\n");
  }
  if (path == "/reload") {
    if (auto r = only("POST")) return *r;
    auto result = hooks.reload();
    if (!result.ok()) return Text(400, result.status().message() + "\n");
    return Text(200, *result + "\n");
  }
  return Text(404, "not found; try /metrics, /health or POST /reload\n");
}

struct ControlLoop::Impl {
  std::string config_path;
  ReloadFn reload;
  AdminHooks hooks;
  asio::io_context ioc{1};
  std::optional<tcp::acceptor> acceptor;
  uint16_t admin_port = 0;
  std::optional<asio::posix::stream_descriptor> inotify;
  std::string watched_name;
  asio::steady_timer debounce{ioc};
  alignas(inotify_event) std::array<char, 8192> events{};
  std::thread thread;
  bool running = false;

  Status BindAdmin(const HostPort& hp);
  void Accept();
  Status Watch();
  void ReadEvents();
  void OnEvents(size_t n);
};

Status ControlLoop::Impl::BindAdmin(const HostPort& hp) {
  error_code ec;
  auto address = asio::ip::make_address(hp.host, ec);
  if (ec) return Status::Validation("admin_listen: bad address " + hp.host);
  tcp::endpoint ep(address, hp.port);
  acceptor.emplace(ioc);
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(64, ec);
  if (ec) {
    return Status::Error(ErrorCode::kUnavailable,
                         "cannot listen on admin address " + hp.host + ":" + std::to_string(hp.port) + ": " +
                             ec.message());
  }
  admin_port = acceptor->local_endpoint(ec).port();
  return Status::Ok();
}

void ControlLoop::Impl::Accept() {
  acceptor->async_accept([this](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<AdminConnection>(std::move(socket), hooks)->Start();
    Accept();
  });
}

// The directory is watched, not the file: editors and config managers
// replace files by renaming a new one over them, which a watch on the old
// inode would never see.
Status ControlLoop::Impl::Watch() {
  size_t slash = config_path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : config_path.substr(0, slash);
  if (dir.empty()) dir = "/";
  watched_name = slash == std::string::npos ? config_path : config_path.substr(slash + 1);
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return Status::Error(ErrorCode::kUnavailable, "inotify_init1 failed");
  if (inotify_add_watch(fd, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
    ::close(fd);
    return Status::Error(ErrorCode::kUnavailable, "cannot watch " + dir + " for config changes");
  }
  inotify.emplace(ioc, fd);
  ReadEvents();
  return Status::Ok();
}

void ControlLoop::Impl::ReadEvents() {
  inotify->async_read_some(asio::buffer(events), [this](error_code ec, size_t n) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      log::Error("config watcher stopped", {{"error", ec.message()}});
      return;
    }
    OnEvents(n);
    ReadEvents();
  });
}

void ControlLoop::Impl::OnEvents(size_t n) {
  bool ours = false;
  for (size_t off = 0; off + sizeof(inotify_event) <= n;) {
    const auto* ev = reinterpret_cast<const inotify_event*>(events.data() + off);
    if (ev->len > 0 && std::string_view(ev->name) == watched_name) ours = true;
    off += sizeof(inotify_event) + ev->len;
  }
  if (!ours) return;
  debounce.expires_after(kDebounce);
  debounce.async_wait([this](error_code ec) {
    if (!ec) (void)reload("file");
  });
}

ControlLoop::ControlLoop(std::string config_path, ReloadFn reload, std::function<std::string()> metrics)
    : impl_(std::make_unique<Impl>()) {
  impl_->config_path = std::move(config_path);
  impl_->reload = std::move(reload);
  impl_->hooks.metrics = std::move(metrics);
  impl_->hooks.reload = [this] { return impl_->reload("admin"); };
}

ControlLoop::~ControlLoop() { Stop(); }

Status ControlLoop::Start(const std::vector<HostPort>& admin_listen, bool watch) {
  for (const auto& hp : admin_listen) RETURN_IF_ERROR(impl_->BindAdmin(hp));
  if (watch) RETURN_IF_ERROR(impl_->Watch());
  if (impl_->acceptor) impl_->Accept();
  auto guard = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(
      impl_->ioc.get_executor());
  impl_->thread = std::thread([this, guard] {
    SetCurrentThreadName("proxy-control");
    impl_->ioc.run();
  });
  impl_->running = true;
  return Status::Ok();
}

uint16_t ControlLoop::admin_port() const { return impl_->admin_port; }

Result<std::string> ControlLoop::Reload(std::string_view source) {
  if (!impl_->running) return impl_->reload(source);
  std::promise<Result<std::string>> promise;
  auto future = promise.get_future();
  asio::post(impl_->ioc, [this, &promise, source] { promise.set_value(impl_->reload(source)); });
  return future.get();
}

void ControlLoop::Run(const std::function<void()>& fn) {
  if (!impl_->running) return fn();
  std::promise<void> done;
  auto future = done.get_future();
  asio::post(impl_->ioc, [&fn, &done] {
    fn();
    done.set_value();
  });
  future.get();
}

void ControlLoop::Stop() {
  if (!impl_->running) return;
  impl_->running = false;
  impl_->ioc.stop();
  impl_->thread.join();
}

}  // namespace rampart::proxy
