#include "upstream_pool.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <utility>

#include <sys/socket.h>

#include "socket_util.h"

namespace rampart::proxy {

namespace {

// True when the origin has neither closed the connection nor sent
// anything: a read would block.
bool LooksIdle(UpstreamPool::tcp::socket& socket) {
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::string UpstreamPool::Key(const tcp::endpoint& endpoint, const std::string& host) {
  return EndpointText(endpoint) + " " + host;
}

std::optional<UpstreamPool::tcp::socket> UpstreamPool::Take(const std::string& key,
                                                            std::chrono::milliseconds idle_timeout) {
  DropExpired(idle_timeout);
  for (size_t i = idle_.size(); i-- > 0;) {
    if (idle_[i]->key != key) continue;
    std::shared_ptr<Entry> entry = idle_[i];
    idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
    entry->parked = false;
    boost::system::error_code ignored;
    // Closed or spoken on, with its wait's handler not run yet: drop it.
    if (!LooksIdle(entry->socket)) {
      entry->socket.close(ignored);
      continue;
    }
    entry->socket.cancel(ignored);  // the watching read ends with operation_aborted
    return std::move(entry->socket);
  }
  return std::nullopt;
}

void UpstreamPool::Give(const std::string& key, tcp::socket socket, size_t max_idle,
                        std::chrono::milliseconds idle_timeout) {
  DropExpired(idle_timeout);
  if (max_idle == 0 || !socket.is_open()) return;
  while (idle_.size() >= max_idle) DropFront();  // the oldest
  auto entry = std::make_shared<Entry>(Entry{key, std::move(socket), Clock::now(), true});
  idle_.push_back(entry);
  Watch(entry);
}

void UpstreamPool::Watch(const std::shared_ptr<Entry>& entry) {
  // A peek: a byte the origin sends stays in the socket, so a Take that
  // runs before this handler still finds it (LooksIdle).
  entry->socket.async_receive(boost::asio::buffer(&entry->byte, 1), tcp::socket::message_peek,
                              [this, entry](boost::system::error_code, size_t) {
                                // Completed while parked: the origin closed or spoke out
                                // of turn. Either way the connection cannot carry another
                                // request.
                                if (entry->parked) Drop(entry.get());
                              });
}

void UpstreamPool::Drop(const Entry* entry) {
  auto it = std::find_if(idle_.begin(), idle_.end(), [entry](const auto& e) { return e.get() == entry; });
  if (it == idle_.end()) return;
  (*it)->parked = false;
  boost::system::error_code ignored;
  (*it)->socket.close(ignored);
  idle_.erase(it);
}

void UpstreamPool::DropExpired(std::chrono::milliseconds idle_timeout) {
  auto now = Clock::now();
  while (!idle_.empty() && now - idle_.front()->since >= idle_timeout) DropFront();
}

// Closing the socket ends its wait; the handler then releases the entry.
void UpstreamPool::DropFront() {
  idle_.front()->parked = false;
  boost::system::error_code ignored;
  idle_.front()->socket.close(ignored);
  idle_.erase(idle_.begin());
}

}  // namespace rampart::proxy
