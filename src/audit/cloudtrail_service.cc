// CloudTrailService: handler registration and the migration of its own tables.
#include "rampart/audit/cloudtrail_service.h"

#include "audit/lookup.h"
#include "audit/trail_tags.h"
#include "audit/trails.h"

namespace rampart::audit {

Status CloudTrailService::Migrate(store::Database& db) { return internal::MigrateTrailTags(db); }

void CloudTrailService::Register(server::Registry& registry) {
  registry.Add("cloudtrail", "LookupEvents",
               [db = &db_](server::RequestContext& ctx, const json::Value& in) {
                 return HandleLookupEvents(*db, ctx, in);
               });
  internal::Deps deps;
  deps.db = &db_;
  deps.organizations = organizations_;
  if (delivery_ != nullptr) deps.wake_delivery = [d = delivery_] { d->Wake(); };
  internal::RegisterTrails(registry, deps);
  internal::RegisterTrailTags(registry, deps);
  if (keys_ != nullptr) keys_->Register(registry);
}

}  // namespace rampart::audit
