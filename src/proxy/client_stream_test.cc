// ClientStream over real loopback TCP: the server side runs on an Asio
// io_context as in a worker, the client is blocking OpenSSL on a thread.
// Covers the handshake with and without client certificates, reads and
// writes (with a slow reader, so writes must wait for the socket), and
// close_notify on ShutdownSend (also when the socket buffer is full, over
// a Unix socket pair where "full" is exact).
#include "client_stream.h"

#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>

#include "tls_server.h"
#include "tls_test_certs.h"

namespace rampart::proxy {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using tls_test::CertPtr;
using tls_test::KeyPtr;
using tls_test::MakeCert;
using tls_test::NewKey;

// A CA, the proxy's certificate, a client certificate from the CA and one
// from a CA the proxy does not know; the server context loaded from PEM
// files.
class ClientStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rampart-stream-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    ca_key_ = NewKey();
    ca_ = MakeCert(ca_key_.get(), {"test CA"}, "", nullptr, nullptr, true);
    server_key_ = NewKey();
    server_ = MakeCert(server_key_.get(), {"proxy.test"}, "DNS:proxy.test", ca_.get(), ca_key_.get());
    client_key_ = NewKey();
    client_ = MakeCert(client_key_.get(), {"Build-7"}, "DNS:ci.clients.test", ca_.get(), ca_key_.get());
    stranger_key_ = NewKey();
    CertPtr stranger_ca = MakeCert(stranger_key_.get(), {"other CA"}, "", nullptr, nullptr, true);
    stranger_ = MakeCert(client_key_.get(), {"build-7"}, "", stranger_ca.get(), stranger_key_.get());
    Write("ca.pem", [this](FILE* f) { PEM_write_X509(f, ca_.get()); });
    Write("server.pem", [this](FILE* f) { PEM_write_X509(f, server_.get()); });
    Write("server.key", [this](FILE* f) {
      PEM_write_PrivateKey(f, server_key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::function<void(FILE*)>& body) {
    FILE* f = std::fopen((dir_ / name).c_str(), "w");
    ASSERT_NE(f, nullptr);
    body(f);
    std::fclose(f);
  }

  std::shared_ptr<const TlsServerContext> Context(bool require) {
    TlsSettings s;
    s.cert_file = (dir_ / "server.pem").string();
    s.key_file = (dir_ / "server.key").string();
    s.client_ca_file = (dir_ / "ca.pem").string();
    s.require_client_cert = require;
    auto ctx = TlsServerContext::Load(s);
    EXPECT_TRUE(ctx.ok()) << ctx.status().message();
    return ctx.ok() ? *ctx : nullptr;
  }

  // Connects to port and runs `body` on an established client session
  // (or with nullptr when SSL_connect failed).
  void RunClient(uint16_t port, X509* cert, const std::function<void(SSL*)>& body) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca_.get());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (cert != nullptr) {
      SSL_CTX_use_certificate(ctx, cert);
      SSL_CTX_use_PrivateKey(ctx, client_key_.get());
    }
    asio::io_context ioc;
    tcp::socket sock(ioc);
    sock.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    RunClientOn(ctx, sock.native_handle(), body);
    SSL_CTX_free(ctx);
  }

  // The same on a connected descriptor (blocking), with a client context.
  static void RunClientOn(SSL_CTX* ctx, int fd, const std::function<void(SSL*)>& body) {
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, "proxy.test");
    bool connected = SSL_connect(ssl) == 1;
    body(connected ? ssl : nullptr);
    SSL_free(ssl);
  }

  fs::path dir_;
  KeyPtr ca_key_, server_key_, client_key_, stranger_key_;
  CertPtr ca_, server_, client_, stranger_;
};

std::string ReadAll(SSL* ssl, size_t want) {
  std::string got;
  char buf[16384];
  while (got.size() < want) {
    size_t n = 0;
    if (SSL_read_ex(ssl, buf, sizeof buf, &n) != 1) break;
    got.append(buf, n);
  }
  return got;
}

TEST_F(ClientStreamTest, HandshakeNamesReadWriteAndCloseNotify) {
  auto ctx = Context(true);
  ASSERT_NE(ctx, nullptr);
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  const std::string big(4 << 20, 'z');  // more than the socket buffers hold: writes must wait
  std::string client_got;
  int client_end = 0;
  std::thread client([&] {
    RunClient(acceptor.local_endpoint().port(), client_.get(), [&](SSL* ssl) {
      ASSERT_NE(ssl, nullptr);
      SSL_write(ssl, "hello", 5);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a slow reader
      client_got = ReadAll(ssl, big.size());
      char c;
      client_end = SSL_get_error(ssl, SSL_read(ssl, &c, 1));  // the proxy's close_notify
      SSL_shutdown(ssl);
    });
  });
  tcp::socket accepted(ioc);
  acceptor.accept(accepted);
  ClientStream stream(std::move(accepted));
  char buf[64];
  std::string server_got;
  std::vector<std::string> names;
  error_code write_ec, final_read_ec;
  std::function<void()> read_hello = [&] {
    stream.AsyncReadSome(asio::buffer(buf), [&](error_code ec, size_t n) {
      ASSERT_FALSE(ec) << ec.message();
      server_got.append(buf, n);
      if (server_got.size() < 5) return read_hello();
      stream.AsyncWrite(asio::buffer(big), [&](error_code ec2, size_t written) {
        write_ec = ec2;
        EXPECT_EQ(written, big.size());
        stream.ShutdownSend();
        stream.AsyncReadSome(asio::buffer(buf), [&](error_code ec3, size_t) { final_read_ec = ec3; });
      });
    });
  };
  stream.AsyncHandshake(ctx->get(), [&](error_code ec) {
    ASSERT_FALSE(ec) << stream.tls_failure().reason;
    names = stream.PeerNames();
    read_hello();
  });
  ioc.run();
  client.join();
  EXPECT_TRUE(stream.tls());
  EXPECT_EQ(names, (std::vector<std::string>{"ci.clients.test"}));  // a DNS SAN: the CN "Build-7" names nothing
  EXPECT_EQ(server_got, "hello");
  EXPECT_FALSE(write_ec);
  EXPECT_EQ(client_got.size(), big.size());
  EXPECT_EQ(client_got, big);
  EXPECT_EQ(client_end, SSL_ERROR_ZERO_RETURN);
  EXPECT_EQ(final_read_ec, asio::error::eof);  // the client's close_notify
}

// ShutdownSend when the socket buffer cannot take close_notify: the
// half-close waits until it can, so the client reads every record and
// then close_notify, not a bare end of stream. Over a Unix socket pair a
// send fails exactly when the queued bytes (SIOCOUTQ) have reached
// SO_SNDBUF, so the server writes until then while the client waits.
TEST_F(ClientStreamTest, CloseNotifyWaitsForRoomBeforeTheHalfClose) {
  auto ctx = Context(false);
  ASSERT_NE(ctx, nullptr);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  int sndbuf = 16 * 1024;
  ASSERT_EQ(::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
  socklen_t len = sizeof sndbuf;
  ASSERT_EQ(::getsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, &len), 0);  // as the kernel set it

  std::atomic<bool> full{false};
  size_t client_got = 0;
  int client_end = 0;
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx), ca_.get());
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, nullptr);
  std::thread client([&] {
    RunClientOn(client_ctx, fds[1], [&](SSL* ssl) {
      ASSERT_NE(ssl, nullptr);
      // Reads nothing until the server has filled the buffer (bounded, so
      // a failure cannot hang the test).
      for (int i = 0; i < 500 && !full; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      char buf[4096];
      size_t n = 0;
      int r;
      while ((r = SSL_read_ex(ssl, buf, sizeof buf, &n)) == 1) client_got += n;
      client_end = SSL_get_error(ssl, r);
      SSL_shutdown(ssl);
    });
    ::close(fds[1]);
  });

  asio::io_context ioc;
  tcp::socket server(ioc);
  server.assign(tcp::v4(), fds[0]);
  ClientStream stream(std::move(server));
  const std::string record(100, 'r');
  size_t written = 0;
  char buf[64];
  error_code final_read_ec = asio::error::would_block;
  std::function<void()> fill = [&] {
    int queued = 0;
    ASSERT_EQ(::ioctl(fds[0], SIOCOUTQ, &queued), 0);
    if (queued < sndbuf) {
      stream.AsyncWrite(asio::buffer(record), [&](error_code ec, size_t n) {
        ASSERT_FALSE(ec) << ec.message();
        written += n;
        fill();
      });
      return;
    }
    stream.ShutdownSend();  // close_notify cannot be sent now
    full = true;
    stream.AsyncReadSome(asio::buffer(buf), [&](error_code ec, size_t) { final_read_ec = ec; });
  };
  stream.AsyncHandshake(ctx->get(), [&](error_code ec) {
    ASSERT_FALSE(ec) << stream.tls_failure().reason;
    fill();
  });
  ioc.run();
  client.join();
  SSL_CTX_free(client_ctx);
  EXPECT_TRUE(full);
  EXPECT_GT(written, 0u);
  EXPECT_EQ(client_got, written);
  EXPECT_EQ(client_end, SSL_ERROR_ZERO_RETURN);  // close_notify, then the end
  EXPECT_EQ(final_read_ec, asio::error::eof);    // the client's close_notify
}

// Runs one handshake against a client presenting `cert` (or none) and
// returns the server's failure, with ok=false when the handshake failed.
struct Outcome {
  bool ok = false;
  ClientStream::TlsFailure failure;
  std::vector<std::string> names;
};

TEST_F(ClientStreamTest, MissingOrUntrustedCertificatesAreRefused) {
  struct Case {
    bool require;
    X509* cert;
    bool ok;
    std::string reason;
  };
  const Case cases[] = {
      {true, nullptr, false, "client certificate required"},
      {false, stranger_.get(), false, "client certificate refused: unable to get local issuer certificate"},
      {true, stranger_.get(), false, "client certificate refused: unable to get local issuer certificate"},
      {false, nullptr, true, ""},
  };
  for (const Case& c : cases) {
    auto ctx = Context(c.require);
    ASSERT_NE(ctx, nullptr);
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    std::thread client([&] {
      RunClient(acceptor.local_endpoint().port(), c.cert, [](SSL* ssl) {
        if (ssl == nullptr) return;
        char ch;
        SSL_read(ssl, &ch, 1);  // TLS 1.3: the refusal arrives as an alert here
      });
    });
    tcp::socket accepted(ioc);
    acceptor.accept(accepted);
    ClientStream stream(std::move(accepted));
    Outcome out;
    stream.AsyncHandshake(ctx->get(), [&](error_code ec) {
      out.ok = !ec;
      out.failure = stream.tls_failure();
      out.names = stream.PeerNames();
      stream.Close();
    });
    ioc.run();
    client.join();
    EXPECT_EQ(out.ok, c.ok) << c.reason;
    EXPECT_EQ(out.failure.reason, c.reason);
    EXPECT_EQ(out.failure.certificate_refused, !c.ok);
    EXPECT_TRUE(out.names.empty());
  }
}

TEST_F(ClientStreamTest, ClientThatSaysNothingIsSilent) {
  auto ctx = Context(true);
  ASSERT_NE(ctx, nullptr);
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket peer(ioc);
  peer.connect(acceptor.local_endpoint());
  tcp::socket accepted(ioc);
  acceptor.accept(accepted);
  peer.close();
  ClientStream stream(std::move(accepted));
  error_code result;
  stream.AsyncHandshake(ctx->get(), [&](error_code ec) { result = ec; });
  ioc.run();
  EXPECT_TRUE(result);
  EXPECT_TRUE(stream.tls_failure().silent);
  EXPECT_FALSE(stream.tls_failure().certificate_refused);
}

TEST(ClientStreamPlain, GoesStraightToTheSocket) {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket peer(ioc);
  peer.connect(acceptor.local_endpoint());
  tcp::socket accepted(ioc);
  acceptor.accept(accepted);
  ClientStream stream(std::move(accepted));
  EXPECT_FALSE(stream.tls());
  EXPECT_TRUE(stream.PeerNames().empty());
  asio::write(peer, asio::buffer("ping", 4));
  char buf[8];
  size_t got = 0;
  stream.AsyncReadSome(asio::buffer(buf), [&](error_code ec, size_t n) {
    EXPECT_FALSE(ec);
    got = n;
    stream.AsyncWrite(asio::buffer("pong", 4), [&](error_code ec2, size_t) {
      EXPECT_FALSE(ec2);
      stream.ShutdownSend();
    });
  });
  ioc.run();
  EXPECT_EQ(std::string(buf, got), "ping");
  char reply[8];
  error_code ec;
  size_t n = asio::read(peer, asio::buffer(reply), ec);
  EXPECT_EQ(std::string(reply, n), "pong");
  EXPECT_EQ(ec, asio::error::eof);
}

}  // namespace
}  // namespace rampart::proxy
