// The query protocol's input (IAM, STS): Action/Version plus members as
// flattened form parameters, e.g. Tags.member.1.Key=k, Attributes.entry.1.value=v,
// Foo.Bar=x. Parameters become a tree split on '.', then the tree is read
// against the input shape.
#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <vector>

#include "rampart/core/encoding.h"
#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {
namespace {

struct ParamNode {
  bool has_value = false;
  std::string value;
  std::map<std::string, std::unique_ptr<ParamNode>, std::less<>> children;

  const ParamNode* child(std::string_view name) const {
    auto it = children.find(name);
    return it == children.end() ? nullptr : it->second.get();
  }
};

Status BadQuery(std::string message) {
  return Status::Error(ErrorCode::kInvalidQueryParameter, std::move(message));
}

Status Insert(ParamNode& root, std::string_view key, std::string value) {
  if (key.empty() || key.size() > kMaxParamKey) return BadQuery("Invalid parameter name");
  ParamNode* node = &root;
  size_t segments = 0;
  while (true) {
    size_t dot = key.find('.');
    std::string_view part = key.substr(0, dot);
    if (part.empty() || ++segments > kMaxDepth) return BadQuery("Invalid parameter name");
    auto it = node->children.find(part);
    if (it == node->children.end()) {
      it = node->children.emplace(std::string(part), std::make_unique<ParamNode>()).first;
    }
    node = it->second.get();
    if (dot == std::string_view::npos) break;
    key = key.substr(dot + 1);
  }
  node->has_value = true;  // a repeated parameter: the last one wins
  node->value = std::move(value);
  return Status::Ok();
}

// Form body for POST (application/x-www-form-urlencoded), plus the query
// string (presigned GETs carry everything there).
Result<Params> CollectParams(const http::Request& request) {
  auto params = ParseParams(QueryOf(request), true);
  if (!params) return BadQuery("Malformed query string");
  if (!request.body.empty()) {
    auto body = ParseParams(request.body, true);
    if (!body) return BadQuery("Malformed form body");
    params->insert(params->end(), std::make_move_iterator(body->begin()),
                   std::make_move_iterator(body->end()));
  }
  if (params->size() > kMaxParams) return BadQuery("Too many parameters");
  return std::move(*params);
}

std::optional<size_t> ListIndex(std::string_view text) {
  if (text.empty() || text[0] == '0' || text.size() > 4) return std::nullopt;
  size_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 1 || v > kMaxListIndex) {
    return std::nullopt;
  }
  return v;
}

// The children of `node` named 1..N, in index order.
Result<std::vector<const ParamNode*>> Indexed(const ParamNode& node, std::string_view path) {
  std::vector<std::pair<size_t, const ParamNode*>> items;
  for (const auto& [name, child] : node.children) {
    auto index = ListIndex(name);
    if (!index) {
      return ValidationError(Echo(name), path,
                             "Member must be indexed 1 to " + std::to_string(kMaxListIndex));
    }
    items.emplace_back(*index, child.get());
  }
  std::sort(items.begin(), items.end());
  std::vector<const ParamNode*> out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(item.second);
  return out;
}

class QueryDecoder {
 public:
  explicit QueryDecoder(const ServiceModel& service) : service_(service) {}

  Result<json::Value> Structure(const ShapeModel& shape, const ParamNode& node, size_t depth) {
    if (depth > kMaxDepth) return BadQuery("Parameters nested too deeply");
    json::Value out = json::Value::MakeObject();
    for (const MemberModel& m : service_.members_of(shape)) {
      const ParamNode* child = node.child(WireName(m));
      if (child == nullptr) continue;
      size_t mark = path_.size();
      AppendMemberPath(path_, m.name);
      ASSIGN_OR_RETURN(json::Value v, Member(m, *child, depth + 1));
      path_.resize(mark);
      out.set(m.name, std::move(v));
    }
    return out;
  }

 private:
  // A flattened list or map whose element carries a locationName is sent
  // under that name instead of the member's (botocore's QuerySerializer).
  std::string_view WireName(const MemberModel& m) const {
    if (!m.query_name.empty()) return m.query_name;
    const ShapeModel& shape = service_.shape(m.shape);
    if (m.flattened() && shape.type == ShapeType::kList) {
      const MemberModel& element = service_.members_of(shape)[0];
      if (!element.location_name.empty()) return element.location_name;
    }
    return m.wire_name();
  }

  Result<json::Value> Member(const MemberModel& m, const ParamNode& node, size_t depth) {
    const ShapeModel& shape = service_.shape(m.shape);
    switch (shape.type) {
      case ShapeType::kStructure:
        return Structure(shape, node, depth);
      case ShapeType::kList:
        return List(m, shape, node, depth);
      case ShapeType::kMap:
        return Map(m, shape, node, depth);
      default:
        break;
    }
    if (!node.has_value || !node.children.empty()) {
      return ValidationError("", path_, "Member must be a scalar value");
    }
    return ParseScalar(service_, m, node.value, TimestampFormat::kIso8601, path_);
  }

  // "Name.member.N" (or "Name.N" when flattened); "Name=" is an empty list.
  Result<json::Value> List(const MemberModel& m, const ShapeModel& shape, const ParamNode& node,
                           size_t depth) {
    const MemberModel& element = service_.members_of(shape)[0];
    const ParamNode* items = &node;
    if (!m.flattened()) items = node.child(element.wire_name());
    json::Value out = json::Value::MakeArray();
    if (items == nullptr) return out;
    ASSIGN_OR_RETURN(auto ordered, Indexed(*items, path_));
    size_t index = 0;
    for (const ParamNode* item : ordered) {
      size_t mark = path_.size();
      AppendListPath(path_, ++index);
      ASSIGN_OR_RETURN(json::Value v, Member(element, *item, depth + 1));
      path_.resize(mark);
      out.push(std::move(v));
    }
    return out;
  }

  // "Name.entry.N.key" / "Name.entry.N.value" (no ".entry" when flattened).
  Result<json::Value> Map(const MemberModel& m, const ShapeModel& shape, const ParamNode& node,
                          size_t depth) {
    auto kv = service_.members_of(shape);
    const ParamNode* entries = m.flattened() ? &node : node.child("entry");
    json::Value out = json::Value::MakeObject();
    if (entries == nullptr) return out;
    ASSIGN_OR_RETURN(auto ordered, Indexed(*entries, path_));
    size_t index = 0;
    for (const ParamNode* entry : ordered) {
      size_t mark = path_.size();
      AppendMapPath(path_, ++index, true);
      const ParamNode* key = entry->child(kv[0].wire_name());
      if (key == nullptr || !key->has_value)
        return ValidationError("null", path_, "Member must not be null");
      path_.resize(mark);
      AppendMapPath(path_, index, false);
      const ParamNode* value = entry->child(kv[1].wire_name());
      if (value == nullptr) return ValidationError("null", path_, "Member must not be null");
      ASSIGN_OR_RETURN(json::Value v, Member(kv[1], *value, depth + 1));
      path_.resize(mark);
      out.set(key->value, std::move(v));
    }
    return out;
  }

  const ServiceModel& service_;
  std::string path_;
};

Status UnknownAction(std::string_view action, std::string_view version) {
  return Status::Error(ErrorCode::kUnknownOperation,
                       "Could not find operation " + std::string(action.substr(0, 128)) +
                           " for version " + std::string(version.substr(0, 32)));
}

}  // namespace

Result<json::Value> DecodeQueryStructure(const ServiceModel& service, const ShapeModel& shape,
                                         Params params) {
  ParamNode root;
  for (auto& [key, value] : params) {
    if (key == "Action" || key == "Version") continue;
    RETURN_IF_ERROR(Insert(root, key, std::move(value)));
  }
  return QueryDecoder(service).Structure(shape, root, 0);
}

Result<Decoded> DecodeQueryRequest(const ServiceModel& service, const http::Request& request) {
  ASSIGN_OR_RETURN(Params params, CollectParams(request));
  std::string action, version(service.api_version);
  for (const auto& [key, value] : params) {
    if (key == "Action") action = value;
    if (key == "Version") version = value;
  }
  if (action.empty()) return Status::Error(ErrorCode::kMissingAction, "Missing Action");
  const OperationModel* op = FindOperation(service, action);
  if (op == nullptr || version != service.api_version) return UnknownAction(action, version);
  Decoded decoded;
  decoded.op = op;
  if (op->input < 0) {
    decoded.input = json::Value::MakeObject();
    return decoded;
  }
  ASSIGN_OR_RETURN(decoded.input,
                   DecodeQueryStructure(service, service.shape(op->input), std::move(params)));
  return decoded;
}

}  // namespace rampart::protocol::internal
