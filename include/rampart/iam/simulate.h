// The IAM policy simulator on the real engine: SimulateCustomPolicy,
// SimulatePrincipalPolicy, GetContextKeysForCustomPolicy and
// GetContextKeysForPrincipalPolicy (IAM, query protocol).
//
// A simulation builds the same PolicySet and AuthzRequest that a live call
// would and asks Decide, so "allowed" here means allowed by the server.
// For every (action, resource) pair it answers the decision, the
// statements that decided it (as SourcePolicyId / SourcePolicyType), the
// condition keys the policies use that the request did not supply
// (MissingContextValues), and whether a permissions boundary allowed it.
//
// Thread-safety: SimulationService is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rampart/core/status.h"
#include "rampart/iam/engine.h"
#include "rampart/server/context.h"
#include "rampart/store/store.h"

namespace rampart::iam {

// The caller and policies one simulation weighs.
struct SimulationSubject {
  PrincipalInfo principal;                  // the simulated caller
  std::vector<PolicyPtr> identity;          // identity policies
  std::vector<std::string> identity_ids;    // SourcePolicyId of each
  std::vector<std::string> identity_types;  // "user", "group", "role", "aws-managed", "user-managed"
  PolicyPtr boundary;                       // may be null
};

class SimulationService {
 public:
  // REQUIRES: db outlives the service.
  explicit SimulationService(store::Database& db) : db_(db) {}

  // Adds the handlers. REQUIRES: this outlives registry use.
  void Register(server::Registry& registry);

  Result<json::Value> SimulateCustomPolicy(server::RequestContext& ctx, const json::Value& in);
  Result<json::Value> SimulatePrincipalPolicy(server::RequestContext& ctx,
                                              const json::Value& in);
  Result<json::Value> GetContextKeysForCustomPolicy(server::RequestContext& ctx,
                                                    const json::Value& in);
  Result<json::Value> GetContextKeysForPrincipalPolicy(server::RequestContext& ctx,
                                                       const json::Value& in);

 private:
  store::Database& db_;
};

}  // namespace rampart::iam
