// Query protocol (IAM, STS): form decoding, validation and XML output.
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

http::Request Form(std::string body) {
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
  r.body = std::move(body);
  return r;
}

Result<Decoded> DecodeIam(std::string body) {
  return Decode(*FindService("iam"), Form(std::move(body)));
}

TEST(QueryProtocolTest, DecodesCreateUserWithTags) {
  auto d = DecodeIam(
      "Action=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Fdev%2F"
      "&Tags.member.2.Key=team&Tags.member.2.Value=blue&Tags.member.1.Key=env&Tags.member.1.Value="
      "prod");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(OperationName(*d->op), "CreateUser");
  EXPECT_EQ(d->input.get_string("UserName"), "alice");
  EXPECT_EQ(d->input.get_string("Path"), "/dev/");
  const json::Array& tags = d->input.find("Tags")->as_array();
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(tags[0].get_string("Key"), "env");
  EXPECT_EQ(tags[1].get_string("Value"), "blue");
}

TEST(QueryProtocolTest, GetRequestsUseTheQueryString) {
  http::Request r;
  r.method = "GET";
  r.target = "/?Action=ListUsers&Version=2010-05-08&MaxItems=10";
  auto d = Decode(*FindService("iam"), r);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->input.find("MaxItems")->as_int(), 10);
}

TEST(QueryProtocolTest, EmptyListIsAnEmptyValue) {
  auto d = DecodeIam("Action=CreateUser&UserName=bob&Tags=");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_TRUE(d->input.find("Tags")->as_array().empty());
}

TEST(QueryProtocolTest, ActionErrors) {
  EXPECT_EQ(DecodeIam("Version=2010-05-08").status().code(), ErrorCode::kMissingAction);
  auto d = DecodeIam("Action=Explode&Version=2010-05-08");
  ASSERT_EQ(d.status().code(), ErrorCode::kUnknownOperation);
  EXPECT_EQ(d.status().message(), "Could not find operation Explode for version 2010-05-08");
  d = DecodeIam("Action=CreateUser&Version=1999-01-01&UserName=a");
  EXPECT_EQ(d.status().message(), "Could not find operation CreateUser for version 1999-01-01");
  EXPECT_EQ(DecodeIam("Action=ListUsers&Bad=%zz").status().code(),
            ErrorCode::kInvalidQueryParameter);
}

TEST(QueryProtocolTest, ValidationWording) {
  auto d = DecodeIam("Action=CreateUser&Version=2010-05-08");
  EXPECT_EQ(d.status().message(),
            "1 validation error detected: Value null at 'userName' failed to satisfy constraint: "
            "Member must not be null");
  d = DecodeIam("Action=CreateUser&UserName=a%20b");
  EXPECT_EQ(d.status().message(),
            "1 validation error detected: Value 'a b' at 'userName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+");
  d = DecodeIam("Action=CreateUser&UserName=ok&Tags.member.1.Key=&Tags.member.1.Value=v");
  EXPECT_EQ(d.status().message(),
            "2 validation errors detected: Value '' at 'tags.1.member.key' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1; Value '' at "
            "'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+");
}

TEST(QueryProtocolTest, ScalarsAreStrict) {
  auto d = DecodeIam("Action=ListUsers&MaxItems=12abc");
  ASSERT_EQ(d.status().code(), ErrorCode::kValidation);
  EXPECT_EQ(d.status().message(),
            "1 validation error detected: Value '12abc' at 'maxItems' failed to satisfy "
            "constraint: Member must be a 32-bit integer");
  EXPECT_EQ(DecodeIam("Action=ListUsers&MaxItems=99999999999").status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(DecodeIam("Action=CreateLoginProfile&UserName=u&Password=p&PasswordResetRequired=yes")
                .status()
                .code(),
            ErrorCode::kValidation);
  EXPECT_TRUE(
      DecodeIam("Action=CreateLoginProfile&UserName=u&Password=p&PasswordResetRequired=true").ok());
}

TEST(QueryProtocolTest, SensitiveValuesAreNotEchoed) {
  auto d = DecodeIam("Action=CreateLoginProfile&UserName=u&Password=" + std::string(129, 'x'));
  ASSERT_EQ(d.status().code(), ErrorCode::kValidation);
  EXPECT_EQ(d.status().message(),
            "1 validation error detected: Value at 'password' failed to satisfy constraint: "
            "Member must have length less than or equal to 128");
}

TEST(QueryProtocolTest, NestedListsOfStructures) {
  auto d = DecodeIam(
      "Action=SimulateCustomPolicy&PolicyInputList.member.1=%7B%7D&ActionNames.member.1=s3:Get"
      "&ContextEntries.member.1.ContextKeyName=aws:CurrentTime"
      "&ContextEntries.member.1.ContextKeyType=date"
      "&ContextEntries.member.1.ContextKeyValues.member.1=2024-01-01T00:00:00Z");
  ASSERT_TRUE(d.ok()) << d.status().message();
  const json::Value& entry = d->input.find("ContextEntries")->as_array()[0];
  EXPECT_EQ(entry.get_string("ContextKeyType"), "date");
  EXPECT_EQ(entry.find("ContextKeyValues")->as_array()[0].as_string(), "2024-01-01T00:00:00Z");
}

// No IAM/STS input has a map, so read GetAccountSummary's output shape.
TEST(QueryProtocolTest, MapsDecode) {
  const ServiceModel& iam = *FindService("iam");
  const ShapeModel& shape = *iam.FindShape("GetAccountSummaryResponse");
  auto v = internal::DecodeQueryStructure(iam, shape,
                                          {{"SummaryMap.entry.2.key", "Groups"},
                                           {"SummaryMap.entry.2.value", "4"},
                                           {"SummaryMap.entry.1.key", "Users"},
                                           {"SummaryMap.entry.1.value", "3"}});
  ASSERT_TRUE(v.ok()) << v.status().message();
  const json::Object& map = v->find("SummaryMap")->as_object();
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[0].first, "Users");
  EXPECT_EQ(map[0].second.as_int(), 3);
  v = internal::DecodeQueryStructure(iam, shape, {{"SummaryMap.entry.1.value", "3"}});
  EXPECT_EQ(v.status().code(), ErrorCode::kValidation);
  v = internal::DecodeQueryStructure(
      iam, shape, {{"SummaryMap.entry.1.key", "Users"}, {"SummaryMap.entry.1.value", "x"}});
  EXPECT_EQ(v.status().message(),
            "1 validation error detected: Value 'x' at 'summaryMap.1.value' failed to satisfy "
            "constraint: Member must be a 32-bit integer");
}

TEST(QueryProtocolTest, HostileIndicesAndNames) {
  EXPECT_EQ(DecodeIam("Action=CreateUser&UserName=a&Tags.member.1001.Key=k").status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(DecodeIam("Action=CreateUser&UserName=a&Tags.member.99999999999999999999.Key=k")
                .status()
                .code(),
            ErrorCode::kValidation);
  EXPECT_EQ(DecodeIam("Action=CreateUser&UserName=a&Tags.member.01.Key=k").status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(DecodeIam("Action=CreateUser&UserName=a&Tags.member.x.Key=k").status().code(),
            ErrorCode::kValidation);
  EXPECT_EQ(DecodeIam("Action=CreateUser&UserName=a&Tags..member=1").status().code(),
            ErrorCode::kInvalidQueryParameter);
  std::string deep = "Action=CreateUser&UserName=a&Tags";
  for (int i = 0; i < 200; ++i) deep += ".member.1";
  deep += "=x";
  EXPECT_FALSE(DecodeIam(deep).ok());
  // A structure given a scalar and a scalar given children.
  EXPECT_EQ(DecodeIam("Action=CreateUser&UserName.x=a").status().code(), ErrorCode::kValidation);
  // Gaps are tolerated; order follows the index.
  auto d = DecodeIam(
      "Action=CreateUser&UserName=a&Tags.member.7.Key=k&Tags.member.7.Value=v"
      "&Tags.member.3.Key=j&Tags.member.3.Value=w");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->input.find("Tags")->as_array()[0].get_string("Key"), "j");
}

TEST(QueryProtocolTest, GetCallerIdentityOutput) {
  const ServiceModel& sts = *FindService("sts");
  json::Value out = json::Value::MakeObject();
  out.set("Arn", "arn:aws:iam::123456789012:user/a<b");
  out.set("UserId", "AIDAEXAMPLE");
  out.set("Account", "123456789012");
  http::Response resp;
  EncodeOutput(sts, *FindOperation(sts, "GetCallerIdentity"), out, "rid-1", resp);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body,
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
            "<GetCallerIdentityResult><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>"
            "<Arn>arn:aws:iam::123456789012:user/a&lt;b</Arn></GetCallerIdentityResult>"
            "<ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>");
  EXPECT_EQ(HeaderOf(resp, "Content-Type"), "text/xml");
}

TEST(QueryProtocolTest, NestedOutputListsTimestampsAndNoOutput) {
  const ServiceModel& iam = *FindService("iam");
  json::Value user = json::Value::MakeObject();
  user.set("UserName", "alice");
  user.set("CreateDate", int64_t{1700000000});
  json::Value tag = json::Value::MakeObject();
  tag.set("Key", "k");
  tag.set("Value", "v");
  user.set("Tags", json::Array{tag});
  json::Value out = json::Value::MakeObject();
  out.set("Users", json::Array{user});
  out.set("IsTruncated", false);
  http::Response resp;
  EncodeOutput(iam, *FindOperation(iam, "ListUsers"), out, "r", resp);
  EXPECT_NE(resp.body.find("<ListUsersResult><Users><member><UserName>alice</UserName>"
                           "<CreateDate>2023-11-14T22:13:20Z</CreateDate><Tags><member><Key>k</Key>"
                           "<Value>v</Value></member></Tags></member></Users>"
                           "<IsTruncated>false</IsTruncated></ListUsersResult>"),
            std::string::npos)
      << resp.body;
  EncodeOutput(iam, *FindOperation(iam, "DeleteUser"), json::Value::MakeObject(), "r2", resp);
  EXPECT_EQ(resp.body,
            "<DeleteUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
            "<ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></DeleteUserResponse>");
}

TEST(QueryProtocolTest, MapOutput) {
  const ServiceModel& iam = *FindService("iam");
  json::Value summary = json::Value::MakeObject();
  summary.set("Users", 3);
  json::Value out = json::Value::MakeObject();
  out.set("SummaryMap", summary);
  http::Response resp;
  EncodeOutput(iam, *FindOperation(iam, "GetAccountSummary"), out, "r", resp);
  EXPECT_NE(
      resp.body.find("<SummaryMap><entry><key>Users</key><value>3</value></entry></SummaryMap>"),
      std::string::npos)
      << resp.body;
}

}  // namespace
}  // namespace rampart::protocol
