// JSON 1.1 (KMS, Secrets Manager): routing, decoding, validation, encoding.
#include <gtest/gtest.h>

#include "rampart/protocol/internal.h"
#include "rampart/protocol/model.h"
#include "rampart/protocol/protocol.h"

namespace rampart::protocol {
namespace {

http::Request KmsRequest(std::string_view op, std::string body) {
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers = {{"Content-Type", "application/x-amz-json-1.1"},
               {"X-Amz-Target", "TrentService." + std::string(op)}};
  r.body = std::move(body);
  return r;
}

std::string HeaderOf(const http::Response& resp, std::string_view name) {
  for (const auto& h : resp.headers) {
    if (internal::EqualsNoCase(h.name, name)) return h.value;
  }
  return "(absent)";
}

Result<Decoded> DecodeKms(std::string_view op, std::string body) {
  return Decode(*FindService("kms"), KmsRequest(op, std::move(body)));
}

TEST(JsonProtocolTest, DecodesEncrypt) {
  auto d = DecodeKms("Encrypt",
                     R"({"KeyId":"alias/x","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"b"},)"
                     R"("GrantTokens":["t"],"Unknown":1})");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(OperationName(*d->op), "Encrypt");
  EXPECT_EQ(d->input.get_string("KeyId"), "alias/x");
  EXPECT_EQ(d->input.get_string("Plaintext"), "hello");  // base64-decoded
  EXPECT_EQ(d->input.find("EncryptionContext")->get_string("a"), "b");
  EXPECT_EQ(d->input.find("Unknown"), nullptr);
}

TEST(JsonProtocolTest, EmptyBodyIsEmptyObject) {
  auto d = DecodeKms("ListKeys", "");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_TRUE(d->input.is_object());
}

TEST(JsonProtocolTest, RoutingErrors) {
  const ServiceModel& kms = *FindService("kms");
  http::Request r = KmsRequest("Encrypt", "{}");
  r.headers[1].value = "Foreign.Encrypt";
  EXPECT_EQ(Decode(kms, r).status().code(), ErrorCode::kUnknownOperation);
  r.headers[1].value = "TrentService.Explode";
  EXPECT_EQ(Decode(kms, r).status().code(), ErrorCode::kUnknownOperation);
  r.headers.pop_back();
  EXPECT_EQ(Decode(kms, r).status().code(), ErrorCode::kUnknownOperation);
}

// The JavaScript SDK v3 names CloudTrail by the last part of its target
// prefix only; a part that is not the whole last segment is still foreign.
TEST(JsonProtocolTest, ShortTargetPrefixRoutes) {
  const ServiceModel& ct = *FindService("cloudtrail");
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers = {{"X-Amz-Target", "CloudTrail_20131101.LookupEvents"}};
  auto d = Decode(ct, r);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->op->name, "LookupEvents");
  for (const char* target : {"Trail_20131101.LookupEvents", "v20131101.CloudTrail_20131101.LookupEvents",
                             ".LookupEvents", "com.amazonaws.cloudtrail.v20131101.LookupEvents"}) {
    r.headers[0].value = target;
    EXPECT_EQ(Decode(ct, r).status().code(), ErrorCode::kUnknownOperation) << target;
  }
}

TEST(JsonProtocolTest, InvalidJsonIsSerializationError) {
  EXPECT_EQ(DecodeKms("Encrypt", "{\"KeyId\":").status().code(), ErrorCode::kSerialization);
  EXPECT_EQ(DecodeKms("Encrypt", "[]").status().code(), ErrorCode::kSerialization);
}

TEST(JsonProtocolTest, WrongTypesNameTheMember) {
  auto d = DecodeKms("GenerateRandom", R"({"NumberOfBytes":"32"})");
  ASSERT_EQ(d.status().code(), ErrorCode::kSerialization);
  EXPECT_EQ(d.status().message(),
            "STRING_VALUE can not be converted to an Integer at 'numberOfBytes'");
  d = DecodeKms("GenerateRandom", R"({"NumberOfBytes":3000000000})");
  EXPECT_EQ(d.status().code(), ErrorCode::kSerialization);
  d = DecodeKms("Encrypt", R"({"KeyId":"k","Plaintext":"aGk=","GrantTokens":[1]})");
  ASSERT_EQ(d.status().code(), ErrorCode::kSerialization);
  EXPECT_EQ(d.status().message(),
            "NUMBER_VALUE can not be converted to a String at 'grantTokens.1.member'");
}

TEST(JsonProtocolTest, InvalidBase64IsSerializationError) {
  auto d = DecodeKms("Encrypt", R"({"KeyId":"k","Plaintext":"not base64!"})");
  ASSERT_EQ(d.status().code(), ErrorCode::kSerialization);
  EXPECT_EQ(d.status().message().find("not base64!"), std::string::npos);
}

TEST(JsonProtocolTest, MissingRequiredMember) {
  auto d = DecodeKms("Encrypt", R"({"Plaintext":"aGk="})");
  ASSERT_EQ(d.status().code(), ErrorCode::kValidation);
  EXPECT_EQ(d.status().message(),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: "
            "Member must not be null");
}

TEST(JsonProtocolTest, SeveralValidationErrorsInAwsWording) {
  std::string policy(131073, 'a');
  auto d = DecodeKms("CreateKey", R"({"KeySpec":"x","Policy":")" + policy + "\"}");
  ASSERT_EQ(d.status().code(), ErrorCode::kValidation);
  const std::string& m = d.status().message();
  EXPECT_EQ(m.rfind("2 validation errors detected: ", 0), 0u) << m;
  EXPECT_NE(m.find("Value 'x' at 'keySpec' failed to satisfy constraint: Member must satisfy enum "
                   "value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("at 'policy' failed to satisfy constraint: Member must have length less than or "
                   "equal to 131072"),
            std::string::npos);
  EXPECT_LT(m.size(), 2000u);  // the huge value is not echoed in full
}

TEST(JsonProtocolTest, SensitiveValuesAreNotEchoed) {
  std::string b64;  // base64 of 4100 'z' bytes: "enp6" per 3 bytes
  for (size_t i = 0; i < 4100 / 3; ++i) b64 += "enp6";
  b64 += "eno=";  // two more bytes
  auto d = DecodeKms("Encrypt", R"({"KeyId":"k","Plaintext":")" + b64 + "\"}");
  ASSERT_EQ(d.status().code(), ErrorCode::kValidation);
  EXPECT_EQ(d.status().message(),
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
            "Member must have length less than or equal to 4096");
}

TEST(JsonProtocolTest, NumericRangeAndNestedListPaths) {
  auto d = DecodeKms("GenerateRandom", R"({"NumberOfBytes":0})");
  EXPECT_EQ(d.status().message(),
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1");
  d = DecodeKms("CreateKey", R"({"Tags":[{"TagKey":"a","TagValue":"b"},{"TagValue":"c"}]})");
  EXPECT_EQ(d.status().message(),
            "1 validation error detected: Value null at 'tags.2.member.tagKey' failed to satisfy "
            "constraint: Member must not be null");
}

TEST(JsonProtocolTest, DeepNestingIsRejected) {
  std::string deep(100000, '[');
  EXPECT_EQ(DecodeKms("Encrypt", deep).status().code(), ErrorCode::kSerialization);
  std::string nested = "{\"KeyId\":\"k\",\"Plaintext\":\"aGk=\",\"EncryptionContext\":";
  for (int i = 0; i < 60; ++i) nested += "{\"a\":";
  nested += "1";
  for (int i = 0; i < 61; ++i) nested += "}";
  nested += "}";
  EXPECT_EQ(DecodeKms("Encrypt", nested).status().code(), ErrorCode::kSerialization);
}

TEST(JsonProtocolTest, ErrorCountIsCapped) {
  std::string tags = "[";
  for (int i = 0; i < 40; ++i) tags += std::string(i ? "," : "") + "{}";
  tags += "]";
  auto d = DecodeKms("CreateKey", R"({"Tags":)" + tags + "}");
  ASSERT_EQ(d.status().code(), ErrorCode::kValidation);
  EXPECT_EQ(d.status().message().rfind("80 validation errors detected: ", 0), 0u);
  size_t reported = 0;
  for (size_t p = 0; (p = d.status().message().find("Value null", p)) != std::string::npos; ++p) {
    ++reported;
  }
  EXPECT_EQ(reported, 10u);
}

TEST(JsonProtocolTest, EncodeOutputRendersByShape) {
  const ServiceModel& kms = *FindService("kms");
  json::Value out = json::Value::MakeObject();
  out.set("CiphertextBlob", "hello");
  out.set("KeyId", "arn:aws:kms:us-east-1:111122223333:key/1");
  out.set("NotInModel", 1);
  http::Response resp;
  EncodeOutput(kms, *FindOperation(kms, "Encrypt"), out, "req-1", resp);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body,
            R"({"CiphertextBlob":"aGVsbG8=","KeyId":"arn:aws:kms:us-east-1:111122223333:key/1"})");
  EXPECT_EQ(HeaderOf(resp, "Content-Type"), "application/x-amz-json-1.1");
  EXPECT_EQ(HeaderOf(resp, "x-amzn-RequestId"), "req-1");
}

TEST(JsonProtocolTest, TimestampsDecodeToEpochSeconds) {
  const ServiceModel& ct = *FindService("cloudtrail");
  http::Request r;
  r.method = "POST";
  r.target = "/";
  r.headers = {
      {"X-Amz-Target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"}};
  r.body = R"({"StartTime":1700000000,"EndTime":1700000000.5})";
  auto d = Decode(ct, r);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->input.find("StartTime")->as_int(), 1700000000);
  EXPECT_DOUBLE_EQ(d->input.find("EndTime")->as_double(), 1700000000.5);
}

}  // namespace
}  // namespace rampart::protocol
