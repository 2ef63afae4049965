// Backends and clusters from the server config (include/rampart/hsm/backends.h).
#include "rampart/hsm/backends.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "rampart/hsmnet/net_token.h"

namespace rampart::hsm {
namespace {

constexpr size_t kMaxPin = 256;

Result<SecretBytes> TrimmedPin(std::string_view raw, std::string_view where) {
  if (!raw.empty() && raw.back() == '\n') raw.remove_suffix(1);
  if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
  if (raw.empty()) return Status::Validation(std::string(where) + " holds an empty PIN");
  return SecretBytes(raw);
}

}  // namespace

Result<SecretBytes> ReadPinFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::Validation("cannot open PIN file " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Validation("PIN file " + path + " is not a regular file");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    return Status::Validation("PIN file " + path + " must not be accessible by group or others (chmod 600)");
  }
  SecretBytes buf(kMaxPin + 1);
  ssize_t n = ::read(fd, buf.mutable_data(), kMaxPin + 1);
  ::close(fd);
  if (n < 0) return Status::Validation("cannot read PIN file " + path);
  if (static_cast<size_t>(n) > kMaxPin) return Status::Validation("PIN file " + path + " is too long");
  return TrimmedPin(buf.reveal().substr(0, static_cast<size_t>(n)), "PIN file " + path);
}

Result<SecretBytes> ReadBackendPin(const server::HsmBackendConfig& backend) {
  if (!backend.pin_file.empty()) return ReadPinFile(backend.pin_file);
  const char* v = std::getenv(backend.pin_env.c_str());
  if (v == nullptr) {
    return Status::Validation("backend " + backend.name + ": environment variable " +
                              backend.pin_env + " is not set");
  }
  std::string_view raw(v);
  if (raw.size() > kMaxPin) return Status::Validation("backend " + backend.name + ": PIN is too long");
  return TrimmedPin(raw, "environment variable " + backend.pin_env);
}

Result<std::unique_ptr<pkcs11::Pkcs11Token>> OpenBackend(const server::HsmBackendConfig& backend,
                                                         SecretBytes pin) {
  if (!backend.network_config.empty()) {
    return Status::Validation("backend " + backend.name +
                              " is a network HSM node; only a cluster can use it");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<pkcs11::Module> module, pkcs11::Module::Load(backend.module));
  pkcs11::TokenOptions opts;
  if (!backend.token_label.empty()) opts.selector.label = backend.token_label;
  opts.selector.slot_id = backend.slot;
  opts.user_pin = std::move(pin);
  return pkcs11::Pkcs11Token::Open(std::move(module), std::move(opts));
}

namespace {

// Opens one cluster member's backend with pin (or its own configured PIN
// when pin is null).
Result<std::shared_ptr<pkcs11::Token>> OpenMember(const server::HsmBackendConfig& backend,
                                                  const SecretBytes* pin) {
  Result<SecretBytes> member_pin =
      pin != nullptr ? Result<SecretBytes>(SecretBytes(pin->reveal())) : ReadBackendPin(backend);
  if (!member_pin.ok()) return member_pin.status();
  if (!backend.network_config.empty()) {
    ASSIGN_OR_RETURN(std::unique_ptr<hsmnet::NetToken> net,
                     hsmnet::NetToken::Open({.client_config = backend.network_config,
                                             .user = backend.network_user,
                                             .password = std::move(*member_pin)}));
    return std::shared_ptr<pkcs11::Token>(std::move(net));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<pkcs11::Pkcs11Token> token,
                   OpenBackend(backend, std::move(*member_pin)));
  return std::shared_ptr<pkcs11::Token>(std::move(token));
}

}  // namespace

Result<std::unique_ptr<Cluster>> OpenCluster(const server::HsmConfig& cfg, std::string_view id,
                                             const SecretBytes* pin,
                                             std::vector<Status>* member_errors) {
  const server::HsmClusterConfig* cluster = cfg.FindCluster(id);
  if (cluster == nullptr) return Status::Error(ErrorCode::kNotFound, "no HSM cluster " + std::string(id));
  // The PIN outlives this call: a member that is down now is opened again
  // with it when it comes back (Cluster::HealthCheck).
  std::shared_ptr<SecretBytes> kept =
      pin != nullptr ? std::make_shared<SecretBytes>(pin->reveal()) : nullptr;
  std::vector<Member> members;
  for (const std::string& name : cluster->members) {
    const server::HsmBackendConfig* backend = cfg.FindBackend(name);
    Result<std::shared_ptr<pkcs11::Token>> token =
        Status::Error(ErrorCode::kNotFound, "no backend " + name);
    MemberOpener opener;
    if (backend != nullptr) {
      token = OpenMember(*backend, kept.get());
      opener = [config = *backend, kept]() { return OpenMember(config, kept.get()); };
    }
    if (!token.ok() && member_errors != nullptr) {
      member_errors->push_back(Status::Error(token.status().code(),
                                             name + ": " + token.status().message()));
    }
    members.push_back(Member{name, token.ok() ? *token : nullptr, std::move(opener)});
  }
  return Cluster::Create({.id = cluster->id, .min_members = static_cast<size_t>(cluster->min_members)},
                         std::move(members));
}

}  // namespace rampart::hsm
