#include "client_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>

#include <boost/asio/post.hpp>

#include "tls_server.h"

namespace rampart::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

ClientStream::~ClientStream() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // the descriptor is the socket's (SSL_set_fd does not own it)
}

void ClientStream::AsyncHandshake(ssl_ctx_st* ctx, std::function<void(error_code)> handler) {
  error_code ec;
  socket_.native_non_blocking(true, ec);
  ERR_clear_error();
  if (!ec) ssl_ = SSL_new(ctx);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, socket_.native_handle()) != 1) {
    ERR_clear_error();
    failure_.reason = "tls: cannot create a session";
    asio::post(socket_.get_executor(), [handler] { handler(asio::error::no_memory); });
    return;
  }
  SSL_set_accept_state(ssl_);
  Handshake(std::move(handler));
}

void ClientStream::Handshake(std::function<void(error_code)> handler) {
  if (closed_) {
    asio::post(socket_.get_executor(), [handler] { handler(asio::error::operation_aborted); });
    return;
  }
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    asio::post(socket_.get_executor(), [handler] { handler(error_code()); });
    return;
  }
  int err = SSL_get_error(ssl_, r);
  bool waiting = WaitFor(err, [this, handler](error_code ec) {
    if (ec) return handler(ec);
    Handshake(handler);
  });
  if (waiting) return;
  NoteHandshakeFailure(err);
  asio::post(socket_.get_executor(), [handler] { handler(error_code(EPROTO, boost::system::system_category())); });
}

// Why a handshake failed, in terms an operator can act on: the client's
// certificate (missing, untrusted, expired...) or the TLS exchange itself.
void ClientStream::NoteHandshakeFailure(int ssl_error) {
  fatal_ = true;
  unsigned long e = ERR_peek_error();
  long verify = SSL_get_verify_result(ssl_);
  if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN) {
    failure_.reason = "client closed during the TLS handshake";
    failure_.silent = BIO_number_read(SSL_get_rbio(ssl_)) == 0;
  } else if (verify != X509_V_OK) {
    failure_.certificate_refused = true;
    failure_.reason = std::string("client certificate refused: ") + X509_verify_cert_error_string(verify);
  } else if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    failure_.certificate_refused = true;
    failure_.reason = "client certificate required";
  } else {
    const char* why = e != 0 ? ERR_reason_error_string(e) : nullptr;
    failure_.reason = std::string("tls handshake failed: ") + (why != nullptr ? why : "unknown error");
  }
  ERR_clear_error();
}

std::vector<std::string> ClientStream::PeerNames() const { return PeerCertificateNames(ssl_); }

void ClientStream::TlsRead(asio::mutable_buffer buffer, IoHandler handler) {
  if (closed_) return Post(std::move(handler), asio::error::operation_aborted, 0);
  if (buffer.size() == 0) return Post(std::move(handler), error_code(), 0);
  size_t n = 0;
  ERR_clear_error();
  errno = 0;
  int r = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &n);
  int saved_errno = errno;
  if (r == 1) return Post(std::move(handler), error_code(), n);
  int err = SSL_get_error(ssl_, r);
  bool waiting = WaitFor(err, [this, buffer, handler](error_code ec) {
    if (ec) return handler(ec, 0);
    TlsRead(buffer, handler);
  });
  if (!waiting) Post(std::move(handler), IoError(err, saved_errno), 0);
}

// Loops over partial writes (SSL_MODE_ENABLE_PARTIAL_WRITE); a retry after
// "want write" passes the same bytes again, as OpenSSL requires.
void ClientStream::TlsWrite(asio::const_buffer buffer, size_t done, IoHandler handler) {
  if (closed_) return Post(std::move(handler), asio::error::operation_aborted, done);
  while (done < buffer.size()) {
    size_t n = 0;
    ERR_clear_error();
    errno = 0;
    int r = SSL_write_ex(ssl_, static_cast<const char*>(buffer.data()) + done, buffer.size() - done, &n);
    int saved_errno = errno;
    if (r == 1) {
      done += n;
      continue;
    }
    int err = SSL_get_error(ssl_, r);
    bool waiting = WaitFor(err, [this, buffer, done, handler](error_code ec) {
      if (ec) return handler(ec, done);
      TlsWrite(buffer, done, handler);
    });
    if (!waiting) Post(std::move(handler), IoError(err, saved_errno), done);
    return;
  }
  Post(std::move(handler), error_code(), done);
}

bool ClientStream::WaitFor(int ssl_error, std::function<void(error_code)> retry) {
  if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) return false;
  socket_.async_wait(ssl_error == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write,
                     std::move(retry));
  return true;
}

error_code ClientStream::IoError(int ssl_error, int saved_errno) {
  ERR_clear_error();
  if (ssl_error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
  fatal_ = true;
  if (ssl_error == SSL_ERROR_SYSCALL && saved_errno != 0) {
    return error_code(saved_errno, boost::system::system_category());
  }
  if (ssl_error == SSL_ERROR_SYSCALL) return asio::error::eof;
  return error_code(EPROTO, boost::system::system_category());
}

void ClientStream::Post(IoHandler handler, error_code ec, size_t n) {
  asio::post(socket_.get_executor(), [handler = std::move(handler), ec, n] { handler(ec, n); });
}

void ClientStream::ShutdownSend() {
  if (closed_ || send_shut_) return;
  send_shut_ = true;
  FinishShutdown();
}

// close_notify only on a healthy, established session (OpenSSL forbids it
// after a fatal error). An alert that did not fit in the socket buffer
// stays in OpenSSL's; calling SSL_shutdown again once the socket is
// writable sends the rest. A TCP half-close before that would cut the
// alert off, and the client would see a truncated stream.
void ClientStream::FinishShutdown() {
  if (closed_) return;
  if (ssl_ != nullptr && !fatal_ && SSL_is_init_finished(ssl_) == 1) {
    ERR_clear_error();
    int r = SSL_shutdown(ssl_);
    int err = r < 0 ? SSL_get_error(ssl_, r) : SSL_ERROR_NONE;
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_WRITE) {
      std::weak_ptr<char> alive = alive_;
      socket_.async_wait(tcp::socket::wait_write, [this, alive](error_code ec) {
        if (ec || alive.expired()) return;  // closed (or gone) meanwhile: nothing left to end
        FinishShutdown();
      });
      return;
    }
  }
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

void ClientStream::Cancel() {
  error_code ignored;
  socket_.cancel(ignored);
}

void ClientStream::Close() {
  closed_ = true;
  error_code ignored;
  socket_.close(ignored);
}

}  // namespace rampart::proxy
