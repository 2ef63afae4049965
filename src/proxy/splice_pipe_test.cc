#include "splice_pipe.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rampart::proxy {
namespace {

// A connected TCP pair on loopback, both ends non-blocking.
struct TcpPair {
  int a = -1, b = -1;
  TcpPair() {
    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listener, 1), 0);
    EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    a = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(::connect(a, reinterpret_cast<sockaddr*>(&addr), len), 0);
    b = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    for (int fd : {a, b}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  ~TcpPair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (int tries = 0; tries < 200; ++tries) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    if (n <= 0 && !out.empty()) break;
    if (n < 0) ::usleep(1000);
  }
  return out;
}

TEST(SplicePipe, MovesBytesThroughAPipeAndReportsBlockAndEof) {
  TcpPair tcp;
  PipePool pool(4, 64 * 1024);
  Pipe pipe = pool.Take();
  ASSERT_TRUE(pipe.valid());
  SpliceResult r = SpliceOnce(tcp.b, pipe.write_fd(), 65536);
  EXPECT_TRUE(r.would_block);  // nothing sent yet
  ASSERT_EQ(::write(tcp.a, "hello", 5), 5);
  for (int i = 0; i < 100 && (r = SpliceOnce(tcp.b, pipe.write_fd(), 65536)).would_block; ++i) ::usleep(1000);
  ASSERT_EQ(r.bytes, 5u);
  // Back out of the pipe into the other direction of the connection.
  r = SpliceOnce(pipe.read_fd(), tcp.b, 5);
  ASSERT_EQ(r.bytes, 5u);
  EXPECT_EQ(ReadAll(tcp.a), "hello");
  ::shutdown(tcp.a, SHUT_WR);
  for (int i = 0; i < 100 && (r = SpliceOnce(tcp.b, pipe.write_fd(), 65536)).would_block; ++i) ::usleep(1000);
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(SpliceOnce(-1, pipe.write_fd(), 1).error, EBADF);
}

TEST(PipePool, ReusesEmptyPipesUpToItsBound) {
  PipePool pool(1, 64 * 1024);
  Pipe first = pool.Take();
  Pipe second = pool.Take();
  ASSERT_TRUE(first.valid() && second.valid());
  int fd = first.read_fd();
  pool.Give(std::move(first));
  pool.Give(std::move(second));  // over the bound: closed
  EXPECT_EQ(pool.idle(), 1u);
  Pipe again = pool.Take();
  EXPECT_EQ(again.read_fd(), fd);
  EXPECT_EQ(pool.idle(), 0u);
  pool.Give(Pipe());  // an invalid pipe is not kept
  EXPECT_EQ(pool.idle(), 0u);
}

TEST(Pipe, MoveLeavesTheSourceEmpty) {
  PipePool pool(0, 4096);
  Pipe a = pool.Take();
  ASSERT_TRUE(a.valid());
  Pipe b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  EXPECT_TRUE(b.valid());
}

}  // namespace
}  // namespace rampart::proxy
