// The OpenSSL side of the proxy's TLS listeners (tls_listen): the server
// context built from the config's PEM files, and the names of a verified
// client certificate that client rules are keyed by. Internal to
// src/proxy; OpenSSL types are only forward-declared here.
//
// Thread-safety: a TlsServerContext is immutable once loaded; OpenSSL
// lets every worker make sessions from one SSL_CTX at once.
// CertificateNames and PeerCertificateNames are pure; a ClientStanding
// belongs to one connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rampart/core/status.h"
#include "rampart/proxy/config.h"

struct ssl_st;
struct ssl_ctx_st;
struct x509_st;
struct stack_st_X509;

namespace rampart::proxy {

inline constexpr size_t kMaxTlsFileBytes = 1u << 20;  // each PEM file
inline constexpr size_t kMaxCrlFileBytes = 32u << 20;  // each CRL file (CRLs of big CAs run to megabytes)
inline constexpr size_t kMaxCertNames = 64;             // names taken from one certificate

class TlsServerContext {
 public:
  // Reads the files named in `settings` and builds the context: TLS 1.2
  // or later, no renegotiation, the certificate chain and key (which must
  // match), and with client_ca_file the client CAs, asked for on every
  // handshake (and required with require_client_cert). With
  // client_crl_files, their CRLs, each checked now (from one of the
  // client CAs, signed by it, current), and a client certificate's issuer
  // must have one that does not list it. Errors name the key:
  // "config: tls.key_file: does not match the certificate".
  static Result<std::shared_ptr<const TlsServerContext>> Load(const TlsSettings& settings);

  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  ssl_ctx_st* get() const { return ctx_; }

  // What decides whether a client certificate verifies: "none" without
  // client CAs, else whether one is required and SHA-256s of the CA
  // file's and the CRL files' bytes. Two contexts with the same value
  // accept the same client certificates (the proxy's own certificate and
  // key play no part), so a connection's verified names surely stay valid
  // across a reload when this stays the same (see ClientStandingLost).
  const std::string& client_trust() const { return client_trust_; }
  bool asks_client_cert() const { return client_trust_ != "none"; }
  bool requires_client_cert() const { return requires_client_cert_; }

 private:
  explicit TlsServerContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
  std::string client_trust_;
  bool requires_client_cert_ = false;
};

// Verifies a client certificate (with the untrusted chain the client
// sent, may be null) as `ctx`'s handshakes do: its client CAs and CRLs,
// depth, purpose, the current time. "" when it verifies, else OpenSSL's
// reason ("certificate revoked", "unable to get local issuer
// certificate").
std::string VerifyClientCertificate(const TlsServerContext& ctx, x509_st* leaf, stack_st_X509* chain);

// Whether a TLS connection whose handshake ran under `handshake` keeps
// its client standing under `now` (a reloaded config's context; null when
// the config has no TLS settings any more): "" when it does, else why
// not. The same context, or one with the same client_trust, keeps it.
// Otherwise a connection without a verified certificate keeps it unless
// one is now required; one with a verified certificate keeps it only if
// `now` still asks for certificates and the certificate verifies under
// `now` (so a CRL listing it, or its CA gone from the bundle, ends it,
// while a reissued CRL or an added CA does not).
std::string ClientStandingLost(ssl_st* ssl, const TlsServerContext& handshake, const TlsServerContext* now);

// One TLS connection's client standing across reloads: the context its
// handshake ran under, and the context its certificate (or its lack of
// one) last kept its standing under. LostUnder runs ClientStandingLost
// only when asked about another context than that one, so after a
// trust-changing reload a keep-alive connection verifies its certificate
// once, not on every later request, and a repeated review of a tunnel
// under the same context costs nothing. (Like the handshake's own
// verification, a standing once established under a context is not
// re-checked as time passes: only a new context checks it again.)
// Thread-safety: none; it belongs to one connection on one worker.
class ClientStanding {
 public:
  explicit ClientStanding(std::shared_ptr<const TlsServerContext> handshake);

  // ClientStandingLost(ssl, handshake, now): "" when the connection keeps
  // its standing under `now` (null: no TLS settings any more), else why
  // not. A standing kept is remembered for `now` (weakly: an old context
  // is not kept alive by it).
  std::string LostUnder(ssl_st* ssl, const std::shared_ptr<const TlsServerContext>& now);

  const TlsServerContext& handshake() const { return *handshake_; }
  // How many times LostUnder had to run ClientStandingLost (for tests).
  uint64_t checks() const { return checks_; }

 private:
  std::shared_ptr<const TlsServerContext> handshake_;  // never null
  std::weak_ptr<const TlsServerContext> kept_under_;   // the last context the standing held under
  uint64_t checks_ = 0;
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
