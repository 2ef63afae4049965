// PeerNames: the certificate subjects of the peer nodes (the server
// config's `peer_subjects`), and the check of a client certificate
// against them.
//
// The config keeps OpenSSL's one-line form, "/CN=node-a/O=Example": a '/'
// starts each attribute, "TYPE=value" (a short or long name, or a dotted
// OID). Values cannot contain '/'. Each entry is parsed once into an
// X509_NAME, and a certificate matches when its whole subject equals one
// of them by X509_NAME_cmp (its canonical form: attribute order matters,
// case and repeated spaces in values do not). So there is no truncation
// and no text a crafted subject could forge: "CN=a/O=b" as one CN value
// is not the two attributes /CN=a/O=b.
//
// Thread-safety: immutable after Parse; Matches may run concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/status.h"

typedef struct X509_name_st X509_NAME;

namespace rampart::hsmnet {

class PeerNames {
 public:
  PeerNames() = default;
  // kValidation naming the bad entry.
  static Result<PeerNames> Parse(const std::vector<std::string>& subjects);

  // Whether subject (a certificate's) is one of the names.
  bool Matches(const X509_NAME* subject) const;
  bool empty() const { return names_.empty(); }

 private:
  std::vector<std::shared_ptr<X509_NAME>> names_;
};

// Parses one "/TYPE=value/..." subject; kValidation when malformed.
Result<std::shared_ptr<X509_NAME>> ParseSubject(std::string_view text);

}  // namespace rampart::hsmnet
