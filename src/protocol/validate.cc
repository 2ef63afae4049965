// Generic input validation from the model's constraints, with AWS's
// wording ("N validation errors detected: Value 'x' at 'path' failed to
// satisfy constraint: Member must ...").
#include <re2/re2.h>

#include <charconv>
#include <memory>
#include <mutex>

#include "rampart/protocol/internal.h"

namespace rampart::protocol::internal {
namespace {

constexpr size_t kMaxReported = 10;

// One lazily compiled pattern. Compilation happens once per process
// (std::call_once); afterwards reads are lock-free.
struct PatternSlot {
  std::once_flag once;
  std::unique_ptr<RE2> re;  // null when RE2 rejects the translated pattern
};

PatternSlot* Slots() {
  static PatternSlot* slots = new PatternSlot[gen::Patterns().size()];  // lives forever
  return slots;
}

const RE2* CompiledPattern(int32_t index) {
  PatternSlot& slot = Slots()[index];
  std::call_once(slot.once, [&slot, index] {
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_unique<RE2>(TranslatePattern(gen::Patterns()[index]), options);
    if (re->ok()) slot.re = std::move(re);
  });
  return slot.re.get();
}

// Java's String.length(): UTF-16 code units. Four-byte UTF-8 sequences are
// surrogate pairs (two units); continuation bytes count nothing.
int64_t Utf16Length(std::string_view s) {
  int64_t n = 0;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c & 0xC0) != 0x80) ++n;
    if (c >= 0xF0) ++n;
  }
  return n;
}

std::string NumberText(const json::Value& v) {
  char buf[32];
  auto [p, ec] = v.is_int() ? std::to_chars(buf, buf + sizeof buf, v.as_int())
                            : std::to_chars(buf, buf + sizeof buf, v.as_double());
  return std::string(buf, p);
}

class Validator {
 public:
  explicit Validator(const ServiceModel& service) : service_(service) {}

  void Structure(const ShapeModel& shape, const json::Value& v, size_t depth) {
    if (depth > kMaxDepth || !v.is_object()) return;
    for (const MemberModel& m : service_.members_of(shape)) {
      size_t mark = path_.size();
      AppendMemberPath(path_, m.name);
      const json::Value* mv = v.find(m.name);
      if (mv == nullptr || mv->is_null()) {
        if (m.required()) Fail("null", "Member must not be null");
      } else {
        Any(service_.shape(m.shape), *mv, depth + 1);
      }
      path_.resize(mark);
    }
  }

  Status Finish() const {
    if (count_ == 0) return Status::Ok();
    std::string msg = std::to_string(count_);
    msg += count_ == 1 ? " validation error detected: " : " validation errors detected: ";
    msg += details_;
    return Status::Validation(std::move(msg));
  }

 private:
  void Any(const ShapeModel& shape, const json::Value& v, size_t depth) {
    switch (shape.type) {
      case ShapeType::kStructure:
        return Structure(shape, v, depth);
      case ShapeType::kList:
        return List(shape, v, depth);
      case ShapeType::kMap:
        return Map(shape, v, depth);
      case ShapeType::kString:
        return String(shape, v);
      case ShapeType::kBlob:
        if (v.is_string()) Length(shape, static_cast<int64_t>(v.as_string().size()), v);
        return;
      case ShapeType::kInteger:
      case ShapeType::kLong:
      case ShapeType::kFloat:
      case ShapeType::kDouble:
        return Number(shape, v);
      case ShapeType::kBoolean:
      case ShapeType::kTimestamp:
        return;
    }
  }

  void List(const ShapeModel& shape, const json::Value& v, size_t depth) {
    if (!v.is_array() || depth > kMaxDepth) return;
    Length(shape, static_cast<int64_t>(v.as_array().size()), v);
    const ShapeModel& element = service_.shape(service_.members_of(shape)[0].shape);
    size_t index = 0;
    for (const json::Value& e : v.as_array()) {
      size_t mark = path_.size();
      AppendListPath(path_, ++index);
      Any(element, e, depth + 1);
      path_.resize(mark);
    }
  }

  void Map(const ShapeModel& shape, const json::Value& v, size_t depth) {
    if (!v.is_object() || depth > kMaxDepth) return;
    Length(shape, static_cast<int64_t>(v.as_object().size()), v);
    auto kv = service_.members_of(shape);
    const ShapeModel& key_shape = service_.shape(kv[0].shape);
    const ShapeModel& value_shape = service_.shape(kv[1].shape);
    size_t index = 0;
    for (const auto& [key, e] : v.as_object()) {
      size_t mark = path_.size();
      AppendMapPath(path_, ++index, true);
      String(key_shape, json::Value(key));
      path_.resize(mark);
      AppendMapPath(path_, index, false);
      Any(value_shape, e, depth + 1);
      path_.resize(mark);
    }
  }

  void String(const ShapeModel& shape, const json::Value& v) {
    if (!v.is_string()) return;
    const std::string& s = v.as_string();
    Length(shape, Utf16Length(s), v);
    if (shape.pattern >= 0) {
      const RE2* re = CompiledPattern(shape.pattern);
      if (re != nullptr && !RE2::FullMatch(s, *re)) {
        Fail(EchoOf(shape, v), "Member must satisfy regular expression pattern: " +
                                   std::string(gen::Patterns()[shape.pattern]));
      }
    }
    Enum(shape, v);
  }

  void Enum(const ShapeModel& shape, const json::Value& v) {
    auto values = service_.enum_of(shape);
    if (values.empty()) return;
    for (std::string_view e : values) {
      if (e == v.as_string()) return;
    }
    std::string constraint = "Member must satisfy enum value set: [";
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) constraint += ", ";
      constraint.append(values[i]);
    }
    constraint += ']';
    Fail(EchoOf(shape, v), constraint);
  }

  void Length(const ShapeModel& shape, int64_t length, const json::Value& v) {
    if (shape.has(kShapeHasMin) && length < shape.min) {
      Fail(EchoOf(shape, v),
           "Member must have length greater than or equal to " + std::to_string(shape.min));
    }
    if (shape.has(kShapeHasMax) && length > shape.max) {
      Fail(EchoOf(shape, v),
           "Member must have length less than or equal to " + std::to_string(shape.max));
    }
  }

  void Number(const ShapeModel& shape, const json::Value& v) {
    if (!v.is_number()) return;
    bool below =
        v.is_int() ? v.as_int() < shape.min : v.as_double() < static_cast<double>(shape.min);
    bool above =
        v.is_int() ? v.as_int() > shape.max : v.as_double() > static_cast<double>(shape.max);
    if (shape.has(kShapeHasMin) && below) {
      Fail(EchoOf(shape, v),
           "Member must have value greater than or equal to " + std::to_string(shape.min));
    }
    if (shape.has(kShapeHasMax) && above) {
      Fail(EchoOf(shape, v),
           "Member must have value less than or equal to " + std::to_string(shape.max));
    }
  }

  // The quoted value for the message, or empty (value omitted) for
  // sensitive shapes and values with no short textual form.
  std::string EchoOf(const ShapeModel& shape, const json::Value& v) const {
    if (shape.has(kShapeSensitive)) return std::string();
    if (shape.type == ShapeType::kString && v.is_string()) return Echo(v.as_string());
    if (v.is_number()) return Echo(NumberText(v));
    return std::string();
  }

  void Fail(std::string_view echo, std::string_view constraint) {
    if (++count_ > kMaxReported) return;
    if (!details_.empty()) details_ += "; ";
    details_ += "Value ";
    if (!echo.empty()) {
      details_.append(echo);
      details_ += ' ';
    }
    details_ += "at '";
    details_ += path_;
    details_ += "' failed to satisfy constraint: ";
    details_.append(constraint);
  }

  const ServiceModel& service_;
  std::string path_;
  std::string details_;
  size_t count_ = 0;
};

// Java regex names without an RE2 spelling of their own.
struct PosixClass {
  std::string_view java;
  std::string_view posix;
};
constexpr PosixClass kPosixClasses[] = {
    {"Alpha", "alpha"}, {"Digit", "digit"}, {"Alnum", "alnum"},   {"Upper", "upper"},
    {"Lower", "lower"}, {"Punct", "punct"}, {"Graph", "graph"},   {"Print", "print"},
    {"Blank", "blank"}, {"Cntrl", "cntrl"}, {"XDigit", "xdigit"}, {"Space", "space"},
    {"ASCII", "ascii"},
};

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Rewrites one escape at java[i] ('\\'); returns the bytes consumed.
size_t TranslateEscape(std::string_view java, size_t i, bool in_class, std::string& out) {
  std::string_view rest = java.substr(i);
  if (rest.size() >= 6 && rest[1] == 'u' && IsHex(rest[2]) && IsHex(rest[3]) && IsHex(rest[4]) &&
      IsHex(rest[5])) {
    out += "\\x{";
    out.append(rest.substr(2, 4));
    out += '}';
    return 6;
  }
  if (rest.size() >= 4 && (rest[1] == 'p' || rest[1] == 'P') && rest[2] == '{') {
    size_t close = rest.find('}');
    std::string_view name = close == std::string_view::npos ? "" : rest.substr(3, close - 3);
    for (const PosixClass& c : kPosixClasses) {
      if (c.java != name) continue;
      std::string cls = std::string(rest[1] == 'P' ? "[:^" : "[:") + std::string(c.posix) + ":]";
      out += in_class ? cls : "[" + cls + "]";
      return close + 1;
    }
  }
  out.append(rest.substr(0, rest.size() >= 2 ? 2 : 1));
  return rest.size() >= 2 ? 2 : 1;
}

}  // namespace

std::string TranslatePattern(std::string_view java) {
  std::string out;
  out.reserve(java.size() + 8);
  int class_depth = 0;
  for (size_t i = 0; i < java.size();) {
    char c = java[i];
    if (c == '\\') {
      i += TranslateEscape(java, i, class_depth > 0, out);
      continue;
    }
    if (c == '[') ++class_depth;
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
    ++i;
  }
  return out;
}

Status Validate(const ServiceModel& service, const ShapeModel& shape, const json::Value& input) {
  Validator v(service);
  v.Structure(shape, input, 0);
  return v.Finish();
}

bool IsPatternSkipped(int32_t index) { return CompiledPattern(index) == nullptr; }

PatternStats CompileAllPatterns() {
  PatternStats stats;
  stats.total = gen::Patterns().size();
  for (size_t i = 0; i < stats.total; ++i) {
    if (CompiledPattern(static_cast<int32_t>(i)) == nullptr) ++stats.skipped;
  }
  return stats;
}

}  // namespace rampart::protocol::internal
