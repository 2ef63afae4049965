// Server configuration: defaults, overridden by a JSON config file, then by
// command-line flags. Immutable once the server starts; shared read-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rampart/core/status.h"

namespace rampart::json {
class Value;
}

namespace rampart::server {

// One HSM backend: a token of a PKCS#11 module (docs/hsm.md). The user
// PIN is never in the config itself: it is read at start from pin_file
// (mode 0600 or stricter) or from the environment variable pin_env.
struct HsmBackendConfig {
  std::string name;                // [A-Za-z0-9_-]{1,64}, unique
  std::string module;              // absolute path of the PKCS#11 library
  std::string token_label;         // the token: by label ...
  std::optional<uint64_t> slot;    // ... and/or by slot id
  std::string pin_file;            // exactly one of pin_file / pin_env
  std::string pin_env;
  // A network HSM node instead of a module: a librampart-pkcs11 client
  // config naming the node, and the crypto user to log in as (the PIN is
  // that user's password).
  std::string network_config;
  std::string network_user;
};

// A cluster of backends that hold the same keys (docs/hsm.md, "Clusters").
struct HsmClusterConfig {
  std::string id;                    // cluster-[a-z0-9]{11,16}
  std::vector<std::string> members;  // backend names, distinct
  int min_members = 2;               // replicas a key needs to be usable
  // Accounts that may use the cluster (KMS custom key stores); empty: the
  // management account only.
  std::vector<std::string> accounts;
};

struct HsmConfig {
  std::vector<HsmBackendConfig> backends;
  std::vector<HsmClusterConfig> clusters;
  const HsmBackendConfig* FindBackend(std::string_view name) const;
  const HsmClusterConfig* FindCluster(std::string_view id) const;
};

// The server's root key kept in an HSM (docs/hsm.md, "The root key in a
// token"): an AES-256 key labelled key_label in the token of backend.
struct RootKeyConfig {
  std::string backend;    // a name from HsmConfig::backends
  std::string key_label;  // CKA_LABEL of the token key, 1..128 bytes
};
// Reads the "root_key" member of a config file (src/server/config_hsm.cc).
Status ParseRootKeyConfig(const json::Value& v, std::optional<RootKeyConfig>& out);

// Reads the "hsm" member of a config file into out (src/server/config_hsm.cc).
// Unknown keys, duplicate names and dangling member names are errors.
Status ParseHsmConfig(const json::Value& hsm, HsmConfig& out);

// Background work of the audit room (docs/audit.md): the "audit" member of
// a config file. The defaults are CloudTrail's.
struct AuditConfig {
  // How often trails deliver log files: at most every 5 minutes.
  std::chrono::seconds delivery_interval{300};                 // 1 s .. 300 s
  // How often a trail with log file validation gets a digest file.
  std::chrono::seconds digest_interval{3600};                  // 1 s .. 1 h
  // How long a digest signing key signs before a new one replaces it.
  std::chrono::seconds signing_key_rotation{30L * 24 * 3600};  // 60 s .. 366 days
};

// KMS request throttling (docs/kms-throttling.md): "kms"."throttling" of
// a config file. Off by default; when on, AWS's default request quotas
// apply, each replaceable by a rate in requests per second. The quota
// names are checked by the kms room when the server starts.
struct KmsThrottlingConfig {
  static constexpr double kMinRate = 0.01;     // one request in 100 s
  static constexpr double kMaxRate = 1000000;  // requests per second
  bool enabled = false;
  std::vector<std::pair<std::string, double>> quotas;  // name -> rate, in file order
};

// Background work of KMS (docs/kms.md): the "kms" member of a config file.
struct KmsConfig {
  // How often the scheduler deletes keys whose waiting period ended and
  // rotates keys that are due.
  std::chrono::milliseconds scheduler_interval{60000};  // 10 ms .. 1 h
  KmsThrottlingConfig throttling;
};

// Reads the "audit" and "kms" members of a config file (src/server/config.cc).
// Unknown keys and values out of range are errors.
Status ParseAuditConfig(const json::Value& v, AuditConfig& out);
Status ParseKmsConfig(const json::Value& v, KmsConfig& out);

struct Config {
  std::string data_dir = "./data";
  std::string host = "127.0.0.1";
  uint16_t port = 4566;
  bool dev = false;                      // insecure local-development mode
  std::vector<std::string> regions = {"us-east-1"};
  unsigned threads = 0;                  // 0 = one per core
  size_t body_limit = 1 << 20;           // bytes
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds drain_timeout{10000};
  std::string tls_cert_file;             // both set = HTTPS
  std::string tls_key_file;
  std::string log_level = "info";
  HsmConfig hsm;                         // PKCS#11 backends and clusters
  std::optional<RootKeyConfig> root_key; // unset: <data_dir>/root.key
  AuditConfig audit;                     // trail delivery, digests, signing keys
  KmsConfig kms;                         // the KMS scheduler and throttling

  bool tls() const { return !tls_cert_file.empty() && !tls_key_file.empty(); }
  bool ServesRegion(std::string_view region) const;
};

// Applies a JSON config file over cfg. Unknown keys are errors (a typo in a
// security setting must not pass silently).
Status LoadConfigFile(const std::string& path, Config& cfg);
// Parses "host:port" or "[v6]:port".
Status ParseListen(std::string_view listen, Config& cfg);
// Checks cross-field rules (e.g. --dev only on loopback).
Status Validate(const Config& cfg);

}  // namespace rampart::server
