// Fuzzes IAM's SAML metadata check (CreateSAMLProvider and
// UpdateSAMLProvider's SAMLMetadataDocument, up to 10 MB from the caller):
// hand-written XML scanning, certificate parsing and xs:dateTime reading.
// It must answer or refuse, never crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "iam/iam_internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view document(reinterpret_cast<const char*>(data), size);
  (void)rampart::iam::internal::CheckSamlMetadata(document);
  (void)rampart::iam::internal::ParseXmlDateTime(document.substr(0, 64));
  return 0;
}
