// requestParameters / responseElements: decoded values converted to
// CloudTrail's form by walking the operation's AWS model.
#include <array>
#include <cctype>
#include <chrono>

#include "rampart/audit/event.h"
#include "rampart/core/clock.h"
#include "rampart/protocol/model.h"
#include "rampart/protocol/protocol.h"

namespace rampart::audit {
namespace {

using protocol::ServiceModel;
using protocol::ShapeModel;
using protocol::ShapeType;

// Substrings (lowercase) of member names that always hold secrets. The
// models mark most of these sensitive already; this list is the backstop
// for the ones they do not (e.g. IAM's SecretAccessKey).
constexpr std::array<std::string_view, 12> kSecretNameParts = {
    "secretaccesskey", "password",     "privatekey",  "plaintext",
    "secretstring",    "secretbinary", "sessiontoken", "keymaterial",
    "base32stringseed", "qrcodepng",   "authenticationcode", "passphrase"};

// Nesting beyond any real AWS shape; guards against recursive shapes.
constexpr int kMaxDepth = 32;

std::string TimestampText(const json::Value& v) {
  double seconds = v.is_number() ? v.as_double() : 0;
  auto tp = TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::duration<double>(seconds)));
  return FormatIso8601(tp);
}

json::Value Convert(const ServiceModel& svc, const ShapeModel& shape, const json::Value& v,
                    int depth);

json::Value ConvertStructure(const ServiceModel& svc, const ShapeModel& shape,
                             const json::Value& v, int depth) {
  json::Value out = json::Value::MakeObject();
  if (!v.is_object()) return out;
  for (const protocol::MemberModel& m : svc.members_of(shape)) {
    const json::Value* member = v.find(m.name);
    if (member == nullptr || member->is_null()) continue;
    const ShapeModel& target = svc.shape(m.shape);
    if (target.type == ShapeType::kBlob) continue;  // binary data stays out of records
    if (target.has(protocol::kShapeSensitive) || IsSecretMemberName(m.name)) {
      out.set(LowerCamel(m.name), json::Value(kHiddenValue));
      continue;
    }
    out.set(LowerCamel(m.name), Convert(svc, target, *member, depth + 1));
  }
  return out;
}

json::Value ConvertList(const ServiceModel& svc, const ShapeModel& shape, const json::Value& v,
                        int depth) {
  json::Value out = json::Value::MakeArray();
  auto members = svc.members_of(shape);
  if (!v.is_array() || members.empty()) return out;
  const ShapeModel& element = svc.shape(members[0].shape);
  bool hidden = element.has(protocol::kShapeSensitive);
  for (const json::Value& e : v.as_array()) {
    out.push(hidden ? json::Value(kHiddenValue) : Convert(svc, element, e, depth + 1));
  }
  return out;
}

json::Value ConvertMap(const ServiceModel& svc, const ShapeModel& shape, const json::Value& v,
                       int depth) {
  json::Value out = json::Value::MakeObject();
  auto members = svc.members_of(shape);
  if (!v.is_object() || members.size() < 2) return out;
  const ShapeModel& value_shape = svc.shape(members[1].shape);
  bool hidden = value_shape.has(protocol::kShapeSensitive);
  for (const auto& [key, value] : v.as_object()) {
    out.set(key, hidden ? json::Value(kHiddenValue) : Convert(svc, value_shape, value, depth + 1));
  }
  return out;
}

json::Value Convert(const ServiceModel& svc, const ShapeModel& shape, const json::Value& v,
                    int depth) {
  if (depth > kMaxDepth) return json::Value();
  if (shape.has(protocol::kShapeSensitive)) return json::Value(kHiddenValue);
  switch (shape.type) {
    case ShapeType::kStructure:
      return ConvertStructure(svc, shape, v, depth);
    case ShapeType::kList:
      return ConvertList(svc, shape, v, depth);
    case ShapeType::kMap:
      return ConvertMap(svc, shape, v, depth);
    case ShapeType::kTimestamp:
      return json::Value(TimestampText(v));
    case ShapeType::kBlob:
      return json::Value();
    default:
      return v;
  }
}

}  // namespace

std::string LowerCamel(std::string_view name) {
  std::string out(name);
  size_t upper = 0;
  while (upper < out.size() && std::isupper(static_cast<unsigned char>(out[upper]))) ++upper;
  // A leading acronym keeps its last capital when a word follows it:
  // "KMSKeyId" -> "kmsKeyId", but "ARN" -> "arn" and "UserName" -> "userName".
  size_t lower_count = upper;
  if (upper > 1 && upper < out.size() && std::islower(static_cast<unsigned char>(out[upper]))) {
    lower_count = upper - 1;
  }
  for (size_t i = 0; i < lower_count; ++i) {
    out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
  }
  return out;
}

bool IsSecretMemberName(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view part : kSecretNameParts) {
    if (lower.find(part) != std::string::npos) return true;
  }
  return false;
}

json::Value ToCloudTrailElements(std::string_view service, std::string_view operation,
                                 const json::Value& value, bool is_output) {
  const ServiceModel* svc = protocol::FindService(service);
  if (svc == nullptr) return json::Value();
  const protocol::OperationModel* op = protocol::FindOperation(*svc, operation);
  if (op == nullptr) return json::Value();
  int32_t shape = is_output ? op->output : op->input;
  if (shape < 0) return json::Value();
  json::Value out = Convert(*svc, svc->shape(static_cast<uint32_t>(shape)), value, 0);
  // CloudTrail writes null rather than an empty object.
  if (out.is_object() && out.as_object().empty()) return json::Value();
  return out;
}

}  // namespace rampart::audit
