// The root key under an HSM token (include/rampart/hsm/root_key.h).
//
// root.key.hsm: magic "RKH1" | IV (12) | AES-256-GCM ciphertext of the 32
// key bytes and tag (48), associated data "rampart root key v1".
#include "rampart/hsm/root_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "rampart/core/log.h"
#include "rampart/crypto/random.h"
#include "rampart/hsm/backends.h"
#include "rampart/server/identity.h"

namespace rampart::hsm {
namespace {

constexpr std::string_view kMagic = "RKH1";
constexpr std::string_view kAad = "rampart root key v1";
constexpr size_t kRootKeySize = 32;
constexpr size_t kSealedSize = kMagic.size() + pkcs11::kGcmIvSize + kRootKeySize + pkcs11::kGcmTagSize;

std::string PathIn(const std::string& dir, std::string_view name) { return dir + "/" + std::string(name); }

// Reads a whole small file that only its owner may read.
Result<SecretBytes> ReadPrivateFile(const std::string& path, size_t size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::Internal("cannot open " + path);
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO)) == 0;
  SecretBytes buf(size + 1);
  ssize_t n = ok ? ::read(fd, buf.mutable_data(), size + 1) : -1;
  ::close(fd);
  if (!ok) return Status::Validation(path + " must be a regular file of mode 0600");
  if (n != static_cast<ssize_t>(size)) return Status::Validation(path + " has the wrong size");
  return SecretBytes(buf.reveal().substr(0, size));
}

Status WritePrivateFile(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::Internal("cannot create " + path);
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return Status::Internal("cannot write " + path);
  }
  return Status::Ok();
}

// Overwrites the old plaintext key file with zeros before removing it.
Status WipeAndRemove(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::Internal("cannot open " + path + " to wipe it");
  std::string zeros(kRootKeySize, '\0');
  bool ok = ::write(fd, zeros.data(), zeros.size()) == static_cast<ssize_t>(zeros.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::unlink(path.c_str()) != 0) return Status::Internal("cannot wipe " + path);
  return Status::Ok();
}

Result<pkcs11::KeyRef> FindOrCreateTokenKey(pkcs11::Token& token, std::string_view label) {
  Result<pkcs11::KeyRef> found = token.FindKeyByLabel(label);
  if (found.ok() || found.status().code() != ErrorCode::kNotFound) return found;
  pkcs11::KeySpec spec;
  spec.algorithm = pkcs11::KeyAlgorithm::kAes256;
  spec.label = std::string(label);
  spec.usage.encrypt = true;
  return token.GenerateKey(spec);
}

Result<SecretBytes> Unseal(pkcs11::Token& token, const pkcs11::KeyRef& key, std::string_view sealed) {
  if (sealed.size() != kSealedSize || sealed.substr(0, kMagic.size()) != kMagic) {
    return Status::Validation("root.key.hsm is not a sealed root key");
  }
  std::string_view iv = sealed.substr(kMagic.size(), pkcs11::kGcmIvSize);
  std::string_view body = sealed.substr(kMagic.size() + pkcs11::kGcmIvSize);
  ASSIGN_OR_RETURN(SecretBytes root, token.DecryptGcm(key, iv, body, kAad));
  if (root.size() != kRootKeySize) return Status::Validation("root.key.hsm holds a key of the wrong size");
  return root;
}

// The key to seal on first start under a token: the existing root.key, or a new one.
Result<SecretBytes> KeyToSeal(const std::string& plain_path, bool* migrating) {
  *migrating = std::filesystem::exists(plain_path);
  if (*migrating) return ReadPrivateFile(plain_path, kRootKeySize);
  ASSIGN_OR_RETURN(std::string fresh, crypto::RandomBytes(kRootKeySize));
  SecretBytes key(fresh);
  std::fill(fresh.begin(), fresh.end(), '\0');
  return key;
}

}  // namespace

Result<SecretBytes> LoadOrCreateSealedRootKey(pkcs11::Token& token, std::string_view key_label,
                                              const std::string& data_dir) {
  const std::string sealed_path = PathIn(data_dir, kSealedRootKeyFile);
  const std::string plain_path = PathIn(data_dir, kPlainRootKeyFile);
  bool have_sealed = std::filesystem::exists(sealed_path);
  if (have_sealed && std::filesystem::exists(plain_path)) {
    return Status::Validation("both " + plain_path + " and " + sealed_path +
                              " exist: remove the one that is not in use");
  }
  if (have_sealed) {
    Result<pkcs11::KeyRef> key = token.FindKeyByLabel(key_label);
    if (!key.ok()) {
      return Status::Validation("the root key's token key '" + std::string(key_label) +
                                "' cannot be used: " + key.status().message());
    }
    ASSIGN_OR_RETURN(SecretBytes sealed, ReadPrivateFile(sealed_path, kSealedSize));
    return Unseal(token, *key, sealed.reveal());
  }
  ASSIGN_OR_RETURN(pkcs11::KeyRef token_key, FindOrCreateTokenKey(token, key_label));
  bool migrating = false;
  ASSIGN_OR_RETURN(SecretBytes root, KeyToSeal(plain_path, &migrating));
  ASSIGN_OR_RETURN(pkcs11::GcmCiphertext ct, token.EncryptGcm(token_key, root.reveal(), kAad));
  RETURN_IF_ERROR(WritePrivateFile(sealed_path, std::string(kMagic) + ct.iv + ct.ciphertext));
  // Read back through the token before the plaintext copy goes.
  ASSIGN_OR_RETURN(SecretBytes check, ReadPrivateFile(sealed_path, kSealedSize));
  ASSIGN_OR_RETURN(SecretBytes reopened, Unseal(token, token_key, check.reveal()));
  if (reopened.reveal() != root.reveal()) return Status::Internal("the sealed root key does not read back");
  if (migrating) {
    RETURN_IF_ERROR(WipeAndRemove(plain_path));
    log::Info("root key moved under the HSM", {{"path", sealed_path}});
  } else {
    log::Info("created root key under the HSM", {{"path", sealed_path}});
  }
  return root;
}

Result<SecretBytes> LoadOrCreateRootKey(const server::Config& cfg) {
  if (!cfg.root_key) {
    if (std::filesystem::exists(PathIn(cfg.data_dir, kSealedRootKeyFile))) {
      return Status::Validation("the root key is sealed under an HSM (root.key.hsm): set root_key in the config");
    }
    return server::LoadOrCreateRootKey(cfg.data_dir);
  }
  const server::HsmBackendConfig* backend = cfg.hsm.FindBackend(cfg.root_key->backend);
  if (backend == nullptr) {
    return Status::Validation("config: root_key names no backend " + cfg.root_key->backend);
  }
  ASSIGN_OR_RETURN(SecretBytes pin, ReadBackendPin(*backend));
  ASSIGN_OR_RETURN(std::unique_ptr<pkcs11::Pkcs11Token> token, OpenBackend(*backend, std::move(pin)));
  return LoadOrCreateSealedRootKey(*token, cfg.root_key->key_label, cfg.data_dir);
}

}  // namespace rampart::hsm
