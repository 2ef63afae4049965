#include "fetch.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "rampart/proxy/http_body.h"
#include "rampart/proxy/http_head.h"
#include "rampart/proxy/net.h"

namespace rampart::proxy {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr size_t kMaxResponseHead = 64 * 1024;

struct Url {
  bool tls = false;
  Target target;
};

Result<Url> ParseUrl(const std::string& url) {
  Url out;
  std::string_view rest = url;
  if (rest.size() > 8 && EqualsIgnoreCase(rest.substr(0, 8), "https://")) {
    out.tls = true;
    rest.remove_prefix(8);
  } else if (rest.size() > 7 && EqualsIgnoreCase(rest.substr(0, 7), "http://")) {
    rest.remove_prefix(7);
  } else {
    return Status::Validation("not an http:// or https:// URL");
  }
  // Reuse the proxy's strict absolute-form parser; only the default port differs.
  auto t = ParseAbsoluteTarget("http://" + std::string(rest));
  if (!t.ok()) return t.status();
  out.target = std::move(t).value();
  size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  bool has_port = authority.rfind(':') != std::string_view::npos && authority.back() != ']';
  if (out.tls && !has_port) out.target.port = 443;
  return out;
}

// A connected socket with send/receive timeouts (connect honours the send
// timeout on Linux).
class Socket {
 public:
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

  Status Connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    std::string port_text = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &list);
    if (rc != 0) return Status::Error(ErrorCode::kUnavailable, std::string("cannot resolve: ") + gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(list, &::freeaddrinfo);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    std::string last = "no address";
    for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        fd_ = fd;
        return Status::Ok();
      }
      last = std::strerror(errno);
      ::close(fd);
    }
    return Status::Error(ErrorCode::kUnavailable, "cannot connect: " + last);
  }

 private:
  int fd_ = -1;
};

// Reads and writes over the plain socket or its TLS session.
class Stream {
 public:
  explicit Stream(int fd) : fd_(fd) {}
  ~Stream() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }

  Status StartTls(const std::string& host, const std::string& ca_file) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (ctx_ == nullptr) return TlsError("cannot create a TLS context");
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_)
                                 : SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
    if (loaded != 1) return TlsError("cannot load trust anchors");
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) return TlsError("cannot create a TLS session");
    if (ParseIp(host)) {
      // An IP literal: no SNI (RFC 6066), and the certificate must name the address.
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str()) != 1) {
        return TlsError("cannot check the certificate against the address");
      }
    } else if (SSL_set_tlsext_host_name(ssl_, host.c_str()) != 1 ||
               SSL_set1_host(ssl_, host.c_str()) != 1) {
      // Without the name check any trusted certificate would do.
      return TlsError("cannot check the certificate against the host name");
    }
    if (SSL_connect(ssl_) != 1) {
      long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) {
        return Status::Error(ErrorCode::kUnavailable,
                             std::string("TLS: certificate not trusted: ") + X509_verify_cert_error_string(verify));
      }
      return TlsError("TLS handshake failed");
    }
    return Status::Ok();
  }

  bool WriteAll(std::string_view data) {
    while (!data.empty()) {
      long n = ssl_ != nullptr ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                               : ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // > 0 bytes read, 0 at the end, < 0 on error or timeout.
  long Read(char* buf, size_t size) {
    if (ssl_ == nullptr) return ::recv(fd_, buf, size, 0);
    int n = SSL_read(ssl_, buf, static_cast<int>(size));
    if (n > 0) return n;
    return SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
  }

 private:
  static Status TlsError(std::string what) {
    ERR_clear_error();
    return Status::Error(ErrorCode::kUnavailable, "TLS: " + what);
  }

  int fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

// The body once the response is complete: at Content-Length (the server
// need not close; over TLS an unclean close is then harmless) or at the
// end of the connection.
Result<std::string> ReadResponse(Stream& stream, const FetchOptions& options, SteadyClock::time_point deadline) {
  using Kind = ResponseFraming::Kind;
  std::string data;
  char buf[16384];
  size_t limit = kMaxResponseHead + options.max_body_bytes;
  std::optional<size_t> end;
  ResponseFraming framing;
  while (true) {
    if (end && framing.kind == Kind::kLength && data.size() - *end >= framing.length) break;
    if (SteadyClock::now() > deadline) return Status::Error(ErrorCode::kUnavailable, "timed out");
    long n = stream.Read(buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) return Status::Error(ErrorCode::kUnavailable, "read failed or timed out");
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > limit) return Status::Error(ErrorCode::kUnavailable, "response too large");
    if (end) continue;
    end = FindHeadEnd(data);
    if (!end) continue;
    if (*end > kMaxResponseHead) return Status::Error(ErrorCode::kUnavailable, "response head too large");
    auto head = ParseResponseHead(std::string_view(data).substr(0, *end));
    if (!head.ok()) return Status::Error(ErrorCode::kUnavailable, "bad response: " + head.status().message());
    if (head->status != 200) return Status::Error(ErrorCode::kUnavailable, "answered " + std::to_string(head->status));
    auto f = GetResponseFraming(*head, "GET");
    if (!f.ok()) return Status::Error(ErrorCode::kUnavailable, "bad response: " + f.status().message());
    if (f->kind == Kind::kChunked) return Status::Error(ErrorCode::kUnavailable, "chunked answer to HTTP/1.0");
    framing = *f;
  }
  if (!end) return Status::Error(ErrorCode::kUnavailable, "no complete response head");
  std::string body = data.substr(*end);
  if (framing.kind == Kind::kLength && body.size() != framing.length) {
    return Status::Error(ErrorCode::kUnavailable, "body shorter or longer than its Content-Length");
  }
  if (body.size() > options.max_body_bytes) return Status::Error(ErrorCode::kUnavailable, "response too large");
  return body;
}

Result<std::string> Fetch(const std::string& url, const FetchOptions& options) {
  auto deadline = SteadyClock::now() + options.timeout;
  ASSIGN_OR_RETURN(Url u, ParseUrl(url));
  Socket socket;
  RETURN_IF_ERROR(socket.Connect(u.target.host, u.target.port, options.timeout));
  Stream stream(socket.fd());
  if (u.tls) RETURN_IF_ERROR(stream.StartTls(u.target.host, options.ca_file));
  bool v6 = u.target.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + u.target.host + "]" : u.target.host;
  bool default_port = u.target.port == (u.tls ? 443 : 80);
  std::string request = "GET " + u.target.path + " HTTP/1.0\r\nHost: " + host +
                        (default_port ? "" : ":" + std::to_string(u.target.port)) +
                        "\r\nUser-Agent: rampart-proxy\r\nAccept: text/plain\r\nConnection: close\r\n\r\n";
  if (!stream.WriteAll(request)) return Status::Error(ErrorCode::kUnavailable, "write failed");
  return ReadResponse(stream, options, deadline);
}

}  // namespace

Result<std::string> FetchUrl(const std::string& url, const FetchOptions& options) {
  auto body = Fetch(url, options);
  if (!body.ok()) return Status::Error(ErrorCode::kUnavailable, "fetch " + url + ": " + body.status().message());
  return body;
}

}  // namespace rampart::proxy
