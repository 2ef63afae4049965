#include "http/request_parser.h"

#include <algorithm>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

namespace rampart::http::internal {

namespace bhttp = boost::beast::http;

RequestParser::RequestParser() { request_.headers.reserve(16); }

void RequestParser::on_request_impl(verb method, string_view method_str, string_view target,
                                    int version, error_code&) {
  method_ = method;
  version_ = static_cast<unsigned>(version);
  request_.method.assign(method_str.data(), method_str.size());
  request_.target.assign(target.data(), target.size());
}

void RequestParser::on_response_impl(int, string_view, int, error_code& ec) {
  ec = bhttp::error::bad_method;  // a request parser never sees a status line
}

void RequestParser::on_field_impl(bhttp::field name, string_view name_str, string_view value,
                                  error_code&) {
  // Trailer fields of a chunked body are dropped: they would arrive after
  // the head that SigV4 signed and could add headers nobody signed.
  if (head_done_) return;
  request_.headers.push_back(
      {std::string(name_str.data(), name_str.size()), std::string(value.data(), value.size())});
  if (name == bhttp::field::expect && boost::beast::iequals(value, "100-continue")) {
    expect_continue_ = true;
  }
}

void RequestParser::on_header_impl(error_code&) { head_done_ = true; }

void RequestParser::on_body_init_impl(const boost::optional<uint64_t>& length, error_code&) {
  // The server refuses a length over its body limit before reading on; the
  // cap keeps a lying length from reserving much anyway.
  if (length) request_.body.reserve(static_cast<size_t>(std::min<uint64_t>(*length, 1u << 20)));
}

size_t RequestParser::on_body_impl(string_view body, error_code&) {
  request_.body.append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_chunk_header_impl(uint64_t, string_view, error_code&) {}

size_t RequestParser::on_chunk_body_impl(uint64_t, string_view body, error_code&) {
  request_.body.append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_finish_impl(error_code&) {}

}  // namespace rampart::http::internal
