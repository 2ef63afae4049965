// Host names as the proxy compares them, and the allow/deny matcher.
//
// Normal form: lowercase ASCII, no trailing dot, every label 1..63 bytes
// of [a-z0-9_-] (no leading/trailing '-'), at most 253 bytes. Labels with
// non-ASCII UTF-8 become A-labels ("xn--" + RFC 3492 Punycode) after ASCII
// lowercasing; no Unicode case folding or NFC mapping (UTS #46) is done,
// so configs should write IDNs in lowercase NFC or as A-labels. IP
// literals normalise to their canonical text (IPv6 without brackets).
//
// Thread-safety: DomainMatcher is immutable after Build and safe to share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "rampart/core/status.h"

namespace rampart::proxy {

// Punycode (RFC 3492 section 6.3) of a sequence of code points, without
// the "xn--" prefix. Fails on overflow.
Result<std::string> PunycodeEncode(const std::vector<uint32_t>& code_points);
// Strict UTF-8 decoding (no overlongs, surrogates or values over U+10FFFF).
Result<std::vector<uint32_t>> DecodeUtf8(std::string_view text);

// A normalised host: a DNS name, or an IP literal.
struct Host {
  std::string name;
  bool is_ip = false;
};

// Normalises a host as written in a URL, Host header, CONNECT target, SNI
// or config entry. "[::1]" is accepted; a trailing dot is dropped.
Result<Host> NormalizeHost(std::string_view text);

struct MatchResult {
  bool allowed = false;
  std::string rule;    // the config entry that decided, e.g. ".example.com"
  std::string reason;  // for denials: "denylist" or "not in allowlist"
};

// Exact entries ("a.example.com") and suffix entries (".example.com",
// matching the domain itself and every subdomain). Lookup hashes each
// suffix of the host at a label boundary: cost grows with the host's
// label count, never with the list size. The denylist wins.
class DomainMatcher {
 public:
  // Entries are normalised here; a bad entry fails with its index.
  static Result<DomainMatcher> Build(const std::vector<std::string>& allow,
                                     const std::vector<std::string>& deny);

  // REQUIRES: host is normalised (NormalizeHost).
  MatchResult Match(const Host& host) const;

  size_t size() const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Set = std::unordered_set<std::string, Hash, std::equal_to<>>;
  struct Rules {
    Set exact;
    Set suffix;  // stored without the leading dot
  };
  static Status AddEntries(const std::vector<std::string>& entries, const char* list,
                           Rules& rules);
  static bool Lookup(const Rules& rules, const Host& host, std::string& rule);

  Rules allow_;
  Rules deny_;
};

}  // namespace rampart::proxy
