// Error serialisation for the three protocols, the XML writer and
// GuessProtocol.
#include <gtest/gtest.h>

#include "rampart/protocol/internal.h"
#include "rampart/protocol/model.h"
#include "rampart/protocol/protocol.h"
#include "rampart/protocol/xml_writer.h"

namespace rampart::protocol {
namespace {

std::string HeaderOf(const http::Response& resp, std::string_view name) {
  for (const auto& h : resp.headers) {
    if (internal::EqualsNoCase(h.name, name)) return h.value;
  }
  return "(absent)";
}

TEST(EncodeErrorTest, ModeledQueryError) {
  http::Response resp;
  EncodeError(FindService("iam"), Protocol::kQuery,
              Status::Modeled("NoSuchEntityException", "The user with name x cannot be found."),
              "rid", resp);
  EXPECT_EQ(resp.status, 404);
  EXPECT_EQ(resp.body,
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>"
            "<Type>Sender</Type><Code>NoSuchEntity</Code>"
            "<Message>The user with name x cannot be found.</Message></Error>"
            "<RequestId>rid</RequestId></ErrorResponse>");
  EXPECT_EQ(HeaderOf(resp, "Content-Type"), "text/xml");
}

TEST(EncodeErrorTest, ModeledJsonError) {
  http::Response resp;
  EncodeError(FindService("kms"), Protocol::kJson,
              Status::Modeled("NotFoundException", "Key 'x' does not exist"), "rid", resp);
  EXPECT_EQ(resp.status, 400);
  EXPECT_EQ(resp.body, R"({"__type":"NotFoundException","message":"Key 'x' does not exist"})");
  EXPECT_EQ(HeaderOf(resp, "x-amzn-ErrorType"), "NotFoundException");
  EXPECT_EQ(HeaderOf(resp, "Content-Type"), "application/x-amz-json-1.1");
}

TEST(EncodeErrorTest, GenericCodesPerProtocol) {
  http::Response resp;
  EncodeError(FindService("sts"), Protocol::kQuery, Status::Validation("bad"), "r", resp);
  EXPECT_NE(resp.body.find("<Code>ValidationError</Code>"), std::string::npos);
  EncodeError(FindService("kms"), Protocol::kJson, Status::Validation("bad"), "r", resp);
  EXPECT_EQ(resp.body, R"({"__type":"ValidationException","message":"bad"})");
  EncodeError(
      FindService("iam"), Protocol::kQuery,
      Status::Error(ErrorCode::kUnknownOperation, "Could not find operation X for version Y"), "r",
      resp);
  EXPECT_NE(resp.body.find("<Code>InvalidAction</Code>"), std::string::npos);
  EXPECT_EQ(resp.status, 400);
}

TEST(EncodeErrorTest, InternalNeverLeaks) {
  http::Response resp;
  EncodeError(FindService("kms"), Protocol::kJson, Status::Internal("sqlite: disk I/O at /var/x"),
              "r", resp);
  EXPECT_EQ(resp.status, 500);
  EXPECT_EQ(resp.body.find("sqlite"), std::string::npos);
  EXPECT_NE(resp.body.find("InternalFailure"), std::string::npos);
  EncodeError(nullptr, Protocol::kQuery, Status::Internal("secret"), "r", resp);
  EXPECT_EQ(resp.body.find("secret"), std::string::npos);
  EXPECT_NE(resp.body.find("<Type>Receiver</Type>"), std::string::npos);
}

TEST(EncodeErrorTest, WithoutServiceUsesFallback) {
  http::Response resp;
  EncodeError(nullptr, Protocol::kJson,
              Status::Error(ErrorCode::kUnknownService, "no such service"), "r", resp);
  EXPECT_EQ(resp.body, R"({"__type":"UnknownServiceException","message":"no such service"})");
  EncodeError(nullptr, Protocol::kRestJson, Status::Error(ErrorCode::kAccessDenied, "no"), "r",
              resp);
  EXPECT_EQ(resp.status, 403);
  EXPECT_EQ(HeaderOf(resp, "Content-Type"), "application/json");
}

TEST(EncodeErrorTest, UnknownModeledShapeFallsBackToItsName) {
  http::Response resp;
  EncodeError(FindService("kms"), Protocol::kJson, Status::Modeled("MadeUpException", "m"), "r",
              resp);
  EXPECT_EQ(resp.status, 400);
  EXPECT_EQ(HeaderOf(resp, "x-amzn-ErrorType"), "MadeUpException");
}

TEST(XmlWriterTest, EscapesTextAndControls) {
  std::string out;
  XmlWriter xml(out);
  xml.Open("A", "urn:x&y");
  xml.Element("B", "<&>\"'\r\n\t\x01");
  xml.Close();
  EXPECT_EQ(out, "<A xmlns=\"urn:x&amp;y\"><B>&lt;&amp;&gt;&quot;'&#xD;\n\t&#xFFFD;</B></A>");
}

// Every byte value inside plain text: only the markup characters, CR and
// the other C0 controls (not tab or newline) are replaced.
TEST(XmlWriterTest, EscapesExactlyTheMarkupAndControlBytes) {
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool plain = c >= 0x20 ? (ch != '&' && ch != '<' && ch != '>' && ch != '"')
                                 : (ch == '\t' || ch == '\n');
    std::string text = "ab" + std::string(1, ch) + "cd";
    std::string out;
    XmlWriter::Escape(text, out);
    EXPECT_EQ(out == text, plain) << c;
  }
}

// Built by moving strings in: gcc 12 reports a false -Wrestrict for
// assigning string literals to members here.
http::Request MakeRequest(std::string target) {
  http::Request r;
  r.method = std::string("POST");
  r.target = std::move(target);
  return r;
}

TEST(GuessProtocolTest, Heuristics) {
  http::Request r = MakeRequest("/");
  r.headers = {{"X-Amz-Target", "TrentService.Encrypt"}};
  EXPECT_EQ(GuessProtocol(r), Protocol::kJson);
  r.headers = {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"}};
  EXPECT_EQ(GuessProtocol(r), Protocol::kQuery);
  r.headers.clear();
  r.target = std::string("/?Version=1&Action=GetCallerIdentity");
  EXPECT_EQ(GuessProtocol(r), Protocol::kQuery);
  r.target = std::string("/findings");
  EXPECT_EQ(GuessProtocol(r), Protocol::kRestJson);
}

TEST(DecodeTest, BodyTooLarge) {
  http::Request r = MakeRequest("/");
  r.body_too_large = true;
  EXPECT_EQ(Decode(*FindService("kms"), r).status().code(), ErrorCode::kRequestTooLarge);
}

}  // namespace
}  // namespace rampart::protocol
