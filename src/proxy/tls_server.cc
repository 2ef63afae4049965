#include "tls_server.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>

namespace rampart::proxy {
namespace {

// PEM readers must never prompt for a passphrase on the terminal: an
// encrypted key is simply refused.
int NoPassword(char*, int, int, void*) { return -1; }

std::string OpenSslReason() {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "";
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? std::string(": ") + reason : "";
}

Status TlsKeyError(std::string_view key, std::string_view why) {
  return Status::Validation("config: tls." + std::string(key) + ": " + std::string(why));
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// The file's bytes in a memory BIO (files are read with a size bound
// rather than handed to OpenSSL's own file readers).
Result<BioPtr> ReadPemFile(const std::string& path, std::string_view key, std::string& storage) {
  auto text = ReadSmallFile(path, kMaxTlsFileBytes);
  if (!text.ok()) return TlsKeyError(key, text.status().message());
  storage = std::move(text).value();
  BioPtr bio(BIO_new_mem_buf(storage.data(), static_cast<int>(storage.size())));
  if (!bio) return TlsKeyError(key, "out of memory");
  return bio;
}

Status UseCertificateChain(SSL_CTX* ctx, const std::string& path) {
  std::string pem;
  ASSIGN_OR_RETURN(BioPtr bio, ReadPemFile(path, "cert_file", pem));
  X509* leaf = PEM_read_bio_X509_AUX(bio.get(), nullptr, NoPassword, nullptr);
  if (leaf == nullptr) return TlsKeyError("cert_file", "no PEM certificate in " + path + OpenSslReason());
  int ok = SSL_CTX_use_certificate(ctx, leaf);
  X509_free(leaf);
  if (ok != 1) return TlsKeyError("cert_file", "unusable certificate in " + path + OpenSslReason());
  while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      return TlsKeyError("cert_file", "unusable chain certificate in " + path + OpenSslReason());
    }
  }
  ERR_clear_error();  // the end of the file reads as an error
  return Status::Ok();
}

Status UsePrivateKey(SSL_CTX* ctx, const std::string& path) {
  std::string pem;
  ASSIGN_OR_RETURN(BioPtr bio, ReadPemFile(path, "key_file", pem));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr);
  // The key bytes are not needed any more, whatever happened.
  OPENSSL_cleanse(pem.data(), pem.size());
  if (key == nullptr) return TlsKeyError("key_file", "no unencrypted PEM private key in " + path + OpenSslReason());
  int ok = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  unsigned long e = ERR_peek_last_error();
  bool mismatch = ERR_GET_LIB(e) == ERR_LIB_X509 &&
                  (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH || ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
  if (ok != 1 && !mismatch) return TlsKeyError("key_file", "unusable private key in " + path + OpenSslReason());
  if (mismatch || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return TlsKeyError("key_file", "does not match the certificate in tls.cert_file");
  }
  return Status::Ok();
}

// The SHA-256 of a file's bytes in hex, for TlsServerContext::client_trust.
Result<std::string> HexSha256(std::string_view bytes, std::string_view key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    return TlsKeyError(key, "cannot hash the file" + OpenSslReason());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

// TlsServerContext::client_trust for a CA file's bytes (CRLs add to it).
Result<std::string> ClientTrust(std::string_view ca_pem, bool required) {
  ASSIGN_OR_RETURN(std::string digest, HexSha256(ca_pem, "client_ca_file"));
  return (required ? "required:" : "requested:") + digest;
}

// Trust anchors for client certificates, and the CA names sent in the
// CertificateRequest (so clients holding several certificates pick one
// of these CAs'). *trust gets TlsServerContext::client_trust.
Status UseClientCas(SSL_CTX* ctx, const std::string& path, bool required, std::string* trust) {
  std::string pem;
  ASSIGN_OR_RETURN(BioPtr bio, ReadPemFile(path, "client_ca_file", pem));
  ASSIGN_OR_RETURN(*trust, ClientTrust(pem, required));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  if (names == nullptr) return TlsKeyError("client_ca_file", "out of memory");
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr)) {
    bool ok = X509_STORE_add_cert(store, ca) == 1;
    X509_NAME* name = ok ? X509_NAME_dup(X509_get_subject_name(ca)) : nullptr;
    X509_free(ca);
    if (name == nullptr || sk_X509_NAME_push(names, name) <= 0) {
      X509_NAME_free(name);
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return TlsKeyError("client_ca_file", "unusable certificate in " + path + OpenSslReason());
    }
  }
  ERR_clear_error();
  if (sk_X509_NAME_num(names) == 0) {
    sk_X509_NAME_free(names);
    return TlsKeyError("client_ca_file", "no PEM certificate in " + path);
  }
  SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
  SSL_CTX_set_verify_depth(ctx, 8);
  return Status::Ok();
}

std::string NameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "(unprintable name)";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : "(empty name)";
}

std::string TimeText(const ASN1_TIME* t) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print_ex(bio.get(), t, ASN1_DTFLGS_ISO8601) != 1) return "(unprintable time)";
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(std::max(len, 0L)));
}

struct CertStackFree {
  void operator()(STACK_OF(X509)* s) const { sk_X509_pop_free(s, X509_free); }
};
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
using CrlPtr = std::unique_ptr<X509_CRL, CrlFree>;

// A CRL is usable when one of the client CAs issued it (same name, its
// signature verifies with that CA's key, the CA may sign CRLs) and it is
// current: OpenSSL would refuse every certificate it covers otherwise,
// so such a file rejects the config instead.
Status CheckCrl(X509_CRL* crl, STACK_OF(X509)* cas, const std::string& path) {
  const X509_NAME* issuer = X509_CRL_get_issuer(crl);
  std::string what = "the CRL from " + NameText(issuer) + " in " + path;
  bool named = false;
  X509* signer = nullptr;
  for (int i = 0; i < sk_X509_num(cas) && signer == nullptr; ++i) {
    X509* ca = sk_X509_value(cas, i);
    if (X509_NAME_cmp(X509_get_subject_name(ca), issuer) != 0) continue;
    named = true;
    if (X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1) signer = ca;
  }
  ERR_clear_error();
  if (!named) return TlsKeyError("client_crl_file", what + ": its issuer is not in tls.client_ca_file");
  if (signer == nullptr) return TlsKeyError("client_crl_file", what + ": its signature does not verify with the CA's key");
  if ((X509_get_extension_flags(signer) & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(signer) & KU_CRL_SIGN) == 0) {
    return TlsKeyError("client_crl_file", what + ": the CA's key usage does not allow signing CRLs");
  }
  if (X509_cmp_current_time(X509_CRL_get0_lastUpdate(crl)) > 0) {
    return TlsKeyError("client_crl_file", what + ": not valid before " + TimeText(X509_CRL_get0_lastUpdate(crl)));
  }
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl);
  if (next != nullptr && X509_cmp_current_time(next) < 0) {
    return TlsKeyError("client_crl_file", what + ": expired (next update was due " + TimeText(next) + ")");
  }
  return Status::Ok();
}

// Reads every PEM CRL of one file into the store; a file without one, or
// with one that does not parse or check, is an error.
Status AddCrlFile(X509_STORE* store, STACK_OF(X509)* cas, const std::string& path, std::string* trust) {
  auto text = ReadSmallFile(path, kMaxCrlFileBytes);
  if (!text.ok()) return TlsKeyError("client_crl_file", text.status().message());
  ASSIGN_OR_RETURN(std::string digest, HexSha256(*text, "client_crl_file"));
  *trust += ":crl:" + digest;
  BioPtr bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  if (!bio) return TlsKeyError("client_crl_file", "out of memory");
  size_t count = 0;
  ERR_clear_error();
  while (true) {
    CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, NoPassword, nullptr));
    if (!crl) break;
    RETURN_IF_ERROR(CheckCrl(crl.get(), cas, path));
    if (X509_STORE_add_crl(store, crl.get()) != 1) {
      return TlsKeyError("client_crl_file", "cannot use a CRL in " + path + OpenSslReason());
    }
    ++count;
  }
  // A clean end of the file reads as "no start line"; anything else is a
  // CRL that does not parse.
  unsigned long e = ERR_peek_last_error();
  bool clean_end = e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE);
  if (!clean_end) {
    return TlsKeyError("client_crl_file", "unreadable CRL (number " + std::to_string(count + 1) + ") in " + path +
                                              OpenSslReason());
  }
  ERR_clear_error();
  if (count == 0) return TlsKeyError("client_crl_file", "no PEM CRL (X509 CRL) in " + path);
  return Status::Ok();
}

// The CRLs of the client CAs; with them, every client certificate is
// checked against its issuer's CRL (the leaf only: CAs further up are
// trusted as listed in client_ca_file).
Status UseClientCrls(SSL_CTX* ctx, const std::vector<std::string>& paths, std::string* trust) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  std::unique_ptr<STACK_OF(X509), CertStackFree> cas(X509_STORE_get1_all_certs(store));
  if (!cas) return TlsKeyError("client_crl_file", "out of memory");
  for (const std::string& path : paths) RETURN_IF_ERROR(AddCrlFile(store, cas.get(), path, trust));
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_CRL_CHECK);
  return Status::Ok();
}

// Appends one certificate name if it can be a client-rule name.
void AddName(std::vector<std::string>& out, const unsigned char* data, int len) {
  if (data == nullptr || len <= 0 || static_cast<size_t>(len) > kMaxCertNameBytes || out.size() >= kMaxCertNames) {
    return;
  }
  std::string name(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
  for (char& c : name) {
    if (c <= 0x20 || c >= 0x7f) return;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
}

// Appends the certificate's DNS subjectAltNames in order; true when it
// has any, even ones AddName skips.
bool AddDnsSans(X509* cert, std::vector<std::string>& out) {
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans == nullptr) return false;
  bool any = false;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type != GEN_DNS) continue;
    any = true;
    AddName(out, ASN1_STRING_get0_data(g->d.dNSName), ASN1_STRING_length(g->d.dNSName));
  }
  GENERAL_NAMES_free(sans);
  return any;
}

// Appends the subject's last common name (the most specific one).
void AddLastCommonName(X509* cert, std::vector<std::string>& out) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    last = i;
  }
  if (last < 0) return;
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, last)));
  if (n >= 0) AddName(out, utf8, n);
  OPENSSL_free(utf8);
}

}  // namespace

Result<std::shared_ptr<const TlsServerContext>> TlsServerContext::Load(const TlsSettings& settings) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Status::Validation("config: tls: cannot create a TLS context" + OpenSslReason());
  std::shared_ptr<TlsServerContext> out(new TlsServerContext(ctx));  // frees ctx on every path
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Renegotiation is a CPU lever for clients; a peer's missing close_notify
  // is an ordinary end of stream here (HTTP framing and the tunnelled
  // TLS guard against truncation).
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Partial writes: ClientStream loops like async_write. Idle sessions
  // give their record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  static constexpr unsigned char kSessionContext[] = "rampart-proxy";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  RETURN_IF_ERROR(UseCertificateChain(ctx, settings.cert_file));
  RETURN_IF_ERROR(UsePrivateKey(ctx, settings.key_file));
  out->client_trust_ = "none";
  if (!settings.client_ca_file.empty()) {
    RETURN_IF_ERROR(UseClientCas(ctx, settings.client_ca_file, settings.require_client_cert, &out->client_trust_));
    out->requires_client_cert_ = settings.require_client_cert;
  }
  if (!settings.client_crl_files.empty()) {
    if (settings.client_ca_file.empty()) return TlsKeyError("client_crl_file", "needs tls.client_ca_file");
    RETURN_IF_ERROR(UseClientCrls(ctx, settings.client_crl_files, &out->client_trust_));
  }
  return std::shared_ptr<const TlsServerContext>(std::move(out));
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

std::vector<std::string> CertificateNames(X509* cert) {
  std::vector<std::string> out;
  if (cert == nullptr) return out;
  if (!AddDnsSans(cert, out)) AddLastCommonName(cert, out);
  ERR_clear_error();
  return out;
}

std::vector<std::string> PeerCertificateNames(SSL* ssl) {
  // Without SSL_VERIFY_PEER no certificate was asked for or checked.
  if (ssl == nullptr || (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) == 0) return {};
  if (SSL_get_verify_result(ssl) != X509_V_OK) return {};
  return CertificateNames(SSL_get0_peer_certificate(ssl));
}

std::string VerifyClientCertificate(const TlsServerContext& ctx, X509* leaf, STACK_OF(X509)* chain) {
  X509_STORE_CTX* verify = X509_STORE_CTX_new();
  if (verify == nullptr) return "out of memory";
  std::string why;
  if (X509_STORE_CTX_init(verify, SSL_CTX_get_cert_store(ctx.get()), leaf, chain) != 1) {
    why = "cannot set up the verification";
  } else {
    // As OpenSSL's server handshake does: client purpose, then the
    // context's parameters (depth, CRL checking).
    X509_STORE_CTX_set_default(verify, "ssl_client");
    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(verify), SSL_CTX_get0_param(ctx.get()));
    if (X509_verify_cert(verify) != 1) why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(verify));
    if (why.empty() && X509_STORE_CTX_get_error(verify) != X509_V_OK) why = "certificate does not verify";
  }
  X509_STORE_CTX_free(verify);
  ERR_clear_error();
  return why;
}

std::string ClientStandingLost(SSL* ssl, const TlsServerContext& handshake, const TlsServerContext* now) {
  if (now == &handshake) return "";
  if (now == nullptr) return "tls settings removed";
  if (now->client_trust() == handshake.client_trust()) return "";
  // Without SSL_VERIFY_PEER no certificate was asked for; a certificate
  // that did not verify would have failed the handshake.
  bool asked = ssl != nullptr && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0;
  X509* peer = asked && SSL_get_verify_result(ssl) == X509_V_OK ? SSL_get0_peer_certificate(ssl) : nullptr;
  if (peer == nullptr) return now->requires_client_cert() ? "a client certificate is now required" : "";
  if (!now->asks_client_cert()) return "client certificates are no longer asked for";
  return VerifyClientCertificate(*now, peer, SSL_get_peer_cert_chain(ssl));
}

ClientStanding::ClientStanding(std::shared_ptr<const TlsServerContext> handshake)
    : handshake_(std::move(handshake)), kept_under_(handshake_) {}

std::string ClientStanding::LostUnder(ssl_st* ssl, const std::shared_ptr<const TlsServerContext>& now) {
  // The weak reference keeps its control block, so a context freed since
  // can never compare equal to a new one at the same address.
  if (now != nullptr && kept_under_.lock() == now) return "";
  ++checks_;
  std::string why = ClientStandingLost(ssl, *handshake_, now.get());
  if (why.empty()) kept_under_ = now;
  return why;
}

}  // namespace rampart::proxy
