// The AWS wire protocols (JSON 1.1, rest-json, query/XML), driven by the AWS
// service models that tools/gen_models.py turns into tables at build time.
//
// Decode() routes an HTTP request to an operation of a service and turns its
// input into a json::Value keyed by the model's member names, validated
// against the model (required members, lengths, ranges, enums, patterns).
// EncodeOutput()/EncodeError() serialise a handler's result per the model,
// so handlers never format wire output by hand.
//
// Decoded and output values share one representation whatever the protocol:
// integers and longs are Int, floats and doubles Double, booleans Bool,
// timestamps epoch seconds (Int or Double), blobs raw bytes in a String.
//
// Protocol itself lives in wire_protocol.h.
//
// Thread-safety: every function here is safe to call concurrently; the
// models are immutable and the compiled-pattern cache is internally locked.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/http/message.h"
#include "rampart/protocol/wire_protocol.h"

namespace rampart::protocol {

struct ServiceModel;  // defined by the generated tables (model.h)
struct OperationModel;

// Looks a service up by its SigV4 signing name: "iam", "sts",
// "organizations", "kms", "cloudtrail", "acm-pca", "secretsmanager",
// "securityhub", "events", "access-analyzer". nullptr when unknown.
const ServiceModel* FindService(std::string_view signing_name);
std::span<const ServiceModel* const> AllServices();

std::string_view ServiceName(const ServiceModel& service);  // signing name
std::string_view ServiceEndpointPrefix(const ServiceModel& service);
Protocol ServiceProtocol(const ServiceModel& service);

std::string_view OperationName(const OperationModel& op);
// nullptr when the service has no operation of that name.
const OperationModel* FindOperation(const ServiceModel& service, std::string_view name);

struct Decoded {
  const OperationModel* op = nullptr;
  json::Value input;  // an Object keyed by model member names
};

// Routes the request to an operation and decodes and validates its input:
//   JSON 1.1:  X-Amz-Target "<targetPrefix>.<Operation>", JSON body;
//   rest-json: method + requestUri template (labels, greedy labels, literal
//              query parameters), then uri/querystring/header bindings and
//              the JSON body;
//   query:     Action (and optional Version) from the form body or query
//              string, members as flattened parameters ("Tags.member.1.Key").
// Errors: kUnknownOperation, kMissingAction, kSerialization,
// kInvalidQueryParameter, kValidation (AWS's "N validation errors detected:"
// wording) and kRequestTooLarge when the server flagged the body.
Result<Decoded> Decode(const ServiceModel& service, const http::Request& request);

// Serialises a handler's output (keyed by model member names) per the model
// and the service's protocol, with the request id header/element. Members
// absent from the model are dropped.
void EncodeOutput(const ServiceModel& service, const OperationModel& op, const json::Value& output,
                  std::string_view request_id, http::Response& response);

// Serialises an error. Modeled errors (Status::Modeled) take their wire code
// and HTTP status from the service model's error shape. `service` may be
// null (an error before the service is known); `fallback` then picks the
// format. kInternal never reveals its message.
void EncodeError(const ServiceModel* service, Protocol fallback, const Status& status,
                 std::string_view request_id, http::Response& response);

// X-Amz-Target -> kJson; a form body or Action= in the query -> kQuery;
// otherwise kRestJson.
Protocol GuessProtocol(const http::Request& request);

}  // namespace rampart::protocol
