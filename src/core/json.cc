#include "rampart/core/json.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "rampart/core/check.h"

namespace rampart::json {

Value::Value(Array a) : kind_(Kind::kArray), arr_(std::make_unique<Array>(std::move(a))) {}
Value::Value(Object o) : kind_(Kind::kObject), obj_(std::make_unique<Object>(std::move(o))) {}

Value::Value(const Value& other)
    : kind_(other.kind_), int_(other.int_), double_(other.double_), str_(other.str_) {
  if (other.arr_) arr_ = std::make_unique<Array>(*other.arr_);
  if (other.obj_) obj_ = std::make_unique<Object>(*other.obj_);
}

Value& Value::operator=(const Value& other) {
  if (this != &other) {
    Value copy(other);
    *this = std::move(copy);
  }
  return *this;
}

bool Value::as_bool() const {
  RAMPART_CHECK(is_bool());
  return int_ != 0;
}
int64_t Value::as_int() const {
  RAMPART_CHECK(is_int());
  return int_;
}
double Value::as_double() const {
  RAMPART_CHECK(is_number());
  return is_int() ? static_cast<double>(int_) : double_;
}
const std::string& Value::as_string() const {
  RAMPART_CHECK(is_string());
  return str_;
}
std::string& Value::as_string() {
  RAMPART_CHECK(is_string());
  return str_;
}
const Array& Value::as_array() const {
  RAMPART_CHECK(is_array());
  return *arr_;
}
Array& Value::as_array() {
  RAMPART_CHECK(is_array());
  return *arr_;
}
const Object& Value::as_object() const {
  RAMPART_CHECK(is_object());
  return *obj_;
}
Object& Value::as_object() {
  RAMPART_CHECK(is_object());
  return *obj_;
}

const Value* Value::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  for (const auto& [k, v] : *obj_) {
    if (k == key) return &v;
  }
  return nullptr;
}

Value* Value::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->find(key));
}

Value& Value::set(std::string_view key, Value v) {
  if (is_null()) *this = MakeObject();
  RAMPART_CHECK(is_object());
  if (Value* existing = find(key)) {
    *existing = std::move(v);
    return *existing;
  }
  obj_->emplace_back(std::string(key), std::move(v));
  return obj_->back().second;
}

Value& Value::push(Value v) {
  if (is_null()) *this = MakeArray();
  RAMPART_CHECK(is_array());
  arr_->push_back(std::move(v));
  return arr_->back();
}

std::string_view Value::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr || !v->is_string()) return {};
  return v->str_;
}

bool Value::operator==(const Value& other) const {
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
    case Kind::kInt:
      return int_ == other.int_;
    case Kind::kDouble:
      return double_ == other.double_;
    case Kind::kString:
      return str_ == other.str_;
    case Kind::kArray:
      return *arr_ == *other.arr_;
    case Kind::kObject:
      return *obj_ == *other.obj_;
  }
  return false;
}

namespace {

// Recursive-descent parser over a bounded cursor. Every read checks the end.
class Parser {
 public:
  Parser(std::string_view text, const ParseLimits& limits) : s_(text), limits_(limits) {}

  Result<Value> ParseDocument() {
    if (s_.size() > limits_.max_bytes) return Fail("JSON document too large");
    Value v;
    RETURN_IF_ERROR(ParseValue(v, 0));
    SkipWs();
    if (pos_ != s_.size()) return Fail("Unexpected data after the JSON value");
    return v;
  }

 private:
  Status Fail(std::string_view what) {
    return Status::Error(ErrorCode::kSerialization,
                         std::string(what) + " at offset " + std::to_string(pos_));
  }

  void SkipWs() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  bool Consume(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }

  Status ParseValue(Value& out, size_t depth) {
    if (depth > limits_.max_depth) return Fail("JSON nesting too deep");
    SkipWs();
    if (pos_ >= s_.size()) return Fail("Unexpected end of JSON input");
    char c = s_[pos_];
    switch (c) {
      case '{':
        return ParseObject(out, depth);
      case '[':
        return ParseArray(out, depth);
      case '"': {
        std::string str;
        RETURN_IF_ERROR(ParseString(str));
        out = Value(std::move(str));
        return Status::Ok();
      }
      case 't':
        if (!Consume("true")) return Fail("Invalid literal");
        out = Value(true);
        return Status::Ok();
      case 'f':
        if (!Consume("false")) return Fail("Invalid literal");
        out = Value(false);
        return Status::Ok();
      case 'n':
        if (!Consume("null")) return Fail("Invalid literal");
        out = Value();
        return Status::Ok();
      default:
        return ParseNumber(out);
    }
  }

  Status ParseObject(Value& out, size_t depth) {
    ++pos_;  // '{'
    Object obj;
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      out = Value(std::move(obj));
      return Status::Ok();
    }
    while (true) {
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Fail("Expected object key");
      std::string key;
      RETURN_IF_ERROR(ParseString(key));
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Fail("Expected ':'");
      ++pos_;
      Value v;
      RETURN_IF_ERROR(ParseValue(v, depth + 1));
      obj.emplace_back(std::move(key), std::move(v));
      SkipWs();
      if (pos_ >= s_.size()) return Fail("Unexpected end of JSON input");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        break;
      }
      return Fail("Expected ',' or '}'");
    }
    out = Value(std::move(obj));
    return Status::Ok();
  }

  Status ParseArray(Value& out, size_t depth) {
    ++pos_;  // '['
    Array arr;
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      out = Value(std::move(arr));
      return Status::Ok();
    }
    while (true) {
      Value v;
      RETURN_IF_ERROR(ParseValue(v, depth + 1));
      arr.push_back(std::move(v));
      SkipWs();
      if (pos_ >= s_.size()) return Fail("Unexpected end of JSON input");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        break;
      }
      return Fail("Expected ',' or ']'");
    }
    out = Value(std::move(arr));
    return Status::Ok();
  }

  Status ParseHex4(uint32_t& cp) {
    if (s_.size() - pos_ < 4) return Fail("Truncated \\u escape");
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      cp <<= 4;
      if (c >= '0' && c <= '9') {
        cp |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        cp |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        cp |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Fail("Invalid \\u escape");
      }
    }
    return Status::Ok();
  }

  static void AppendUtf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  Status ParseEscape(std::string& out) {
    if (pos_ >= s_.size()) return Fail("Truncated escape");
    char e = s_[pos_++];
    switch (e) {
      case '"': out += '"'; return Status::Ok();
      case '\\': out += '\\'; return Status::Ok();
      case '/': out += '/'; return Status::Ok();
      case 'b': out += '\b'; return Status::Ok();
      case 'f': out += '\f'; return Status::Ok();
      case 'n': out += '\n'; return Status::Ok();
      case 'r': out += '\r'; return Status::Ok();
      case 't': out += '\t'; return Status::Ok();
      case 'u': break;
      default: return Fail("Invalid escape");
    }
    uint32_t cp = 0;
    RETURN_IF_ERROR(ParseHex4(cp));
    if (cp >= 0xDC00 && cp <= 0xDFFF) return Fail("Lone low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (!Consume("\\u")) return Fail("Lone high surrogate");
      uint32_t lo = 0;
      RETURN_IF_ERROR(ParseHex4(lo));
      if (lo < 0xDC00 || lo > 0xDFFF) return Fail("Invalid surrogate pair");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    AppendUtf8(cp, out);
    return Status::Ok();
  }

  Status ParseString(std::string& out) {
    ++pos_;  // opening quote
    while (true) {
      size_t start = pos_;
      while (pos_ < s_.size()) {
        auto c = static_cast<unsigned char>(s_[pos_]);
        if (c == '"' || c == '\\' || c < 0x20) break;
        ++pos_;
      }
      out.append(s_.data() + start, pos_ - start);
      if (pos_ >= s_.size()) return Fail("Unterminated string");
      char c = s_[pos_++];
      if (c == '"') return Status::Ok();
      if (c != '\\') return Fail("Control character in string");
      RETURN_IF_ERROR(ParseEscape(out));
    }
  }

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  Status ParseNumber(Value& out) {
    size_t start = pos_;
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size() || !IsDigit(s_[pos_])) return Fail("Invalid value");
    if (s_[pos_] == '0') {
      ++pos_;
    } else {
      while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (pos_ >= s_.size() || !IsDigit(s_[pos_])) return Fail("Invalid number");
      while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= s_.size() || !IsDigit(s_[pos_])) return Fail("Invalid number");
      while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    if (integral) {
      int64_t i = 0;
      auto [p, ec] = std::from_chars(first, last, i);
      if (ec == std::errc() && p == last) {
        out = Value(i);
        return Status::Ok();
      }
    }
    double d = 0;
    auto [p, ec] = std::from_chars(first, last, d);
    if (ec != std::errc() || p != last || !std::isfinite(d)) return Fail("Number out of range");
    out = Value(d);
    return Status::Ok();
  }

  std::string_view s_;
  ParseLimits limits_;
  size_t pos_ = 0;
};

}  // namespace

Result<Value> Parse(std::string_view text, const ParseLimits& limits) {
  return Parser(text, limits).ParseDocument();
}

// Whether c must be escaped inside a JSON string.
constexpr bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

void WriteEscaped(unsigned char c, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    default:
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
  }
}

// Copies runs of characters that need no escape in one append each.
void WriteString(std::string_view s, std::string& out) {
  out += '"';
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (!NeedsEscape(c)) continue;
    out.append(s.data() + run, i - run);
    WriteEscaped(c, out);
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void Write(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Value::Kind::kNull:
      out += "null";
      return;
    case Value::Kind::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Kind::kInt: {
      char buf[24];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v.as_int());
      out.append(buf, p);
      return;
    }
    case Value::Kind::kDouble: {
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v.as_double());
      out.append(buf, p);
      return;
    }
    case Value::Kind::kString:
      WriteString(v.as_string(), out);
      return;
    case Value::Kind::kArray: {
      out += '[';
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first) out += ',';
        first = false;
        Write(e, out);
      }
      out += ']';
      return;
    }
    case Value::Kind::kObject: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : v.as_object()) {
        if (!first) out += ',';
        first = false;
        WriteString(k, out);
        out += ':';
        Write(e, out);
      }
      out += '}';
      return;
    }
  }
}

std::string Write(const Value& v) {
  std::string out;
  Write(v, out);
  return out;
}

}  // namespace rampart::json
