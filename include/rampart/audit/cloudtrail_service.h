// CloudTrail (JSON 1.1, signing name "cloudtrail"): LookupEvents over the
// events StoreAuditSink stores, and trails (trails.cc) whose log files
// TrailDelivery writes.
//
// Thread-safety: handlers run concurrently; the service holds no mutable
// state outside the database.
#pragma once

#include "rampart/audit/delivery.h"
#include "rampart/audit/signing_keys.h"
#include "rampart/core/status.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/server/context.h"
#include "rampart/store/store.h"

namespace rampart::audit {

class CloudTrailService {
 public:
  // REQUIRES: db outlives the service; MigrateEventStore(db) succeeded.
  explicit CloudTrailService(store::Database& db) : db_(db) {}

  // The tables of the service's own (trail tags). Call once at start-up.
  static Status Migrate(store::Database& db);

  // Lets StopLogging trigger a last delivery. REQUIRES: before Register;
  // delivery outlives the service.
  void SetDelivery(TrailDelivery* delivery) { delivery_ = delivery; }

  // Serves ListPublicKeys from keys. REQUIRES: before Register; keys
  // outlives the service. Trails need DigestWriter::Migrate(db) too.
  void SetSigningKeys(SigningKeys* keys) { keys_ = keys; }

  // Lets the management account create organization trails. REQUIRES:
  // before Register; organizations outlives the service.
  void SetOrganizationView(const iam::OrganizationView* organizations) {
    organizations_ = organizations;
  }

  // Adds the CloudTrail handlers. REQUIRES: this outlives registry use.
  void Register(server::Registry& registry);

 private:
  store::Database& db_;
  TrailDelivery* delivery_ = nullptr;
  SigningKeys* keys_ = nullptr;
  const iam::OrganizationView* organizations_ = nullptr;
};

}  // namespace rampart::audit
