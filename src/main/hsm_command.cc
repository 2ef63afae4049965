// `rampart hsm` (see hsm_command.h). Output goes to stdout for people and
// tests to read; PINs are read from files (mode 0600) and never printed.
#include "main/hsm_command.h"

#include <CLI/CLI.hpp>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>

#include "rampart/core/encoding.h"
#include "rampart/core/log.h"
#include "rampart/crypto/pkey.h"
#include "rampart/hsm/backends.h"
#include "rampart/pkcs11/pkcs11_token.h"
#include "rampart/server/config.h"

namespace rampart::cli {
namespace {

using pkcs11::KeyAlgorithm;
using pkcs11::KeyRef;
using pkcs11::KeySpec;
using pkcs11::SignScheme;

int Fail(const Status& st) {
  std::fprintf(stderr, "rampart hsm: %s\n", st.ToString().c_str());
  return 1;
}

const char* KindName(pkcs11::KeyKind kind) {
  switch (kind) {
    case pkcs11::KeyKind::kAes:
      return "AES";
    case pkcs11::KeyKind::kGenericSecret:
      return "HMAC";
    case pkcs11::KeyKind::kEcPrivate:
      return "EC";
    case pkcs11::KeyKind::kRsaPrivate:
      return "RSA";
  }
  return "?";
}

int ListSlots(const std::string& module_path) {
  auto module = pkcs11::Module::Load(module_path);
  if (!module.ok()) return Fail(module.status());
  auto slots = (*module)->ListSlots(false);
  if (!slots.ok()) return Fail(slots.status());
  std::printf("module: %s\n", (*module)->Description().c_str());
  for (const pkcs11::SlotInfo& s : *slots) {
    std::printf("slot %llu: %s\n", static_cast<unsigned long long>(s.slot_id), s.description.c_str());
    if (!s.token) {
      std::printf("  no token\n");
      continue;
    }
    const pkcs11::TokenInfo& t = *s.token;
    std::printf("  token label: %s\n  manufacturer: %s\n  model: %s\n  serial: %s\n",
                t.label.c_str(), t.manufacturer.c_str(), t.model.c_str(), t.serial.c_str());
    std::printf("  initialized: %s  user PIN set: %s  login required: %s  RNG: %s\n",
                t.initialized ? "yes" : "no", t.user_pin_initialized ? "yes" : "no",
                t.login_required ? "yes" : "no", t.has_rng ? "yes" : "no");
  }
  return 0;
}

int InitToken(const std::string& module_path, uint64_t slot, const std::string& label,
              const std::string& so_pin_file, const std::string& pin_file) {
  auto so_pin = hsm::ReadPinFile(so_pin_file);
  if (!so_pin.ok()) return Fail(so_pin.status());
  auto pin = hsm::ReadPinFile(pin_file);
  if (!pin.ok()) return Fail(pin.status());
  auto module = pkcs11::Module::Load(module_path);
  if (!module.ok()) return Fail(module.status());
  auto now_in = (*module)->InitToken(slot, label, *so_pin, *pin);
  if (!now_in.ok()) return Fail(now_in.status());
  std::printf("token %s initialized in slot %llu\n", label.c_str(),
              static_cast<unsigned long long>(*now_in));
  return 0;
}

int ListKeys(const std::string& config_file, const std::string& backend_name) {
  server::Config cfg;
  if (Status st = server::LoadConfigFile(config_file, cfg); !st.ok()) return Fail(st);
  const server::HsmBackendConfig* backend = cfg.hsm.FindBackend(backend_name);
  if (backend == nullptr) return Fail(Status::Validation("no backend " + backend_name + " in " + config_file));
  auto pin = hsm::ReadBackendPin(*backend);
  if (!pin.ok()) return Fail(pin.status());
  auto token = hsm::OpenBackend(*backend, std::move(*pin));
  if (!token.ok()) return Fail(token.status());
  auto keys = (*token)->ListKeys();
  if (!keys.ok()) return Fail(keys.status());
  std::printf("%-34s %-5s %-12s %s\n", "ID", "TYPE", "EXTRACTABLE", "LABEL");
  for (const pkcs11::KeyListing& k : *keys) {
    std::printf("%-34s %-5s %-12s %s\n", HexEncode(k.ref.id).c_str(), KindName(k.ref.kind),
                k.extractable ? "yes" : "no", k.label.c_str());
  }
  return 0;
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Opens a configured cluster with each backend's own PIN and runs one
// re-synchronisation; exit 1 when a copy or lock failed or nobody answered.
int Resync(const std::string& config_file, const std::string& cluster_id) {
  server::Config cfg;
  if (Status st = server::LoadConfigFile(config_file, cfg); !st.ok()) return Fail(st);
  std::vector<Status> member_errors;
  auto cluster = hsm::OpenCluster(cfg.hsm, cluster_id, nullptr, &member_errors);
  if (!cluster.ok()) return Fail(cluster.status());
  for (const Status& e : member_errors) std::printf("member not opened: %s\n", e.message().c_str());
  auto report = (*cluster)->Resync();
  if (!report.ok()) return Fail(report.status());
  std::printf("keys: %zu\ncopied: %zu\nlocked: %zu\nstranded: %zu\nbelow min_members: %zu\n",
              report->keys, report->copied, report->locked, report->stranded, report->below_min);
  if (!report->unreachable.empty()) {
    std::printf("unreachable: %s\n", Joined(report->unreachable).c_str());
  }
  for (const std::string& e : report->errors) std::printf("error: %s\n", e.c_str());
  return report->errors.empty() ? 0 : 1;
}

// Whether sig verifies over digest under the DER public key, by OpenSSL.
bool OpenSslVerifies(const std::string& spki, const std::string& digest, const std::string& sig,
                     const char* md_name, SignScheme scheme) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(spki.data());
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())), EVP_PKEY_free);
  if (!key) return false;
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new(key.get(), nullptr), EVP_PKEY_CTX_free);
  const EVP_MD* md = EVP_get_digestbyname(md_name);
  bool ok = ctx && md != nullptr && EVP_PKEY_verify_init(ctx.get()) > 0 &&
            EVP_PKEY_CTX_set_signature_md(ctx.get(), md) > 0;
  if (ok && scheme == SignScheme::kRsaPkcs1) ok = EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) > 0;
  if (ok && scheme == SignScheme::kRsaPss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_DIGEST) > 0 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) > 0;
  }
  return ok && EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                               sig.size(), reinterpret_cast<const unsigned char*>(digest.data()),
                               digest.size()) == 1;
}

Status CheckAes(pkcs11::Token& t, const KeyRef& key) {
  ASSIGN_OR_RETURN(pkcs11::GcmCiphertext ct, t.EncryptGcm(key, "rampart selftest", "aad"));
  ASSIGN_OR_RETURN(SecretBytes pt, t.DecryptGcm(key, ct.iv, ct.ciphertext, "aad"));
  if (pt.reveal() != "rampart selftest") return Status::Internal("AES-GCM round trip mismatch");
  if (t.DecryptGcm(key, ct.iv, ct.ciphertext, "other").ok()) {
    return Status::Internal("AES-GCM accepted the wrong associated data");
  }
  return Status::Ok();
}

Status CheckHmac(pkcs11::Token& t, const KeyRef& key) {
  ASSIGN_OR_RETURN(std::string mac, t.HmacSha256(key, "rampart selftest"));
  ASSIGN_OR_RETURN(bool good, t.VerifyHmacSha256(key, "rampart selftest", mac));
  ASSIGN_OR_RETURN(bool forged, t.VerifyHmacSha256(key, "rampart selftesT", mac));
  if (!good || forged) return Status::Internal("HMAC verification gave the wrong answer");
  return Status::Ok();
}

Status CheckSignatures(pkcs11::Token& t, const KeyRef& key, const char* md_name,
                       std::initializer_list<SignScheme> schemes) {
  ASSIGN_OR_RETURN(std::string digest, crypto::Digest(md_name, "rampart selftest"));
  ASSIGN_OR_RETURN(std::string spki, t.PublicKeyDer(key));
  for (SignScheme scheme : schemes) {
    ASSIGN_OR_RETURN(std::string sig, t.SignDigest(key, digest, md_name, scheme));
    if (!OpenSslVerifies(spki, digest, sig, md_name, scheme)) {
      return Status::Internal("OpenSSL does not verify the token's signature");
    }
  }
  return Status::Ok();
}

struct SelftestCase {
  KeyAlgorithm algorithm;
  const char* label;
  const char* what;
};

Status RunCase(pkcs11::Token& t, const SelftestCase& c, KeyRef* made) {
  KeySpec spec;
  spec.algorithm = c.algorithm;
  spec.label = c.label;
  spec.usage.encrypt = c.algorithm == KeyAlgorithm::kAes256;
  spec.usage.sign = !spec.usage.encrypt;
  ASSIGN_OR_RETURN(*made, t.GenerateKey(spec));
  ASSIGN_OR_RETURN(KeyRef found, t.FindKeyByLabel(c.label));
  if (!(found == *made)) return Status::Internal("the key is not found by its label");
  switch (c.algorithm) {
    case KeyAlgorithm::kAes256:
      return CheckAes(t, *made);
    case KeyAlgorithm::kHmacSha256:
      return CheckHmac(t, *made);
    case KeyAlgorithm::kEcP256:
      return CheckSignatures(t, *made, "SHA256", {SignScheme::kEcdsa});
    case KeyAlgorithm::kEcP384:
      return CheckSignatures(t, *made, "SHA384", {SignScheme::kEcdsa});
    default:
      return CheckSignatures(t, *made, "SHA256", {SignScheme::kRsaPkcs1, SignScheme::kRsaPss});
  }
}

int Selftest(const std::string& module_path, const std::string& label, const std::string& pin_file,
             bool keep) {
  server::HsmBackendConfig backend;
  backend.name = "selftest";
  backend.module = module_path;
  backend.token_label = label;
  auto pin = hsm::ReadPinFile(pin_file);
  if (!pin.ok()) return Fail(pin.status());
  auto token = hsm::OpenBackend(backend, std::move(*pin));
  if (!token.ok()) return Fail(token.status());
  const SelftestCase cases[] = {
      {KeyAlgorithm::kAes256, "selftest-aes256", "AES-256: AES-GCM round trip, wrong AAD refused"},
      {KeyAlgorithm::kHmacSha256, "selftest-hmac", "HMAC-SHA-256: MAC verified, forgery refused"},
      {KeyAlgorithm::kEcP256, "selftest-ec-p256", "EC P-256: ECDSA SHA-256 verified by OpenSSL"},
      {KeyAlgorithm::kEcP384, "selftest-ec-p384", "EC P-384: ECDSA SHA-384 verified by OpenSSL"},
      {KeyAlgorithm::kRsa2048, "selftest-rsa2048", "RSA-2048: PKCS#1 v1.5 and PSS verified by OpenSSL"},
  };
  int failures = 0;
  for (const SelftestCase& c : cases) {
    KeyRef made;
    Status st = RunCase(**token, c, &made);
    std::printf("%s %s%s%s\n", st.ok() ? "ok  " : "FAIL", c.what, st.ok() ? "" : ": ",
                st.ok() ? "" : st.message().c_str());
    if (!st.ok()) ++failures;
    if (!keep && !made.id.empty()) (void)(*token)->DestroyKey(made);
  }
  std::printf("%d of %zu checks passed\n", static_cast<int>(std::size(cases)) - failures,
              std::size(cases));
  return failures == 0 ? 0 : 1;
}

}  // namespace

HsmCommand::HsmCommand(CLI::App& app) {
  hsm_ = app.add_subcommand("hsm", "PKCS#11 HSM administration and checks");
  hsm_->require_subcommand(1);
  slots_ = hsm_->add_subcommand("slots", "List the slots and tokens of a PKCS#11 module");
  slots_->add_option("--module", module_, "Absolute path of the PKCS#11 library")->required();

  init_ = hsm_->add_subcommand("init-token", "Initialise a token and set its user PIN");
  init_->add_option("--module", module_, "Absolute path of the PKCS#11 library")->required();
  init_->add_option("--slot", slot_, "Slot id (see `rampart hsm slots`)")->required();
  init_->add_option("--label", label_, "Token label (1-32 bytes)")->required();
  init_->add_option("--so-pin-file", so_pin_file_, "File (mode 0600) holding the SO PIN")->required();
  init_->add_option("--pin-file", pin_file_, "File (mode 0600) holding the user PIN")->required();

  keys_ = hsm_->add_subcommand("keys", "List the keys of a configured backend");
  keys_->add_option("--config", config_file_, "Server JSON config with an hsm section")->required();
  keys_->add_option("--backend", backend_, "Backend name from the config")->required();

  resync_ = hsm_->add_subcommand("resync",
                                 "Copy keys onto cluster members that lack them, then lock them");
  resync_->add_option("--config", config_file_, "Server JSON config with an hsm section")->required();
  resync_->add_option("--cluster", cluster_, "Cluster id from the config")->required();

  selftest_ = hsm_->add_subcommand("selftest", "Generate and use one key of each algorithm");
  selftest_->add_option("--module", module_, "Absolute path of the PKCS#11 library")->required();
  selftest_->add_option("--token-label", label_, "Label of the token to test")->required();
  selftest_->add_option("--pin-file", pin_file_, "File (mode 0600) holding the user PIN")->required();
  selftest_->add_flag("--keep", keep_, "Keep the generated keys (default: destroy them)");
}

bool HsmCommand::parsed() const { return hsm_->parsed(); }

int HsmCommand::Run() {
  // The command's own output is on stdout; routine log lines would only
  // clutter it.
  log::SetLevel(log::Level::kWarn);
  if (slots_->parsed()) return ListSlots(module_);
  if (init_->parsed()) return InitToken(module_, slot_, label_, so_pin_file_, pin_file_);
  if (keys_->parsed()) return ListKeys(config_file_, backend_);
  if (selftest_->parsed()) return Selftest(module_, label_, pin_file_, keep_);
  if (resync_->parsed()) return Resync(config_file_, cluster_);
  return 2;
}

}  // namespace rampart::cli
