#include "rampart/http/sigv4.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "http/sigv4_internal.h"
#include "rampart/core/encoding.h"
#include "rampart/crypto/digest.h"

namespace rampart::http::sigv4 {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::system_clock;

// The AWS SigV4 test suite ("aws-sig-v4-test-suite", formerly published in the
// AWS General Reference): these credentials, this time, region and service.
constexpr char kAkid[] = "AKIDEXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kScope[] = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
constexpr char kHost[] = "example.amazonaws.com";
constexpr char kAmzDate[] = "20150830T123600Z";
constexpr char kStsToken[] =
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPf"
    "IeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/"
    "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0"
    "wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
    "scqKmlzm8FDrypNC9Y"
    "jc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

system_clock::time_point SuiteTime() {
  return system_clock::time_point(seconds(*internal::ParseIsoBasic(kAmzDate)));
}
SecretBytes Secret() { return SecretBytes(std::string_view(kSecret)); }

struct Vector {
  const char* name;
  const char* method;
  const char* target;
  std::vector<Header> extra_headers;  // besides Host and X-Amz-Date
  const char* body;
  const char* signed_headers;
  const char* signature;
};

const std::vector<Vector>& SuiteVectors() {
  static const std::vector<Vector> v = {
      {"get-vanilla",
       "GET",
       "/",
       {},
       "",
       "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-unreserved",
       "GET",
       "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       {},
       "",
       "host;x-amz-date",
       "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-utf8",
       "GET",
       "/\xE1\x88\xB4",
       {},
       "",
       "host;x-amz-date",
       "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {"get-vanilla-query-order-key-case",
       "GET",
       "/?Param2=value2&Param1=value1",
       {},
       "",
       "host;x-amz-date",
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-order-key",
       "GET",
       "/?Param1=value2&Param1=Value1",
       {},
       "",
       "host;x-amz-date",
       "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"},
      {"get-vanilla-query-order-value",
       "GET",
       "/?Param1=value2&Param1=value1",
       {},
       "",
       "host;x-amz-date",
       "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
      {"get-vanilla-query-unreserved",
       "GET",
       "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       {},
       "",
       "host;x-amz-date",
       "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {"get-vanilla-utf8-query",
       "GET",
       "/?\xE1\x88\xB4=bar",
       {},
       "",
       "host;x-amz-date",
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-vanilla-empty-query-key",
       "GET",
       "/?Param1=value1",
       {},
       "",
       "host;x-amz-date",
       "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
      {"post-vanilla",
       "POST",
       "/",
       {},
       "",
       "host;x-amz-date",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"post-vanilla-empty-query-value",
       "POST",
       "/?Param1=value1",
       {},
       "",
       "host;x-amz-date",
       "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
      {"get-header-key-duplicate",
       "GET",
       "/",
       {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
       "",
       "host;my-header1;x-amz-date",
       "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {"get-header-value-order",
       "GET",
       "/",
       {{"My-Header1", "value4"},
        {"My-Header1", "value1"},
        {"My-Header1", "value3"},
        {"My-Header1", "value2"}},
       "",
       "host;my-header1;x-amz-date",
       "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"get-header-value-trim",
       "GET",
       "/",
       {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
       "",
       "host;my-header1;my-header2;x-amz-date",
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"post-header-key-sort",
       "POST",
       "/",
       {{"My-Header1", "value1"}},
       "",
       "host;my-header1;x-amz-date",
       "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
      {"post-header-value-case",
       "POST",
       "/",
       {{"My-Header1", "VALUE1"}},
       "",
       "host;my-header1;x-amz-date",
       "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
      {"post-x-www-form-urlencoded",
       "POST",
       "/",
       {{"Content-Type", "application/x-www-form-urlencoded"}},
       "Param1=value1",
       "content-type;host;x-amz-date",
       "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
      {"post-x-www-form-urlencoded-parameters",
       "POST",
       "/",
       {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}},
       "Param1=value1",
       "content-type;host;x-amz-date",
       "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"},
      {"post-sts-header-before",
       "POST",
       "/",
       {{"X-Amz-Security-Token", kStsToken}},
       "",
       "host;x-amz-date;x-amz-security-token",
       "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
      // The token is added after signing: same signature as post-vanilla.
      {"post-sts-header-after",
       "POST",
       "/",
       {{"X-Amz-Security-Token", kStsToken}},
       "",
       "host;x-amz-date",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      // normalize-path
      {"get-relative",
       "GET",
       "/example/..",
       {},
       "",
       "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-relative-relative",
       "GET",
       "/example1/example2/../..",
       {},
       "",
       "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-slash",
       "GET",
       "//",
       {},
       "",
       "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-slash-dot-slash",
       "GET",
       "/./",
       {},
       "",
       "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-slash-pointless-dot",
       "GET",
       "/./example",
       {},
       "",
       "host;x-amz-date",
       "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
      {"get-slashes",
       "GET",
       "//example//",
       {},
       "",
       "host;x-amz-date",
       "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
      {"get-space",
       "GET",
       "/example space/",
       {},
       "",
       "host;x-amz-date",
       "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
  };
  return v;
}

std::string AuthorizationFor(const Vector& v, std::string_view signature) {
  return std::string("AWS4-HMAC-SHA256 Credential=") + kScope +
         ", SignedHeaders=" + v.signed_headers + ", Signature=" + std::string(signature);
}

Request RequestFor(const Vector& v) {
  Request r;
  r.method = v.method;
  r.target = v.target;
  r.headers.push_back({"Host", kHost});
  for (const auto& h : v.extra_headers) r.headers.push_back(h);
  r.headers.push_back({"X-Amz-Date", kAmzDate});
  r.body = v.body;
  return r;
}

Request SignedRequestFor(const Vector& v) {
  Request r = RequestFor(v);
  r.headers.push_back({"Authorization", AuthorizationFor(v, v.signature)});
  return r;
}

std::string FlipBit(std::string s, size_t i) {
  s[i] = s[i] == '0' ? '1' : '0';
  return s;
}

class SuiteTest : public ::testing::TestWithParam<size_t> {};

TEST_P(SuiteTest, AcceptsPublishedSignatureAndRejectsOneBitChange) {
  const Vector& v = SuiteVectors()[GetParam()];
  SCOPED_TRACE(v.name);
  Request req = SignedRequestFor(v);
  auto auth = Parse(req);
  ASSERT_TRUE(auth.ok()) << auth.status().message();
  EXPECT_EQ(auth->access_key_id, kAkid);
  EXPECT_EQ(auth->date, "20150830");
  EXPECT_EQ(auth->region, "us-east-1");
  EXPECT_EQ(auth->service, "service");
  EXPECT_EQ(auth->amz_date, kAmzDate);
  EXPECT_FALSE(auth->presigned);
  Status st = Verify(req, *auth, Secret(), SuiteTime());
  EXPECT_TRUE(st.ok()) << st.message();

  for (size_t pos : {size_t{0}, size_t{31}, size_t{63}}) {
    Request bad = RequestFor(v);
    bad.headers.push_back({"Authorization", AuthorizationFor(v, FlipBit(v.signature, pos))});
    auto bad_auth = Parse(bad);
    ASSERT_TRUE(bad_auth.ok());
    Status mismatch = Verify(bad, *bad_auth, Secret(), SuiteTime());
    EXPECT_EQ(mismatch.code(), ErrorCode::kInvalidSignature);
    EXPECT_EQ(mismatch.message(),
              "The request signature we calculated does not match the signature you provided. "
              "Check your AWS Secret Access Key and signing method. Consult the service "
              "documentation for details.");
  }
  // The wrong secret fails too, also after the right one filled the cache.
  EXPECT_EQ(Verify(req, *auth, SecretBytes("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ"), SuiteTime())
                .code(),
            ErrorCode::kInvalidSignature);
}

INSTANTIATE_TEST_SUITE_P(AwsSigV4TestSuite, SuiteTest,
                         ::testing::Range(size_t{0}, SuiteVectors().size()), [](const auto& info) {
                           std::string n = SuiteVectors()[info.param].name;
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

const Vector& Find(std::string_view name) {
  for (const auto& v : SuiteVectors()) {
    if (name == v.name) return v;
  }
  ADD_FAILURE() << name;
  return SuiteVectors()[0];
}

TEST(SigV4CanonicalTest, PublishedCanonicalRequestsAndStringsToSign) {
  struct Case {
    const char* name;
    const char* creq;
    const char* sts_hash;  // empty: not published in our copy
  };
  const Case cases[] = {
      {"get-vanilla",
       "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       ""},  // its signature is checked above
      {"get-vanilla-query-order-key",
       "GET\n/"
       "\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
       "\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89"},
      {"post-x-www-form-urlencoded",
       "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
       "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
       "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
       "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"},
      {"post-x-www-form-urlencoded-parameters",
       "POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf8\n"
       "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
       "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
       ""},
      {"get-header-value-trim",
       "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
       "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n"
       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       ""},
      {"get-header-key-duplicate",
       "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
       "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n"
       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Request req = SignedRequestFor(Find(c.name));
    auto auth = Parse(req);
    ASSERT_TRUE(auth.ok());
    auto creq = internal::CanonicalRequest(req, *auth);
    ASSERT_TRUE(creq.ok());
    EXPECT_EQ(*creq, c.creq);
    auto sts = internal::StringToSign(req, *auth);
    ASSERT_TRUE(sts.ok());
    EXPECT_EQ(sts->substr(0, sts->rfind('\n') + 1),
              "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n");
    EXPECT_EQ(sts->substr(sts->rfind('\n') + 1), crypto::Sha256Hex(c.creq));
    if (*c.sts_hash) {
      EXPECT_EQ(sts->substr(sts->rfind('\n') + 1), c.sts_hash);
    }
  }
}

std::string Uri(std::string_view path) {
  std::string out;
  internal::AppendCanonicalUri(path, out);
  return out;
}

std::string Query(std::string_view q, bool presigned = false) {
  std::string out;
  Status st = internal::AppendCanonicalQuery(q, presigned, out);
  return st.ok() ? out : "<error>";
}

TEST(SigV4CanonicalTest, UriIsNormalisedThenEncodedAgain) {
  EXPECT_EQ(Uri(""), "/");
  EXPECT_EQ(Uri("/"), "/");
  EXPECT_EQ(Uri("//example//"), "/example/");
  EXPECT_EQ(Uri("/a/./b/../c"), "/a/c");
  EXPECT_EQ(Uri("/../../a"), "/a");
  EXPECT_EQ(Uri("/a/..b/.c"), "/a/..b/.c");
  EXPECT_EQ(Uri("/example space/"), "/example%20space/");
  // The wire form is already percent-encoded: non-S3 services sign it
  // encoded once more (what botocore and the JS SDK send).
  EXPECT_EQ(Uri("/example%20space/"), "/example%2520space/");
  EXPECT_EQ(Uri("/a%2Fb"), "/a%252Fb");
  EXPECT_EQ(Uri("/findings/arn%3Aaws%3Ahub"), "/findings/arn%253Aaws%253Ahub");
  EXPECT_EQ(Uri("/%E1%88%B4"), "/%25E1%2588%25B4");
  EXPECT_EQ(Uri("/a:b+c"), "/a%3Ab%2Bc");
}

TEST(SigV4CanonicalTest, QueryIsDecodedReencodedAndSorted) {
  EXPECT_EQ(Query(""), "");
  EXPECT_EQ(Query("b=2&a=1"), "a=1&b=2");
  EXPECT_EQ(Query("a=10&a=9"), "a=10&a=9");
  EXPECT_EQ(Query("x=a.b&x=a%2fb"), "x=a%2Fb&x=a.b");
  EXPECT_EQ(Query("q=a+b"), "q=a%2Bb");
  EXPECT_EQ(Query("q=a%20b&flag"), "flag=&q=a%20b");
  EXPECT_EQ(Query("a=1=2"), "a=1%3D2");
  EXPECT_EQ(Query("a=1&&b=2&"), "a=1&b=2");
  EXPECT_EQ(Query("Action=GetCallerIdentity&Version=2011-06-15"),
            "Action=GetCallerIdentity&Version=2011-06-15");
  EXPECT_EQ(Query("X-Amz-Signature=abc&b=1", true), "b=1");
  EXPECT_EQ(Query("X-Amz-Signature=abc&b=1", false), "X-Amz-Signature=abc&b=1");
  EXPECT_EQ(Query("a=%zz"), "<error>");
  EXPECT_EQ(Query("a=%4"), "<error>");
}

TEST(SigV4DateTest, Formats) {
  EXPECT_EQ(*internal::ParseIsoBasic("19700101T000000Z"), 0);
  EXPECT_EQ(*internal::ParseHttpDate("Sun, 30 Aug 2015 12:36:00 GMT"),
            *internal::ParseIsoBasic("20150830T123600Z"));
  EXPECT_EQ(internal::FormatIsoBasic(*internal::ParseIsoBasic("20240229T235959Z")),
            "20240229T235959Z");
  for (const char* bad : {"", "2015-08-30T12:36:00Z", "20150830T123600", "20150230T000000Z",
                          "20150830T240000Z", "20150830T126000Z", "20151330T000000Z",
                          "2015083OT123600Z", "00000830T123600Z", "20150830 123600Z"}) {
    EXPECT_FALSE(internal::ParseIsoBasic(bad).has_value()) << bad;
  }
  for (const char* bad : {"Sun, 30 Aug 2015 12:36:00 UTC", "Xyz, 30 Aug 2015 12:36:00 GMT",
                          "Sun, 31 Sep 2015 12:36:00 GMT", "Sun, 30 Agu 2015 12:36:00 GMT",
                          "Sun 30 Aug 2015 12:36:00 GMT"}) {
    EXPECT_FALSE(internal::ParseHttpDate(bad).has_value()) << bad;
  }
}

// ---- Client side round trips

Request StsRequest() {
  Request r;
  r.method = "POST";
  r.target = "/";
  r.headers = {{"Host", "sts.amazonaws.com"},
               {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
               {"User-Agent", "aws-cli/2.15"},
               {"Accept-Encoding", "identity"},
               {"Content-Length", "43"}};
  r.body = "Action=GetCallerIdentity&Version=2011-06-15";
  return r;
}

Status ParseAndVerify(const Request& r, system_clock::time_point now,
                      const SecretBytes& secret = Secret()) {
  auto auth = Parse(r);
  if (!auth.ok()) return auth.status();
  return Verify(r, *auth, secret, now);
}

TEST(SigV4ClientTest, SignThenVerify) {
  Request r = StsRequest();
  SignRequest(r, kAkid, Secret(), "us-east-1", "sts", SuiteTime());
  EXPECT_TRUE(ParseAndVerify(r, SuiteTime()).ok());
  auto auth = Parse(r);
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(auth->signed_headers, (std::vector<std::string>{"accept-encoding", "content-length",
                                                            "content-type", "host", "x-amz-date"}));
  // Re-signing replaces the old Authorization and date.
  SignRequest(r, kAkid, Secret(), "us-east-1", "sts", SuiteTime() + seconds(5), "token-1");
  EXPECT_TRUE(ParseAndVerify(r, SuiteTime()).ok());
  auth = Parse(r);
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(auth->security_token, "token-1");
  // A tampered body, target or signed header fails.
  Request body = r;
  body.body = "Action=GetCallerIdentity&Version=2011-06-16";
  EXPECT_EQ(ParseAndVerify(body, SuiteTime()).code(), ErrorCode::kInvalidSignature);
  Request target = r;
  target.target = "/?x=1";
  EXPECT_EQ(ParseAndVerify(target, SuiteTime()).code(), ErrorCode::kInvalidSignature);
  Request header = r;
  header.headers[1].value = "application/json";
  EXPECT_EQ(ParseAndVerify(header, SuiteTime()).code(), ErrorCode::kInvalidSignature);
  // An unsigned header may change.
  Request agent = r;
  agent.headers[2].value = "curl";
  EXPECT_TRUE(ParseAndVerify(agent, SuiteTime()).ok());
}

TEST(SigV4ClientTest, EncodedPathsRoundTrip) {
  Request r = StsRequest();
  r.method = "GET";
  r.body.clear();
  r.target = "/findings/arn%3Aaws%3Asecurityhub%3A%3A1/a%20b?z=%2F&a=b+c&a=%C3%A9";
  SignRequest(r, kAkid, Secret(), "us-east-1", "securityhub", SuiteTime());
  EXPECT_TRUE(ParseAndVerify(r, SuiteTime()).ok());
  Request decoded = r;
  decoded.target = "/findings/arn:aws:securityhub::1/a%20b?z=%2F&a=b+c&a=%C3%A9";
  EXPECT_EQ(ParseAndVerify(decoded, SuiteTime()).code(), ErrorCode::kInvalidSignature);
}

TEST(SigV4ClientTest, PresignRoundTrip) {
  Request r;
  r.method = "GET";
  r.target = "/?Action=GetCallerIdentity&Version=2011-06-15";
  r.headers = {{"Host", "sts.amazonaws.com"}};
  std::string target =
      PresignTarget(r, kAkid, Secret(), "us-east-1", "sts", SuiteTime(), 900, "tok/en+");
  EXPECT_NE(target.find("X-Amz-Expires=900"), std::string::npos);
  Request p;
  p.method = "GET";
  p.target = target;
  p.headers = {{"Host", "sts.amazonaws.com"}, {"User-Agent", "x"}};
  auto auth = Parse(p);
  ASSERT_TRUE(auth.ok()) << auth.status().message();
  EXPECT_TRUE(auth->presigned);
  EXPECT_EQ(auth->expires_seconds, 900);
  EXPECT_EQ(auth->security_token, "tok/en+");
  EXPECT_TRUE(Verify(p, *auth, Secret(), SuiteTime()).ok());
  EXPECT_TRUE(Verify(p, *auth, Secret(), SuiteTime() + seconds(900)).ok());
  Status expired = Verify(p, *auth, Secret(), SuiteTime() + seconds(901));
  EXPECT_EQ(expired.code(), ErrorCode::kRequestExpired);
  EXPECT_EQ(expired.message(), "Request has expired");
  EXPECT_EQ(Verify(p, *auth, Secret(), SuiteTime() - minutes(16)).code(),
            ErrorCode::kRequestExpired);
  EXPECT_TRUE(Verify(p, *auth, Secret(), SuiteTime() - minutes(14)).ok());

  Request tampered = p;
  tampered.target.replace(tampered.target.find("GetCallerIdentity"), 3, "Set");
  EXPECT_EQ(ParseAndVerify(tampered, SuiteTime()).code(), ErrorCode::kInvalidSignature);
  Request longer = p;
  longer.target.replace(longer.target.find("X-Amz-Expires=900"), 17, "X-Amz-Expires=901");
  EXPECT_EQ(ParseAndVerify(longer, SuiteTime()).code(), ErrorCode::kInvalidSignature);
  Request host = p;
  host.headers[0].value = "evil.example";
  EXPECT_EQ(ParseAndVerify(host, SuiteTime()).code(), ErrorCode::kInvalidSignature);
  // Both mechanisms at once is refused.
  Request both = p;
  both.headers.push_back({"Authorization", "AWS4-HMAC-SHA256 Credential=x"});
  EXPECT_EQ(Parse(both).status().code(), ErrorCode::kIncompleteSignature);
}

std::string PresignWith(std::string_view expires) {
  return std::string(
             "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2F"
             "us-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=") +
         std::string(expires) + "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + std::string(64, 'a');
}

TEST(SigV4HostileTest, PresignedParameters) {
  Request r;
  r.method = "GET";
  r.headers = {{"Host", kHost}};
  r.target = PresignWith("60");
  EXPECT_TRUE(Parse(r).ok());
  for (const char* bad :
       {"0", "604801", "99999999999999999999999", "-1", "1e3", "", " 60", "abc"}) {
    r.target = PresignWith(bad);
    auto a = Parse(r);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), ErrorCode::kIncompleteSignature) << bad;
  }
  r.target = PresignWith("604800");
  EXPECT_TRUE(Parse(r).ok());
  r.target = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256";
  EXPECT_EQ(Parse(r).status().message(),
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            "X-Amz-Expires parameters.");
  r.target = PresignWith("60") + "&X-Amz-Signature=bb";
  EXPECT_EQ(Parse(r).status().code(), ErrorCode::kIncompleteSignature);
  r.target = PresignWith("60") + "&x=%zz";
  EXPECT_FALSE(Parse(r).ok());
  std::string host_unsigned = PresignWith("60");
  host_unsigned.replace(host_unsigned.find("SignedHeaders=host"), 18, "SignedHeaders=x-a");
  r.target = host_unsigned;
  EXPECT_EQ(Parse(r).status().code(), ErrorCode::kIncompleteSignature);
}

Request GetVanilla() { return SignedRequestFor(Find("get-vanilla")); }

void SetHeader(Request& r, std::string_view name, std::string value) {
  for (auto& h : r.headers) {
    if (EqualsIgnoreCase(h.name, name)) {
      h.value = std::move(value);
      return;
    }
  }
  r.headers.push_back({std::string(name), std::move(value)});
}

TEST(SigV4HostileTest, MissingAuthentication) {
  Request r;
  r.method = "GET";
  r.target = "/?X-Amz-Date=20150830T123600Z";
  auto a = Parse(r);
  EXPECT_EQ(a.status().code(), ErrorCode::kMissingAuthentication);
  EXPECT_EQ(a.status().message(), "Request is missing Authentication Token");
}

TEST(SigV4HostileTest, IncompleteHeadersNameWhatIsMissingWithoutTheSignature) {
  Request r = RequestFor(Find("get-vanilla"));
  const std::string sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  r.headers.push_back({"Authorization", "AWS4-HMAC-SHA256 Signature=" + sig});
  auto a = Parse(r);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), ErrorCode::kIncompleteSignature);
  EXPECT_EQ(a.status().message(),
            "Authorization header requires 'Credential' parameter. Authorization header requires "
            "'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Signature=<redacted>");
  EXPECT_EQ(a.status().message().find(sig), std::string::npos);

  SetHeader(r, "Authorization",
            "AWS4-HMAC-SHA256 Credential=" + std::string(kScope) +
                ", SignedHeaders=host;x-amz-date, " + sig);
  a = Parse(r);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), ErrorCode::kIncompleteSignature);

  Request no_date = GetVanilla();
  std::erase_if(no_date.headers, [](const Header& h) { return h.name == "X-Amz-Date"; });
  a = Parse(no_date);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(
      a.status().message().find(
          "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."),
      std::string::npos);
  EXPECT_EQ(a.status().message().find(sig), std::string::npos);
}

TEST(SigV4HostileTest, MalformedAuthorizationHeaders) {
  const std::string good = *GetVanilla().header("Authorization");
  auto code_for = [](const std::string& authorization) {
    Request r = RequestFor(Find("get-vanilla"));
    r.headers.push_back({"Authorization", authorization});
    auto a = Parse(r);
    return a.ok() ? ErrorCode::kOk : a.status().code();
  };
  EXPECT_EQ(code_for(good), ErrorCode::kOk);
  EXPECT_EQ(code_for(""), ErrorCode::kIncompleteSignature);
  EXPECT_EQ(code_for("AWS4-HMAC-SHA256"), ErrorCode::kIncompleteSignature);
  EXPECT_EQ(code_for("AWS AKIDEXAMPLE:abc"), ErrorCode::kIncompleteSignature);
  EXPECT_EQ(code_for(",,,,,"), ErrorCode::kIncompleteSignature);
  EXPECT_EQ(code_for(std::string(1 << 20, 'A')), ErrorCode::kIncompleteSignature);
  EXPECT_EQ(code_for(good + ", Signature=abc"), ErrorCode::kIncompleteSignature);
  auto with_scope = [&](const std::string& scope) {
    std::string a = good;
    a.replace(a.find(kScope), std::strlen(kScope), scope);
    return code_for(a);
  };
  EXPECT_EQ(with_scope("AKIDEXAMPLE/20150830/us-east-1/service"), ErrorCode::kIncompleteSignature);
  EXPECT_EQ(with_scope("AKIDEXAMPLE/20150830/us-east-1/service/aws4_request/x"),
            ErrorCode::kIncompleteSignature);
  EXPECT_EQ(with_scope("AKIDEXAMPLE/20150830/us-east-1/service/aws5_request"),
            ErrorCode::kIncompleteSignature);
  EXPECT_EQ(with_scope("AKIDEXAMPLE/20150830//service/aws4_request"),
            ErrorCode::kIncompleteSignature);
  EXPECT_EQ(with_scope("AKIDEXAMPLE/20150830/us east/service/aws4_request"),
            ErrorCode::kIncompleteSignature);
  EXPECT_EQ(with_scope("AKIDEXAMPLE/2015083/us-east-1/service/aws4_request"),
            ErrorCode::kIncompleteSignature);
  EXPECT_EQ(with_scope("AKIDEXAMPLE/20151330/us-east-1/service/aws4_request"),
            ErrorCode::kIncompleteSignature);
  EXPECT_EQ(with_scope("AKID EXAMPLE/20150830/us-east-1/service/aws4_request"),
            ErrorCode::kUnrecognizedClient);
  EXPECT_EQ(with_scope("/20150830/us-east-1/service/aws4_request"), ErrorCode::kUnrecognizedClient);

  std::string other_algo = good;
  other_algo.replace(0, 16, "AWS4-HMAC-SHA512");
  Request r = RequestFor(Find("get-vanilla"));
  r.headers.push_back({"Authorization", other_algo});
  EXPECT_EQ(Parse(r).status().message(), "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'");

  std::string no_host = good;
  no_host.replace(no_host.find("host;x-amz-date"), 15, "x-amz-date");
  EXPECT_EQ(code_for(no_host), ErrorCode::kIncompleteSignature);
  std::string upper = good;
  upper.replace(upper.find("host;x-amz-date"), 15, "Host;x-amz-date");
  EXPECT_EQ(code_for(upper), ErrorCode::kIncompleteSignature);
  std::string empty_name = good;
  empty_name.replace(empty_name.find("host;x-amz-date"), 15, "host;;x-amz-date");
  EXPECT_EQ(code_for(empty_name), ErrorCode::kIncompleteSignature);
  std::string many = "host";
  for (int i = 0; i < 100; ++i) many += ";h" + std::to_string(i);
  std::string too_many = good;
  too_many.replace(too_many.find("host;x-amz-date"), 15, many);
  EXPECT_EQ(code_for(too_many), ErrorCode::kIncompleteSignature);

  Request twice = GetVanilla();
  twice.headers.push_back({"authorization", good});
  EXPECT_EQ(Parse(twice).status().code(), ErrorCode::kIncompleteSignature);
}

TEST(SigV4HostileTest, SignatureShapes) {
  for (std::string sig :
       {std::string(64, 'z'),
        std::string("5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31"),
        std::string(63, 'a'), std::string(1000, 'a'), std::string("x")}) {
    Request r = RequestFor(Find("get-vanilla"));
    r.headers.push_back({"Authorization", AuthorizationFor(Find("get-vanilla"), sig)});
    auto a = Parse(r);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(Verify(r, *a, Secret(), SuiteTime()).code(), ErrorCode::kInvalidSignature);
  }
}

TEST(SigV4HostileTest, BadDatesAndSkew) {
  for (const char* bad : {"2015-08-30T12:36:00Z", "20150830T123600", "20150230T123600Z", "x"}) {
    Request r = GetVanilla();
    SetHeader(r, "X-Amz-Date", bad);
    auto a = Parse(r);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), ErrorCode::kIncompleteSignature);
  }
  Request r = GetVanilla();
  auto a = Parse(r);
  ASSERT_TRUE(a.ok());
  Status old = Verify(r, *a, Secret(), SuiteTime() + minutes(24));
  EXPECT_EQ(old.code(), ErrorCode::kRequestExpired);
  EXPECT_EQ(old.message(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T124500Z "
            "(20150830T130000Z - 15 min.)");
  Status future = Verify(r, *a, Secret(), SuiteTime() - minutes(24));
  EXPECT_EQ(future.code(), ErrorCode::kRequestExpired);
  EXPECT_EQ(future.message(),
            "Signature not yet current: 20150830T123600Z is still later than 20150830T122700Z "
            "(20150830T121200Z + 15 min.)");
  EXPECT_TRUE(Verify(r, *a, Secret(), SuiteTime() + minutes(15)).ok());
  EXPECT_TRUE(Verify(r, *a, Secret(), SuiteTime() - minutes(15)).ok());

  // The credential scope's day must be the request's day.
  Request next_day = GetVanilla();
  SetHeader(next_day, "X-Amz-Date", "20150831T000000Z");
  auto nd = Parse(next_day);
  ASSERT_TRUE(nd.ok());
  EXPECT_EQ(Verify(next_day, *nd, Secret(), SuiteTime() + minutes(684)).code(),
            ErrorCode::kInvalidSignature);
}

TEST(SigV4HostileTest, DateHeaderInsteadOfXAmzDate) {
  Request r;
  r.method = "GET";
  r.target = "/";
  r.headers = {{"Host", kHost}, {"Date", "Sun, 30 Aug 2015 12:36:00 GMT"}};
  AuthInfo auth;
  auth.access_key_id = kAkid;
  auth.date = "20150830";
  auth.region = "us-east-1";
  auth.service = "service";
  auth.amz_date = kAmzDate;
  auth.signed_headers = {"date", "host"};
  auto sts = internal::StringToSign(r, auth);
  ASSERT_TRUE(sts.ok());
  SecretBytes key = internal::DeriveSigningKey(Secret(), "20150830", "us-east-1", "service");
  std::string sig = HexEncode(crypto::HmacSha256(key.reveal(), *sts));
  r.headers.push_back({"Authorization", std::string("AWS4-HMAC-SHA256 Credential=") + kScope +
                                            ", SignedHeaders=date;host, Signature=" + sig});
  auto parsed = Parse(r);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->amz_date, kAmzDate);
  EXPECT_TRUE(Verify(r, *parsed, Secret(), SuiteTime()).ok());
}

TEST(SigV4HostileTest, PayloadHashHeader) {
  Request base = StsRequest();
  // Signed with the body's hash declared.
  Request declared = base;
  declared.headers.push_back({"X-Amz-Content-Sha256", crypto::Sha256Hex(base.body)});
  SignRequest(declared, kAkid, Secret(), "us-east-1", "sts", SuiteTime());
  EXPECT_TRUE(ParseAndVerify(declared, SuiteTime()).ok());
  Request tampered = declared;
  tampered.body[0] = 'a';
  Status st = ParseAndVerify(tampered, SuiteTime());
  EXPECT_EQ(st.code(), ErrorCode::kInvalidSignature);
  EXPECT_EQ(st.message(),
            "The provided 'x-amz-content-sha256' header does not match what was computed.");

  // UNSIGNED-PAYLOAD: the body is not covered (as AWS specifies).
  Request unsigned_payload = base;
  unsigned_payload.headers.push_back({"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"});
  SignRequest(unsigned_payload, kAkid, Secret(), "us-east-1", "sts", SuiteTime());
  EXPECT_TRUE(ParseAndVerify(unsigned_payload, SuiteTime()).ok());
  unsigned_payload.body = "anything";
  EXPECT_TRUE(ParseAndVerify(unsigned_payload, SuiteTime()).ok());

  // Neither a hash nor UNSIGNED-PAYLOAD.
  Request junk = base;
  junk.headers.push_back({"X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"});
  SignRequest(junk, kAkid, Secret(), "us-east-1", "sts", SuiteTime());
  EXPECT_EQ(ParseAndVerify(junk, SuiteTime()).code(), ErrorCode::kValidation);
  Request two = declared;
  two.headers.push_back({"x-amz-content-sha256", "UNSIGNED-PAYLOAD"});
  EXPECT_FALSE(ParseAndVerify(two, SuiteTime()).ok());

  // Tampered body without the header: plain mismatch.
  Request plain = base;
  SignRequest(plain, kAkid, Secret(), "us-east-1", "sts", SuiteTime());
  plain.body += "&Extra=1";
  EXPECT_EQ(ParseAndVerify(plain, SuiteTime()).code(), ErrorCode::kInvalidSignature);
}

TEST(SigV4HostileTest, HugeInputsAreBounded) {
  Request r = StsRequest();
  r.headers.push_back({"X-Big", std::string(1 << 20, 'v')});
  SignRequest(r, kAkid, Secret(), "us-east-1", "sts", SuiteTime());
  EXPECT_TRUE(ParseAndVerify(r, SuiteTime()).ok());
  // Odd header names stay unsigned; more headers than may be signed still
  // yield a request the verifier accepts, with host signed.
  Request odd = StsRequest();
  odd.headers.push_back({"X;Y", "1"});
  odd.headers.push_back({"", "empty"});
  for (int i = 0; i < 100; ++i) odd.headers.push_back({"X-H" + std::to_string(i), "v"});
  SignRequest(odd, kAkid, Secret(), "us-east-1", "sts", SuiteTime());
  auto odd_auth = Parse(odd);
  ASSERT_TRUE(odd_auth.ok()) << odd_auth.status().message();
  EXPECT_EQ(odd_auth->signed_headers.size(), kMaxSignedHeaders);
  EXPECT_TRUE(Verify(odd, *odd_auth, Secret(), SuiteTime()).ok());

  Request q = GetVanilla();
  q.target = "/?" + std::string(kMaxQueryLength + 1, 'a');
  auto a = Parse(q);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(Verify(q, *a, Secret(), SuiteTime()).code(), ErrorCode::kInvalidQueryParameter);
  std::string many;
  for (size_t i = 0; i <= kMaxQueryParams; ++i) many += "a=" + std::to_string(i) + "&";
  q.target = "/?" + many;
  EXPECT_EQ(Verify(q, *a, Secret(), SuiteTime()).code(), ErrorCode::kInvalidQueryParameter);
  // Arbitrary AuthInfo never crashes Verify.
  AuthInfo empty;
  EXPECT_FALSE(Verify(q, empty, Secret(), SuiteTime()).ok());
}

// The signing-key cache compares the secret itself: a rotated secret of the
// same or of another length never reuses the old derived key.
TEST(SigV4ClientTest, RotatedSecretNeverReusesCachedKey) {
  const SecretBytes old_secret(std::string_view("old-secret-0123456789"));
  const SecretBytes same_length(std::string_view("old-secret-012345678X"));
  const SecretBytes longer(std::string_view("old-secret-0123456789-and-more"));
  Request signed_old = StsRequest();
  SignRequest(signed_old, "AKIDROTATE", old_secret, "us-east-1", "sts", SuiteTime());
  ASSERT_TRUE(ParseAndVerify(signed_old, SuiteTime(), old_secret).ok());  // fills the cache
  for (const SecretBytes* rotated : {&same_length, &longer}) {
    EXPECT_EQ(ParseAndVerify(signed_old, SuiteTime(), *rotated).code(),
              ErrorCode::kInvalidSignature);
    Request signed_new = StsRequest();
    SignRequest(signed_new, "AKIDROTATE", *rotated, "us-east-1", "sts", SuiteTime());
    EXPECT_TRUE(ParseAndVerify(signed_new, SuiteTime(), *rotated).ok());
    EXPECT_EQ(ParseAndVerify(signed_new, SuiteTime(), old_secret).code(),
              ErrorCode::kInvalidSignature);
  }
  EXPECT_TRUE(ParseAndVerify(signed_old, SuiteTime(), old_secret).ok());
}

// Differential test of the canonical header value ("Trimall") against a
// plain reference model, on values rich in whitespace and control bytes.
TEST(SigV4CanonicalTest, HeaderValueTrimallMatchesReferenceModel) {
  auto reference = [](std::string_view v) {
    auto space = [](char c) {
      return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
    };
    std::string out;
    bool pending_space = false;
    for (char c : v) {
      if (space(c)) {
        pending_space = !out.empty();
        continue;
      }
      if (pending_space) out += ' ';
      pending_space = false;
      out += c;
    }
    return out;
  };
  constexpr char kAlphabet[] = {' ',    '\t',   '\r', '\n',   '\v',   '\f',   'a', 'B', ',',
                                '\x01', '\x1f', '!',  '\x7f', '\x80', '\xff', ' ', ' ', 'z'};
  AuthInfo auth;
  auth.access_key_id = kAkid;
  auth.date = "20150830";
  auth.region = "us-east-1";
  auth.service = "service";
  auth.amz_date = kAmzDate;
  auth.signed_headers = {"host", "x-test"};
  uint32_t seed = 12345;
  auto next = [&seed] { return seed = seed * 1103515245u + 12345u, seed >> 16; };
  for (int round = 0; round < 3000; ++round) {
    std::string value;
    size_t length = next() % 40;
    for (size_t i = 0; i < length; ++i) value += kAlphabet[next() % sizeof(kAlphabet)];
    Request r;
    r.method = "GET";
    r.target = "/";
    r.headers = {{"Host", kHost}, {"X-Test", value}};
    auto canonical = internal::CanonicalRequest(r, auth);
    ASSERT_TRUE(canonical.ok());
    std::string expected = "\nx-test:" + reference(value) + "\n\nhost;x-test\n";
    EXPECT_NE(canonical->find(expected), std::string::npos) << HexEncode(value);
  }
}

// The precomputed HMAC key behind the signing-key cache agrees with plain
// HMAC-SHA-256 for short, block-sized and over-long keys.
TEST(SigV4ClientTest, PrecomputedHmacKeyMatchesHmac) {
  for (size_t key_length : {0u, 1u, 32u, 63u, 64u, 65u, 131u}) {
    std::string key(key_length, '\0');
    for (size_t i = 0; i < key_length; ++i) key[i] = static_cast<char>(i * 7 + 3);
    const crypto::HmacSha256Key prepared(key);
    for (size_t data_length : {0u, 1u, 55u, 56u, 64u, 119u, 134u, 1000u}) {
      std::string data(data_length, 'd');
      unsigned char mac[crypto::kSha256Size];
      prepared.Sign(data, crypto::Sha256Out(mac, crypto::kSha256Size));
      EXPECT_EQ(std::string(reinterpret_cast<char*>(mac), sizeof(mac)),
                crypto::HmacSha256(key, data))
          << key_length << "/" << data_length;
    }
  }
}

TEST(SigV4ClientTest, ConcurrentVerificationAcrossKeys) {
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        SecretBytes secret("secret-" + std::to_string((t + i) % 7));
        Request r = StsRequest();
        std::string akid = "AKID" + std::to_string(i % 5);
        SignRequest(r, akid, secret, i % 2 ? "us-east-1" : "eu-west-1", "sts", SuiteTime());
        if (!ParseAndVerify(r, SuiteTime(), secret).ok()) ++failures[t];
        if (ParseAndVerify(r, SuiteTime(), SecretBytes("other")).ok()) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

}  // namespace
}  // namespace rampart::http::sigv4
