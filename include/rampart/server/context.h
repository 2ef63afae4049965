// What a service handler sees of a request, and the registry that maps
// (service, operation) to handlers.
//
// Thread-safety: a RequestContext belongs to one request on one worker
// thread. The Registry is filled before the server starts and read-only
// after.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rampart/core/clock.h"
#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/server/identity.h"

namespace rampart::store {
class Database;
}

namespace rampart::server {

struct Config;
class Authorizer;

// A condition key the handler supplies for authorization, e.g.
// {"kms:EncryptionAlgorithm", {"SYMMETRIC_DEFAULT"}}.
struct ConditionKey {
  std::string name;
  std::vector<std::string> values;
};

class RequestContext {
 public:
  struct Init {
    const Principal* principal;
    std::string_view service;    // signing name, e.g. "kms"
    std::string_view operation;  // e.g. "Encrypt"
    std::string_view region;
    std::string_view request_id;
    std::string_view source_ip;
    std::string_view user_agent;
    bool secure_transport;
    TimePoint time;
    const Config* config;
    store::Database* db;
    const Authorizer* authorizer;
    const Clock* clock;
  };
  explicit RequestContext(const Init& init) : in_(init) {}

  const Principal& principal() const { return *in_.principal; }
  std::string_view service() const { return in_.service; }
  std::string_view operation() const { return in_.operation; }
  std::string_view region() const { return in_.region; }
  std::string_view request_id() const { return in_.request_id; }
  std::string_view source_ip() const { return in_.source_ip; }
  std::string_view user_agent() const { return in_.user_agent; }
  bool secure_transport() const { return in_.secure_transport; }
  TimePoint time() const { return in_.time; }
  const Config& config() const { return *in_.config; }
  store::Database& db() const { return *in_.db; }
  const Clock& clock() const { return *in_.clock; }

  // Asks the authorizer whether the caller may perform action (e.g.
  // "kms:Encrypt") on resource_arn with the handler's condition keys.
  // kAccessDenied with AWS's message shape when not.
  Status Authorize(std::string_view action, std::string_view resource_arn,
                   std::span<const ConditionKey> keys = {}) const;

  // Accounts other than the caller's whose resources the request was
  // authorized against (the authorizer notes them); the audit trail also
  // records a successful call in each of them, as CloudTrail does.
  void NoteResourceAccount(std::string_view account) const;
  const std::vector<std::string>& resource_accounts() const { return resource_accounts_; }

 private:
  Init in_;
  mutable std::vector<std::string> resource_accounts_;  // the request's own thread only
};

using OperationHandler = std::function<Result<json::Value>(RequestContext&, const json::Value&)>;

class Registry {
 public:
  // Registering the same (service, operation) twice is a programming error
  // and aborts.
  void Add(std::string_view service, std::string_view operation, OperationHandler handler);
  const OperationHandler* Find(std::string_view service, std::string_view operation) const;
  size_t size() const { return handlers_.size(); }

 private:
  std::unordered_map<std::string, OperationHandler> handlers_;  // "service:Operation"
};

}  // namespace rampart::server
