// HTTP request and response as the rooms above the http floor see them.
// No Boost types here: Beast stays inside src/http/server.cc.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::http {

struct Header {
  std::string name;   // as received; compare case-insensitively
  std::string value;
};

struct Request {
  std::string method;          // "GET", "POST", ...
  std::string target;          // raw request-target: path[?query], still percent-encoded
  std::vector<Header> headers; // in arrival order, duplicates kept
  std::string body;
  std::string remote_ip;       // peer address, no port
  bool tls = false;
  // Over TLS: OpenSSL's names of the negotiated protocol ("TLSv1.3") and
  // cipher suite ("TLS_AES_256_GCM_SHA384"); static strings, empty over TCP.
  std::string_view tls_version{};
  std::string_view tls_cipher{};
  // Set by the server when the body exceeded the configured limit; body is
  // then empty and the dispatcher answers with a protocol-shaped error.
  bool body_too_large = false;

  std::string_view path() const;   // target before '?'
  std::string_view query() const;  // target after '?', or empty
  // First header with this name (ASCII case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
  // When true, the server closes the connection after writing.
  bool close = false;

  void set_header(std::string_view name, std::string_view value);
};

// Called on a worker thread for every complete request. Must not block for
// long: storage calls are fine, network waits are not.
using Handler = std::function<void(const Request&, Response&)>;

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace rampart::http
