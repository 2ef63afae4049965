// The one endpoint for every service: authenticates a request with SigV4,
// finds the service from the credential scope and the operation from the
// protocol's routing data, decodes and validates the input against the
// model, runs the handler, serialises the output or error, and hands the
// finished request to the audit sink and the metrics.
//
// Thread-safety: Handle is called concurrently from every worker thread;
// everything it touches is either immutable or internally synchronised.
#pragma once

#include <atomic>
#include <functional>

#include "rampart/core/clock.h"
#include "rampart/http/message.h"
#include "rampart/server/audit.h"
#include "rampart/server/authorizer.h"
#include "rampart/server/config.h"
#include "rampart/server/context.h"
#include "rampart/server/identity.h"
#include "rampart/store/store.h"

namespace rampart::server {

class Dispatcher {
 public:
  struct Deps {
    const Config* config;
    store::Database* db;
    CredentialStore* credentials;
    const Registry* registry;
    const Authorizer* authorizer;
    AuditSink* audit;
    const Clock* clock;
    // Dev mode only: wipes all state and bootstraps again.
    std::function<Status()> reset;
  };
  explicit Dispatcher(const Deps& deps) : d_(deps) {}

  void Handle(const http::Request& req, http::Response& resp);

  // While draining, /ready answers 503 so load balancers stop sending.
  void SetDraining() { draining_.store(true); }

 private:
  bool HandleOperational(const http::Request& req, http::Response& resp);
  void HandleApi(const http::Request& req, http::Response& resp);

  Deps d_;
  std::atomic<bool> draining_{false};
};

}  // namespace rampart::server
