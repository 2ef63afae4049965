// The query protocol's output: <OpResponse xmlns=...><OpResult>members in
// model order</OpResult><ResponseMetadata>...</ResponseMetadata></OpResponse>.
#include <charconv>

#include "rampart/core/encoding.h"
#include "rampart/protocol/internal.h"
#include "rampart/protocol/xml_writer.h"

namespace rampart::protocol::internal {
namespace {

std::string ScalarText(const ShapeModel& shape, const MemberModel& member, const json::Value& v) {
  char buf[32];
  switch (v.kind()) {
    case json::Value::Kind::kString:
      return shape.type == ShapeType::kBlob ? Base64Encode(v.as_string()) : v.as_string();
    case json::Value::Kind::kBool:
      return v.as_bool() ? "true" : "false";
    case json::Value::Kind::kInt:
    case json::Value::Kind::kDouble: {
      if (shape.type == ShapeType::kTimestamp &&
          member.timestamp_format != TimestampFormat::kUnix) {
        return FormatIso8601(v);
      }
      auto [p, ec] = v.is_int() ? std::to_chars(buf, buf + sizeof buf, v.as_int())
                                : std::to_chars(buf, buf + sizeof buf, v.as_double());
      return std::string(buf, p);
    }
    default:
      return std::string();
  }
}

class XmlOutput {
 public:
  XmlOutput(const ServiceModel& service, XmlWriter& xml) : service_(service), xml_(xml) {}

  void Members(const ShapeModel& shape, const json::Value& v, size_t depth) {
    if (!v.is_object() || depth > kMaxDepth) return;
    for (const MemberModel& m : service_.members_of(shape)) {
      const json::Value* mv = v.find(m.name);
      if (mv != nullptr && !mv->is_null()) Member(m, m.wire_name(), *mv, depth + 1);
    }
  }

 private:
  void Member(const MemberModel& m, std::string_view name, const json::Value& v, size_t depth) {
    const ShapeModel& shape = service_.shape(m.shape);
    if (shape.type == ShapeType::kList && v.is_array()) return List(m, shape, name, v, depth);
    if (shape.type == ShapeType::kMap && v.is_object()) return Map(m, shape, name, v, depth);
    if (shape.type == ShapeType::kStructure) {
      xml_.Open(name);
      Members(shape, v, depth);
      xml_.Close();
      return;
    }
    xml_.Element(name, ScalarText(shape, m, v));
  }

  // <Name><member>..</member></Name>; flattened: <Name>..</Name> repeated.
  void List(const MemberModel& m, const ShapeModel& shape, std::string_view name,
            const json::Value& v, size_t depth) {
    const MemberModel& element = service_.members_of(shape)[0];
    if (m.flattened()) {
      std::string_view item = element.location_name.empty() ? name : element.location_name;
      for (const json::Value& e : v.as_array()) Member(element, item, e, depth + 1);
      return;
    }
    xml_.Open(name);
    for (const json::Value& e : v.as_array()) Member(element, element.wire_name(), e, depth + 1);
    xml_.Close();
  }

  // <Name><entry><key>k</key><value>v</value></entry></Name>; flattened:
  // <Name><key>k</key><value>v</value></Name> repeated.
  void Map(const MemberModel& m, const ShapeModel& shape, std::string_view name,
           const json::Value& v, size_t depth) {
    auto kv = service_.members_of(shape);
    if (!m.flattened()) xml_.Open(name);
    for (const auto& [key, e] : v.as_object()) {
      xml_.Open(m.flattened() ? name : std::string_view("entry"));
      xml_.Element(kv[0].wire_name(), key);
      if (!e.is_null()) Member(kv[1], kv[1].wire_name(), e, depth + 1);
      xml_.Close();
    }
    if (!m.flattened()) xml_.Close();
  }

  const ServiceModel& service_;
  XmlWriter& xml_;
};

}  // namespace

void EncodeQueryOutput(const ServiceModel& service, const OperationModel& op,
                       const json::Value& output, std::string_view request_id,
                       http::Response& response) {
  std::string root = std::string(op.name) + "Response";
  response.body.clear();
  response.body.reserve(1024);  // most responses fit; saves regrowing it element by element
  XmlWriter xml(response.body);
  xml.Open(root, service.xml_namespace);
  if (op.output >= 0) {
    std::string result = op.result_wrapper.empty() ? std::string(op.name) + "Result"
                                                   : std::string(op.result_wrapper);
    xml.Open(result);
    XmlOutput(service, xml).Members(service.shape(op.output), output, 0);
    xml.Close();
  }
  xml.Open("ResponseMetadata");
  xml.Element("RequestId", request_id);
  xml.Close();
  xml.Close();
  response.status = op.response_code == 0 ? 200 : op.response_code;
  SetHeader(response, "Content-Type", "text/xml");
  SetHeader(response, "x-amzn-RequestId", request_id);
}

}  // namespace rampart::protocol::internal
