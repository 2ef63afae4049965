// Fuzzes the KMS ciphertext blob parser (and the AES-GCM open that follows
// it on the Decrypt path) and the encryption-context reader. Invariants:
// a parsed blob re-encodes to the same header bytes, header + body is the
// whole input, the body can hold a nonce and tag; opening a forged body
// under a fixed key never succeeds.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rampart/core/check.h"
#include "rampart/core/json.h"
#include "rampart/crypto/aead.h"
#include "rampart/kms/ciphertext.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rampart;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = kms::ParseBlob(input);
  if (parsed.ok()) {
    RAMPART_CHECK(kms::EncodeBlobHeader(parsed->header) == parsed->header_bytes);
    RAMPART_CHECK(parsed->header_bytes.size() + parsed->sealed.size() == input.size());
    RAMPART_CHECK(parsed->sealed.size() >= kms::kBlobSealedMin);
    RAMPART_CHECK(parsed->header.material_version >= 1);
    static const SecretBytes key(std::string(32, '\x42'));
    auto opened = crypto::AeadOpen(key, parsed->sealed, std::string(parsed->header_bytes));
    RAMPART_CHECK(!opened.ok());
  } else {
    RAMPART_CHECK(parsed.status().modeled() == "InvalidCiphertextException");
  }
  // The same bytes as an EncryptionContext JSON map.
  auto doc = json::Parse(input);
  if (doc.ok()) {
    auto context = kms::ReadEncryptionContext(&*doc);
    if (context.ok()) {
      std::string canonical = kms::CanonicalContext(*context);
      RAMPART_CHECK(canonical.size() >= 4);
    }
  }
  return 0;
}
