#include "rampart/http/https_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace rampart::http {
namespace {

TEST(HttpsUrl, Splits) {
  auto u = ParseHttpsUrl("https://idp.example.com/tenant/.well-known/openid-configuration");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "idp.example.com");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/tenant/.well-known/openid-configuration");
  u = ParseHttpsUrl("HTTPS://localhost:8443");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "localhost");
  EXPECT_EQ(u->port, "8443");
  EXPECT_EQ(u->target, "/");
  u = ParseHttpsUrl("https://[::1]:9000/keys?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "9000");
  EXPECT_EQ(u->target, "/keys?x=1");
}

TEST(HttpsUrl, RefusesWhatIsNotHttps) {
  for (std::string_view bad :
       {"http://idp.example.com/", "https://", "https:///path", "https://host:0/",
        "https://host:70000/", "https://host:12a/", "https://user@host/", "https://ho st/",
        "https://[::1/", "https://host/pa th", "https://host/a#frag", "ftp://host/"}) {
    EXPECT_FALSE(ParseHttpsUrl(bad).ok()) << bad;
  }
}

// A listening socket that never completes a TLS handshake: the connect
// succeeds (the kernel's backlog), then nothing answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(HttpsGet, GivesUpAtTheDeadline) {
  SilentListener silent;
  HttpsGetOptions options;
  options.timeout = std::chrono::milliseconds(300);
  auto started = std::chrono::steady_clock::now();
  auto r = HttpsGet("https://127.0.0.1:" + std::to_string(silent.port()) + "/", options);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.status().message().find("timeout"), std::string::npos) << r.status().message();
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(HttpsGet, RefusedConnectionIsUnavailable) {
  int port = 0;
  {
    SilentListener l;  // a port that was free a moment ago and is closed now
    port = l.port();
  }
  auto r = HttpsGet("https://127.0.0.1:" + std::to_string(port) + "/", HttpsGetOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
}

TEST(HttpsGet, MalformedUrlIsValidation) {
  auto r = HttpsGet("http://127.0.0.1/", HttpsGetOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kValidation);
}

}  // namespace
}  // namespace rampart::http
