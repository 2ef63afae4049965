#include "rampart/http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace rampart::http {
namespace {

using namespace std::chrono_literals;

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A deliberately small blocking client over a POSIX socket (and optionally
// OpenSSL), so that the test does not depend on the code under test.
class Client {
 public:
  ~Client() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }

  bool Connect(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    timeval tv{5, 0};  // never hang a test run
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }

  bool StartTls(SSL_CTX* ctx) {
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    return SSL_connect(ssl_) == 1;
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      long n = ssl_ ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                    : ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response; nullopt on EOF, error or timeout.
  std::optional<RawResponse> Read() {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    RawResponse r;
    std::string head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    r.status = std::stoi(head.substr(9, 3));
    size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      std::string line = head.substr(pos, eol - pos);
      pos = eol + 2;
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (buf_.size() < length) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // True when the server closes the connection (EOF or reset) within the
  // receive timeout, with no further bytes.
  bool WaitForClose() {
    char c;
    long n = ssl_ ? SSL_read(ssl_, &c, 1) : ::recv(fd_, &c, 1, 0);
    if (n == 0) return true;
    return n < 0 && (ssl_ != nullptr || errno == ECONNRESET);
  }

  int fd() const { return fd_; }

 private:
  bool Fill() {
    char tmp[4096];
    long n = ssl_ ? SSL_read(ssl_, tmp, sizeof tmp) : ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

// Echoes the request so tests can see what the handler was given.
void Echo(const Request& req, Response& res) {
  if (req.body_too_large) {
    res.status = 413;
    res.body = "too large";
    return;
  }
  if (req.target == "/throw") throw std::runtime_error("boom");
  res.set_header("Content-Type", "text/plain");
  res.set_header("X-Method", req.method);
  res.set_header("X-Remote", req.remote_ip);
  res.set_header("X-Tls", req.tls ? "1" : "0");
  res.set_header("X-Header-Count", std::to_string(req.headers.size()));
  if (const std::string* v = req.header("x-trace")) res.set_header("X-Trace", *v);
  res.body = req.target + "|" + req.body;
}

std::unique_ptr<Server> StartServer(ServerOptions o, Handler h = Echo) {
  o.port = 0;
  o.threads = 2;
  auto r = Server::Start(std::move(o), std::move(h));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.status().ToString());
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  for (int i = 0; i < 3; ++i) {
    std::string body = "n=" + std::to_string(i);
    ASSERT_TRUE(c.Send("POST /a?x=" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\nX-Trace: t" +
                       std::to_string(i) + "\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\n\r\n" + body));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "/a?x=" + std::to_string(i) + "|" + body);
    EXPECT_EQ(r->header("x-trace"), "t" + std::to_string(i));
    EXPECT_EQ(r->header("x-method"), "POST");
    EXPECT_EQ(r->header("x-remote"), "127.0.0.1");
    EXPECT_EQ(r->header("x-tls"), "0");
    EXPECT_EQ(r->header("x-header-count"), "3");
    EXPECT_EQ(r->header("server"), "");
    EXPECT_NE(r->header("connection"), "close");
  }
  EXPECT_EQ(server->active_connections(), 1u);
}

TEST(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
                     "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                     "GET /three HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  auto a = c.Read();
  auto b = c.Read();
  auto d = c.Read();
  ASSERT_TRUE(a && b && d);
  EXPECT_EQ(a->body, "/one|");
  EXPECT_EQ(b->body, "/two|abc");
  EXPECT_EQ(d->body, "/three|");
  EXPECT_EQ(d->header("connection"), "close");
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, ChunkedBodyIsDecoded) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "/c|abcde");
}

// Review finding: trailer fields arrive after the signed head; they must
// not become request headers.
TEST(ServerTest, ChunkedTrailersAreNotHeaders) {
  auto server = StartServer({}, [](const Request& req, Response& res) {
    res.status = 200;
    res.body = std::to_string(req.headers.size()) + "|" +
               (req.header("x-amz-security-token") ? "token" : "none") + "|" + req.body;
  });
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n0\r\nX-Amz-Security-Token: forged\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "2|none|abc");
}

TEST(ServerTest, HeadResponseHasLengthButNoBody) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /g HTTP/1.1\r\nHost: h\r\n\r\n"));
  // Read the HEAD answer by hand: its Content-Length announces no bytes.
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    char ch;
    ASSERT_EQ(::recv(c.fd(), &ch, 1, 0), 1);
    head += ch;
  }
  EXPECT_NE(head.find("Content-Length: 3"), std::string::npos) << head;
  auto r = c.Read();  // the next bytes are the GET's answer, not a body
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "/g|");
}

TEST(ServerTest, Http10ClosesUnlessKeepAliveAsked) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  {
    Client c;
    ASSERT_TRUE(c.Connect(server->port()));
    ASSERT_TRUE(c.Send("GET /old HTTP/1.0\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "/old|");
    EXPECT_TRUE(c.WaitForClose());
  }
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("connection"), "keep-alive");
  ASSERT_TRUE(c.Send("GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "/2|");
}

TEST(ServerTest, OversizedContentLengthIsRefusedWithoutReadingTheBody) {
  ServerOptions o;
  o.body_limit = 1024;
  auto server = StartServer(o);
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n" +
                     std::string(5000, 'x')));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, "too large");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, OversizedChunkedBodyIsRefused) {
  ServerOptions o;
  o.body_limit = 100;
  auto server = StartServer(o);
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  std::string chunk(80, 'y');
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n" +
                     chunk + "\r\n50\r\n" + chunk + "\r\n0\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, BodyAtTheLimitIsAccepted) {
  ServerOptions o;
  o.body_limit = 100;
  auto server = StartServer(o);
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" +
                     std::string(100, 'z')));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "/|" + std::string(100, 'z'));
}

TEST(ServerTest, SlowlorisIsCutOffByTheHeaderTimeout) {
  ServerOptions o;
  o.header_timeout = 200ms;
  auto server = StartServer(o);
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  // One header byte every 50 ms would keep a per-read timeout alive forever;
  // the deadline covers the whole head.
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ";
  auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 200 && !closed; ++i) {
    char b = i < static_cast<int>(head.size()) ? head[static_cast<size_t>(i)] : 'a';
    if (!c.Send(std::string_view(&b, 1))) closed = true;
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) closed = c.WaitForClose();
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);  // a hang guard, not a speed check
}

TEST(ServerTest, SilentConnectionIsClosedByTheHeaderTimeout) {
  ServerOptions o;
  o.header_timeout = 200ms;
  auto server = StartServer(o);
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, IdleKeepAliveConnectionIsClosed) {
  ServerOptions o;
  o.idle_timeout = 200ms;
  auto server = StartServer(o);
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(c.Read());
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, MalformedRequestGets400AndClose) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  for (std::string bad : {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
                          "GET / HTTP/9.9\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                          "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: "
                          "chunked\r\n\r\n0\r\n\r\n",
                          "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    Client c;
    ASSERT_TRUE(c.Connect(server->port()));
    ASSERT_TRUE(c.Send(bad));
    auto r = c.Read();
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.WaitForClose());
  }
}

TEST(ServerTest, OversizedHeadGets431) {
  ServerOptions o;
  o.header_limit = 1024;
  auto server = StartServer(o);
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(4000, 'b') + "\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, ExpectContinueIsHonoured) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  std::string body(2000, 'q');
  ASSERT_TRUE(c.Send("PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n\r\n"));
  auto interim = c.Read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send(body));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "/up|" + body);
}

TEST(ServerTest, ExpectContinueWithOversizedBodyGetsTheFinalAnswer) {
  ServerOptions o;
  o.body_limit = 10;
  auto server = StartServer(o);
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2000\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST(ServerTest, HandlerExceptionBecomes500) {
  auto server = StartServer({});
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("GET /throw HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
}

TEST(ServerTest, HandlerCannotInjectHeadersOrFraming) {
  auto server = StartServer({}, [](const Request&, Response& res) {
    res.status = 201;
    res.headers.push_back({"X-Evil", "a\r\nSet-Cookie: x=1"});
    res.headers.push_back({"Bad Name", "v"});
    res.headers.push_back({"Content-Length", "999"});
    res.headers.push_back({"X-Fine", "ok"});
    res.body = "hello";
  });
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(r->header("x-fine"), "ok");
  EXPECT_EQ(r->header("x-evil"), "");
  EXPECT_EQ(r->header("set-cookie"), "");
  EXPECT_EQ(r->header("content-length"), "5");
}

TEST(ServerTest, ResponseCloseFlagClosesTheConnection) {
  auto server = StartServer({}, [](const Request&, Response& res) { res.close = true; });
  ASSERT_TRUE(server);
  Client c;
  ASSERT_TRUE(c.Connect(server->port()));
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(c.WaitForClose());
}

TEST(ServerTest, BindFailureIsReported) {
  auto first = StartServer({});
  ASSERT_TRUE(first);
  ServerOptions o;
  o.port = first->port();
  auto second = Server::Start(o, Echo);
  EXPECT_FALSE(second.ok());
  ServerOptions bad_host;
  bad_host.host = "not a host name";
  bad_host.port = 0;
  EXPECT_FALSE(Server::Start(bad_host, Echo).ok());
}

TEST(ServerTest, ShutdownDrainsAnInFlightRequestAndClosesIdleOnes) {
  std::atomic<bool> started{false};
  auto server = StartServer({}, [&](const Request& req, Response& res) {
    if (req.target == "/slow") {
      started = true;
      std::this_thread::sleep_for(300ms);
    }
    res.body = "done";
  });
  ASSERT_TRUE(server);
  Client idle;
  ASSERT_TRUE(idle.Connect(server->port()));
  ASSERT_TRUE(idle.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(idle.Read());
  Client slow;
  ASSERT_TRUE(slow.Connect(server->port()));
  ASSERT_TRUE(slow.Send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n"));
  for (int i = 0; i < 500 && !started; ++i) std::this_thread::sleep_for(2ms);
  ASSERT_TRUE(started);
  std::thread stopper([&] { server->Shutdown(5s); });
  auto r = slow.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "done");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(slow.WaitForClose());
  EXPECT_TRUE(idle.WaitForClose());
  stopper.join();
  EXPECT_EQ(server->active_connections(), 0u);
  server->Shutdown(1s);  // idempotent
  Client late;
  EXPECT_FALSE(late.Connect(server->port()));
}

// A throwaway self-signed P-256 certificate for localhost.
bool WriteSelfSigned(const std::filesystem::path& cert, const std::filesystem::path& key) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x = X509_new();
  bool ok = pkey != nullptr && x != nullptr;
  if (ok) {
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    ok = X509_sign(x, pkey, EVP_sha256()) > 0;
  }
  FILE* cf = ok ? std::fopen(cert.c_str(), "w") : nullptr;
  FILE* kf = ok ? std::fopen(key.c_str(), "w") : nullptr;
  ok = ok && cf && kf && PEM_write_X509(cf, x) == 1 &&
       PEM_write_PrivateKey(kf, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (cf) std::fclose(cf);
  if (kf) std::fclose(kf);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return ok;
}

TEST(ServerTest, TlsRoundTrip) {
  auto dir = std::filesystem::temp_directory_path() /
             ("rampart-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteSelfSigned(dir / "cert.pem", dir / "key.pem"));
  ServerOptions o;
  o.tls = TlsFiles{(dir / "cert.pem").string(), (dir / "key.pem").string()};
  auto server = StartServer(o);
  ASSERT_TRUE(server);

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(SSL_CTX_load_verify_locations(ctx, (dir / "cert.pem").c_str(), nullptr), 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  {
    Client c;
    ASSERT_TRUE(c.Connect(server->port()));
    ASSERT_TRUE(c.StartTls(ctx));
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(c.Send("POST /tls HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"));
      auto r = c.Read();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body, "/tls|hi");
      EXPECT_EQ(r->header("x-tls"), "1");
    }
  }
  {
    // TLS 1.1 and below are refused.
    SSL_CTX* old = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
    SSL_CTX_set_security_level(old, 0);
    Client c;
    ASSERT_TRUE(c.Connect(server->port()));
    EXPECT_FALSE(c.StartTls(old));
    SSL_CTX_free(old);
  }
  SSL_CTX_free(ctx);
  server->Shutdown(1s);

  ServerOptions missing;
  missing.port = 0;
  missing.tls = TlsFiles{(dir / "nope.pem").string(), (dir / "key.pem").string()};
  EXPECT_FALSE(Server::Start(missing, Echo).ok());
  std::filesystem::remove_all(dir);
}

TEST(ServerTest, ConnectionsOverTheLimitAreClosed) {
  ServerOptions o;
  o.max_connections = 1;
  auto server = StartServer(o);
  ASSERT_TRUE(server);
  Client a;
  ASSERT_TRUE(a.Connect(server->port()));
  ASSERT_TRUE(a.Send("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  ASSERT_TRUE(a.Read());
  Client b;
  ASSERT_TRUE(b.Connect(server->port()));  // the kernel accepts; the server closes
  EXPECT_TRUE(b.WaitForClose());
}

}  // namespace
}  // namespace rampart::http
