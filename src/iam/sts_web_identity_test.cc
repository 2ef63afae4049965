#include "iam/sts_web_identity.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace rampart::iam {
namespace {

using std::chrono::seconds;

// A P-256 key from RFC 7515 appendix A.3, as a JWKS entry.
constexpr std::string_view kJwks = R"({"keys":[{"kty":"EC","kid":"k1","crv":"P-256",)"
                                   R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                                   R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})";

// Serves documents from a map and counts requests.
struct FakeIdp {
  std::map<std::string, std::string> docs;
  int requests = 0;
  std::vector<std::string> thumbprints_seen;

  HttpsFetcher Fetcher() {
    return [this](std::string_view url,
                  const http::HttpsGetOptions& options) -> Result<http::HttpsResponse> {
      ++requests;
      thumbprints_seen = options.thumbprints;
      auto it = docs.find(std::string(url));
      if (it == docs.end()) return http::HttpsResponse{404, "not found"};
      return http::HttpsResponse{200, it->second};
    };
  }
  void Serve(const std::string& issuer, std::string_view jwks_uri) {
    docs[issuer + "/.well-known/openid-configuration"] =
        R"({"issuer":")" + issuer + R"(","jwks_uri":")" + std::string(jwks_uri) + R"("})";
    docs[std::string(jwks_uri)] = std::string(kJwks);
  }
};

TEST(JwksCache, FetchesThroughDiscoveryAndCaches) {
  FakeIdp idp;
  idp.Serve("https://idp.example/t", "https://keys.example/t.json");
  JwksCache cache(idp.Fetcher());
  auto now = std::chrono::steady_clock::now();
  auto keys = cache.Get("https://idp.example/t", {"AB"}, false, now);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ((*keys)->size(), 1u);
  EXPECT_EQ((**keys)[0]->kid(), "k1");
  EXPECT_EQ(idp.requests, 2);
  EXPECT_EQ(idp.thumbprints_seen, std::vector<std::string>{"AB"});
  // Cached: no new fetch, and a refresh right away is not honoured either.
  ASSERT_TRUE(cache.Get("https://idp.example/t", {"AB"}, false, now + seconds(5)).ok());
  ASSERT_TRUE(cache.Get("https://idp.example/t", {"AB"}, true, now + seconds(5)).ok());
  EXPECT_EQ(idp.requests, 2);
  // A refresh after the minimum interval fetches again; so does expiry.
  ASSERT_TRUE(cache.Get("https://idp.example/t", {"AB"}, true, now + seconds(11)).ok());
  EXPECT_EQ(idp.requests, 4);
  ASSERT_TRUE(cache.Get("https://idp.example/t", {"AB"}, false, now + seconds(4000)).ok());
  EXPECT_EQ(idp.requests, 6);
  // Other thumbprints are another entry (one account never decides what
  // another trusts).
  ASSERT_TRUE(cache.Get("https://idp.example/t", {"CD"}, false, now + seconds(4001)).ok());
  EXPECT_EQ(idp.requests, 8);
}

TEST(JwksCache, RefusesBadDiscovery) {
  FakeIdp idp;
  JwksCache cache(idp.Fetcher());
  auto now = std::chrono::steady_clock::now();
  EXPECT_EQ(cache.Get("https://missing.example", {}, false, now).status().code(),
            ErrorCode::kUnavailable);
  idp.Serve("https://plain.example", "http://plain.example/keys");  // not https
  EXPECT_FALSE(cache.Get("https://plain.example", {}, false, now).ok());
  idp.docs["https://liar.example/.well-known/openid-configuration"] =
      R"({"issuer":"https://someone-else.example","jwks_uri":"https://liar.example/k"})";
  EXPECT_FALSE(cache.Get("https://liar.example", {}, false, now).ok());
  idp.Serve("https://junk.example", "https://junk.example/k");
  idp.docs["https://junk.example/k"] = "[1,2,3]";
  EXPECT_FALSE(cache.Get("https://junk.example", {}, false, now).ok());
}

TEST(JwksCache, FailuresAreNotRetriedAtOnce) {
  FakeIdp idp;
  JwksCache cache(idp.Fetcher());
  auto now = std::chrono::steady_clock::now();
  EXPECT_FALSE(cache.Get("https://down.example", {}, false, now).ok());
  EXPECT_EQ(idp.requests, 1);
  auto again = cache.Get("https://down.example", {}, true, now + seconds(3));
  EXPECT_EQ(again.status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(idp.requests, 1);
  idp.Serve("https://down.example", "https://down.example/k");  // back up
  EXPECT_TRUE(cache.Get("https://down.example", {}, false, now + seconds(11)).ok());
  EXPECT_EQ(idp.requests, 3);
}

TEST(JwksCache, StaysBounded) {
  FakeIdp idp;
  JwksCache::Options options;
  options.max_issuers = 2;
  JwksCache cache(idp.Fetcher(), options);
  auto now = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    std::string issuer = "https://idp" + std::to_string(i) + ".example";
    idp.Serve(issuer, issuer + "/k");
    ASSERT_TRUE(cache.Get(issuer, {}, false, now + seconds(i)).ok());
  }
  int before = idp.requests;
  // idp0, the oldest, was evicted; idp2 is still cached.
  ASSERT_TRUE(cache.Get("https://idp2.example", {}, false, now + seconds(3)).ok());
  EXPECT_EQ(idp.requests, before);
  ASSERT_TRUE(cache.Get("https://idp0.example", {}, false, now + seconds(3)).ok());
  EXPECT_EQ(idp.requests, before + 2);
}

json::Value Claims(std::string_view text) { return *json::Parse(text); }

TEST(WebIdentityClaims, AcceptsAndSortsAudiences) {
  auto c = CheckClaims(
      Claims(
          R"({"iss":"https://i","sub":"s","aud":["x","ci","y"],"exp":2000,"iat":900,"amr":"pwd"})"),
      {"ci"}, 1000, 60);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->subject, "s");
  EXPECT_EQ(c->audiences, std::vector<std::string>{"ci"});
  EXPECT_EQ(c->other_audiences, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(c->amr, std::vector<std::string>{"pwd"});
}

TEST(WebIdentityClaims, RefusesAsStsDoes) {
  struct Case {
    std::string_view claims;
    std::string_view shape;
  };
  for (const Case& c : {
           Case{R"({"iss":"https://i","sub":"s","aud":"other","exp":2000})",
                "InvalidIdentityTokenException"},
           Case{R"({"iss":"https://i","sub":"s","exp":2000})", "InvalidIdentityTokenException"},
           Case{R"({"iss":"https://i","sub":"s","aud":"ci"})", "InvalidIdentityTokenException"},
           Case{R"({"iss":"https://i","sub":"s","aud":"ci","exp":900})", "ExpiredTokenException"},
           Case{R"({"iss":"https://i","sub":"s","aud":"ci","exp":2000,"nbf":1500})",
                "InvalidIdentityTokenException"},
           Case{R"({"iss":"https://i","sub":"s","aud":"ci","exp":2000,"iat":1500})",
                "InvalidIdentityTokenException"},
           Case{R"({"iss":"https://i","sub":"s","aud":"ci","exp":"2000"})",
                "InvalidIdentityTokenException"},
           Case{R"({"iss":"https://i","aud":"ci","exp":2000})", "InvalidIdentityTokenException"},
           Case{R"({"iss":"https://i","sub":7,"aud":"ci","exp":2000})",
                "InvalidIdentityTokenException"},
           Case{R"({"sub":"s","aud":"ci","exp":2000})", "InvalidIdentityTokenException"},
       }) {
    auto r = CheckClaims(Claims(c.claims), {"ci"}, 1000, 60);
    ASSERT_FALSE(r.ok()) << c.claims;
    EXPECT_EQ(r.status().modeled(), c.shape) << c.claims;
  }
  // Extreme dates stay errors (and inside TimePoint's range when worded).
  auto far = CheckClaims(
      Claims(
          R"({"iss":"https://i","sub":"s","aud":"ci","exp":9000000000000000000,"nbf":9000000000000000000})"),
      {"ci"}, 1000, 60);
  EXPECT_EQ(far.status().modeled(), "InvalidIdentityTokenException");
  auto past =
      CheckClaims(Claims(R"({"iss":"https://i","sub":"s","aud":"ci","exp":-9000000000000000000})"),
                  {"ci"}, 1000, 60);
  EXPECT_EQ(past.status().modeled(), "ExpiredTokenException");
  EXPECT_NE(past.status().message().find("Token expired: current date/time"), std::string::npos);
  // Within the skew is fine on both ends.
  EXPECT_TRUE(
      CheckClaims(Claims(R"({"iss":"https://i","sub":"s","aud":"ci","exp":950,"nbf":1050})"),
                  {"ci"}, 1000, 60)
          .ok());
}

}  // namespace
}  // namespace rampart::iam
