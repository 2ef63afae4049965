// The OpenSSL side of the proxy's TLS listeners (tls_listen): the server
// context built from the config's PEM files, and the names of a verified
// client certificate that client rules are keyed by. Internal to
// src/proxy; OpenSSL types are only forward-declared here.
//
// Thread-safety: a TlsServerContext is immutable once loaded; OpenSSL
// lets every worker make sessions from one SSL_CTX at once.
// CertificateNames and PeerCertificateNames are pure.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rampart/core/status.h"
#include "rampart/proxy/config.h"

struct ssl_st;
struct ssl_ctx_st;
struct x509_st;

namespace rampart::proxy {

inline constexpr size_t kMaxTlsFileBytes = 1u << 20;  // each PEM file
inline constexpr size_t kMaxCertNames = 64;             // names taken from one certificate

class TlsServerContext {
 public:
  // Reads the files named in `settings` and builds the context: TLS 1.2
  // or later, no renegotiation, the certificate chain and key (which must
  // match), and with client_ca_file the client CAs, asked for on every
  // handshake (and required with require_client_cert). Errors name the key:
  // "config: tls.key_file: does not match the certificate".
  static Result<std::shared_ptr<const TlsServerContext>> Load(const TlsSettings& settings);

  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  ssl_ctx_st* get() const { return ctx_; }

  // What decides whether a client certificate verifies: "none" without
  // client CAs, else whether one is required and a SHA-256 of the CA
  // file's bytes. Two contexts with the same value accept the same client
  // certificates (the proxy's own certificate and key play no part), so a
  // connection's verified names stay valid across a reload exactly when
  // this stays the same.
  const std::string& client_trust() const { return client_trust_; }

 private:
  explicit TlsServerContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
  std::string client_trust_;
};

// A certificate's names for client rules, in matching order: its DNS
// subjectAltNames as they appear; only a certificate without any DNS
// subjectAltName is named by its subject's (last) common name instead
// (RFC 6125 / RFC 9525: a DNS-ID present makes the CN no identifier).
// Lowercased; names that are empty, longer than kMaxCertNameBytes or not
// printable ASCII without spaces are skipped, as are repeats; at most
// kMaxCertNames.
std::vector<std::string> CertificateNames(x509_st* cert);

// CertificateNames of the peer's certificate when the handshake verified
// it; empty when the peer sent none (or it was not verified).
std::vector<std::string> PeerCertificateNames(ssl_st* ssl);

}  // namespace rampart::proxy
