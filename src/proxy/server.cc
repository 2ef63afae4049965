// The proxy's listeners and workers. One io_context per worker thread;
// the acceptors live on worker 0 and hand connections out round-robin; a
// connection and its upstream stay on one worker (see session.h for what
// a connection does).
#include "rampart/proxy/server.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

#include "dns_resolver.h"
#include "session.h"
#include "socket_util.h"
#include "rampart/core/thread_name.h"

namespace rampart::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct Worker {
  std::unique_ptr<asio::io_context> ioc;
  std::unique_ptr<WorkerLocal> local;  // after ioc: destroyed before it
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
};

}  // namespace

struct ProxyServer::Impl {
  Shared shared;
  std::vector<Worker> workers;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<Listener> kinds;  // per acceptor
  std::vector<uint16_t> ports;
  size_t next_worker = 0;  // only touched on worker 0
  bool running = false;

  Status Bind(const HostPort& hp, Listener kind);
  void Accept(tcp::acceptor& acceptor, Listener kind);
  void Dispatch(Worker& worker, tcp::socket socket, Listener kind);
};

Status ProxyServer::Impl::Bind(const HostPort& hp, Listener kind) {
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
  kinds.push_back(kind);
  return Status::Ok();
}

void ProxyServer::Impl::Accept(tcp::acceptor& acceptor, Listener kind) {
  Worker& target = workers[next_worker];
  next_worker = (next_worker + 1) % workers.size();
  acceptor.async_accept(*target.ioc, [this, &acceptor, &target, kind](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || shared.stopping) return;
    if (!ec) Dispatch(target, std::move(socket), kind);
    // EMFILE and friends: keep accepting; the next attempt may succeed.
    Accept(acceptor, kind);
  });
}

void ProxyServer::Impl::Dispatch(Worker& worker, tcp::socket socket, Listener kind) {
  auto cfg = shared.Snapshot();
  if (shared.counters.connections.load() >= cfg->limits.max_connections) {
    error_code ignored;
    socket.close(ignored);
    shared.counters.failed++;
    return;
  }
  auto session = std::make_shared<Session>(shared, *worker.local, std::move(socket), kind);
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
    w.local = std::make_unique<WorkerLocal>(*w.ioc, &impl_->shared.dns);
    w.guard.emplace(w.ioc->get_executor());
    impl_->workers.push_back(std::move(w));
  }
  const std::pair<Listener, const std::vector<HostPort>*> listeners[] = {
      {Listener::kExplicit, &cfg->listen},
      {Listener::kIntercept, &cfg->intercept_listen},
      {Listener::kTls, &cfg->tls_listen},
  };
  for (const auto& [kind, addresses] : listeners) {
    for (const auto& hp : *addresses) {
      Status st = impl_->Bind(hp, kind);
      if (!st.ok()) {
        impl_->acceptors.clear();
        impl_->workers.clear();
        return st;
      }
    }
  }
  for (size_t i = 0; i < impl_->acceptors.size(); ++i) impl_->Accept(*impl_->acceptors[i], impl_->kinds[i]);
  for (size_t i = 0; i < impl_->workers.size(); ++i) {
    asio::io_context* ioc = impl_->workers[i].ioc.get();
    impl_->workers[i].thread = std::thread([ioc, i] {
      SetCurrentThreadName("proxy-worker-" + std::to_string(i));
      ioc->run();
    });
  }
  impl_->running = true;
  return Status::Ok();
}

void ProxyServer::Reload(std::shared_ptr<const Config> config) {
  {
    std::lock_guard lock(impl_->shared.mu);
    impl_->shared.config = std::move(config);
  }
  // Each worker reviews its tunnels inside TLS connections (a reload may
  // withdraw their client's standing, see Session::OnReload) on its own
  // thread, within one turn of its loop, against the config running
  // then: by that time another reload may have replaced `config`.
  const Shared* shared = &impl_->shared;
  for (auto& w : impl_->workers) {
    WorkerLocal* local = w.local.get();
    asio::post(*w.ioc, [local, shared] { local->ReviewTlsTunnels(*shared); });
  }
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
                    d.failures.load(),    d.latency.Read(),    c.tunnels_ended_trust.load(),
                    c.tunnels_ended_rule.load()};
}

}  // namespace rampart::proxy
