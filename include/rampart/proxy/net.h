// IP addresses, CIDR blocks and the address classes the proxy refuses to
// reach (SSRF protection). Pure values; no sockets here.
//
// Thread-safety: value types; immutable after construction.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/status.h"

namespace rampart::proxy {

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4 bytes

  size_t size() const { return v6 ? 16 : 4; }
  bool operator==(const IpAddress&) const = default;
  // Canonical text (inet_ntop): "192.0.2.1", "2001:db8::1".
  std::string ToString() const;
};

// Strict literal parsing: dotted-quad IPv4 or RFC 4291 IPv6 text (no
// brackets, no zone id). nullopt otherwise.
std::optional<IpAddress> ParseIp(std::string_view text);

struct Cidr {
  IpAddress base;  // host bits are zero
  int prefix = 0;

  bool Contains(const IpAddress& a) const;
  std::string ToString() const;
};

// "a.b.c.d/n" or "v6/n"; a bare address means /32 or /128. Host bits set
// below the prefix are an error (a typo in a security rule must not widen
// or shift it silently).
Result<Cidr> ParseCidr(std::string_view text);

bool AnyContains(const std::vector<Cidr>& blocks, const IpAddress& a);

// Why an address is not a public unicast destination, or nullptr when it
// is public: "loopback", "private", "link-local", "cgnat", "multicast",
// "unspecified", "reserved", "ipv4-mapped", "documentation", "translation"...
// (RFC 6890 special-purpose registries, plus deprecated tunnelling ranges
// that can embed an internal IPv4 address).
const char* NonPublicReason(const IpAddress& a);

struct HostPort {
  std::string host;  // IP literal without brackets, or a name as written
  uint16_t port = 0;
};

// "host:port" or "[v6]:port" with a port in 1..65535.
Result<HostPort> ParseHostPort(std::string_view text);

}  // namespace rampart::proxy
