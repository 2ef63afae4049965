// Reads the server name (SNI, RFC 6066 section 3) from the first flight of
// a TLS client, without decrypting anything: TLS records (RFC 8446 section
// 5.1) carrying one ClientHello handshake message (section 4.1.2), which may
// be fragmented over several records.
//
// The parser is incremental in the simplest way: call it again with all the
// bytes received so far until it stops saying kNeedMore. Callers bound the
// bytes they are willing to buffer (kMaxClientHelloFlight) and the time.
//
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rampart::proxy {

// Bytes of records a ClientHello may take; larger first flights are refused.
inline constexpr size_t kMaxClientHelloFlight = 32 * 1024;

struct ClientHelloInfo {
  enum class Outcome {
    kNeedMore,   // valid so far, incomplete
    kNotTls,     // the first bytes are not a TLS handshake record
    kMalformed,  // a TLS record or ClientHello that violates the format
    kTooLarge,   // over kMaxClientHelloFlight
    kOk,
  };
  Outcome outcome = Outcome::kNeedMore;
  bool has_sni = false;
  std::string sni;           // the host_name as sent (not normalised)
  bool has_ech = false;      // encrypted_client_hello present (outer SNI only)
  std::string error;         // for kMalformed: what was wrong (for logs)
};

ClientHelloInfo ParseClientHello(std::string_view bytes);

const char* OutcomeName(ClientHelloInfo::Outcome o);

}  // namespace rampart::proxy
