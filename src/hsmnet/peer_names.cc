#include "hsmnet/peer_names.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

namespace rampart::hsmnet {

Result<std::shared_ptr<X509_NAME>> ParseSubject(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::Validation("peer_subjects: \"" + std::string(text) + "\": " + std::string(why));
  };
  if (text.size() < 2 || text[0] != '/') return bad("must look like /CN=name");
  std::shared_ptr<X509_NAME> name(X509_NAME_new(), X509_NAME_free);
  if (!name) return Status::Internal("X509_NAME_new failed");
  std::string_view rest = text.substr(1);
  while (true) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    size_t eq = part.find('=');
    if (eq == 0 || eq == std::string_view::npos || eq + 1 == part.size()) {
      return bad("each attribute is TYPE=value with a non-empty value");
    }
    std::string type(part.substr(0, eq));
    std::string value(part.substr(eq + 1));
    if (OBJ_txt2nid(type.c_str()) == NID_undef) return bad("unknown attribute type " + type);
    if (X509_NAME_add_entry_by_txt(name.get(), type.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      return bad("bad value for " + type);
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return name;
}

Result<PeerNames> PeerNames::Parse(const std::vector<std::string>& subjects) {
  PeerNames out;
  for (const std::string& s : subjects) {
    ASSIGN_OR_RETURN(std::shared_ptr<X509_NAME> name, ParseSubject(s));
    out.names_.push_back(std::move(name));
  }
  return out;
}

bool PeerNames::Matches(const X509_NAME* subject) const {
  if (subject == nullptr) return false;
  for (const auto& name : names_) {
    if (X509_NAME_cmp(name.get(), subject) == 0) return true;
  }
  return false;
}

}  // namespace rampart::hsmnet
