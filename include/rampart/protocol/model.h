// The AWS service models as C++ tables, generated at build time by
// tools/gen_models.py from botocore's service-2.json files.
//
// Internal to the protocol room (and its tests): other rooms use the opaque
// ServiceModel/OperationModel through protocol.h. All tables are constexpr
// and immutable, hence safe to read from any thread.
//
// Shapes reference each other by index into ServiceModel::shapes. A
// structure's members, a list's element ("member") and a map's key and value
// are all MemberModel rows in ServiceModel::members.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "rampart/protocol/wire_protocol.h"

namespace rampart::protocol {

enum class ShapeType : uint8_t {
  kStructure,
  kList,
  kMap,
  kString,
  kInteger,
  kLong,
  kFloat,
  kDouble,
  kBoolean,
  kTimestamp,
  kBlob,
};

enum class Location : uint8_t { kBody, kUri, kQueryString, kHeader, kHeaders, kStatusCode };

enum class TimestampFormat : uint8_t { kDefault, kIso8601, kUnix, kRfc822 };

// MemberModel::flags bits.
inline constexpr uint8_t kMemberRequired = 1;
inline constexpr uint8_t kMemberFlattened = 2;

// ShapeModel::flags bits.
inline constexpr uint8_t kShapeSensitive = 1;
inline constexpr uint8_t kShapeHasMin = 2;
inline constexpr uint8_t kShapeHasMax = 4;
inline constexpr uint8_t kShapeException = 8;
inline constexpr uint8_t kShapeSenderFault = 16;
inline constexpr uint8_t kShapeUnion = 32;

struct MemberModel {
  std::string_view name;           // model member name ("member", "key", "value" for list/map)
  std::string_view location_name;  // wire name override, empty when none
  std::string_view query_name;     // query-protocol name override, empty when none
  uint16_t shape;                  // index into ServiceModel::shapes
  Location location;
  TimestampFormat timestamp_format;  // member trait, else the target shape's
  uint8_t flags;

  bool required() const { return (flags & kMemberRequired) != 0; }
  bool flattened() const { return (flags & kMemberFlattened) != 0; }
  // Name on the wire for body, XML and query bindings.
  std::string_view wire_name() const { return location_name.empty() ? name : location_name; }
};

struct ShapeModel {
  std::string_view name;
  ShapeType type;
  uint8_t flags;
  int64_t min;  // valid when kShapeHasMin: length for strings/blobs/lists/maps, value for numbers
  int64_t max;  // valid when kShapeHasMax
  int32_t pattern;  // index into the global pattern pool, -1 when none
  uint32_t members_begin;
  uint32_t members_count;
  uint32_t enum_begin;
  uint32_t enum_count;
  std::string_view error_code;  // "error" trait code, empty when none
  uint16_t error_status;        // "error" trait httpStatusCode, 0 when none

  bool has(uint8_t flag) const { return (flags & flag) != 0; }
};

struct OperationModel {
  std::string_view name;
  std::string_view method;
  std::string_view request_uri;  // template: "/tags/{ResourceArn}", "/x/{Key+}?literal"
  int32_t input;                 // shape index, -1 when none
  int32_t output;                // shape index, -1 when none
  uint16_t response_code;
  std::string_view result_wrapper;  // query protocol: <FooResult>, empty when none
};

struct ServiceModel {
  Protocol protocol;
  std::string_view signing_name;
  std::string_view endpoint_prefix;
  std::string_view target_prefix;
  std::string_view json_version;
  std::string_view api_version;
  std::string_view xml_namespace;
  std::span<const OperationModel> operations;  // sorted by name
  std::span<const ShapeModel> shapes;          // sorted by name
  std::span<const MemberModel> members;
  std::span<const std::string_view> enums;

  const ShapeModel& shape(uint32_t index) const { return shapes[index]; }
  std::span<const MemberModel> members_of(const ShapeModel& s) const {
    return members.subspan(s.members_begin, s.members_count);
  }
  std::span<const std::string_view> enum_of(const ShapeModel& s) const {
    return enums.subspan(s.enum_begin, s.enum_count);
  }
  // nullptr when the model has no shape of that name.
  const ShapeModel* FindShape(std::string_view name) const;
};

namespace gen {
// Defined by the generated model_registry.cc.
std::span<const ServiceModel* const> Services();
std::span<const std::string_view> Patterns();  // indexed by ShapeModel::pattern
}  // namespace gen

}  // namespace rampart::protocol
