// Pieces shared by the protocol room's translation units. Internal: other
// rooms use protocol.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rampart/core/encoding.h"
#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/http/message.h"
#include "rampart/protocol/model.h"
#include "rampart/protocol/protocol.h"

namespace rampart::protocol::internal {

// Bounds on hostile input.
inline constexpr size_t kMaxDepth = 64;        // nesting of decoded values
inline constexpr size_t kMaxListIndex = 1000;  // query protocol "Foo.member.N"
inline constexpr size_t kMaxParams = 20000;    // query/form parameters
inline constexpr size_t kMaxParamKey = 512;    // bytes of one parameter name
inline constexpr size_t kMaxEcho = 256;        // bytes of a value echoed in a message

// ---- http::Request/Response fields (src/core/http_message.cc) ----

inline bool EqualsNoCase(std::string_view a, std::string_view b) {
  return http::EqualsIgnoreCase(a, b);
}
inline const std::string* FindHeader(const http::Request& request, std::string_view name) {
  return request.header(name);
}
inline void SetHeader(http::Response& response, std::string_view name, std::string_view value) {
  response.set_header(name, value);
}
inline std::string_view PathOf(const http::Request& request) { return request.path(); }
inline std::string_view QueryOf(const http::Request& request) { return request.query(); }

// ---- member paths and messages (paths.cc) ----

// Appends ".name" (or "name" at the root) in AWS's lowerCamelCase style:
// "UserName" -> "userName". Paths of nested values follow AWS Coral:
// list element i (1-based) is "<list>.<i>.member", map entry i (1-based,
// in input order) is "<map>.<i>.key" / "<map>.<i>.value".
void AppendMemberPath(std::string& path, std::string_view member);
void AppendListPath(std::string& path, size_t one_based_index);
void AppendMapPath(std::string& path, size_t one_based_index, bool key);

// Quoted echo of an untrusted value for a message, truncated to kMaxEcho.
std::string Echo(std::string_view value);

// "1 validation error detected: Value 'x' at 'p' failed to satisfy
// constraint: <constraint>" with the value omitted when `echo` is empty.
Status ValidationError(std::string_view echo, std::string_view path, std::string_view constraint);

// ---- timestamps (timestamp.cc) ----

// Epoch seconds as Int when whole, else Double.
json::Value EpochValue(double seconds);
// ISO 8601 date-time with a zone ("2024-05-01T12:00:00Z", ".123Z",
// "+02:00"). nullopt when malformed or out of range.
std::optional<json::Value> ParseIso8601(std::string_view text);
// IMF-fixdate (RFC 7231): "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<json::Value> ParseHttpDate(std::string_view text);
// REQUIRES: epoch.is_number(). Millisecond precision when not whole.
std::string FormatIso8601(const json::Value& epoch);
std::string FormatHttpDate(const json::Value& epoch);

// ---- typed scalars from text (scalar.cc): query params, URI labels, headers ----

// Converts text to the member's shape type. `default_format` applies to
// timestamps without a timestampFormat trait. Errors are kValidation
// naming `path`.
Result<json::Value> ParseScalar(const ServiceModel& service, const MemberModel& member,
                                std::string_view text, TimestampFormat default_format,
                                std::string_view path);

// ---- base64 blobs on the JSON wire (base64.cc) ----

// Appends bytes as a quoted JSON string holding their base64 (standard
// alphabet, padded), as Base64Encode + json::WriteString would.
void WriteBase64JsonString(std::string_view bytes, std::string& out);
// Decodes text into out (replacing it) with Base64Decode's rules: padded,
// canonical, nothing outside the alphabet. False when text is not valid.
bool DecodeBase64(std::string_view text, std::string& out);

// ---- JSON bodies (json_codec.cc) ----

// Decodes a parsed JSON body against a structure shape into a Value keyed
// by member names; only kBody members are read (rest-json binds the rest).
// Wrong JSON types and invalid base64 are kSerialization. The body is
// consumed: its strings are moved into the result, not copied.
Result<json::Value> DecodeJsonStructure(const ServiceModel& service, const ShapeModel& shape,
                                        json::Value& body);
// Renders `value` as JSON guided by `shape`, skipping non-body members.
void WriteJsonShape(const ServiceModel& service, const ShapeModel& shape, const json::Value& value,
                    std::string& out);

// ---- the three protocols ----

Result<Decoded> DecodeJsonRequest(const ServiceModel& service, const http::Request& request);
// Reads query/form parameters against a structure shape (Action and
// Version are skipped).
Result<json::Value> DecodeQueryStructure(const ServiceModel& service, const ShapeModel& shape,
                                         Params params);
Result<Decoded> DecodeQueryRequest(const ServiceModel& service, const http::Request& request);
Result<Decoded> DecodeRestJsonRequest(const ServiceModel& service, const http::Request& request);

void EncodeQueryOutput(const ServiceModel& service, const OperationModel& op,
                       const json::Value& output, std::string_view request_id,
                       http::Response& response);
void EncodeRestJsonOutput(const ServiceModel& service, const OperationModel& op,
                          const json::Value& output, http::Response& response);

// ---- validation (validate.cc) ----

// Checks `input` against the structure shape: required, lengths, ranges,
// enums, patterns, recursively. kValidation with AWS's wording.
Status Validate(const ServiceModel& service, const ShapeModel& shape, const json::Value& input);

struct PatternStats {
  size_t total = 0;
  size_t skipped = 0;  // patterns RE2 cannot compile (never enforced)
};
// Compiles every model pattern now (tests and startup diagnostics).
PatternStats CompileAllPatterns();
bool IsPatternSkipped(int32_t index);  // compiles it first if needed
// Java regex dialect -> RE2 (\uXXXX -> \x{XXXX}, \p{Alpha} -> [[:alpha:]]).
std::string TranslatePattern(std::string_view java);

}  // namespace rampart::protocol::internal
