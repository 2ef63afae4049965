// The HTTP/1.1 server under every Rampart service: Beast/Asio over TCP or
// TLS, one io_context per worker thread, a connection pinned to one worker.
//
// Limits are enforced before the handler sees anything: the request head
// must fit in header_limit bytes and arrive within header_timeout; a body
// over body_limit is never buffered (the handler is called with
// Request::body_too_large and an empty body, its answer is sent with
// Connection: close). Malformed HTTP gets a plain 400 and the connection is
// closed. No Boost type appears in this header (build time on small hosts).
//
// Thread-safety: Start, port and active_connections may be called from any
// thread. Shutdown may be called from any thread except a worker thread (that
// is, never from inside the handler).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "rampart/core/status.h"
#include "rampart/http/message.h"

namespace rampart::http {

// PEM files: the certificate chain (leaf first) and its private key.
struct TlsFiles {
  std::string cert_chain_file;
  std::string private_key_file;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 4566;  // 0 = an ephemeral port; see Server::port()
  unsigned threads = 0;  // 0 = std::thread::hardware_concurrency()
  size_t body_limit = 1 << 20;
  size_t header_limit = 16 * 1024;
  // The whole request head (and a TLS handshake) must arrive within this.
  std::chrono::milliseconds header_timeout{10000};
  // The body must arrive, and a response be written, within this.
  std::chrono::milliseconds body_timeout{30000};
  // A keep-alive connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout{60000};
  std::optional<TlsFiles> tls;  // TLS 1.2+ when set
  size_t max_connections = 10000;  // connections over this are closed at accept
};

class Server {
 public:
  // Binds, listens and starts the workers. Errors: a bad host, a port that
  // cannot be bound, unreadable TLS files, or threads that cannot start.
  // The handler runs synchronously on a worker thread.
  static Result<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Shutdown(0ms) when not already shut down.
  ~Server();

  // The bound port (the ephemeral one when options.port was 0).
  uint16_t port() const;

  // Stops accepting, closes idle keep-alive connections, lets requests in
  // progress finish (their responses carry Connection: close) for up to
  // `drain`, then closes whatever is left and joins the workers.
  // Idempotent. REQUIRES: not called on a worker thread.
  void Shutdown(std::chrono::milliseconds drain);

  // Connections accepted and not yet closed.
  size_t active_connections() const;

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rampart::http
