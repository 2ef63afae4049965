#include "rampart/proxy/http_head.h"

#include <gtest/gtest.h>

namespace rampart::proxy {
namespace {

TEST(FindHeadEnd, FindsBlankLine) {
  EXPECT_FALSE(FindHeadEnd("GET / HTTP/1.1\r\nHost: a\r\n").has_value());
  EXPECT_EQ(*FindHeadEnd("GET / HTTP/1.1\r\n\r\nBODY"), 18u);
}

TEST(ParseRequestHead, ParsesFields) {
  auto h = ParseRequestHead(
      "GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\nX-Pad:  v  v \t\r\nAccept:\r\n\r\n");
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->method, "GET");
  EXPECT_EQ(h->target, "http://a.example/x?y");
  EXPECT_EQ(h->version_minor, 1);
  ASSERT_EQ(h->fields.size(), 3u);
  EXPECT_EQ(*h->Field("x-pad"), "v  v");
  EXPECT_EQ(*h->Field("ACCEPT"), "");
  EXPECT_EQ(h->CountField("host"), 1u);
  EXPECT_FALSE(h->Field("Cookie").has_value());
}

TEST(ParseRequestHead, RejectsSmugglingShapes) {
  const char* bad[] = {
      "GET / HTTP/1.1\n\r\n\r\n",                        // bare LF
      "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",                // bare CR
      "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",             // obs-fold
      "GET / HTTP/1.1\r\nA : b\r\n\r\n",                  // space before colon
      "GET / HTTP/1.1\r\nA\r\n\r\n",                      // no colon
      "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",               // control byte
      "GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",                          // double space
      "GET / HTTP/1.1 \r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "GET / http/1.1\r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "GET /\x80 HTTP/1.1\r\n\r\n",
      "\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n\r\n",                      // extra blank line inside
      "GET / HTTP/1.1\r\n",                               // incomplete
      "",
  };
  for (const char* s : bad) EXPECT_FALSE(ParseRequestHead(s).ok()) << s;
}

TEST(ParseRequestHead, LimitsFieldCount) {
  std::string head = "GET / HTTP/1.1\r\n";
  for (size_t i = 0; i < kMaxHeaderFields; ++i) head += "A: b\r\n";
  EXPECT_TRUE(ParseRequestHead(head + "\r\n").ok());
  EXPECT_FALSE(ParseRequestHead(head + "A: b\r\n\r\n").ok());
  EXPECT_FALSE(ParseRequestHead("GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n").ok());
}

TEST(Targets, Authority) {
  auto t = ParseAuthorityTarget("example.com:443");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "example.com");
  EXPECT_EQ(t->port, 443);
  auto v6 = ParseAuthorityTarget("[::1]:8443");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  for (const char* s : {"example.com", "example.com:", ":443", "a@b:443", "http://a:443", "a:99999",
                        "a:443/x"}) {
    EXPECT_FALSE(ParseAuthorityTarget(s).ok()) << s;
  }
}

TEST(Targets, Absolute) {
  auto t = ParseAbsoluteTarget("HTTP://Example.com:8080/a/b?c=d");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "Example.com");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->path, "/a/b?c=d");
  auto bare = ParseAbsoluteTarget("http://example.com");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->port, 80);
  EXPECT_EQ(bare->path, "/");
  EXPECT_EQ(ParseAbsoluteTarget("http://example.com?q")->path, "/?q");
  EXPECT_EQ(ParseAbsoluteTarget("http://[::1]:81/")->host, "::1");
  for (const char* s : {"/relative", "https://example.com/", "http://", "http://user@example.com/",
                        "http://example.com/#frag", "http://example.com:0/", "http://a:b:c/",
                        "ftp://example.com/", "http://[::1/"}) {
    EXPECT_FALSE(ParseAbsoluteTarget(s).ok()) << s;
  }
}

TEST(Targets, HostHeader) {
  EXPECT_EQ(ParseHostHeader("a.example", 80)->port, 80);
  EXPECT_EQ(ParseHostHeader("a.example:81", 80)->port, 81);
  EXPECT_EQ(ParseHostHeader("a.example:", 80)->port, 80);
  EXPECT_EQ(ParseHostHeader("[::1]:81", 80)->host, "::1");
  EXPECT_FALSE(ParseHostHeader("", 80).ok());
  EXPECT_FALSE(ParseHostHeader("a b", 80).ok());
  EXPECT_FALSE(ParseHostHeader("[::1]x", 80).ok());
}

RequestHead Head(std::string_view s) { return ParseRequestHead(s).value(); }

TEST(BodyFraming, Rules) {
  EXPECT_EQ(GetBodyFraming(Head("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"))->content_length, 12u);
  EXPECT_TRUE(GetBodyFraming(Head("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"))->chunked);
  EXPECT_EQ(GetBodyFraming(Head("GET / HTTP/1.1\r\n\r\n"))->content_length, 0u);
  for (const char* s : {
           "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       }) {
    EXPECT_FALSE(GetBodyFraming(Head(s)).ok()) << s;
  }
}

}  // namespace
}  // namespace rampart::proxy
