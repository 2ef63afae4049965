// Fuzzes IAM's SSH public key parser (UploadSSHPublicKey's body: an
// OpenSSH "ssh-rsa" line or a PEM RSA key). A key it accepts must come out
// the same when its own SSH and PEM renderings are parsed again.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "iam/iam_internal.h"
#include "rampart/core/check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using rampart::iam::internal::ParseSshPublicKey;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto key = ParseSshPublicKey(body);
  if (!key.ok()) return 0;
  RAMPART_CHECK(key->bits >= 2048);
  RAMPART_CHECK(key->fingerprint.size() == 47);
  for (const std::string& again : {key->ssh, key->pem}) {
    auto reparsed = ParseSshPublicKey(again);
    RAMPART_CHECK(reparsed.ok());
    RAMPART_CHECK(reparsed->fingerprint == key->fingerprint);
    RAMPART_CHECK(reparsed->bits == key->bits);
  }
  return 0;
}
