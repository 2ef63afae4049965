// The IAM access advisor operations, registered on the "iam" service:
// GenerateServiceLastAccessedDetails, GetServiceLastAccessedDetails,
// GetServiceLastAccessedDetailsWithEntities,
// GenerateOrganizationsAccessReport and GetOrganizationsAccessReport.
//
// Reports are computed from the last-accessed store (advisor.h) when the
// job is generated, stored as a job, and read back page by page by the
// principal that generated it (docs/access-advisor.md).
//
// Thread-safety: handlers run concurrently on every worker thread; the
// service holds no mutable state.
#pragma once

#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/server/context.h"
#include "rampart/store/store.h"

namespace rampart::audit {

class AdvisorService {
 public:
  // REQUIRES: db outlives the service; the IAM, Organizations and advisor
  // migrations ran.
  explicit AdvisorService(store::Database& db) : db_(db) {}

  // Adds the five operations to "iam". REQUIRES: this outlives registry use.
  void Register(server::Registry& registry);

  Result<json::Value> GenerateServiceLastAccessedDetails(server::RequestContext& ctx,
                                                         const json::Value& in);
  Result<json::Value> GetServiceLastAccessedDetails(server::RequestContext& ctx,
                                                    const json::Value& in);
  Result<json::Value> GetServiceLastAccessedDetailsWithEntities(server::RequestContext& ctx,
                                                                const json::Value& in);
  Result<json::Value> GenerateOrganizationsAccessReport(server::RequestContext& ctx,
                                                        const json::Value& in);
  Result<json::Value> GetOrganizationsAccessReport(server::RequestContext& ctx,
                                                   const json::Value& in);

 private:
  store::Database& db_;
};

}  // namespace rampart::audit
