#include "rampart/proxy/policy.h"

#include <gtest/gtest.h>

namespace rampart::proxy {
namespace {

std::shared_ptr<const Config> MakeConfig(std::string_view extra = "") {
  std::string text = R"({"listen": "127.0.0.1:3128", "allowed_clients": ["127.0.0.0/8"],
      "allow": ["a.example", ".b.example"], "deny": ["x.b.example"], "allowed_ports": [80, 443, 8080])";
  if (!extra.empty()) text += ", " + std::string(extra);
  text += "}";
  auto c = ParseConfig(text, "");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return *c;
}

Interpreted Interpret(std::string_view head) {
  auto h = ParseRequestHead(head);
  EXPECT_TRUE(h.ok()) << h.status().message();
  return InterpretRequest(*h);
}

TEST(Interpret, Connect) {
  auto in = Interpret("CONNECT A.Example.:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
  EXPECT_EQ(in.error_status, 0) << in.error;
  EXPECT_TRUE(in.request.is_connect);
  EXPECT_EQ(in.request.host.name, "a.example");
  EXPECT_EQ(in.request.port, 443);
  EXPECT_EQ(Interpret("CONNECT a.example HTTP/1.1\r\n\r\n").error_status, 400);
  EXPECT_EQ(Interpret("CONNECT bad..example:443 HTTP/1.1\r\n\r\n").error_status, 400);
}

TEST(Interpret, ForwardChecksHostAgainstUrl) {
  auto ok = Interpret("GET http://a.example:8080/p?q HTTP/1.1\r\nHost: A.EXAMPLE:8080\r\n\r\n");
  EXPECT_EQ(ok.error_status, 0) << ok.error;
  EXPECT_EQ(ok.request.path, "/p?q");
  EXPECT_EQ(ok.request.port, 8080);
  EXPECT_EQ(Interpret("GET http://a.example/ HTTP/1.1\r\nHost: a.example:80\r\n\r\n").error_status, 0);
  EXPECT_EQ(Interpret("GET http://a.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n").error_status, 403);
  EXPECT_EQ(Interpret("GET http://a.example/ HTTP/1.1\r\nHost: a.example:8080\r\n\r\n").error_status, 403);
  EXPECT_EQ(Interpret("GET http://a.example/ HTTP/1.1\r\n\r\n").error_status, 400);
  EXPECT_EQ(Interpret("GET http://a.example/ HTTP/1.0\r\n\r\n").error_status, 0);
  EXPECT_EQ(Interpret("GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n")
                .error_status,
            400);
  EXPECT_EQ(Interpret("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n").error_status, 400);
  EXPECT_EQ(Interpret("GET https://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n").error_status, 400);
  auto chunked = Interpret("POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(chunked.error_status, 0) << chunked.error;
  EXPECT_TRUE(chunked.request.framing.chunked);
  EXPECT_EQ(Interpret("POST http://a.example/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").error_status, 400);
  EXPECT_EQ(Interpret("POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\n")
                .request.framing.content_length,
            5u);
}

TEST(Interpret, LeavesRoomForRewrittenFields) {
  std::string head = "GET http://a.example/ HTTP/1.0\r\n";
  for (size_t i = 0; i + 2 < kMaxHeaderFields; ++i) head += "X: y\r\n";
  EXPECT_EQ(Interpret(head + "\r\n").error_status, 0);
  EXPECT_EQ(Interpret(head + "X: y\r\n\r\n").error_status, 431);
}

TEST(Destination, PortThenLists) {
  auto cfg = MakeConfig();
  auto check = [&](const char* host, uint16_t port) {
    return CheckDestination(*cfg, *NormalizeHost(host), port);
  };
  EXPECT_TRUE(check("a.example", 443).allowed);
  EXPECT_EQ(check("a.example", 22).reason, "port 22 not allowed");
  EXPECT_TRUE(check("deep.b.example", 80).allowed);
  EXPECT_EQ(check("deep.b.example", 80).rule, ".b.example");
  EXPECT_EQ(check("x.b.example", 80).reason, "denylist");
  EXPECT_EQ(check("c.example", 80).reason, "not in allowlist");
}

ClientHelloInfo Hello(ClientHelloInfo::Outcome o, std::string sni = "") {
  ClientHelloInfo h;
  h.outcome = o;
  h.has_sni = !sni.empty();
  h.sni = std::move(sni);
  return h;
}

TEST(FirstFlight, SniMustMatchConnectHost) {
  using O = ClientHelloInfo::Outcome;
  auto cfg = MakeConfig();
  Host host = *NormalizeHost("a.example");
  EXPECT_TRUE(CheckFirstFlight(*cfg, host, Hello(O::kOk, "A.example.")).allowed);
  EXPECT_EQ(CheckFirstFlight(*cfg, host, Hello(O::kOk, "x.b.example")).reason, "SNI does not match CONNECT host");
  EXPECT_EQ(CheckFirstFlight(*cfg, host, Hello(O::kOk, "bad name")).reason, "invalid SNI");
  EXPECT_EQ(CheckFirstFlight(*cfg, host, Hello(O::kOk, "127.0.0.1")).reason, "invalid SNI");
  EXPECT_EQ(CheckFirstFlight(*cfg, host, Hello(O::kOk)).reason, "no SNI");
  EXPECT_EQ(CheckFirstFlight(*cfg, host, Hello(O::kNotTls)).reason, "not TLS");
  EXPECT_FALSE(CheckFirstFlight(*cfg, host, Hello(O::kMalformed)).allowed);
  auto lax = MakeConfig(R"("require_sni": false)");
  EXPECT_TRUE(CheckFirstFlight(*lax, host, Hello(O::kOk)).allowed);
  EXPECT_TRUE(CheckFirstFlight(*lax, host, Hello(O::kNotTls)).allowed);
  EXPECT_FALSE(CheckFirstFlight(*lax, host, Hello(O::kMalformed)).allowed);
  EXPECT_FALSE(CheckFirstFlight(*lax, host, Hello(O::kOk, "other.example")).allowed);
}

Interpreted InterpretIntercept(std::string_view head, uint16_t port) {
  auto h = ParseRequestHead(head);
  EXPECT_TRUE(h.ok()) << h.status().message();
  return InterpretIntercepted(*h, port);
}

TEST(Intercept, HttpDecidedByHostAndOriginalPort) {
  auto ok = InterpretIntercept("GET /p?q HTTP/1.1\r\nHost: A.Example\r\n\r\n", 8080);
  EXPECT_EQ(ok.error_status, 0) << ok.error;
  EXPECT_EQ(ok.request.host.name, "a.example");
  EXPECT_EQ(ok.request.port, 8080);  // no port in Host: the original destination's
  EXPECT_EQ(ok.request.path, "/p?q");
  EXPECT_FALSE(ok.request.is_connect);
  EXPECT_EQ(InterpretIntercept("GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", 8080).error_status, 0);
  // A port in Host that is not where the connection was going.
  auto mismatch = InterpretIntercept("GET / HTTP/1.1\r\nHost: a.example:81\r\n\r\n", 80);
  EXPECT_EQ(mismatch.error_status, 403);
  EXPECT_EQ(mismatch.error, "Host header port does not match the destination port");
  EXPECT_EQ(InterpretIntercept("GET / HTTP/1.1\r\n\r\n", 80).error_status, 400);
  EXPECT_EQ(InterpretIntercept("GET / HTTP/1.0\r\n\r\n", 80).error_status, 400);
  EXPECT_EQ(InterpretIntercept("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 80).error_status, 400);
  EXPECT_EQ(InterpretIntercept("GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 80).error_status, 400);
  EXPECT_EQ(InterpretIntercept("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example\r\n\r\n", 443).error_status, 400);
  EXPECT_EQ(InterpretIntercept("GET / HTTP/1.1\r\nHost: bad..name\r\n\r\n", 80).error_status, 400);
  EXPECT_TRUE(InterpretIntercept("POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n", 80)
                  .request.framing.chunked);
}

TEST(Intercept, TlsDecidedBySni) {
  ClientHelloInfo hello;
  hello.outcome = ClientHelloInfo::Outcome::kOk;
  hello.has_sni = true;
  hello.sni = "A.Example.";
  auto ok = HostFromClientHello(hello);
  ASSERT_TRUE(ok.ok);
  EXPECT_EQ(ok.host.name, "a.example");
  hello.sni = "192.0.2.1";
  EXPECT_EQ(HostFromClientHello(hello).reason, "invalid SNI");
  hello.sni = "bad..name";
  EXPECT_EQ(HostFromClientHello(hello).reason, "invalid SNI");
  hello.has_sni = false;
  hello.sni.clear();
  EXPECT_EQ(HostFromClientHello(hello).reason, "no SNI");
  hello.outcome = ClientHelloInfo::Outcome::kMalformed;
  EXPECT_EQ(HostFromClientHello(hello).reason, "malformed ClientHello");
  // The decision itself is the same allowlist and port check as for CONNECT.
  auto cfg = MakeConfig();
  EXPECT_TRUE(CheckDestination(*cfg, *NormalizeHost("q.b.example"), 443).allowed);
  EXPECT_FALSE(CheckDestination(*cfg, *NormalizeHost("x.b.example"), 443).allowed);
}

TEST(Intercept, TlsAlertRecord) {
  EXPECT_EQ(TlsAlert(kTlsAlertAccessDenied), std::string("\x15\x03\x01\x00\x02\x02\x31", 7));
  EXPECT_EQ(TlsAlert(kTlsAlertInternalError).back(), '\x50');
}

TEST(OriginHead, RewritesToOriginFormAndDropsHopByHop) {
  auto head = ParseRequestHead(
                  "GET http://a.example:8080/p?q HTTP/1.1\r\nHost: a.example:8080\r\n"
                  "Proxy-Connection: keep-alive\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
                  "Proxy-Authorization: Basic eDp5\r\nKeep-Alive: 5\r\nUpgrade: h2c\r\nAccept: */*\r\n\r\n")
                  .value();
  Interpreted in = InterpretRequest(head);
  ASSERT_EQ(in.error_status, 0);
  EXPECT_EQ(BuildOriginHead(head, in.request),
            "GET /p?q HTTP/1.1\r\nHost: a.example:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n");
  auto old = ParseRequestHead("GET http://a.example/ HTTP/1.0\r\n\r\n").value();
  EXPECT_EQ(BuildOriginHead(old, InterpretRequest(old).request),
            "GET / HTTP/1.0\r\nHost: a.example\r\nConnection: close\r\n\r\n");
}

TEST(OriginHead, AsksForKeepAliveOnlyOnHttp11) {
  auto head = ParseRequestHead("GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n").value();
  EXPECT_EQ(BuildOriginHead(head, InterpretRequest(head).request, true),
            "GET / HTTP/1.1\r\nHost: a.example\r\nConnection: keep-alive\r\n\r\n");
  auto old = ParseRequestHead("GET http://a.example/ HTTP/1.0\r\n\r\n").value();
  EXPECT_EQ(BuildOriginHead(old, InterpretRequest(old).request, true),
            "GET / HTTP/1.0\r\nHost: a.example\r\nConnection: close\r\n\r\n");
}

TEST(OriginHead, KeepsFramingFieldsWhateverConnectionLists) {
  auto head = ParseRequestHead(
                  "POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\nConnection: Transfer-Encoding, TE\r\n"
                  "TE: trailers\r\nTransfer-Encoding: chunked\r\n\r\n")
                  .value();
  EXPECT_EQ(BuildOriginHead(head, InterpretRequest(head).request),
            "POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

TEST(ClientResponseHead, DropsHopByHopAndSetsConnection) {
  auto head = ParseResponseHead(
                  "HTTP/1.0 200 Fine\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: t=5\r\n"
                  "Content-Length: 3\r\nConnection: Content-Length\r\nX-End: 2\r\n\r\n")
                  .value();
  EXPECT_EQ(BuildClientResponseHead(head, "keep-alive"),
            "HTTP/1.1 200 Fine\r\nContent-Length: 3\r\nX-End: 2\r\nConnection: keep-alive\r\n\r\n");
  auto interim = ParseResponseHead("HTTP/1.1 100 Continue\r\n\r\n").value();
  EXPECT_EQ(BuildClientResponseHead(interim, ""), "HTTP/1.1 100 Continue\r\n\r\n");
  auto chunked = ParseResponseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").value();
  EXPECT_EQ(BuildClientResponseHead(chunked, "close"),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

TEST(Responses, DenyPageAndErrors) {
  auto cfg = MakeConfig(R"("deny_page": "<p>{host} / {reason}</p>")");
  std::string r = BuildDenyResponse(*cfg, DenyDetails{"c<.example", "127.0.0.1", "not in allowlist", TimePoint{}});
  EXPECT_EQ(r.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u);
  EXPECT_NE(r.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\n\r\n<p>c&lt;.example / not in allowlist</p>"), std::string::npos);
  std::string e = BuildResponse(431, "text/plain", "x");
  EXPECT_EQ(e.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u);
  EXPECT_NE(e.find("Content-Length: 1\r\n"), std::string::npos);
  EXPECT_NE(BuildDenyResponse(*cfg, DenyDetails{}, true).find("Connection: keep-alive\r\n"), std::string::npos);
}

}  // namespace
}  // namespace rampart::proxy

namespace rampart::proxy {
namespace {

TEST(ClientRules, DecideWithTheClientsOwnLists) {
  auto cfg = ParseConfig(R"({"listen": "127.0.0.1:3128", "allowed_clients": ["10.0.0.0/8"],
      "allow": ["a.example"], "allowed_ports": [443],
      "client_rules": [{"name": "lab", "clients": ["10.9.0.0/16"], "allow": [".lab.example"],
                        "allowed_ports": [8443]}]})",
                         "");
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  auto lab = *ParseIp("10.9.1.1");
  auto other = *ParseIp("10.1.1.1");
  Decision d = CheckDestination(**cfg, lab, *NormalizeHost("x.lab.example"), 8443);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.client_rule, "lab");
  EXPECT_EQ(d.rule, ".lab.example");
  // The rule replaces the global lists and ports for its clients.
  d = CheckDestination(**cfg, lab, *NormalizeHost("a.example"), 443);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "port 443 not allowed");
  EXPECT_EQ(CheckDestination(**cfg, lab, *NormalizeHost("a.example"), 8443).reason, "not in allowlist");
  d = CheckDestination(**cfg, other, *NormalizeHost("a.example"), 443);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.client_rule, "");
  EXPECT_FALSE(CheckDestination(**cfg, other, *NormalizeHost("x.lab.example"), 8443).allowed);
}

}  // namespace
}  // namespace rampart::proxy
