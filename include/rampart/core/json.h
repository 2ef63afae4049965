// A small JSON document model, a bounded parser and a writer.
//
// Value is the generic shape of every decoded AWS input and every output a
// handler builds, whatever the wire protocol: the protocol layer decodes
// JSON bodies, query/form parameters and rest-json bindings into a Value and
// serialises a Value back out, guided by the service model.
//
// Blob members hold raw bytes in a String; timestamps hold epoch seconds as
// Int or Double. Objects keep insertion order (small, and the wire order of
// outputs follows the model anyway).
//
// Thread-safety: value types.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rampart/core/status.h"

namespace rampart::json {

class Value;
using Member = std::pair<std::string, Value>;
using Array = std::vector<Value>;
using Object = std::vector<Member>;

class Value {
 public:
  enum class Kind : uint8_t { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

  Value() = default;
  Value(std::nullptr_t) {}                                    // NOLINT
  Value(bool b) : kind_(Kind::kBool), int_(b) {}              // NOLINT
  Value(int i) : kind_(Kind::kInt), int_(i) {}                // NOLINT
  Value(int64_t i) : kind_(Kind::kInt), int_(i) {}            // NOLINT
  Value(uint32_t i) : kind_(Kind::kInt), int_(i) {}           // NOLINT
  Value(double d) : kind_(Kind::kDouble), double_(d) {}       // NOLINT
  Value(std::string s) : kind_(Kind::kString), str_(std::move(s)) {}  // NOLINT
  Value(std::string_view s) : kind_(Kind::kString), str_(s) {}       // NOLINT
  Value(const char* s) : kind_(Kind::kString), str_(s) {}            // NOLINT
  Value(Array a);   // NOLINT
  Value(Object o);  // NOLINT

  Value(const Value& other);
  Value(Value&& other) noexcept = default;
  Value& operator=(const Value& other);
  Value& operator=(Value&& other) noexcept = default;
  ~Value() = default;

  static Value MakeArray() { return Value(Array{}); }
  static Value MakeObject() { return Value(Object{}); }

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_double() const { return kind_ == Kind::kDouble; }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  // Accessors. REQUIRES: the matching kind (checked; a wrong kind aborts,
  // so callers test kinds of untrusted data first).
  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;  // also converts kInt
  const std::string& as_string() const;
  std::string& as_string();
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object helpers. find returns nullptr when absent or not an object.
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  // Sets key (replacing an existing one). REQUIRES: is_object() or is_null()
  // (a null becomes an empty object first).
  Value& set(std::string_view key, Value v);
  // Appends. REQUIRES: is_array() or is_null().
  Value& push(Value v);

  // Convenience for handlers: string member or empty view.
  std::string_view get_string(std::string_view key) const;

  bool operator==(const Value& other) const;

 private:
  Kind kind_ = Kind::kNull;
  int64_t int_ = 0;
  double double_ = 0;
  std::string str_;
  std::unique_ptr<Array> arr_;
  std::unique_ptr<Object> obj_;
};

struct ParseLimits {
  size_t max_depth = 64;
  size_t max_bytes = 16 * 1024 * 1024;
};

// Parses one JSON text (RFC 8259). Rejects trailing data, invalid UTF-8
// escapes, lone surrogates, numbers out of range and nesting over the limit,
// with ErrorCode::kSerialization.
Result<Value> Parse(std::string_view text, const ParseLimits& limits = {});

// Compact serialisation. Strings are escaped per RFC 8259; non-ASCII UTF-8
// passes through. Doubles use the shortest round-trip form.
void Write(const Value& v, std::string& out);
std::string Write(const Value& v);
// Appends s as a quoted JSON string.
void WriteString(std::string_view s, std::string& out);

}  // namespace rampart::json
