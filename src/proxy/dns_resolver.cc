#include "dns_resolver.h"

#include <ares.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace rampart::proxy {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using SteadyClock = std::chrono::steady_clock;

void InitLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

std::chrono::milliseconds TryTimeout(const Config& cfg) {
  auto half = cfg.limits.connect_timeout / 2;
  return std::clamp<std::chrono::milliseconds>(half, std::chrono::milliseconds(100),
                                               std::chrono::milliseconds(5000));
}

std::string ChannelKey(const Config& cfg) {
  return ServersCsv(cfg.dns.servers) + "|" + std::to_string(TryTimeout(cfg).count()) + "|" +
         std::to_string(cfg.dns.cache_entries);
}

std::optional<IpAddress> FromSockaddr(const sockaddr* sa) {
  IpAddress ip;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(ip.bytes.data(), &in->sin_addr, 4);
    return ip;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ip.v6 = true;
    std::memcpy(ip.bytes.data(), &in6->sin6_addr, 16);
    return ip;
  }
  return std::nullopt;
}

}  // namespace

class DnsResolver::Channel {
 public:
  Channel(asio::io_context& ioc, DnsCounters* counters, const Config& cfg)
      : ioc_(ioc), counters_(counters), key_(ChannelKey(cfg)), timer_(ioc), cache_(cfg.dns.cache_entries) {
    InitLibrary();
    ares_options opts{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
    opts.sock_state_cb = &Channel::OnSockState;
    opts.sock_state_cb_data = this;
    opts.timeout = static_cast<int>(TryTimeout(cfg).count());
    opts.tries = 2;
    // The name that was checked is the name resolved: no search domains.
    opts.flags = ARES_FLAG_NOSEARCH;
    char lookups[] = "b";
    if (!cfg.dns.servers.empty()) {
      mask |= ARES_OPT_LOOKUPS;  // configured servers only, not /etc/hosts
      opts.lookups = lookups;
    }
    int rc = ares_init_options(&channel_, &opts, mask);
    if (rc != ARES_SUCCESS) {
      init_error_ = std::string("dns: cannot start resolver: ") + ares_strerror(rc);
      channel_ = nullptr;
      return;
    }
    if (!cfg.dns.servers.empty()) {
      rc = ares_set_servers_ports_csv(channel_, ServersCsv(cfg.dns.servers).c_str());
      if (rc != ARES_SUCCESS) init_error_ = std::string("dns: bad server list: ") + ares_strerror(rc);
    }
  }

  ~Channel() {
    *alive_ = false;
    destroying_ = true;
    if (channel_ != nullptr) ares_destroy(channel_);  // drops pending queries (not called back)
    for (auto& [fd, w] : watches_) w.descriptor->release();
    timer_.cancel();
  }

  const std::string& key() const { return key_; }
  size_t pending() const { return pending_; }

  void Lookup(const std::string& name, Callback done) {
    if (!init_error_.empty()) return done(DnsAnswer{DnsAnswer::Kind::kError, {}, init_error_});
    if (const auto* hit = cache_.Find(name, SteadyClock::now())) {
      counters_->cache_hits++;
      return done(DnsAnswer{DnsAnswer::Kind::kOk, *hit, {}});
    }
    auto* query = new Query{this, name, std::move(done), SteadyClock::now()};
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT;
    ++pending_;
    ares_getaddrinfo(channel_, name.c_str(), nullptr, &hints, &Channel::OnAnswer, query);
    ResetTimer();
  }

 private:
  struct Query {
    Channel* channel;
    std::string name;
    Callback done;
    SteadyClock::time_point started;
  };

  struct Watch {
    std::unique_ptr<asio::posix::stream_descriptor> descriptor;
    uint64_t generation = 0;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
  };

  static void OnAnswer(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
    std::unique_ptr<Query> query(static_cast<Query*>(arg));
    Channel* self = query->channel;
    self->pending_--;
    if (status == ARES_EDESTRUCTION || self->destroying_) {
      if (result != nullptr) ares_freeaddrinfo(result);
      return;
    }
    DnsAnswer answer;
    if (status == ARES_SUCCESS || status == ARES_ENODATA) {
      answer.kind = DnsAnswer::Kind::kOk;
      int ttl = -1;
      for (auto* n = result != nullptr ? result->nodes : nullptr; n != nullptr; n = n->ai_next) {
        auto ip = FromSockaddr(n->ai_addr);
        if (!ip || std::find(answer.addresses.begin(), answer.addresses.end(), *ip) != answer.addresses.end()) continue;
        answer.addresses.push_back(*ip);
        ttl = ttl < 0 ? n->ai_ttl : std::min(ttl, n->ai_ttl);
      }
      self->cache_.Put(query->name, answer.addresses, std::chrono::seconds(std::max(ttl, 0)), SteadyClock::now());
    } else if (status == ARES_ENOTFOUND) {
      answer.kind = DnsAnswer::Kind::kNotFound;
    } else {
      answer.error = std::string("dns: ") + ares_strerror(status);
      self->counters_->failures++;
    }
    if (result != nullptr) ares_freeaddrinfo(result);
    self->counters_->latency.Observe(
        std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - query->started));
    query->done(std::move(answer));
  }

  static void OnSockState(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Channel*>(data)->SockState(fd, readable != 0, writable != 0);
  }

  void SockState(int fd, bool readable, bool writable) {
    auto it = watches_.find(fd);
    if (!readable && !writable) {
      if (it != watches_.end()) {
        it->second.descriptor->release();  // c-ares closes the descriptor itself
        watches_.erase(it);
      }
      return;
    }
    if (destroying_) return;
    if (it == watches_.end()) {
      Watch w;
      w.descriptor = std::make_unique<asio::posix::stream_descriptor>(ioc_, fd);
      w.generation = ++generation_;
      it = watches_.emplace(fd, std::move(w)).first;
    }
    it->second.want_read = readable;
    it->second.want_write = writable;
    StartWaits(fd, it->second);
  }

  void StartWaits(int fd, Watch& w) {
    if (w.want_read && !w.reading) Wait(fd, w, true);
    if (w.want_write && !w.writing) Wait(fd, w, false);
  }

  void Wait(int fd, Watch& w, bool read) {
    (read ? w.reading : w.writing) = true;
    auto type = read ? asio::posix::stream_descriptor::wait_read : asio::posix::stream_descriptor::wait_write;
    std::weak_ptr<bool> alive = alive_;
    w.descriptor->async_wait(type, [this, alive, fd, gen = w.generation, read](error_code ec) {
      if (alive.expired() || !*alive.lock()) return;
      auto it = watches_.find(fd);
      if (it == watches_.end() || it->second.generation != gen) return;  // closed (maybe reused) meanwhile
      (read ? it->second.reading : it->second.writing) = false;
      if (ec) return;
      ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
      // Processing may have closed the socket or changed what it waits for.
      it = watches_.find(fd);
      if (it != watches_.end() && it->second.generation == gen) StartWaits(fd, it->second);
      ResetTimer();
    });
  }

  void ResetTimer() {
    if (channel_ == nullptr || destroying_) return;
    timeval buf{};
    timeval* tv = ares_timeout(channel_, nullptr, &buf);
    if (tv == nullptr) {
      timer_.cancel();
      return;
    }
    timer_.expires_after(std::chrono::seconds(tv->tv_sec) + std::chrono::microseconds(tv->tv_usec) +
                         std::chrono::milliseconds(1));
    std::weak_ptr<bool> alive = alive_;
    timer_.async_wait([this, alive](error_code ec) {
      if (ec || alive.expired() || !*alive.lock()) return;
      ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      ResetTimer();
    });
  }

  asio::io_context& ioc_;
  DnsCounters* counters_;
  std::string key_;
  std::string init_error_;
  ares_channel channel_ = nullptr;
  std::map<int, Watch> watches_;
  uint64_t generation_ = 0;
  asio::steady_timer timer_;
  DnsCache cache_;
  size_t pending_ = 0;
  bool destroying_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

DnsResolver::DnsResolver(asio::io_context& ioc, DnsCounters* counters) : ioc_(ioc), counters_(counters) {}

DnsResolver::~DnsResolver() = default;

void DnsResolver::Resolve(const Config& cfg, const std::string& name, Callback done) {
  std::erase_if(retired_, [](const std::unique_ptr<Channel>& c) { return c->pending() == 0; });
  if (!current_ || current_->key() != ChannelKey(cfg)) {
    if (current_) retired_.push_back(std::move(current_));
    current_ = std::make_unique<Channel>(ioc_, counters_, cfg);
  }
  current_->Lookup(name, std::move(done));
}

}  // namespace rampart::proxy
