#include "tls_server.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>

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

// TlsServerContext::client_trust for a CA file's bytes.
Result<std::string> ClientTrust(std::string_view ca_pem, bool required) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(ca_pem.data(), ca_pem.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    return TlsKeyError("client_ca_file", "cannot hash the file" + OpenSslReason());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = required ? "required:" : "requested:";
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
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

}  // namespace rampart::proxy
