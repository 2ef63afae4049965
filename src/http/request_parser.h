// RequestParser: Beast's HTTP/1.1 request parser (basic_parser) feeding an
// http::Request directly, without the Beast message in between, whose
// field list allocates for every field. Beast does the parsing, the header
// and body limits and chunked decoding; this class keeps what it reports
// (not the trailer fields of a chunked body).
// Internal to the http floor; the fuzz target http_request_fuzz drives it.
//
// Thread-safety: none; one parser per request on one connection.
#pragma once

#include <cstdint>

#include <boost/beast/http/basic_parser.hpp>

#include "rampart/http/message.h"

namespace rampart::http::internal {

class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  using error_code = boost::system::error_code;
  using string_view = boost::beast::string_view;
  using verb = boost::beast::http::verb;

  RequestParser();

  Request& request() { return request_; }
  unsigned version() const { return version_; }
  verb method() const { return method_; }
  // Whether the request carried "Expect: 100-continue".
  bool expects_continue() const { return expect_continue_; }

 private:
  void on_request_impl(verb method, string_view method_str, string_view target, int version,
                       error_code& ec) override;
  void on_response_impl(int status, string_view reason, int version, error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, string_view name_str, string_view value,
                     error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<uint64_t>& length, error_code& ec) override;
  size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(uint64_t size, string_view extensions, error_code& ec) override;
  size_t on_chunk_body_impl(uint64_t remain, string_view body, error_code& ec) override;
  void on_finish_impl(error_code& ec) override;

  Request request_;
  unsigned version_ = 11;
  verb method_ = verb::unknown;
  bool expect_continue_ = false;
  bool head_done_ = false;  // later fields are chunked-body trailers
};

}  // namespace rampart::http::internal
