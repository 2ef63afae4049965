// Entry points: dispatch on the service's protocol, JSON 1.1 routing and
// error serialisation.
#include "rampart/protocol/protocol.h"

#include "rampart/core/error_table.h"
#include "rampart/protocol/internal.h"
#include "rampart/protocol/xml_writer.h"

namespace rampart::protocol {
namespace {

using namespace internal;  // NOLINT(google-build-using-namespace): this room's own helpers

// What AWS says for an internal failure; the real cause stays in our logs.
constexpr std::string_view kInternalMessage =
    "The request processing has failed because of an unknown error, exception or failure.";

Status UnknownOperation(std::string_view what) {
  return Status::Error(ErrorCode::kUnknownOperation,
                       "Operation " + std::string(what.substr(0, 128)) + " is not supported.");
}

std::string JsonContentType(const ServiceModel& service) {
  std::string_view version = service.json_version.empty() ? "1.1" : service.json_version;
  return "application/x-amz-json-" + std::string(version);
}

struct WireFault {
  std::string code;
  std::string_view message;
  int status = 400;
  bool sender = true;
};

WireFault Modeled(const ServiceModel* service, const Status& status) {
  WireFault f;
  f.code = status.modeled();
  f.message = status.message();
  const ShapeModel* shape = service ? service->FindShape(status.modeled()) : nullptr;
  if (shape == nullptr) return f;
  if (!shape->error_code.empty()) f.code = std::string(shape->error_code);
  if (shape->error_status != 0) f.status = shape->error_status;
  f.sender = shape->has(kShapeSenderFault);
  return f;
}

WireFault Resolve(const ServiceModel* service, Protocol protocol, const Status& status) {
  if (status.code() == ErrorCode::kServiceModeled) return Modeled(service, status);
  ErrorCode code = status.ok() ? ErrorCode::kInternal : status.code();  // OK here is a bug
  const WireError& wire = WireErrorFor(code);
  WireFault f;
  f.code = std::string(protocol == Protocol::kQuery ? wire.query_code : wire.json_code);
  f.message = code == ErrorCode::kInternal ? kInternalMessage : std::string_view(status.message());
  f.status = wire.http_status;
  f.sender = wire.sender_fault;
  // API Gateway fronts the rest-json services: an unknown route is a 404.
  if (protocol == Protocol::kRestJson && code == ErrorCode::kUnknownOperation) f.status = 404;
  return f;
}

void WriteQueryError(const ServiceModel* service, const WireFault& f, std::string_view request_id,
                     http::Response& response) {
  XmlWriter xml(response.body);
  xml.Open("ErrorResponse", service ? service->xml_namespace : std::string_view());
  xml.Open("Error");
  xml.Element("Type", f.sender ? "Sender" : "Receiver");
  xml.Element("Code", f.code);
  xml.Element("Message", f.message);
  xml.Close();
  xml.Element("RequestId", request_id);
  xml.Close();
  SetHeader(response, "Content-Type", "text/xml");
}

void WriteJsonError(const WireFault& f, std::string content_type, http::Response& response) {
  std::string& out = response.body;
  out += "{\"__type\":";
  json::WriteString(f.code, out);
  out += ",\"message\":";
  json::WriteString(f.message, out);
  out += '}';
  SetHeader(response, "Content-Type", content_type);
  SetHeader(response, "x-amzn-ErrorType", f.code);
}

// The model's targetPrefix, or only its last dotted part: CloudTrail's
// prefix is "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101", and
// the Smithy-based SDKs (JavaScript v3) send just "CloudTrail_20131101",
// which AWS accepts too.
bool IsTargetPrefix(const ServiceModel& service, std::string_view prefix) {
  std::string_view full = service.target_prefix;
  if (prefix == full) return true;
  size_t dot = full.rfind('.');
  return dot != std::string_view::npos && prefix == full.substr(dot + 1);
}

}  // namespace

namespace internal {

Result<Decoded> DecodeJsonRequest(const ServiceModel& service, const http::Request& request) {
  const std::string* target = FindHeader(request, "X-Amz-Target");
  if (target == nullptr) return UnknownOperation("(missing X-Amz-Target)");
  std::string_view t = *target;
  size_t dot = t.rfind('.');
  if (dot == std::string_view::npos || !IsTargetPrefix(service, t.substr(0, dot))) {
    return UnknownOperation(t);
  }
  const OperationModel* op = FindOperation(service, t.substr(dot + 1));
  if (op == nullptr) return UnknownOperation(t.substr(dot + 1));
  Decoded decoded;
  decoded.op = op;
  json::Value body = json::Value::MakeObject();
  if (!request.body.empty()) {
    ASSIGN_OR_RETURN(body, json::Parse(request.body));
  }
  if (op->input < 0) {
    decoded.input = json::Value::MakeObject();
    return decoded;
  }
  ASSIGN_OR_RETURN(decoded.input, DecodeJsonStructure(service, service.shape(op->input), body));
  return decoded;
}

}  // namespace internal

Result<Decoded> Decode(const ServiceModel& service, const http::Request& request) {
  if (request.body_too_large) {
    return Status::Error(ErrorCode::kRequestTooLarge, "Request body is too large");
  }
  Result<Decoded> decoded = Status::Internal("unreachable");
  switch (service.protocol) {
    case Protocol::kJson:
      decoded = DecodeJsonRequest(service, request);
      break;
    case Protocol::kRestJson:
      decoded = DecodeRestJsonRequest(service, request);
      break;
    case Protocol::kQuery:
      decoded = DecodeQueryRequest(service, request);
      break;
  }
  if (!decoded.ok() || decoded->op->input < 0) return decoded;
  RETURN_IF_ERROR(Validate(service, service.shape(decoded->op->input), decoded->input));
  return decoded;
}

void EncodeOutput(const ServiceModel& service, const OperationModel& op, const json::Value& output,
                  std::string_view request_id, http::Response& response) {
  switch (service.protocol) {
    case Protocol::kQuery:
      EncodeQueryOutput(service, op, output, request_id, response);
      return;
    case Protocol::kRestJson:
      EncodeRestJsonOutput(service, op, output, response);
      break;
    case Protocol::kJson:
      response.status = 200;
      response.body.clear();
      if (op.output < 0) {
        response.body = "{}";
      } else {
        response.body.reserve(512);
        WriteJsonShape(service, service.shape(op.output), output, response.body);
      }
      SetHeader(response, "Content-Type", JsonContentType(service));
      break;
  }
  SetHeader(response, "x-amzn-RequestId", request_id);
}

void EncodeError(const ServiceModel* service, Protocol fallback, const Status& status,
                 std::string_view request_id, http::Response& response) {
  Protocol protocol = service ? service->protocol : fallback;
  WireFault fault = Resolve(service, protocol, status);
  response.status = fault.status;
  response.body.clear();
  switch (protocol) {
    case Protocol::kQuery:
      WriteQueryError(service, fault, request_id, response);
      break;
    case Protocol::kJson:
      WriteJsonError(fault, service ? JsonContentType(*service) : "application/x-amz-json-1.1",
                     response);
      break;
    case Protocol::kRestJson:
      WriteJsonError(fault, "application/json", response);
      break;
  }
  SetHeader(response, "x-amzn-RequestId", request_id);
}

Protocol GuessProtocol(const http::Request& request) {
  if (FindHeader(request, "X-Amz-Target") != nullptr) return Protocol::kJson;
  const std::string* type = FindHeader(request, "Content-Type");
  if (type != nullptr && type->size() >= 33 &&
      EqualsNoCase(std::string_view(*type).substr(0, 33), "application/x-www-form-urlencoded")) {
    return Protocol::kQuery;
  }
  std::string_view query = QueryOf(request);
  if (query.starts_with("Action=") || query.find("&Action=") != std::string_view::npos) {
    return Protocol::kQuery;
  }
  return Protocol::kRestJson;
}

}  // namespace rampart::protocol
