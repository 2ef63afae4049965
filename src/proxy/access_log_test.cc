#include "rampart/proxy/access_log.h"

#include <gtest/gtest.h>

namespace rampart::proxy {
namespace {

AccessRecord Base() {
  AccessRecord r;
  r.time = TimePoint(std::chrono::milliseconds(1764334431250));  // 2025-11-28T12:53:51.250Z
  r.duration = std::chrono::milliseconds(120);
  r.client = "10.0.0.7:51234";
  r.host = "a.example";
  r.port = 80;
  r.bytes_down = 5120;
  return r;
}

TEST(SquidFormat, ForwardedRequest) {
  AccessRecord r = Base();
  r.method = "GET";
  r.path = "/x/y";
  r.decision = "allow";
  r.status = 200;
  r.upstream = "93.184.216.34:80";
  EXPECT_EQ(FormatSquidRecord(r),
            "1764334431.370    120 10.0.0.7 TCP_MISS/200 5120 GET http://a.example/x/y - HIER_DIRECT/93.184.216.34 -\n");
}

TEST(SquidFormat, TunnelDenialAndError) {
  AccessRecord t = Base();
  t.method = "CONNECT";
  t.port = 443;
  t.decision = "allow";
  t.upstream = "[2001:db8::1]:443";
  t.client = "[2001:db8::7]:4000";
  EXPECT_EQ(FormatSquidRecord(t), "1764334431.370    120 2001:db8::7 TCP_TUNNEL/200 5120 CONNECT a.example:443 - "
                                  "HIER_DIRECT/2001:db8::1 -\n");
  AccessRecord d = Base();
  d.method = "GET";
  d.port = 8080;
  d.decision = "deny";
  d.status = 403;
  EXPECT_EQ(FormatSquidRecord(d),
            "1764334431.370    120 10.0.0.7 TCP_DENIED/403 5120 GET http://a.example:8080/ - HIER_NONE/- -\n");
  AccessRecord e = Base();
  e.method = "G ET\n";
  e.host.clear();
  e.decision = "error";
  e.status = 400;
  EXPECT_EQ(FormatSquidRecord(e),
            "1764334431.370    120 10.0.0.7 NONE_NONE/400 5120 G?ET? error:invalid-request - HIER_NONE/- -\n");
}

TEST(JsonFormat, OneEscapedLine) {
  AccessRecord r = Base();
  r.method = "GET";
  r.host = "a\"b\n";
  r.decision = "deny";
  r.client_rule = "lab";
  std::string line = FormatAccessRecord(r);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_NE(line.find("\"client_rule\":\"lab\""), std::string::npos);
  EXPECT_NE(line.find("a\\\"b\\n"), std::string::npos);
}

TEST(AccessLogFormats, ClientCertificateName) {
  AccessRecord r = Base();
  r.method = "GET";
  r.decision = "allow";
  r.status = 200;
  r.upstream = "93.184.216.34:80";
  r.client_cert = "build-7";
  EXPECT_NE(FormatAccessRecord(r).find("\"client_cert\":\"build-7\""), std::string::npos);
  // Squid's user field, where Squid puts an SSL client's name.
  EXPECT_EQ(FormatSquidRecord(r),
            "1764334431.370    120 10.0.0.7 TCP_MISS/200 5120 GET http://a.example/ build-7 HIER_DIRECT/93.184.216.34 -\n");
  r.client_cert.clear();
  EXPECT_EQ(FormatAccessRecord(r).find("client_cert"), std::string::npos);
}

}  // namespace
}  // namespace rampart::proxy
