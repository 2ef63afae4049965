// Status and Result<T>: the one error style of Rampart. No exceptions cross
// a room boundary; every fallible function returns one of these.
//
// A Status carries a generic ErrorCode (mapped to each wire protocol's AWS
// error code in exactly one table, src/core/error_table.cc) or, for errors a
// service model defines (e.g. IAM's NoSuchEntity), the name of that modeled
// error shape; the protocol layer looks the shape up in the service model
// for its wire code and HTTP status.
//
// Thread-safety: value types; safe to copy between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace rampart {

enum class ErrorCode : uint8_t {
  kOk = 0,
  kValidation,            // input violates the model or a service rule
  kSerialization,         // body is not parseable for the protocol
  kUnknownOperation,      // routing data names no operation of the service
  kNotImplemented,        // operation exists in the model, not in Rampart yet
  kMissingAction,         // query protocol: no Action parameter
  kInvalidQueryParameter, // malformed query/form encoding
  kMissingAuthentication, // no Authorization header nor presigned query
  kIncompleteSignature,   // Authorization header lacks parts
  kInvalidSignature,      // signature does not match
  kUnrecognizedClient,    // access key id unknown
  kRequestExpired,        // date outside the allowed skew or presign expired
  kExpiredToken,          // session token expired
  kInvalidToken,          // session token malformed or unknown
  kAccessDenied,          // authorization said no
  kNotFound,              // generic missing resource (no modeled error)
  kRequestTooLarge,       // body over the configured limit
  kUnknownService,        // credential scope names no service we serve
  kThrottling,
  kServiceModeled,        // a modeled error; see Status::modeled()
  kInternal,              // a bug or an environment failure; never details
  kUnavailable,           // storage or dependency temporarily unavailable
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status Error(ErrorCode code, std::string message) {
    return Status(code, std::move(message), {});
  }
  // An error whose wire code comes from the service model's error shape,
  // e.g. Modeled("NoSuchEntityException", "The user with name x cannot be found.").
  static Status Modeled(std::string_view shape_name, std::string message) {
    return Status(ErrorCode::kServiceModeled, std::move(message), std::string(shape_name));
  }
  static Status Validation(std::string message) {
    return Error(ErrorCode::kValidation, std::move(message));
  }
  static Status Internal(std::string message) {
    return Error(ErrorCode::kInternal, std::move(message));
  }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& modeled() const { return modeled_; }

  // For logs only (never sent to clients for kInternal).
  std::string ToString() const;

 private:
  Status(ErrorCode code, std::string message, std::string modeled)
      : code_(code), message_(std::move(message)), modeled_(std::move(modeled)) {}

  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  std::string modeled_;
};

// Result<T>: a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}     // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error, or an OK Status when a value is held.
  const Status& status() const& {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  Status status() && { return ok() ? Status() : std::get<Status>(std::move(v_)); }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define RAMPART_CONCAT_INNER(a, b) a##b
#define RAMPART_CONCAT(a, b) RAMPART_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::rampart::Status _st = (expr);           \
    if (!_st.ok()) return _st;                \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()

// ASSIGN_OR_RETURN(auto x, Foo()); binds x or returns Foo()'s error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(RAMPART_CONCAT(_res_, __LINE__), lhs, expr)

}  // namespace rampart
