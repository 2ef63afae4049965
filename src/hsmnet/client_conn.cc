#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "rampart/hsmnet/client.h"

namespace rampart::hsmnet {
namespace {

constexpr uint32_t kDeviceError = 0x30;  // CKR_DEVICE_ERROR

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

bool SplitHostPort(const std::string& node, std::string& host, std::string& port) {
  size_t colon = node.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == node.size()) return false;
  host = node.substr(0, colon);
  port = node.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return port.find_first_not_of("0123456789") == std::string::npos && port.size() <= 5;
}

void SetTimeouts(int fd, int timeout_ms) {
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// A TCP connection with a connect timeout; -1 on failure.
// connect_ms bounds the connect; timeout_ms each read and write after it.
int ConnectTcp(const std::string& host, const std::string& port, int connect_ms, int timeout_ms) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof(err);
      rc = (poll(&p, 1, connect_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
            err == 0) ? 0 : -1;
    }
    if (rc != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    SetTimeouts(fd, timeout_ms);
  }
  return fd;
}

bool ReadExact(SSL* ssl, char* out, size_t n) {
  while (n > 0) {
    size_t got = 0;
    if (SSL_read_ex(ssl, out, n, &got) != 1) return false;
    out += got;
    n -= got;
  }
  return true;
}

// Blocks SIGPIPE on this thread for its lifetime and discards one raised
// meanwhile: a write to a node that died must fail with EPIPE, not kill the
// application (OpenSSL writes with write(2), without MSG_NOSIGNAL).
class ScopedNoSigpipe {
 public:
  ScopedNoSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~ScopedNoSigpipe() {
    if (!was_pending_) {
      timespec zero{0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedNoSigpipe(const ScopedNoSigpipe&) = delete;
  ScopedNoSigpipe& operator=(const ScopedNoSigpipe&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

}  // namespace

bool ParseClientConfig(std::string_view text, ClientConfig& config, std::string* error) {
  std::istringstream in{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    size_t eq = t.find('=');
    std::string name = eq == std::string::npos ? "" : Trim(t.substr(0, eq));
    std::string value = eq == std::string::npos ? "" : Trim(t.substr(eq + 1));
    std::string host, port;
    if (name == "node" && SplitHostPort(value, host, port) && config.nodes.size() < kMaxNodes) {
      config.nodes.push_back(value);
    } else if (name == "cert" && !value.empty()) {
      config.cert_file = value;
    } else if (name == "key" && !value.empty()) {
      config.key_file = value;
    } else if (name == "ca" && !value.empty()) {
      config.ca_file = value;
    } else if (name == "timeout_ms" && !value.empty() && value.size() <= 7 &&
               value.find_first_not_of("0123456789") == std::string::npos && std::stoi(value) > 0) {
      config.timeout_ms = std::stoi(value);
    } else {
      *error = "line " + std::to_string(number) + ": expected node = HOST:PORT, cert, key, ca or timeout_ms";
      return false;
    }
  }
  if (config.nodes.empty() || config.cert_file.empty() || config.key_file.empty() ||
      config.ca_file.empty()) {
    *error = "node, cert, key and ca are required";
    return false;
  }
  return true;
}

bool LoadClientConfig(const std::string& path, ClientConfig& config, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return ParseClientConfig(buf.str(), config, error);
}

std::unique_ptr<Client> Client::Create(ClientConfig config, std::string* error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    *error = "SSL_CTX_new failed";
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, config.cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1 ||
      SSL_CTX_load_verify_locations(ctx, config.ca_file.c_str(), nullptr) != 1) {
    SSL_CTX_free(ctx);
    *error = "cannot load the client certificate, key or CA";
    return nullptr;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return std::unique_ptr<Client>(new Client(std::move(config), ctx));
}

Client::Client(ClientConfig config, SSL_CTX* ctx) : config_(std::move(config)), ctx_(ctx) {}

Client::~Client() {
  Disconnect();
  OPENSSL_cleanse(login_.password.data(), login_.password.size());
  SSL_CTX_free(ctx_);
}

void Client::Disconnect() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (fd_ >= 0) close(fd_);
  ssl_ = nullptr;
  fd_ = -1;
}

bool Client::Connect(const std::string& node) {
  Disconnect();
  std::string host, port;
  if (!SplitHostPort(node, host, port)) return false;
  int connect_ms = config_.connect_timeout_ms > 0 ? config_.connect_timeout_ms : config_.timeout_ms;
  fd_ = ConnectTcp(host, port, connect_ms, config_.timeout_ms);
  if (fd_ < 0) return false;
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr) return false;
  // The server certificate must name the node we dialled.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
  in6_addr addr6;
  in_addr addr4;
  bool is_ip = inet_pton(AF_INET, host.c_str(), &addr4) == 1 || inet_pton(AF_INET6, host.c_str(), &addr6) == 1;
  if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1
            : (SSL_set1_host(ssl_, host.c_str()) != 1 || SSL_set_tlsext_host_name(ssl_, host.c_str()) != 1)) {
    return false;
  }
  if (SSL_set_fd(ssl_, fd_) != 1 || SSL_connect(ssl_) != 1) {
    Disconnect();
    return false;
  }
  ++connects_;
  return true;
}

bool Client::Exchange(const Request& request, Response& response) {
  if (ssl_ == nullptr) return false;
  std::string frame = EncodeRequest(request);
  size_t written = 0;
  bool sent = SSL_write_ex(ssl_, frame.data(), frame.size(), &written) == 1 && written == frame.size();
  OPENSSL_cleanse(frame.data(), frame.size());
  if (!sent) return false;
  std::string header(kHeaderSize, '\0');
  if (!ReadExact(ssl_, header.data(), header.size())) return false;
  auto h = DecodeHeader(header);
  if (!h || h->op != request.op) return false;
  std::string body(h->body_size, '\0');
  if (!ReadExact(ssl_, body.data(), body.size())) return false;
  auto decoded = DecodeResponse(h->op, body);
  OPENSSL_cleanse(body.data(), body.size());
  if (!decoded) return false;
  response = std::move(*decoded);
  return true;
}

bool Client::Handshake() {
  Request hello;
  hello.op = Op::kHello;
  Response r;
  if (!Exchange(hello, r)) return false;
  if (r.rv == 0 && config_.learn_nodes) {
    for (const std::string& n : r.nodes) {
      std::string host, port;
      bool known = std::find(config_.nodes.begin(), config_.nodes.end(), n) != config_.nodes.end();
      if (!known && SplitHostPort(n, host, port) && config_.nodes.size() < kMaxNodes) {
        config_.nodes.push_back(n);
      }
    }
  }
  if (!logged_in_) return true;
  Response login;
  if (!Exchange(login_, login)) return false;
  // A refused login (revoked user) ends the remembered login; the caller's
  // request then answers CKR_USER_NOT_LOGGED_IN from the server.
  if (login.rv != 0) logged_in_ = false;
  return true;
}

Response Client::Call(const Request& request) {
  std::lock_guard<std::mutex> lock(mu_);
  ScopedNoSigpipe no_sigpipe;
  // Every node once, starting with the current connection (or node).
  size_t attempts = config_.nodes.size() + 1;
  for (size_t attempt = 0; attempt < attempts; ++attempt) {
    if (ssl_ == nullptr) {
      const std::string node = config_.nodes[node_index_ % config_.nodes.size()];
      if (!Connect(node) || !Handshake()) {
        Disconnect();
        node_index_ = (node_index_ + 1) % config_.nodes.size();
        continue;
      }
    }
    Response response;
    if (Exchange(request, response)) {
      if (request.op == Op::kLogin && response.rv == 0) {
        login_ = request;
        logged_in_ = true;
      } else if (request.op == Op::kLogout) {
        logged_in_ = false;
        OPENSSL_cleanse(login_.password.data(), login_.password.size());
      }
      return response;
    }
    Disconnect();
    node_index_ = (node_index_ + 1) % config_.nodes.size();
  }
  Response failed;
  failed.op = request.op;
  failed.rv = kDeviceError;
  return failed;
}

std::string Client::current_node() {
  std::lock_guard<std::mutex> lock(mu_);
  return ssl_ == nullptr ? "" : config_.nodes[node_index_ % config_.nodes.size()];
}

std::vector<std::string> Client::nodes() {
  std::lock_guard<std::mutex> lock(mu_);
  return config_.nodes;
}

uint64_t Client::connects() {
  std::lock_guard<std::mutex> lock(mu_);
  return connects_;
}

}  // namespace rampart::hsmnet
