// rest-json (Security Hub, Access Analyzer): routing, bindings, output.
#include <gtest/gtest.h>

#include "rampart/protocol/internal.h"
#include "rampart/protocol/model.h"
#include "rampart/protocol/protocol.h"

namespace rampart::protocol {
namespace {

std::string HeaderOf(const http::Response& resp, std::string_view name) {
  for (const auto& h : resp.headers) {
    if (internal::EqualsNoCase(h.name, name)) return h.value;
  }
  return "(absent)";
}

http::Request Rest(std::string method, std::string target, std::string body = "") {
  http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = {{"Content-Type", "application/json"}};
  r.body = std::move(body);
  return r;
}

Result<Decoded> Hub(std::string method, std::string target, std::string body = "") {
  return Decode(*FindService("securityhub"),
                Rest(std::move(method), std::move(target), std::move(body)));
}

Result<Decoded> Analyzer(std::string method, std::string target, std::string body = "") {
  return Decode(*FindService("access-analyzer"),
                Rest(std::move(method), std::move(target), std::move(body)));
}

TEST(RestJsonTest, RoutesByMethodAndPath) {
  auto d = Hub("POST", "/findings", R"({"MaxResults":5})");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(OperationName(*d->op), "GetFindings");
  EXPECT_EQ(d->input.find("MaxResults")->as_int(), 5);
  d = Hub("PATCH", "/findings", R"({"Filters":{},"Note":{"Text":"t","UpdatedBy":"u"}})");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(OperationName(*d->op), "UpdateFindings");
  EXPECT_EQ(Hub("PUT", "/findings").status().code(), ErrorCode::kUnknownOperation);
  EXPECT_EQ(Hub("POST", "/nothing/here").status().code(), ErrorCode::kUnknownOperation);
}

TEST(RestJsonTest, LabelsAndGreedyLabels) {
  auto d = Hub(
      "DELETE",
      "/insights/arn:aws:securityhub:us-east-1:123456789012:insight/123456789012/custom/abc%2Fdef");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(OperationName(*d->op), "DeleteInsight");
  EXPECT_EQ(d->input.get_string("InsightArn"),
            "arn:aws:securityhub:us-east-1:123456789012:insight/123456789012/custom/abc/def");
  d = Analyzer("GET", "/analyzer/my%2Danalyzer/archive-rule/rule-1");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(OperationName(*d->op), "GetArchiveRule");
  EXPECT_EQ(d->input.get_string("analyzerName"), "my-analyzer");
  EXPECT_EQ(d->input.get_string("ruleName"), "rule-1");
  // A non-greedy label is exactly one non-empty segment.
  EXPECT_EQ(Analyzer("GET", "/analyzer//archive-rule/x").status().code(),
            ErrorCode::kUnknownOperation);
  EXPECT_EQ(Hub("DELETE", "/insights/").status().code(), ErrorCode::kUnknownOperation);
}

TEST(RestJsonTest, MostSpecificRouteWins) {
  auto d = Analyzer("GET", "/analyzer/a1");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(OperationName(*d->op), "GetAnalyzer");
  d = Analyzer("GET", "/analyzer");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(OperationName(*d->op), "ListAnalyzers");
}

TEST(RestJsonTest, QueryStringBindings) {
  auto d = Hub("GET", "/members?OnlyAssociated=true&MaxResults=7&NextToken=abc");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(OperationName(*d->op), "ListMembers");
  EXPECT_TRUE(d->input.find("OnlyAssociated")->as_bool());
  EXPECT_EQ(d->input.find("MaxResults")->as_int(), 7);
  d = Hub("DELETE", "/tags/arn%3Aaws%3Asecurityhub%3A%3A1%3Ahub%2Fdefault?tagKeys=a&tagKeys=b");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->input.get_string("ResourceArn"), "arn:aws:securityhub::1:hub/default");
  ASSERT_EQ(d->input.find("TagKeys")->as_array().size(), 2u);
  d = Hub("GET", "/members?MaxResults=x");
  ASSERT_EQ(d.status().code(), ErrorCode::kValidation);
  EXPECT_EQ(d.status().message(),
            "1 validation error detected: Value 'x' at 'maxResults' failed to satisfy constraint: "
            "Member must be a 32-bit integer");
}

TEST(RestJsonTest, BodyValidation) {
  auto d = Analyzer("PUT", "/analyzer", R"({"analyzerName":"a","type":"BOGUS"})");
  ASSERT_EQ(d.status().code(), ErrorCode::kValidation);
  EXPECT_EQ(d.status().message(),
            "1 validation error detected: Value 'BOGUS' at 'type' failed to satisfy constraint: "
            "Member must satisfy enum value set: [ACCOUNT, ORGANIZATION]");
  EXPECT_EQ(Analyzer("PUT", "/analyzer", "{").status().code(), ErrorCode::kSerialization);
}

TEST(RestJsonTest, OutputAndUnknownRouteError) {
  const ServiceModel& aa = *FindService("access-analyzer");
  json::Value out = json::Value::MakeObject();
  out.set("arn", "arn:aws:access-analyzer:us-east-1:1:analyzer/a");
  http::Response resp;
  EncodeOutput(aa, *FindOperation(aa, "CreateAnalyzer"), out, "rid", resp);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, R"({"arn":"arn:aws:access-analyzer:us-east-1:1:analyzer/a"})");
  EXPECT_EQ(HeaderOf(resp, "x-amzn-RequestId"), "rid");

  auto d = Analyzer("GET", "/nope");
  http::Response err;
  EncodeError(&aa, Protocol::kRestJson, d.status(), "rid", err);
  EXPECT_EQ(err.status, 404);
  EXPECT_EQ(HeaderOf(err, "x-amzn-ErrorType"), "UnknownOperationException");
}

TEST(RestJsonTest, HostilePaths) {
  std::string many = "/insights";
  for (int i = 0; i < 5000; ++i) many += "/x";
  EXPECT_EQ(Hub("DELETE", many).status().code(), ErrorCode::kUnknownOperation);  // > 64 segments
  EXPECT_TRUE(Hub("DELETE", "/insights/a/b/c/d").ok());
  EXPECT_EQ(Analyzer("GET", "/analyzer/%zz").status().code(), ErrorCode::kUnknownOperation);
  EXPECT_EQ(Hub("GET", "/members?%zz").status().code(), ErrorCode::kSerialization);
  EXPECT_EQ(Hub("GET", "").status().code(), ErrorCode::kUnknownOperation);
}

}  // namespace
}  // namespace rampart::protocol
