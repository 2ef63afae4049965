// proxy_tls_load: new CONNECT+TLS tunnels per second through a forward
// proxy, and the time to first byte of each, in N threads for S seconds.
// Every iteration is a whole new tunnel: TCP connect to the proxy,
// "CONNECT host:port", the 200, a full TLS handshake (no resumption) with
// the given SNI, one GET, the first response byte (TTFB measured from the
// TCP connect), then the rest of the response until the origin closes.
// With --direct the same runs straight to the origin (no proxy, no
// CONNECT), as the baseline.
//
//   proxy_tls_load (--proxy IP:PORT | --direct) --target HOST:PORT
//                  --origin IP:PORT --sni NAME [--threads N] [--seconds S]
//
// --target is what CONNECT names; --origin is where --direct connects.
// The certificate is not verified (the benchmark measures transport, not
// trust). Prints one line:
//   tunnels=C seconds=S per_second=R ttfb_p50_ms=A ttfb_p99_ms=B errors=E
// Built by bench/proxy_bench.sh:
//   g++ -O2 -std=c++20 bench/proxy_tls_load.cc -o proxy_tls_load -lssl -lcrypto -pthread
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string proxy;   // IP:PORT, empty with --direct
  std::string target;  // HOST:PORT for CONNECT
  std::string origin;  // IP:PORT for --direct
  std::string sni;
  int threads = 16;
  int seconds = 10;
};

bool ParseAddress(const std::string& text, sockaddr_in* out) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(std::atoi(text.c_str() + colon + 1)));
  return inet_pton(AF_INET, text.substr(0, colon).c_str(), &out->sin_addr) == 1;
}

int ConnectTo(const sockaddr_in& addr) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends CONNECT and reads the proxy's answer head byte by byte (so no
// tunnel byte is consumed); true on a 200.
bool OpenTunnel(int fd, const std::string& target) {
  std::string req = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return false;
  std::string head;
  char c;
  while (head.size() < 4096 && head.find("\r\n\r\n") == std::string::npos) {
    if (::recv(fd, &c, 1, 0) != 1) return false;
    head.push_back(c);
  }
  return head.rfind("HTTP/1.1 200", 0) == 0 || head.rfind("HTTP/1.0 200", 0) == 0;
}

struct ThreadResult {
  std::vector<double> ttfb_ms;
  uint64_t errors = 0;
};

// One tunnel; returns its TTFB in ms, or a negative number on failure.
double OneTunnel(const Options& o, const sockaddr_in& dest, SSL_CTX* ctx) {
  auto start = Clock::now();
  int fd = ConnectTo(dest);
  if (fd < 0) return -1;
  double ttfb = -1;
  SSL* ssl = nullptr;
  if (o.proxy.empty() || OpenTunnel(fd, o.target)) {
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, o.sni.c_str());
    std::string get = "GET / HTTP/1.1\r\nHost: " + o.sni + "\r\nConnection: close\r\n\r\n";
    char buf[16384];
    if (SSL_connect(ssl) == 1 && SSL_write(ssl, get.data(), static_cast<int>(get.size())) > 0 &&
        SSL_read(ssl, buf, sizeof buf) > 0) {
      ttfb = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      while (SSL_read(ssl, buf, sizeof buf) > 0) {
      }
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  ::close(fd);
  return ttfb;
}

void Run(const Options& o, const sockaddr_in& dest, SSL_CTX* ctx, Clock::time_point until, ThreadResult* out) {
  while (Clock::now() < until) {
    double ms = OneTunnel(o, dest, ctx);
    if (ms < 0) {
      out->errors++;
    } else {
      out->ttfb_ms.push_back(ms);
    }
  }
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

int Usage() {
  std::fprintf(stderr,
               "usage: proxy_tls_load (--proxy IP:PORT | --direct) --target HOST:PORT --origin IP:PORT "
               "--sni NAME [--threads N] [--seconds S]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool direct = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--proxy") o.proxy = next();
    else if (a == "--direct") direct = true;
    else if (a == "--target") o.target = next();
    else if (a == "--origin") o.origin = next();
    else if (a == "--sni") o.sni = next();
    else if (a == "--threads") o.threads = std::atoi(next().c_str());
    else if (a == "--seconds") o.seconds = std::atoi(next().c_str());
    else return Usage();
  }
  if (direct == !o.proxy.empty() || o.sni.empty() || o.threads < 1 || o.seconds < 1) return Usage();
  if (!direct && o.target.empty()) return Usage();
  sockaddr_in dest;
  if (!ParseAddress(direct ? o.origin : o.proxy, &dest)) return Usage();

  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);

  auto start = Clock::now();
  auto until = start + std::chrono::seconds(o.seconds);
  std::vector<ThreadResult> results(static_cast<size_t>(o.threads));
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back(Run, std::cref(o), std::cref(dest), ctx, until, &r);
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> all;
  uint64_t errors = 0;
  for (auto& r : results) {
    all.insert(all.end(), r.ttfb_ms.begin(), r.ttfb_ms.end());
    errors += r.errors;
  }
  size_t n = all.size();
  double p50 = Percentile(all, 0.50);
  double p99 = Percentile(all, 0.99);
  std::printf("tunnels=%zu seconds=%.1f per_second=%.0f ttfb_p50_ms=%.2f ttfb_p99_ms=%.2f errors=%llu\n", n, elapsed,
              static_cast<double>(n) / elapsed, p50, p99, static_cast<unsigned long long>(errors));
  SSL_CTX_free(ctx);
  return errors == 0 ? 0 : 1;
}
