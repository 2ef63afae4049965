#include "rampart/proxy/http_body.h"

#include <gtest/gtest.h>

#include <string>

namespace rampart::proxy {
namespace {

using Kind = ResponseFraming::Kind;

ResponseHead Response(std::string_view text) {
  auto h = ParseResponseHead(text);
  EXPECT_TRUE(h.ok()) << h.status().message();
  return h.ok() ? *h : ResponseHead{};
}

TEST(ParseResponseHead, ParsesStatusLineAndFields) {
  auto h = ParseResponseHead("HTTP/1.1 404 Not Found Here\r\nContent-Length: 3\r\nX-A:  b \r\n\r\n");
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->version_minor, 1);
  EXPECT_EQ(h->status, 404);
  EXPECT_EQ(h->reason, "Not Found Here");
  EXPECT_EQ(*h->Field("content-length"), "3");
  EXPECT_EQ(*h->Field("x-a"), "b");
  auto bare = ParseResponseHead("HTTP/1.0 200\r\n\r\n");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->reason, "");
  EXPECT_EQ(bare->version_minor, 0);
}

TEST(ParseResponseHead, RejectsMalformedHeads) {
  const char* bad[] = {
      "HTTP/2 200 OK\r\n\r\n",          "HTTP/1.1 20 OK\r\n\r\n",      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 099 x\r\n\r\n",         "HTTP/1.1 200 OK\nA: b\r\n\r\n", "HTTP/1.1 200 OK\r\n a: b\r\n\r\n",
      "HTTP/1.1 200 OK\r\nA b\r\n\r\n", "HTTP/1.1 200 OK\r\n",          "HTTP/1.1 200 O\x01K\r\n\r\n",
      "\r\n\r\n",
  };
  for (const char* h : bad) EXPECT_FALSE(ParseResponseHead(h).ok()) << h;
}

TEST(GetResponseFraming, FollowsRfc9112Order) {
  EXPECT_EQ(GetResponseFraming(Response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), "HEAD")->kind, Kind::kNone);
  EXPECT_EQ(GetResponseFraming(Response("HTTP/1.1 204 No\r\n\r\n"), "GET")->kind, Kind::kNone);
  EXPECT_EQ(GetResponseFraming(Response("HTTP/1.1 304 NM\r\nContent-Length: 9\r\n\r\n"), "GET")->kind, Kind::kNone);
  EXPECT_EQ(GetResponseFraming(Response("HTTP/1.1 100 Continue\r\n\r\n"), "POST")->kind, Kind::kNone);
  auto length = GetResponseFraming(Response("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"), "GET");
  ASSERT_TRUE(length.ok());
  EXPECT_EQ(length->kind, Kind::kLength);
  EXPECT_EQ(length->length, 42u);
  EXPECT_EQ(GetResponseFraming(Response("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"), "GET")->kind,
            Kind::kChunked);
  EXPECT_EQ(GetResponseFraming(Response("HTTP/1.0 200 OK\r\n\r\n"), "GET")->kind, Kind::kUntilClose);
}

TEST(GetResponseFraming, RefusesAmbiguousFraming) {
  const char* bad[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
  };
  for (const char* h : bad) EXPECT_FALSE(GetResponseFraming(Response(h), "GET").ok()) << h;
}

TEST(OriginKeepsConnection, Http11UnlessClose) {
  auto keeps = [](std::string_view head) { return OriginKeepsConnection(*ParseResponseHead(head)); };
  EXPECT_TRUE(keeps("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(keeps("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_FALSE(keeps("HTTP/1.1 200 OK\r\nConnection: x, CLOSE\r\n\r\n"));
  EXPECT_FALSE(keeps("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"));
}

TEST(ClientWantsKeepAlive, DependsOnVersionAndConnection) {
  auto wants = [](std::string_view head) { return ClientWantsKeepAlive(*ParseRequestHead(head)); };
  EXPECT_TRUE(wants("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_FALSE(wants("GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n"));
  EXPECT_FALSE(wants("GET http://a/ HTTP/1.1\r\nHost: a\r\nProxy-Connection: close\r\n\r\n"));
  EXPECT_FALSE(wants("GET http://a/ HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(wants("GET http://a/ HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
  EXPECT_TRUE(wants("GET http://a/ HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n"));
}

TEST(ChunkedScanner, FindsTheEndAcrossAnySplit) {
  const std::string body = "4;name=v\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n";
  const std::string next = "GET http://b/ HTTP/1.1\r\n";
  const std::string all = body + next;
  for (size_t split = 0; split <= all.size(); ++split) {
    ChunkedScanner s;
    size_t used = s.Feed(std::string_view(all).substr(0, split));
    if (!s.done()) used += s.Feed(std::string_view(all).substr(split));
    EXPECT_TRUE(s.done()) << split;
    EXPECT_EQ(used, body.size()) << split;
  }
}

TEST(ChunkedScanner, ByteAtATime) {
  const std::string body = "a\r\n0123456789\r\n0\r\n\r\n";
  ChunkedScanner s;
  size_t used = 0;
  for (char c : body) used += s.Feed(std::string_view(&c, 1));
  EXPECT_TRUE(s.done());
  EXPECT_EQ(used, body.size());
}

TEST(ChunkedScanner, RejectsMalformedFraming) {
  const char* bad[] = {
      "\r\n",                        // no size
      "g\r\n",                       // not hex
      " 1\r\nx\r\n0\r\n\r\n",        // whitespace before the size
      "1\nx\r\n0\r\n\r\n",           // bare LF
      "1\r\nxy\r\n",                 // more data than the size
      "1\r\nx\r\r",                  // bad CRLF after data
      "1000000000000000\r\n",        // 16 hex digits: too large
      "0\r\nA: b\n\r\n",             // bare LF in the trailer
      "1;a\x01\r\n",                 // control byte in an extension
  };
  for (const char* b : bad) {
    ChunkedScanner s;
    s.Feed(b);
    EXPECT_TRUE(s.failed()) << b;
    EXPECT_FALSE(s.done()) << b;
  }
}

TEST(ChunkedScanner, BoundsExtensionsAndTrailers) {
  ChunkedScanner ext;
  ext.Feed("1;" + std::string(20000, 'a'));
  EXPECT_TRUE(ext.failed());
  ChunkedScanner trailer;
  std::string t = "0\r\n";
  for (int i = 0; i < 2000; ++i) t += "X-Long: 0123456789\r\n";
  trailer.Feed(t);
  EXPECT_TRUE(trailer.failed());
}

}  // namespace
}  // namespace rampart::proxy
