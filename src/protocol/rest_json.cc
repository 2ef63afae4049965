// rest-json (Security Hub, Access Analyzer): operations are found by HTTP
// method and requestUri template; members bind to URI labels, the query
// string, headers and the JSON body.
#include <vector>

#include "rampart/core/encoding.h"
#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {
namespace {

constexpr size_t kMaxSegments = 64;

struct Label {
  std::string_view name;
  std::string value;  // percent-decoded
};

struct Route {
  const OperationModel* op = nullptr;
  std::vector<Label> labels;
  int literals = -1;  // literal segments matched: the most specific route wins
};

// "a/b/" -> {"a", "b", ""}. Input starts after the leading '/'.
std::vector<std::string_view> SplitSegments(std::string_view s) {
  std::vector<std::string_view> parts;
  while (parts.size() <= kMaxSegments) {
    size_t slash = s.find('/');
    parts.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos) break;
    s.remove_prefix(slash + 1);
  }
  return parts;
}

bool IsLabel(std::string_view t) { return t.size() >= 3 && t.front() == '{' && t.back() == '}'; }
bool IsGreedy(std::string_view t) { return IsLabel(t) && t[t.size() - 2] == '+'; }

// Matches a template's path ("/x/{Id}/{Key+}") against the request path.
bool MatchPath(std::string_view tmpl, std::string_view path, Route& route) {
  if (tmpl.empty() || path.empty() || tmpl[0] != '/' || path[0] != '/') return false;
  auto want = SplitSegments(tmpl.substr(1));
  auto have = SplitSegments(path.substr(1));
  if (have.size() > kMaxSegments) return false;
  route.literals = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    std::string_view t = want[i];
    if (i >= have.size()) return false;
    if (IsGreedy(t)) {  // the rest of the path, slashes included; must be last
      std::string_view rest = path.substr(static_cast<size_t>(have[i].data() - path.data()));
      auto value = UriDecode(rest);
      if (i + 1 != want.size() || rest.empty() || !value) return false;
      route.labels.push_back({t.substr(1, t.size() - 3), std::move(*value)});
      return true;
    }
    if (IsLabel(t)) {
      auto value = UriDecode(have[i]);
      if (have[i].empty() || !value) return false;
      route.labels.push_back({t.substr(1, t.size() - 2), std::move(*value)});
    } else if (t != have[i]) {
      return false;
    } else {
      ++route.literals;
    }
  }
  return want.size() == have.size();
}

// Every "k" or "k=v" of the template's query part must be in the request.
bool MatchQueryLiterals(std::string_view literals, const Params& query) {
  auto wanted = ParseParams(literals, false);
  if (!wanted) return false;
  for (const auto& [key, value] : *wanted) {
    bool found = false;
    for (const auto& [k, v] : query) found = found || (k == key && (value.empty() || v == value));
    if (!found) return false;
  }
  return true;
}

Route FindRoute(const ServiceModel& service, const http::Request& request, const Params& query) {
  Route best;
  for (const OperationModel& op : service.operations) {
    if (op.method != request.method) continue;
    size_t q = op.request_uri.find('?');
    Route route;
    route.op = &op;
    if (!MatchPath(op.request_uri.substr(0, q), PathOf(request), route)) continue;
    if (q != std::string_view::npos && !MatchQueryLiterals(op.request_uri.substr(q + 1), query)) {
      continue;
    }
    if (route.literals > best.literals) best = std::move(route);
  }
  return best;
}

class Binder {
 public:
  Binder(const ServiceModel& service, const http::Request& request, const Params& query,
         const Route& route)
      : service_(service), request_(request), query_(query), route_(route) {}

  Status Bind(const ShapeModel& shape, json::Value& input) {
    for (const MemberModel& m : service_.members_of(shape)) {
      path_.clear();
      AppendMemberPath(path_, m.name);
      switch (m.location) {
        case Location::kUri:
          RETURN_IF_ERROR(Uri(m, input));
          break;
        case Location::kQueryString:
          RETURN_IF_ERROR(QueryString(m, input));
          break;
        case Location::kHeader:
          RETURN_IF_ERROR(Header(m, input));
          break;
        case Location::kHeaders:
          Headers(m, input);
          break;
        case Location::kBody:
        case Location::kStatusCode:
          break;
      }
    }
    return Status::Ok();
  }

 private:
  Status Set(const MemberModel& m, std::string_view text, TimestampFormat format,
             json::Value& input) {
    ASSIGN_OR_RETURN(json::Value v, ParseScalar(service_, m, text, format, path_));
    input.set(m.name, std::move(v));
    return Status::Ok();
  }

  Status Uri(const MemberModel& m, json::Value& input) {
    for (const Label& label : route_.labels) {
      if (label.name == m.wire_name()) return Set(m, label.value, TimestampFormat::kIso8601, input);
    }
    return Status::Ok();
  }

  Status QueryString(const MemberModel& m, json::Value& input) {
    const ShapeModel& shape = service_.shape(m.shape);
    if (shape.type == ShapeType::kMap) return QueryMap(m, input);
    if (shape.type != ShapeType::kList) {
      for (const auto& [k, v] : query_) {
        if (k == m.wire_name()) return Set(m, v, TimestampFormat::kIso8601, input);
      }
      return Status::Ok();
    }
    const MemberModel& element = service_.members_of(shape)[0];
    json::Value list = json::Value::MakeArray();
    for (const auto& [k, v] : query_) {
      if (k != m.wire_name()) continue;
      ASSIGN_OR_RETURN(json::Value e,
                       ParseScalar(service_, element, v, TimestampFormat::kIso8601, path_));
      list.push(std::move(e));
    }
    if (!list.as_array().empty()) input.set(m.name, std::move(list));
    return Status::Ok();
  }

  // A map bound to the query string takes every parameter (string values).
  Status QueryMap(const MemberModel& m, json::Value& input) {
    json::Value map = json::Value::MakeObject();
    for (const auto& [k, v] : query_) map.set(k, json::Value(v));
    if (!map.as_object().empty()) input.set(m.name, std::move(map));
    return Status::Ok();
  }

  Status Header(const MemberModel& m, json::Value& input) {
    const std::string* value = FindHeader(request_, m.wire_name());
    if (value == nullptr) return Status::Ok();
    return Set(m, *value, TimestampFormat::kRfc822, input);
  }

  // location "headers": every header starting with the prefix, keyed by the rest.
  void Headers(const MemberModel& m, json::Value& input) {
    std::string_view prefix = m.wire_name();
    json::Value map = json::Value::MakeObject();
    for (const http::Header& h : request_.headers) {
      if (h.name.size() > prefix.size() &&
          EqualsNoCase(std::string_view(h.name).substr(0, prefix.size()), prefix)) {
        map.set(std::string_view(h.name).substr(prefix.size()), json::Value(h.value));
      }
    }
    if (!map.as_object().empty()) input.set(m.name, std::move(map));
  }

  const ServiceModel& service_;
  const http::Request& request_;
  const Params& query_;
  const Route& route_;
  std::string path_;
};

Result<json::Value> DecodeBody(const ServiceModel& service, const ShapeModel& shape,
                               std::string_view body) {
  if (body.empty()) return json::Value::MakeObject();
  ASSIGN_OR_RETURN(json::Value parsed, json::Parse(body));
  return DecodeJsonStructure(service, shape, parsed);
}

}  // namespace

Result<Decoded> DecodeRestJsonRequest(const ServiceModel& service, const http::Request& request) {
  auto query = ParseParams(QueryOf(request), false);
  if (!query || query->size() > kMaxParams) {
    return Status::Error(ErrorCode::kSerialization, "Malformed query string");
  }
  Route route = FindRoute(service, request, *query);
  if (route.op == nullptr) {
    return Status::Error(ErrorCode::kUnknownOperation,
                         "No operation matches " + request.method + " on this path");
  }
  Decoded decoded;
  decoded.op = route.op;
  if (route.op->input < 0) {
    decoded.input = json::Value::MakeObject();
    return decoded;
  }
  const ShapeModel& shape = service.shape(route.op->input);
  ASSIGN_OR_RETURN(decoded.input, DecodeBody(service, shape, request.body));
  RETURN_IF_ERROR(Binder(service, request, *query, route).Bind(shape, decoded.input));
  return decoded;
}

void EncodeRestJsonOutput(const ServiceModel& service, const OperationModel& op,
                          const json::Value& output, http::Response& response) {
  response.status = op.response_code == 0 ? 200 : op.response_code;
  SetHeader(response, "Content-Type", "application/json");
  response.body.clear();
  if (op.output < 0) {
    response.body = "{}";
    return;
  }
  const ShapeModel& shape = service.shape(op.output);
  for (const MemberModel& m : service.members_of(shape)) {
    const json::Value* v = output.find(m.name);
    if (v == nullptr || v->is_null()) continue;
    if (m.location == Location::kStatusCode && v->is_int()) {
      response.status = static_cast<int>(v->as_int());
    } else if (m.location == Location::kHeader) {
      bool date = service.shape(m.shape).type == ShapeType::kTimestamp && v->is_number();
      SetHeader(response, m.wire_name(),
                date             ? FormatHttpDate(*v)
                : v->is_string() ? v->as_string()
                                 : json::Write(*v));
    }
  }
  WriteJsonShape(service, shape, output, response.body);
}

}  // namespace rampart::protocol::internal
