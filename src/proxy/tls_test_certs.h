// Certificates for the proxy's TLS unit tests, made with OpenSSL in
// memory: P-256 keys, self-signed or CA-signed certificates with given
// common names and subjectAltNames. Test-only (included by *_test.cc).
//
// Thread-safety: pure functions.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

namespace rampart::proxy::tls_test {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* c) const { X509_free(c); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

inline void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  ASSERT_NE(ext, nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A P-256 certificate with the given subject entries (CN may repeat) and
// subjectAltName text, signed by issuer (or itself).
inline CertPtr MakeCert(EVP_PKEY* key, const std::vector<std::string>& cns, const std::string& san, X509* issuer = nullptr,
                 EVP_PKEY* issuer_key = nullptr, bool ca = false) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& cn : cns) {
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.data()),
                               static_cast<int>(cn.size()), -1, 0);
  }
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  if (!san.empty()) AddExtension(cert.get(), signer, NID_subject_alt_name, san);
  if (ca) AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
  X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return cert;
}

inline KeyPtr NewKey() { return KeyPtr(EVP_EC_gen("P-256")); }

}  // namespace rampart::proxy::tls_test
