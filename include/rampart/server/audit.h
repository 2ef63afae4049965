// The audit hook: the dispatcher hands every finished request, allowed or
// denied, authenticated or not, to an AuditSink. The CloudTrail room
// implements it; the default sink keeps nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "rampart/core/clock.h"
#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/server/identity.h"

namespace rampart::server {

struct AuditRecord {
  TimePoint time;
  std::string_view request_id;
  std::string_view service;       // signing name; empty if unknown
  std::string_view operation;     // empty if routing failed
  std::string_view region;
  const Principal* principal;     // null when authentication failed
  std::string_view access_key_id; // as presented, even if unknown
  std::string_view source_ip;
  std::string_view user_agent;
  bool secure_transport;
  const json::Value* input;       // null when decoding failed
  const json::Value* output;      // null on error
  const Status* error;            // null on success
  int http_status;
  // Authentication failed with a known access key (bad signature, wrong
  // session token): the key's owner, so that the record reaches its account.
  const Principal* key_owner = nullptr;
  std::string_view host;  // the Host header as the client sent it
  // Other accounts whose resources the call used (RequestContext::
  // resource_accounts); a successful call is recorded in each of them too.
  std::span<const std::string> resource_accounts{};
  // Over TLS: the negotiated protocol and cipher suite (OpenSSL's names).
  std::string_view tls_version{};
  std::string_view tls_cipher{};
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Called on the worker thread after the response is built. Must not throw
  // or block for long.
  virtual void Record(const AuditRecord& record) = 0;
  // Called on the worker thread just before the handler runs, with no
  // output or error yet; the referenced data stays valid until the
  // matching Record on the same thread. Lets a sink join the handler's
  // write transactions (store::ScopedWriteHook).
  virtual void Begin(const AuditRecord& record) {}
};

class NullAuditSink final : public AuditSink {
 public:
  void Record(const AuditRecord&) override {}
};

// The last use of an access key as the audit trail saw it.
struct KeyUse {
  int64_t time = 0;     // seconds since the epoch
  std::string service;  // service namespace, e.g. "iam"
  std::string region;
};

// Questions other rooms ask the audit trail (IAM's GetAccessKeyLastUsed and
// the credential report). The CloudTrail room implements it.
class AuditQueries {
 public:
  virtual ~AuditQueries() = default;
  // The latest call of account's access key that passed authentication
  // (allowed or denied), or nullopt when there is none.
  virtual Result<std::optional<KeyUse>> LastKeyUse(std::string_view account,
                                                   std::string_view access_key_id) const = 0;
};

}  // namespace rampart::server
