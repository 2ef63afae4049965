#include "upstream_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

namespace rampart::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// An origin on loopback; Connect returns the proxy side and keeps the
// origin side (so a test can close it).
struct Loopback {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0)};
  std::vector<tcp::socket> origin_sides;

  tcp::socket Connect() {
    tcp::socket s(ioc);
    s.connect(acceptor.local_endpoint());
    origin_sides.push_back(acceptor.accept());
    return s;
  }
  std::string Key(const std::string& host) { return UpstreamPool::Key(acceptor.local_endpoint(), host); }
};

TEST(UpstreamPool, ReusesOnlyForTheExactKey) {
  Loopback net;
  UpstreamPool pool;
  tcp::socket s = net.Connect();
  auto port = s.local_endpoint().port();
  pool.Give(net.Key("a.example"), std::move(s), 8, 30s);
  EXPECT_EQ(pool.size(), 1u);
  EXPECT_FALSE(pool.Take(net.Key("b.example"), 30s));  // same address, other host
  EXPECT_FALSE(pool.Take(UpstreamPool::Key(tcp::endpoint(asio::ip::make_address("127.0.0.2"),
                                                           net.acceptor.local_endpoint().port()),
                                            "a.example"),
                         30s));  // same host, other address
  auto again = pool.Take(net.Key("a.example"), 30s);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->local_endpoint().port(), port);
  EXPECT_EQ(pool.size(), 0u);
  EXPECT_FALSE(pool.Take(net.Key("a.example"), 30s));
  net.ioc.poll();  // the cancelled wait completes harmlessly
}

TEST(UpstreamPool, DropsWhatTheOriginClosesOrSpeaksOn) {
  Loopback net;
  UpstreamPool pool;
  pool.Give(net.Key("a.example"), net.Connect(), 8, 30s);
  pool.Give(net.Key("b.example"), net.Connect(), 8, 30s);
  net.origin_sides[0].close();
  asio::write(net.origin_sides[1], asio::buffer("x", 1));
  for (int i = 0; i < 200 && pool.size() > 0; ++i) {
    net.ioc.poll();
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(pool.size(), 0u);
}

TEST(UpstreamPool, ChecksLivenessOnTakeBeforeTheWaitReports) {
  Loopback net;
  UpstreamPool pool;
  pool.Give(net.Key("a.example"), net.Connect(), 8, 30s);
  net.origin_sides[0].close();
  std::this_thread::sleep_for(20ms);  // the FIN arrives; the io_context has not run
  EXPECT_FALSE(pool.Take(net.Key("a.example"), 30s));
  net.ioc.poll();
}

TEST(UpstreamPool, BoundsAndExpires) {
  Loopback net;
  UpstreamPool pool;
  for (int i = 0; i < 3; ++i) pool.Give(net.Key("a.example"), net.Connect(), 2, 30s);
  EXPECT_EQ(pool.size(), 2u);
  pool.Give(net.Key("a.example"), net.Connect(), 0, 30s);  // pooling off: closed
  EXPECT_EQ(pool.size(), 2u);
  std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(pool.Take(net.Key("a.example"), 1ms));  // both idle too long
  EXPECT_EQ(pool.size(), 0u);
  net.ioc.poll();
}

}  // namespace
}  // namespace rampart::proxy
