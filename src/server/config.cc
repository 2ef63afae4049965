#include "rampart/server/config.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "rampart/core/json.h"

namespace rampart::server {
namespace {

Status Invalid(std::string msg) { return Status::Validation("config: " + std::move(msg)); }

Status ReadString(const json::Value& v, std::string_view key, std::string& out) {
  if (!v.is_string()) return Invalid(std::string(key) + " must be a string");
  out = v.as_string();
  return Status::Ok();
}

Status ReadPositive(const json::Value& v, std::string_view key, int64_t& out) {
  if (!v.is_int() || v.as_int() <= 0) return Invalid(std::string(key) + " must be a positive integer");
  out = v.as_int();
  return Status::Ok();
}

// An integer member of a section, within [min, max].
Status ReadRange(const json::Value& v, std::string_view name, int64_t min, int64_t max,
                 int64_t& out) {
  if (!v.is_int() || v.as_int() < min || v.as_int() > max) {
    return Invalid(std::string(name) + " must be an integer from " + std::to_string(min) +
                   " to " + std::to_string(max));
  }
  out = v.as_int();
  return Status::Ok();
}

// One integer setting of a section: its key, range and where it goes.
struct RangeSetting {
  std::string_view key;
  int64_t min, max;
  int64_t* out;
};

// Reads section (an object) whose members are all integer settings.
Status ReadSection(const json::Value& v, std::string_view section,
                   std::initializer_list<RangeSetting> settings) {
  if (!v.is_object()) return Invalid(std::string(section) + " must be an object");
  for (const auto& [key, value] : v.as_object()) {
    const RangeSetting* setting = nullptr;
    for (const RangeSetting& s : settings) {
      if (s.key == key) setting = &s;
    }
    std::string name = std::string(section) + "." + key;
    if (setting == nullptr) return Invalid("unknown key '" + name + "'");
    RETURN_IF_ERROR(ReadRange(value, name, setting->min, setting->max, *setting->out));
  }
  return Status::Ok();
}

Status ApplyMember(std::string_view key, const json::Value& v, Config& cfg) {
  int64_t n = 0;
  if (key == "data_dir") return ReadString(v, key, cfg.data_dir);
  if (key == "listen") {
    std::string listen;
    RETURN_IF_ERROR(ReadString(v, key, listen));
    return ParseListen(listen, cfg);
  }
  if (key == "tls_cert_file") return ReadString(v, key, cfg.tls_cert_file);
  if (key == "tls_key_file") return ReadString(v, key, cfg.tls_key_file);
  if (key == "log_level") return ReadString(v, key, cfg.log_level);
  if (key == "hsm") return ParseHsmConfig(v, cfg.hsm);
  if (key == "root_key") return ParseRootKeyConfig(v, cfg.root_key);
  if (key == "audit") return ParseAuditConfig(v, cfg.audit);
  if (key == "kms") return ParseKmsConfig(v, cfg.kms);
  if (key == "regions") {
    if (!v.is_array() || v.as_array().empty()) return Invalid("regions must be a non-empty array");
    cfg.regions.clear();
    for (const auto& r : v.as_array()) {
      if (!r.is_string() || r.as_string().empty()) return Invalid("regions must hold strings");
      cfg.regions.push_back(r.as_string());
    }
    return Status::Ok();
  }
  if (key == "threads") {
    RETURN_IF_ERROR(ReadPositive(v, key, n));
    cfg.threads = static_cast<unsigned>(n);
    return Status::Ok();
  }
  if (key == "body_limit") {
    RETURN_IF_ERROR(ReadPositive(v, key, n));
    cfg.body_limit = static_cast<size_t>(n);
    return Status::Ok();
  }
  if (key == "header_timeout_ms") {
    RETURN_IF_ERROR(ReadPositive(v, key, n));
    cfg.header_timeout = std::chrono::milliseconds(n);
    return Status::Ok();
  }
  if (key == "idle_timeout_ms") {
    RETURN_IF_ERROR(ReadPositive(v, key, n));
    cfg.idle_timeout = std::chrono::milliseconds(n);
    return Status::Ok();
  }
  if (key == "drain_timeout_ms") {
    RETURN_IF_ERROR(ReadPositive(v, key, n));
    cfg.drain_timeout = std::chrono::milliseconds(n);
    return Status::Ok();
  }
  return Invalid("unknown key '" + std::string(key) + "'");
}

}  // namespace

bool Config::ServesRegion(std::string_view region) const {
  for (const auto& r : regions) {
    if (r == region) return true;
  }
  return false;
}

Status ParseAuditConfig(const json::Value& v, AuditConfig& out) {
  int64_t delivery = out.delivery_interval.count();
  int64_t digest = out.digest_interval.count();
  int64_t rotation = out.signing_key_rotation.count();
  RETURN_IF_ERROR(ReadSection(v, "audit",
                              {{"delivery_interval_seconds", 1, 300, &delivery},
                               {"digest_interval_seconds", 1, 3600, &digest},
                               {"signing_key_rotation_seconds", 60, 366L * 24 * 3600, &rotation}}));
  out.delivery_interval = std::chrono::seconds(delivery);
  out.digest_interval = std::chrono::seconds(digest);
  out.signing_key_rotation = std::chrono::seconds(rotation);
  return Status::Ok();
}

namespace {

// "kms.throttling.quotas": quota name -> requests per second. The names
// are the kms room's to check (at start); here only the rates.
Status ReadQuotaRates(const json::Value& v, std::vector<std::pair<std::string, double>>& out) {
  if (!v.is_object()) return Invalid("kms.throttling.quotas must be an object");
  out.clear();
  for (const auto& [name, rate] : v.as_object()) {
    std::string setting = "kms.throttling.quotas." + name;
    bool in_range = rate.is_number() && rate.as_double() >= KmsThrottlingConfig::kMinRate &&
                    rate.as_double() <= KmsThrottlingConfig::kMaxRate;
    // The message spells out kMinRate and kMaxRate.
    if (!in_range) return Invalid(setting + " must be a number from 0.01 to 1000000");
    for (const auto& seen : out) {
      if (seen.first == name) return Invalid(setting + " is set twice");
    }
    out.emplace_back(name, rate.as_double());
  }
  return Status::Ok();
}

// "kms.throttling": {"enabled": bool, "quotas": {...}}, both optional.
Status ReadKmsThrottling(const json::Value& v, KmsThrottlingConfig& out) {
  if (!v.is_object()) return Invalid("kms.throttling must be an object");
  for (const auto& [key, value] : v.as_object()) {
    if (key == "enabled") {
      if (!value.is_bool()) return Invalid("kms.throttling.enabled must be true or false");
      out.enabled = value.as_bool();
    } else if (key == "quotas") {
      RETURN_IF_ERROR(ReadQuotaRates(value, out.quotas));
    } else {
      return Invalid("unknown key 'kms.throttling." + key + "'");
    }
  }
  return Status::Ok();
}

}  // namespace

Status ParseKmsConfig(const json::Value& v, KmsConfig& out) {
  if (!v.is_object()) return Invalid("kms must be an object");
  // "throttling" is an object of its own; the other members are integer
  // settings.
  json::Value settings = json::Value::MakeObject();
  KmsThrottlingConfig throttling = out.throttling;
  for (const auto& [key, value] : v.as_object()) {
    if (key == "throttling") {
      RETURN_IF_ERROR(ReadKmsThrottling(value, throttling));
    } else {
      settings.set(key, value);
    }
  }
  int64_t scheduler = out.scheduler_interval.count();
  RETURN_IF_ERROR(
      ReadSection(settings, "kms", {{"scheduler_interval_ms", 10, 3600 * 1000, &scheduler}}));
  out.scheduler_interval = std::chrono::milliseconds(scheduler);
  out.throttling = std::move(throttling);
  return Status::Ok();
}

Status ParseListen(std::string_view listen, Config& cfg) {
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return Invalid("listen must be HOST:PORT");
  std::string_view host = listen.substr(0, colon);
  std::string_view port = listen.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return Invalid("bad IPv6 listen address");
    host = host.substr(1, host.size() - 2);
  }
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p > 65535) {
    return Invalid("bad listen port");
  }
  cfg.host = std::string(host);
  cfg.port = static_cast<uint16_t>(p);
  return Status::Ok();
}

Status LoadConfigFile(const std::string& path, Config& cfg) {
  std::ifstream in(path);
  if (!in) return Invalid("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = json::Parse(ss.str());
  if (!doc.ok()) return Invalid(path + ": " + doc.status().message());
  if (!doc->is_object()) return Invalid(path + ": top level must be an object");
  for (const auto& [k, v] : doc->as_object()) RETURN_IF_ERROR(ApplyMember(k, v, cfg));
  return Status::Ok();
}

Status Validate(const Config& cfg) {
  bool loopback = cfg.host == "127.0.0.1" || cfg.host == "::1" || cfg.host == "localhost";
  if (cfg.dev && !loopback) return Invalid("--dev listens on loopback only (127.0.0.1 or ::1)");
  if (cfg.tls_cert_file.empty() != cfg.tls_key_file.empty()) {
    return Invalid("tls_cert_file and tls_key_file go together");
  }
  return Status::Ok();
}

}  // namespace rampart::server
