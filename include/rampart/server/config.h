// Server configuration: defaults, overridden by a JSON config file, then by
// command-line flags. Immutable once the server starts; shared read-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rampart/core/status.h"

namespace rampart::server {

struct Config {
  std::string data_dir = "./data";
  std::string host = "127.0.0.1";
  uint16_t port = 4566;
  bool dev = false;                      // insecure local-development mode
  std::vector<std::string> regions = {"us-east-1"};
  unsigned threads = 0;                  // 0 = one per core
  size_t body_limit = 1 << 20;           // bytes
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds drain_timeout{10000};
  std::string tls_cert_file;             // both set = HTTPS
  std::string tls_key_file;
  std::string log_level = "info";

  bool tls() const { return !tls_cert_file.empty() && !tls_key_file.empty(); }
  bool ServesRegion(std::string_view region) const;
};

// Applies a JSON config file over cfg. Unknown keys are errors (a typo in a
// security setting must not pass silently).
Status LoadConfigFile(const std::string& path, Config& cfg);
// Parses "host:port" or "[v6]:port".
Status ParseListen(std::string_view listen, Config& cfg);
// Checks cross-field rules (e.g. --dev only on loopback).
Status Validate(const Config& cfg);

}  // namespace rampart::server
