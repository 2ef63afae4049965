// Typed scalars from text: query parameters, URI labels, query strings and
// headers all carry members as strings that the model types.
#include <charconv>
#include <cmath>
#include <limits>

#include "rampart/core/encoding.h"
#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {
namespace {

std::optional<int64_t> ParseInteger(std::string_view text, int64_t lo, int64_t hi) {
  if (text.empty() || text[0] == '+') return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

std::optional<double> ParseDouble(std::string_view text) {
  if (text.empty() || text[0] == '+') return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<json::Value> ParseTimestamp(std::string_view text, TimestampFormat format) {
  switch (format) {
    case TimestampFormat::kUnix: {
      auto d = ParseDouble(text);
      if (!d) return std::nullopt;
      return EpochValue(*d);
    }
    case TimestampFormat::kRfc822:
      return ParseHttpDate(text);
    case TimestampFormat::kIso8601:
    case TimestampFormat::kDefault:
      return ParseIso8601(text);
  }
  return std::nullopt;
}

std::optional<json::Value> Convert(const ShapeModel& shape, std::string_view text,
                                   TimestampFormat format) {
  switch (shape.type) {
    case ShapeType::kString:
      return json::Value(text);
    case ShapeType::kBlob: {
      auto bytes = Base64Decode(text);
      if (!bytes) return std::nullopt;
      return json::Value(std::move(*bytes));
    }
    case ShapeType::kBoolean:
      if (text == "true") return json::Value(true);
      if (text == "false") return json::Value(false);
      return std::nullopt;
    case ShapeType::kInteger: {
      auto v = ParseInteger(text, std::numeric_limits<int32_t>::min(),
                            std::numeric_limits<int32_t>::max());
      if (!v) return std::nullopt;
      return json::Value(*v);
    }
    case ShapeType::kLong: {
      auto v = ParseInteger(text, std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max());
      if (!v) return std::nullopt;
      return json::Value(*v);
    }
    case ShapeType::kFloat:
    case ShapeType::kDouble: {
      auto v = ParseDouble(text);
      if (!v) return std::nullopt;
      return json::Value(*v);
    }
    case ShapeType::kTimestamp:
      return ParseTimestamp(text, format);
    case ShapeType::kStructure:
    case ShapeType::kList:
    case ShapeType::kMap:
      break;
  }
  return std::nullopt;
}

std::string_view Expected(ShapeType type) {
  switch (type) {
    case ShapeType::kBlob:
      return "Member must be base64-encoded";
    case ShapeType::kBoolean:
      return "Member must be true or false";
    case ShapeType::kInteger:
      return "Member must be a 32-bit integer";
    case ShapeType::kLong:
      return "Member must be a 64-bit integer";
    case ShapeType::kFloat:
    case ShapeType::kDouble:
      return "Member must be a number";
    case ShapeType::kTimestamp:
      return "Member must be a timestamp";
    default:
      return "Member must be a scalar value";
  }
}

}  // namespace

Result<json::Value> ParseScalar(const ServiceModel& service, const MemberModel& member,
                                std::string_view text, TimestampFormat default_format,
                                std::string_view path) {
  const ShapeModel& shape = service.shape(member.shape);
  TimestampFormat format = member.timestamp_format == TimestampFormat::kDefault
                               ? default_format
                               : member.timestamp_format;
  auto value = Convert(shape, text, format);
  if (!value) {
    std::string echo = shape.has(kShapeSensitive) ? std::string() : Echo(text);
    return ValidationError(echo, path, Expected(shape.type));
  }
  return std::move(*value);
}

}  // namespace rampart::protocol::internal
