// Idle keep-alive connections to origins, kept by one worker for the next
// forwarded HTTP request to the same origin.
//
// A connection is reused only for the exact key it was made for: the
// address and port that passed the SSRF check, and the normalised host
// name that passed the allowlist. A request for another name (even one
// that resolves to the same address) or one whose name now resolves
// elsewhere never gets it. An idle connection the origin closes, or on
// which it sends anything unasked, is dropped at once (each has a
// one-byte peek pending: unlike a readiness wait, a read costs no
// epoll_ctl of its own and no wakeup when the socket turns writable, but
// Asio first tries it at once, one recvfrom(MSG_PEEK) per Give); one
// idle longer than the timeout is dropped on the next Take or Give. At
// most max_idle connections wait, oldest dropped first.
//
// Thread-safety: belongs to one worker; only used from its thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace rampart::proxy {

class UpstreamPool {
 public:
  using tcp = boost::asio::ip::tcp;
  using Clock = std::chrono::steady_clock;

  // The pool key of a connection to `endpoint` made for `host`.
  static std::string Key(const tcp::endpoint& endpoint, const std::string& host);

  UpstreamPool() = default;
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // The most recently parked live connection for `key` idle for less than
  // idle_timeout, or nullopt.
  std::optional<tcp::socket> Take(const std::string& key, std::chrono::milliseconds idle_timeout);
  // Parks a connection whose last response ended cleanly. With max_idle 0
  // the connection is closed.
  void Give(const std::string& key, tcp::socket socket, size_t max_idle, std::chrono::milliseconds idle_timeout);

  size_t size() const { return idle_.size(); }

 private:
  struct Entry {
    std::string key;
    tcp::socket socket;
    Clock::time_point since;
    bool parked = true;  // false once taken or dropped
    char byte = 0;       // where the watch peeks at an unasked byte
  };

  void Watch(const std::shared_ptr<Entry>& entry);
  void Drop(const Entry* entry);
  void DropExpired(std::chrono::milliseconds idle_timeout);
  void DropFront();

  std::vector<std::shared_ptr<Entry>> idle_;  // oldest first
};

}  // namespace rampart::proxy
