// The access log: one JSON object per line for every request or tunnel,
// appended with a single write(2) per line. Reopen (SIGUSR1) lets logrotate
// move the file away.
//
// Thread-safety: AccessLog is safe to use from every worker thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "rampart/core/clock.h"
#include "rampart/core/status.h"

namespace rampart::proxy {

struct AccessRecord {
  TimePoint time;              // when the request arrived
  std::string client;          // "ip:port"
  std::string method;          // "CONNECT", "GET", ...; empty if none was read
  std::string host;            // normalised when valid, else as sent
  uint16_t port = 0;
  std::string sni;             // tunnels: the ClientHello's server name
  std::string decision;        // "allow", "deny" or "error"
  std::string rule;            // the allow/deny entry that decided
  std::string client_rule;     // the client rule whose lists applied (empty: global)
  std::string client_cert;     // TLS listeners: the client certificate's name (see Session)
  std::string reason;          // why denied or failed
  std::string upstream;        // "ip:port" connected to
  std::string path;            // forwarded HTTP: the path, query removed (Squid format only)
  int status = 0;              // HTTP status given to the client (0: none)
  uint64_t bytes_up = 0;       // client -> upstream
  uint64_t bytes_down = 0;     // upstream -> client
  std::chrono::milliseconds duration{0};
};

// The JSON line, ending in '\n'. Strings are JSON-escaped, so a hostile
// host name cannot forge a second line.
std::string FormatAccessRecord(const AccessRecord& r);

// The same request in Squid's native access.log format, for existing
// tooling: "time.ms elapsed client code/status bytes method URL user hierarchy/peer -",
// where user is the client certificate's name ("-" without one), as Squid
// logs an SSL client name there.
// Codes: TCP_MISS (forwarded), TCP_TUNNEL (CONNECT or intercepted TLS),
// TCP_DENIED, NONE_NONE (malformed or failed before an upstream). Fields
// from the network are reduced to printable ASCII without spaces.
std::string FormatSquidRecord(const AccessRecord& r);

class AccessLog {
 public:
  AccessLog() = default;
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Opens (O_APPEND, 0640) path; an empty path disables the log. On
  // failure the previous file stays open.
  Status Open(const std::string& path);
  // Opens the same path again (after logrotate moved it).
  Status Reopen();
  void Write(std::string_view line);
  std::string path() const;
  // False while no file is open: callers may skip formatting lines.
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  int fd_ = -1;       // guarded by mu_
  std::string path_;  // guarded by mu_
  std::atomic<bool> enabled_{false};
};

}  // namespace rampart::proxy
