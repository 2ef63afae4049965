// requestParameters / responseElements: decoded values converted to
// CloudTrail's form by walking the operation's AWS model.
#include <array>
#include <cctype>
#include <chrono>
#include <unordered_map>

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
// for the ones they do not (e.g. IAM's SecretAccessKey, and STS's
// WebIdentityToken and SAMLAssertion: bearer credentials until they expire).
constexpr std::array<std::string_view, 14> kSecretNameParts = {
    "secretaccesskey", "password",     "privatekey",  "plaintext",
    "secretstring",    "secretbinary", "sessiontoken", "keymaterial",
    "base32stringseed", "qrcodepng",   "authenticationcode", "passphrase",
    "webidentitytoken", "samlassertion"};

// Nesting beyond any real AWS shape; guards against recursive shapes.
constexpr int kMaxDepth = 32;

std::string TimestampText(const json::Value& v) {
  double seconds = v.is_number() ? v.as_double() : 0;
  auto tp = TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::duration<double>(seconds)));
  return FormatIso8601(tp);
}

void Convert(const ServiceModel& svc, const ShapeModel& shape, const json::Value& v, int depth,
             std::string& out);

// A member's record key ("userName":, quoted) and whether its name always
// carries a secret: computed once per member and thread, since every
// request converts the same few members again.
struct MemberKey {
  std::string quoted;
  bool secret_name = false;
};

const MemberKey& KeyOf(const protocol::MemberModel& m) {
  // Bounded by the number of members in the models.
  thread_local std::unordered_map<const protocol::MemberModel*, MemberKey> cache;
  auto it = cache.find(&m);
  if (it != cache.end()) return it->second;
  MemberKey key;
  json::WriteString(LowerCamel(m.name), key.quoted);
  key.quoted += ':';
  key.secret_name = IsSecretMemberName(m.name);
  return cache.emplace(&m, std::move(key)).first->second;
}

void ConvertStructure(const ServiceModel& svc, const ShapeModel& shape, const json::Value& v,
                      int depth, std::string& out) {
  out += '{';
  bool first = true;
  if (v.is_object()) {
    for (const protocol::MemberModel& m : svc.members_of(shape)) {
      const json::Value* member = v.find(m.name);
      if (member == nullptr || member->is_null()) continue;
      const ShapeModel& target = svc.shape(m.shape);
      if (target.type == ShapeType::kBlob) continue;  // binary data stays out of records
      if (!first) out += ',';
      first = false;
      const MemberKey& key = KeyOf(m);
      out += key.quoted;
      if (target.has(protocol::kShapeSensitive) || key.secret_name) {
        json::WriteString(kHiddenValue, out);
      } else {
        Convert(svc, target, *member, depth + 1, out);
      }
    }
  }
  out += '}';
}

void ConvertList(const ServiceModel& svc, const ShapeModel& shape, const json::Value& v,
                 int depth, std::string& out) {
  out += '[';
  auto members = svc.members_of(shape);
  if (v.is_array() && !members.empty()) {
    const ShapeModel& element = svc.shape(members[0].shape);
    bool hidden = element.has(protocol::kShapeSensitive);
    bool first = true;
    for (const json::Value& e : v.as_array()) {
      if (!first) out += ',';
      first = false;
      if (hidden) {
        json::WriteString(kHiddenValue, out);
      } else {
        Convert(svc, element, e, depth + 1, out);
      }
    }
  }
  out += ']';
}

void ConvertMap(const ServiceModel& svc, const ShapeModel& shape, const json::Value& v,
                int depth, std::string& out) {
  out += '{';
  auto members = svc.members_of(shape);
  if (v.is_object() && members.size() >= 2) {
    const ShapeModel& value_shape = svc.shape(members[1].shape);
    bool hidden = value_shape.has(protocol::kShapeSensitive);
    bool first = true;
    for (const auto& [key, value] : v.as_object()) {
      if (!first) out += ',';
      first = false;
      json::WriteString(key, out);
      out += ':';
      if (hidden) {
        json::WriteString(kHiddenValue, out);
      } else {
        Convert(svc, value_shape, value, depth + 1, out);
      }
    }
  }
  out += '}';
}

void Convert(const ServiceModel& svc, const ShapeModel& shape, const json::Value& v, int depth,
             std::string& out) {
  if (depth > kMaxDepth) {
    out += "null";
    return;
  }
  if (shape.has(protocol::kShapeSensitive)) {
    json::WriteString(kHiddenValue, out);
    return;
  }
  switch (shape.type) {
    case ShapeType::kStructure:
      return ConvertStructure(svc, shape, v, depth, out);
    case ShapeType::kList:
      return ConvertList(svc, shape, v, depth, out);
    case ShapeType::kMap:
      return ConvertMap(svc, shape, v, depth, out);
    case ShapeType::kTimestamp:
      return json::WriteString(TimestampText(v), out);
    case ShapeType::kBlob:
      out += "null";
      return;
    default:
      json::Write(v, out);
      return;
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
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  // Case-insensitive substring search, without copying the name.
  for (std::string_view part : kSecretNameParts) {
    for (size_t at = 0; at + part.size() <= name.size(); ++at) {
      size_t i = 0;
      while (i < part.size() && lower(name[at + i]) == part[i]) ++i;
      if (i == part.size()) return true;
    }
  }
  return false;
}

std::string ToCloudTrailElements(std::string_view service, std::string_view operation,
                                 const json::Value& value, bool is_output) {
  // An empty structure converts to "{}", which is recorded as null: known
  // before any model lookup (GetCallerIdentity and every List call without
  // parameters).
  if (value.is_object() && value.as_object().empty()) return {};
  const ServiceModel* svc = protocol::FindService(service);
  if (svc == nullptr) return {};
  const protocol::OperationModel* op = protocol::FindOperation(*svc, operation);
  if (op == nullptr) return {};
  int32_t shape = is_output ? op->output : op->input;
  if (shape < 0) return {};
  std::string out;
  out.reserve(256);
  Convert(*svc, svc->shape(static_cast<uint32_t>(shape)), value, 0, out);
  // CloudTrail writes null rather than an empty object.
  if (out == "{}" || out == "null") return {};
  return out;
}

}  // namespace rampart::audit
