// The "hsm" section of the server config (docs/hsm.md, "Configuration"):
//
//   "hsm": {
//     "backends": [{"name": "hsm1", "module": "/usr/lib/softhsm/libsofthsm2.so",
//                   "token_label": "rampart-1", "pin_file": "/etc/rampart/hsm1.pin"}],
//     "clusters": [{"id": "cluster-1a2b3c4d5e6", "members": ["hsm1", "hsm2"],
//                   "min_members": 2, "accounts": ["123456789012"]}]
//   }
//
// A cluster's "accounts" name who may use it (KMS custom key stores); when
// absent, only the management account may.
#include <algorithm>

#include "rampart/core/json.h"
#include "rampart/server/config.h"

namespace rampart::server {
namespace {

constexpr size_t kMaxBackends = 64;
constexpr size_t kMaxClusterAccounts = 100;

Status Invalid(std::string msg) { return Status::Validation("config: hsm: " + std::move(msg)); }

bool IsName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

bool IsClusterId(std::string_view s) {
  constexpr std::string_view kPrefix = "cluster-";
  if (s.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view rest = s.substr(kPrefix.size());
  if (rest.size() < 11 || rest.size() > 16) return false;
  return std::all_of(rest.begin(), rest.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

bool IsAccountId(std::string_view s) {
  return s.size() == 12 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Status String(const json::Value& v, std::string_view key, std::string& out) {
  if (!v.is_string() || v.as_string().empty()) {
    return Invalid(std::string(key) + " must be a non-empty string");
  }
  out = v.as_string();
  return Status::Ok();
}

Status ApplyBackendMember(std::string_view key, const json::Value& v, HsmBackendConfig& b) {
  if (key == "name") return String(v, key, b.name);
  if (key == "module") return String(v, key, b.module);
  if (key == "token_label") return String(v, key, b.token_label);
  if (key == "pin_file") return String(v, key, b.pin_file);
  if (key == "pin_env") return String(v, key, b.pin_env);
  if (key == "network_config") return String(v, key, b.network_config);
  if (key == "network_user") return String(v, key, b.network_user);
  if (key == "slot") {
    if (!v.is_int() || v.as_int() < 0) return Invalid("slot must be a non-negative integer");
    b.slot = static_cast<uint64_t>(v.as_int());
    return Status::Ok();
  }
  if (key == "user_pin" || key == "pin") {
    return Invalid("PINs are never written in the config: use pin_file or pin_env");
  }
  return Invalid("unknown backend key '" + std::string(key) + "'");
}

Result<HsmBackendConfig> ParseBackend(const json::Value& v) {
  if (!v.is_object()) return Invalid("each backend must be an object");
  HsmBackendConfig b;
  for (const auto& member : v.as_object()) {
    RETURN_IF_ERROR(ApplyBackendMember(member.first, member.second, b));
  }
  if (!IsName(b.name)) return Invalid("backend name must be 1-64 of [A-Za-z0-9_-]");
  if (!b.network_config.empty() || !b.network_user.empty()) {
    if (b.network_config.empty() || b.network_user.empty() || b.network_user.size() > 32) {
      return Invalid("backend " + b.name + ": a network HSM needs network_config and network_user (1-32)");
    }
    if (!b.module.empty() || !b.token_label.empty() || b.slot) {
      return Invalid("backend " + b.name + ": a network HSM takes no module, token_label or slot");
    }
    if (b.pin_file.empty() == b.pin_env.empty()) {
      return Invalid("backend " + b.name + ": exactly one of pin_file and pin_env is required");
    }
    return b;
  }
  if (b.module.empty() || b.module.front() != '/') {
    return Invalid("backend " + b.name + ": module must be an absolute path");
  }
  if (b.token_label.empty() && !b.slot) {
    return Invalid("backend " + b.name + ": token_label or slot is required");
  }
  if (b.pin_file.empty() == b.pin_env.empty()) {
    return Invalid("backend " + b.name + ": exactly one of pin_file and pin_env is required");
  }
  return b;
}

Status ApplyClusterMember(std::string_view key, const json::Value& v, HsmClusterConfig& c) {
  if (key == "id") return String(v, key, c.id);
  if (key == "min_members") {
    if (!v.is_int() || v.as_int() < 1 || v.as_int() > static_cast<int64_t>(kMaxBackends)) {
      return Invalid("min_members must be an integer from 1 to 64");
    }
    c.min_members = static_cast<int>(v.as_int());
    return Status::Ok();
  }
  if (key == "members") {
    if (!v.is_array() || v.as_array().empty()) return Invalid("members must be a non-empty array");
    for (const auto& m : v.as_array()) {
      if (!m.is_string()) return Invalid("members must hold backend names");
      if (std::find(c.members.begin(), c.members.end(), m.as_string()) != c.members.end()) {
        return Invalid("backend " + m.as_string() + " is listed twice");
      }
      c.members.push_back(m.as_string());
    }
    return Status::Ok();
  }
  if (key == "accounts") {
    if (!v.is_array() || v.as_array().empty() || v.as_array().size() > kMaxClusterAccounts) {
      return Invalid("accounts must be a non-empty array of at most 100 account ids");
    }
    for (const auto& a : v.as_array()) {
      if (!a.is_string() || !IsAccountId(a.as_string())) {
        return Invalid("accounts must hold 12-digit account ids");
      }
      if (std::find(c.accounts.begin(), c.accounts.end(), a.as_string()) != c.accounts.end()) {
        return Invalid("account " + a.as_string() + " is listed twice");
      }
      c.accounts.push_back(a.as_string());
    }
    return Status::Ok();
  }
  return Invalid("unknown cluster key '" + std::string(key) + "'");
}

Result<HsmClusterConfig> ParseCluster(const json::Value& v, const HsmConfig& cfg) {
  if (!v.is_object()) return Invalid("each cluster must be an object");
  HsmClusterConfig c;
  for (const auto& member : v.as_object()) {
    RETURN_IF_ERROR(ApplyClusterMember(member.first, member.second, c));
  }
  if (!IsClusterId(c.id)) return Invalid("cluster id must be cluster-[a-z0-9]{11,16}");
  if (c.members.empty()) return Invalid("cluster " + c.id + " has no members");
  for (const auto& m : c.members) {
    if (cfg.FindBackend(m) == nullptr) return Invalid("cluster " + c.id + ": no backend " + m);
  }
  if (c.min_members > static_cast<int>(c.members.size())) {
    return Invalid("cluster " + c.id + ": min_members exceeds its member count");
  }
  return c;
}

Status ParseList(const json::Value& v, std::string_view key, HsmConfig& out) {
  if (!v.is_array() || v.as_array().size() > kMaxBackends) {
    return Invalid(std::string(key) + " must be an array of at most 64 entries");
  }
  for (const auto& entry : v.as_array()) {
    if (key == "backends") {
      ASSIGN_OR_RETURN(HsmBackendConfig b, ParseBackend(entry));
      if (out.FindBackend(b.name) != nullptr) return Invalid("backend " + b.name + " is defined twice");
      out.backends.push_back(std::move(b));
    } else {
      ASSIGN_OR_RETURN(HsmClusterConfig c, ParseCluster(entry, out));
      if (out.FindCluster(c.id) != nullptr) return Invalid("cluster " + c.id + " is defined twice");
      out.clusters.push_back(std::move(c));
    }
  }
  return Status::Ok();
}

}  // namespace

const HsmBackendConfig* HsmConfig::FindBackend(std::string_view name) const {
  for (const auto& b : backends) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

const HsmClusterConfig* HsmConfig::FindCluster(std::string_view id) const {
  for (const auto& c : clusters) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

Status ParseRootKeyConfig(const json::Value& v, std::optional<RootKeyConfig>& out) {
  if (!v.is_object()) return Status::Validation("config: root_key must be an object");
  RootKeyConfig parsed;
  for (const auto& member : v.as_object()) {
    std::string* field = member.first == "backend"     ? &parsed.backend
                         : member.first == "key_label" ? &parsed.key_label
                                                       : nullptr;
    if (field == nullptr) return Status::Validation("config: root_key: unknown key '" + member.first + "'");
    RETURN_IF_ERROR(String(member.second, member.first, *field));
  }
  if (!IsName(parsed.backend) || parsed.key_label.empty() || parsed.key_label.size() > 128) {
    return Status::Validation("config: root_key needs a backend name and a key_label of 1 to 128 bytes");
  }
  out = std::move(parsed);
  return Status::Ok();
}

Status ParseHsmConfig(const json::Value& hsm, HsmConfig& out) {
  if (!hsm.is_object()) return Invalid("must be an object");
  HsmConfig parsed;
  // Backends first, so that clusters can refer to them in any key order.
  if (const json::Value* b = hsm.find("backends")) RETURN_IF_ERROR(ParseList(*b, "backends", parsed));
  for (const auto& member : hsm.as_object()) {
    if (member.first == "backends") continue;
    if (member.first != "clusters") return Invalid("unknown key '" + member.first + "'");
    RETURN_IF_ERROR(ParseList(member.second, "clusters", parsed));
  }
  out = std::move(parsed);
  return Status::Ok();
}

}  // namespace rampart::server
