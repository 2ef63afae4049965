// The client side of a proxy connection: a TCP socket, and on a TLS
// listener an OpenSSL server session over it. Internal to src/proxy.
//
// Plain connections go straight to the socket (Asio's own reads and
// writes; the tunnel relay splices the socket directly, see
// session_tunnel.cc). With TLS, OpenSSL works on the socket's descriptor
// in non-blocking mode: each operation is tried at once, and when OpenSSL
// wants the socket readable or writable the stream waits for that with
// Asio and tries again. Completion handlers are never called inline.
//
// Thread-safety: like the socket, used from its worker's thread only. One
// read and one write may be in flight at the same time (a tunnel relays
// both ways), not two of the same kind; ShutdownSend counts as the last
// write.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

struct ssl_st;
struct ssl_ctx_st;

namespace rampart::proxy {

class ClientStream {
 public:
  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;
  using IoHandler = std::function<void(error_code, size_t)>;

  explicit ClientStream(tcp::socket socket) : socket_(std::move(socket)) {}
  ~ClientStream();
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  tcp::socket& socket() { return socket_; }
  bool tls() const { return ssl_ != nullptr; }
  ssl_st* ssl() const { return ssl_; }  // null without TLS

  // Runs the server side of a TLS handshake with a session from ctx. On
  // failure the handler gets an error and tls_failure() says why.
  void AsyncHandshake(ssl_ctx_st* ctx, std::function<void(error_code)> handler);

  struct TlsFailure {
    std::string reason;              // for the access log
    bool certificate_refused = false;  // the client's certificate was missing, untrusted or invalid
    bool silent = false;             // the client went away before sending a byte
  };
  const TlsFailure& tls_failure() const { return failure_; }

  // The verified client certificate's names (PeerCertificateNames); empty
  // without TLS or without a certificate.
  std::vector<std::string> PeerNames() const;

  template <class Handler>
  void AsyncReadSome(boost::asio::mutable_buffer buffer, Handler&& handler) {
    if (ssl_ == nullptr) {
      socket_.async_read_some(buffer, std::forward<Handler>(handler));
      return;
    }
    TlsRead(buffer, IoHandler(std::forward<Handler>(handler)));
  }

  // Writes the whole buffer (like boost::asio::async_write).
  template <class Handler>
  void AsyncWrite(boost::asio::const_buffer buffer, Handler&& handler) {
    if (ssl_ == nullptr) {
      boost::asio::async_write(socket_, buffer, std::forward<Handler>(handler));
      return;
    }
    TlsWrite(buffer, 0, IoHandler(std::forward<Handler>(handler)));
  }

  // Ends the sending side: TLS sends close_notify first, then TCP's
  // half-close. When the socket buffer has no room for close_notify the
  // half-close waits until it has (in the background: the call returns at
  // once; Close ends the wait, so the caller's timer bounds it). Nothing
  // may be written afterwards; a second call does nothing.
  void ShutdownSend();
  // Cancels pending operations (their handlers get operation_aborted).
  void Cancel();
  void Close();

 private:
  void Handshake(std::function<void(error_code)> handler);
  void NoteHandshakeFailure(int ssl_error);
  void TlsRead(boost::asio::mutable_buffer buffer, IoHandler handler);
  void TlsWrite(boost::asio::const_buffer buffer, size_t done, IoHandler handler);
  // After an OpenSSL call failed with ssl_error: true when it asked for
  // the socket to be readable or writable (then `retry` runs once it is,
  // or gets the wait's error).
  bool WaitFor(int ssl_error, std::function<void(error_code)> retry);
  // The error a failed OpenSSL read or write reports to its handler.
  error_code IoError(int ssl_error, int saved_errno);
  void Post(IoHandler handler, error_code ec, size_t n);
  // Sends (the rest of) close_notify, then half-closes the socket.
  void FinishShutdown();

  tcp::socket socket_;
  ssl_st* ssl_ = nullptr;
  bool closed_ = false;
  bool fatal_ = false;  // OpenSSL reported a fatal error: no close_notify
  bool send_shut_ = false;  // ShutdownSend was called
  TlsFailure failure_;
  // Expires with the stream: a wait that completed just before the stream
  // was destroyed must not touch it (see FinishShutdown).
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace rampart::proxy
