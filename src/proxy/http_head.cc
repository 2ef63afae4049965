#include "rampart/proxy/http_head.h"

#include <array>
#include <charconv>

#include "rampart/proxy/net.h"

namespace rampart::proxy {
namespace {

constexpr size_t kMaxMethod = 32;
constexpr size_t kMaxTarget = 8192;
// Room for a typical head's fields from the start (growing 1, 2, 4, 8...
// moves every field each time).
constexpr size_t kFieldsReserved = 16;

// tchar (RFC 9110 section 5.6.2), one table lookup per byte.
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool IsTokenChar(char c) { return kTokenChars[static_cast<unsigned char>(c)]; }

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// field-value bytes: HTAB, SP, VCHAR, obs-text; no other control bytes.
bool IsFieldValue(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status Bad(std::string why) { return Status::Error(ErrorCode::kSerialization, std::move(why)); }

Status ParseRequestLine(std::string_view line, RequestHead& head) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Bad("malformed request line");
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Bad("malformed request line");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.size() > kMaxMethod || !IsToken(method)) return Bad("bad method");
  if (target.empty() || target.size() > kMaxTarget) return Bad("bad request target");
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return Bad("bad request target");
  }
  if (version == "HTTP/1.1") {
    head.version_minor = 1;
  } else if (version == "HTTP/1.0") {
    head.version_minor = 0;
  } else {
    return Bad("unsupported HTTP version");
  }
  head.method = std::string(method);
  head.target = std::string(target);
  return Status::Ok();
}

using Fields = std::vector<std::pair<std::string, std::string>>;

Status ParseField(std::string_view line, Fields& fields) {
  if (line.front() == ' ' || line.front() == '\t') return Bad("obsolete line folding");
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return Bad("header line without ':'");
  std::string_view name = line.substr(0, colon);
  if (!IsToken(name)) return Bad("bad header field name");
  std::string_view value = TrimOws(line.substr(colon + 1));
  if (!IsFieldValue(value)) return Bad("bad header field value");
  if (fields.size() >= kMaxHeaderFields) return Bad("too many header fields");
  fields.emplace_back(std::string(name), std::string(value));
  return Status::Ok();
}

// "HTTP/1.x SSS reason": the reason may be empty or hold spaces.
Status ParseStatusLine(std::string_view line, ResponseHead& head) {
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ' ||
      (line.size() > 12 && line[12] != ' ')) {
    return Bad("malformed status line");
  }
  if (line[7] != '0' && line[7] != '1') return Bad("unsupported HTTP version");
  head.version_minor = line[7] - '0';
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return Bad("malformed status line");
    code = code * 10 + (line[i] - '0');
  }
  if (code < 100) return Bad("malformed status line");
  head.status = code;
  head.reason = std::string(line.size() > 13 ? line.substr(13) : "");
  if (!IsFieldValue(head.reason)) return Bad("malformed status line");
  return Status::Ok();
}

std::optional<std::string_view> FindField(const Fields& fields, std::string_view name) {
  for (const auto& [n, v] : fields) {
    if (EqualsIgnoreCase(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

size_t CountFields(const Fields& fields, std::string_view name) {
  size_t n = 0;
  for (const auto& f : fields) n += EqualsIgnoreCase(f.first, name) ? 1 : 0;
  return n;
}

// Splits a head into CRLF-terminated lines and hands each to `line_fn`
// (first: the start line); refuses bare CR/LF and empty lines.
template <typename LineFn>
Status ForEachHeadLine(std::string_view head, std::string_view what, LineFn line_fn) {
  if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n") return Bad("incomplete head");
  std::string_view rest = head.substr(0, head.size() - 2);  // each line keeps its CRLF
  bool first = true;
  while (!rest.empty()) {
    // The line ends at its first CR, which must be followed by the first
    // LF: any other CR or LF before that is a bare one, refused (request
    // smuggling). `rest` ends with CRLF, so there is a CR.
    size_t eol = rest.find('\r');
    if (rest.find('\n') != eol + 1) return Bad("bare CR or LF");
    std::string_view line = rest.substr(0, eol);
    if (line.empty()) return Bad(first ? "empty " + std::string(what) + " line" : "unexpected empty line");
    RETURN_IF_ERROR(line_fn(line, first));
    first = false;
    rest.remove_prefix(eol + 2);
  }
  if (first) return Bad("empty head");
  return Status::Ok();
}

Result<uint16_t> ParsePort(std::string_view s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || s.size() > 5 || ec != std::errc() || end != s.data() + s.size() || v == 0 ||
      v > 65535) {
    return Bad("bad port");
  }
  return static_cast<uint16_t>(v);
}

}  // namespace

std::optional<std::string_view> RequestHead::Field(std::string_view name) const { return FindField(fields, name); }
size_t RequestHead::CountField(std::string_view name) const { return CountFields(fields, name); }
std::optional<std::string_view> ResponseHead::Field(std::string_view name) const { return FindField(fields, name); }
size_t ResponseHead::CountField(std::string_view name) const { return CountFields(fields, name); }

std::optional<size_t> FindHeadEnd(std::string_view bytes) {
  size_t pos = bytes.find("\r\n\r\n");
  if (pos == std::string_view::npos) return std::nullopt;
  return pos + 4;
}

Result<RequestHead> ParseRequestHead(std::string_view head) {
  RequestHead out;
  out.fields.reserve(kFieldsReserved);
  RETURN_IF_ERROR(ForEachHeadLine(head, "request", [&out](std::string_view line, bool first) {
    return first ? ParseRequestLine(line, out) : ParseField(line, out.fields);
  }));
  return out;
}

Result<ResponseHead> ParseResponseHead(std::string_view head) {
  ResponseHead out;
  out.fields.reserve(kFieldsReserved);
  RETURN_IF_ERROR(ForEachHeadLine(head, "status", [&out](std::string_view line, bool first) {
    return first ? ParseStatusLine(line, out) : ParseField(line, out.fields);
  }));
  return out;
}

Result<Target> ParseAuthorityTarget(std::string_view target) {
  auto hp = ParseHostPort(target);
  if (!hp.ok()) return Bad("CONNECT target is not host:port");
  if (hp->host.find_first_of("@/?#") != std::string::npos) return Bad("CONNECT target is not host:port");
  return Target{std::move(hp->host), hp->port, ""};
}

Result<Target> ParseHostHeader(std::string_view value, uint16_t default_port) {
  Target t;
  std::string_view port;
  if (!value.empty() && value.front() == '[') {
    size_t close = value.find(']');
    if (close == std::string_view::npos) return Bad("bad host");
    t.host = std::string(value.substr(1, close - 1));
    std::string_view after = value.substr(close + 1);
    if (!after.empty() && after.front() != ':') return Bad("bad host");
    if (!after.empty()) port = after.substr(1);
  } else {
    size_t colon = value.find(':');
    if (colon != std::string_view::npos && value.find(':', colon + 1) != std::string_view::npos) {
      return Bad("bad host");
    }
    t.host = std::string(value.substr(0, colon));
    if (colon != std::string_view::npos) port = value.substr(colon + 1);
  }
  if (t.host.empty() || t.host.find_first_of("@/?#[] \t") != std::string::npos) return Bad("bad host");
  t.port = default_port;
  if (!port.empty()) {
    ASSIGN_OR_RETURN(t.port, ParsePort(port));
  }
  return t;
}

Result<Target> ParseAbsoluteTarget(std::string_view target) {
  constexpr std::string_view kScheme = "http://";
  if (target.size() < kScheme.size() || !EqualsIgnoreCase(target.substr(0, kScheme.size()), kScheme)) {
    return Bad("request target is not an absolute http:// URL");
  }
  if (target.find('#') != std::string_view::npos) return Bad("fragment in request target");
  std::string_view rest = target.substr(kScheme.size());
  size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos) return Bad("userinfo in request target");
  ASSIGN_OR_RETURN(Target t, ParseHostHeader(authority, 80));
  std::string_view path = end == std::string_view::npos ? "" : rest.substr(end);
  if (path.empty() || path.front() == '?') t.path = "/";
  t.path += std::string(path);
  return t;
}

Result<BodyFraming> GetBodyFraming(const RequestHead& head) {
  BodyFraming f;
  size_t te = head.CountField("Transfer-Encoding");
  size_t cl = head.CountField("Content-Length");
  if (te > 0 && cl > 0) return Bad("both Transfer-Encoding and Content-Length");
  if (te > 1 || cl > 1) return Bad("repeated Transfer-Encoding or Content-Length");
  if (te == 1) {
    if (!EqualsIgnoreCase(*head.Field("Transfer-Encoding"), "chunked")) {
      return Bad("unsupported Transfer-Encoding");
    }
    f.chunked = true;
    return f;
  }
  if (cl == 1) {
    std::string_view v = *head.Field("Content-Length");
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), f.content_length);
    if (v.empty() || v.size() > 18 || ec != std::errc() || end != v.data() + v.size() ||
        v.front() == '+' || v.front() == '-') {
      return Bad("bad Content-Length");
    }
  }
  return f;
}

}  // namespace rampart::proxy
