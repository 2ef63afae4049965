// JSON bodies (JSON 1.1 and rest-json) <-> Values keyed by member names,
// guided by the model shapes.
#include <limits>

#include "rampart/core/encoding.h"
#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {
namespace {

// Coral's names for JSON tokens, as in "STRING_VALUE can not be converted
// to an Integer".
std::string_view TokenName(const json::Value& v) {
  switch (v.kind()) {
    case json::Value::Kind::kNull:
      return "NULL_VALUE";
    case json::Value::Kind::kBool:
      return "BOOLEAN_VALUE";
    case json::Value::Kind::kInt:
    case json::Value::Kind::kDouble:
      return "NUMBER_VALUE";
    case json::Value::Kind::kString:
      return "STRING_VALUE";
    case json::Value::Kind::kArray:
      return "START_ARRAY";
    case json::Value::Kind::kObject:
      return "START_OBJECT";
  }
  return "VALUE";
}

std::string_view TypeName(ShapeType type) {
  switch (type) {
    case ShapeType::kStructure:
      return "a Structure";
    case ShapeType::kList:
      return "a List";
    case ShapeType::kMap:
      return "a Map";
    case ShapeType::kString:
      return "a String";
    case ShapeType::kInteger:
      return "an Integer";
    case ShapeType::kLong:
      return "a Long";
    case ShapeType::kFloat:
      return "a Float";
    case ShapeType::kDouble:
      return "a Double";
    case ShapeType::kBoolean:
      return "a Boolean";
    case ShapeType::kTimestamp:
      return "a Timestamp";
    case ShapeType::kBlob:
      return "a Blob";
  }
  return "a Value";
}

class JsonDecoder {
 public:
  explicit JsonDecoder(const ServiceModel& service) : service_(service) {}

  // The decoders consume `in`: strings are moved out of it.
  Result<json::Value> Structure(const ShapeModel& shape, json::Value& in, size_t depth) {
    if (!in.is_object()) return Mismatch(in, shape);
    if (depth > kMaxDepth)
      return Status::Error(ErrorCode::kSerialization, "Input nested too deeply");
    json::Value out = json::Value::MakeObject();
    for (auto& [key, value] : in.as_object()) {
      const MemberModel* m = FindBodyMember(shape, key);
      if (m == nullptr || value.is_null()) continue;  // AWS ignores unknown members
      size_t mark = path_.size();
      AppendMemberPath(path_, m->name);
      ASSIGN_OR_RETURN(json::Value v, Any(service_.shape(m->shape), value, depth + 1));
      path_.resize(mark);
      out.set(m->name, std::move(v));
    }
    return out;
  }

 private:
  const MemberModel* FindBodyMember(const ShapeModel& shape, std::string_view key) const {
    for (const MemberModel& m : service_.members_of(shape)) {
      if (m.location == Location::kBody && m.wire_name() == key) return &m;
    }
    return nullptr;
  }

  Result<json::Value> Any(const ShapeModel& shape, json::Value& in, size_t depth) {
    switch (shape.type) {
      case ShapeType::kStructure:
        return Structure(shape, in, depth);
      case ShapeType::kList:
        return List(shape, in, depth);
      case ShapeType::kMap:
        return Map(shape, in, depth);
      default:
        return Scalar(shape, in);
    }
  }

  Result<json::Value> List(const ShapeModel& shape, json::Value& in, size_t depth) {
    if (!in.is_array()) return Mismatch(in, shape);
    const ShapeModel& element = service_.shape(service_.members_of(shape)[0].shape);
    json::Value out = json::Value::MakeArray();
    size_t index = 0;
    for (json::Value& e : in.as_array()) {
      size_t mark = path_.size();
      AppendListPath(path_, ++index);
      if (e.is_null()) return Mismatch(e, element);
      ASSIGN_OR_RETURN(json::Value v, Any(element, e, depth + 1));
      path_.resize(mark);
      out.push(std::move(v));
    }
    return out;
  }

  Result<json::Value> Map(const ShapeModel& shape, json::Value& in, size_t depth) {
    if (!in.is_object()) return Mismatch(in, shape);
    const ShapeModel& value_shape = service_.shape(service_.members_of(shape)[1].shape);
    json::Value out = json::Value::MakeObject();
    size_t index = 0;
    for (auto& [key, e] : in.as_object()) {
      size_t mark = path_.size();
      AppendMapPath(path_, ++index, false);
      if (e.is_null()) return Mismatch(e, value_shape);
      ASSIGN_OR_RETURN(json::Value v, Any(value_shape, e, depth + 1));
      path_.resize(mark);
      out.set(key, std::move(v));
    }
    return out;
  }

  Result<json::Value> Scalar(const ShapeModel& shape, json::Value& in) {
    switch (shape.type) {
      case ShapeType::kString:
        if (in.is_string()) return std::move(in);
        break;
      case ShapeType::kBoolean:
        if (in.is_bool()) return in;
        break;
      case ShapeType::kInteger:
        if (in.is_int() && in.as_int() >= std::numeric_limits<int32_t>::min() &&
            in.as_int() <= std::numeric_limits<int32_t>::max()) {
          return in;
        }
        break;
      case ShapeType::kLong:
        if (in.is_int()) return in;
        break;
      case ShapeType::kFloat:
      case ShapeType::kDouble:
        if (in.is_number()) return json::Value(in.as_double());
        break;
      case ShapeType::kTimestamp:
        return Timestamp(shape, in);
      case ShapeType::kBlob:
        return Blob(shape, in);
      default:
        break;
    }
    return Mismatch(in, shape);
  }

  Result<json::Value> Timestamp(const ShapeModel& shape, const json::Value& in) {
    if (in.is_number()) return EpochValue(in.as_double());
    if (in.is_string()) {
      auto v = ParseIso8601(in.as_string());
      if (v) return std::move(*v);
    }
    return Mismatch(in, shape);
  }

  Result<json::Value> Blob(const ShapeModel& shape, const json::Value& in) {
    if (!in.is_string()) return Mismatch(in, shape);
    std::string bytes;
    if (!DecodeBase64(in.as_string(), bytes)) {
      return Status::Error(ErrorCode::kSerialization,
                           "Value at '" + path_ + "' is not valid base64");
    }
    return json::Value(std::move(bytes));
  }

  Status Mismatch(const json::Value& in, const ShapeModel& shape) const {
    std::string msg(TokenName(in));
    msg += " can not be converted to ";
    msg += TypeName(shape.type);
    if (!path_.empty()) msg += " at '" + path_ + "'";
    return Status::Error(ErrorCode::kSerialization, std::move(msg));
  }

  const ServiceModel& service_;
  std::string path_;
};

// ---- output ----

class JsonWriter {
 public:
  JsonWriter(const ServiceModel& service, std::string& out) : service_(service), out_(out) {}

  void Structure(const ShapeModel& shape, const json::Value& v) {
    if (!v.is_object()) return Raw(v);
    out_ += '{';
    bool first = true;
    for (const MemberModel& m : service_.members_of(shape)) {
      if (m.location != Location::kBody) continue;
      const json::Value* mv = v.find(m.name);
      if (mv == nullptr || mv->is_null()) continue;
      if (!first) out_ += ',';
      first = false;
      // Model member names are identifiers: nothing to escape.
      out_ += '"';
      out_.append(m.wire_name());
      out_ += "\":";
      Any(service_.shape(m.shape), *mv);
    }
    out_ += '}';
  }

 private:
  void Any(const ShapeModel& shape, const json::Value& v) {
    switch (shape.type) {
      case ShapeType::kStructure:
        return Structure(shape, v);
      case ShapeType::kList:
        return List(shape, v);
      case ShapeType::kMap:
        return Map(shape, v);
      case ShapeType::kBlob:
        if (v.is_string()) return WriteBase64JsonString(v.as_string(), out_);
        return Raw(v);
      default:
        if (v.is_string()) return String(v.as_string());
        return Raw(v);  // numbers, booleans, epoch timestamps
    }
  }

  // json::WriteString, after one pass finds that nothing needs escaping
  // (the usual case: ARNs, ids, enum values): one append then.
  void String(std::string_view s) {
    bool plain = true;
    for (char c : s) plain &= static_cast<unsigned char>(c) >= 0x20 && c != '"' && c != '\\';
    if (!plain) return json::WriteString(s, out_);
    out_ += '"';
    out_.append(s);
    out_ += '"';
  }

  void List(const ShapeModel& shape, const json::Value& v) {
    if (!v.is_array()) return Raw(v);
    const ShapeModel& element = service_.shape(service_.members_of(shape)[0].shape);
    out_ += '[';
    bool first = true;
    for (const json::Value& e : v.as_array()) {
      if (!first) out_ += ',';
      first = false;
      Any(element, e);
    }
    out_ += ']';
  }

  void Map(const ShapeModel& shape, const json::Value& v) {
    if (!v.is_object()) return Raw(v);
    const ShapeModel& value_shape = service_.shape(service_.members_of(shape)[1].shape);
    out_ += '{';
    bool first = true;
    for (const auto& [key, e] : v.as_object()) {
      if (!first) out_ += ',';
      first = false;
      json::WriteString(key, out_);
      out_ += ':';
      Any(value_shape, e);
    }
    out_ += '}';
  }

  // A value that does not fit its shape (a handler bug): written as is.
  void Raw(const json::Value& v) { json::Write(v, out_); }

  const ServiceModel& service_;
  std::string& out_;
};

}  // namespace

Result<json::Value> DecodeJsonStructure(const ServiceModel& service, const ShapeModel& shape,
                                        json::Value& body) {
  return JsonDecoder(service).Structure(shape, body, 0);
}

void WriteJsonShape(const ServiceModel& service, const ShapeModel& shape, const json::Value& value,
                    std::string& out) {
  JsonWriter(service, out).Structure(shape, value);
}

}  // namespace rampart::protocol::internal
