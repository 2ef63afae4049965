// The IAM access advisor operations (service last accessed details and
// Organizations access reports).
#include "rampart/audit/advisor_service.h"

#include <algorithm>
#include <cstdio>

#include "audit/advisor_entities.h"
#include "audit/advisor_internal.h"
#include "iam/iam_internal.h"
#include "rampart/core/ids.h"

namespace rampart::audit {

using advisor::EntityInfo;
using advisor::EntityScope;
using advisor::Job;

namespace {

int64_t NowMs(const server::RequestContext& ctx) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(ctx.time().time_since_epoch())
      .count();
}

std::string PageKey(size_t index) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%010zu", index);
  return buf;
}

// One page of items into out[member] with IsTruncated and Marker (Marker
// and MaxItems as every IAM list operation reads them).
Status PageInto(json::Value& out, std::string_view member, const json::Array& items,
                const json::Value& in) {
  ASSIGN_OR_RETURN(iam::internal::Page page, iam::internal::ReadPage(in));
  iam::internal::PageCollector pages(page);
  json::Value list = json::Value::MakeArray();
  for (size_t i = 0; i < items.size(); ++i) {
    std::string key = PageKey(i);
    if (key < page.start) continue;
    if (!pages.Take(key)) break;
    list.push(items[i]);
  }
  out.set(member, std::move(list));
  pages.Finish(out);
  return Status::Ok();
}

void SetJobFields(json::Value& out, const Job& job) {
  out.set("JobStatus", "COMPLETED");
  out.set("JobCreationDate", advisor::TimeValue(job.created_ms));
  out.set("JobCompletionDate", advisor::TimeValue(job.completed_ms));
}

json::Value EntityInfoJson(const EntityInfo& e) {
  json::Value info = json::Value::MakeObject();
  info.set("Arn", e.arn);
  info.set("Name", e.name);
  info.set("Type", e.type);
  info.set("Id", e.id);
  info.set("Path", e.path);
  return info;
}

// The entities of a service, most recent access first, then by ARN.
json::Value EntitiesJson(const std::vector<EntityInfo>& entities,
                         const advisor::ServiceAccess* access) {
  std::vector<std::pair<int64_t, const EntityInfo*>> order;
  for (const EntityInfo& e : entities) {
    int64_t last = 0;
    if (access != nullptr) {
      auto it = access->entity_last.find(e.arn);
      if (it != access->entity_last.end()) last = it->second;
    }
    order.emplace_back(last, &e);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  json::Value list = json::Value::MakeArray();
  for (const auto& item : order) {
    json::Value d = json::Value::MakeObject();
    d.set("EntityInfo", EntityInfoJson(*item.second));
    if (item.first != 0) d.set("LastAuthenticated", advisor::TimeValue(item.first));
    list.push(std::move(d));
  }
  return list;
}

json::Value TrackedActionsJson(const advisor::ServiceAccess& access) {
  json::Value list = json::Value::MakeArray();
  for (const auto& entry : access.actions) {
    const advisor::ActionAccess& a = entry.second;
    json::Value t = json::Value::MakeObject();
    t.set("ActionName", a.action);
    t.set("LastAccessedEntity", a.entity);
    t.set("LastAccessedTime", advisor::TimeValue(a.time_ms));
    t.set("LastAccessedRegion", a.region);
    list.push(std::move(t));
  }
  return list;
}

// The report of a service job: every namespace the policies allow, with
// its last access by the scope's entities ("Entities" is kept for
// GetServiceLastAccessedDetailsWithEntities and never returned by
// GetServiceLastAccessedDetails).
json::Value ServiceReportJson(const EntityScope& scope,
                              const std::map<std::string, advisor::ServiceAccess>& access,
                              bool action_level) {
  json::Value services = json::Value::MakeArray();
  for (const std::string& ns : AllowedNamespaces(scope.documents, iam::PolicyKind::kIdentity)) {
    const ServiceName* name = FindServiceName(ns);
    auto it = access.find(ns);
    const advisor::ServiceAccess* a = it == access.end() ? nullptr : &it->second;
    json::Value s = json::Value::MakeObject();
    s.set("ServiceName", name != nullptr ? name->name : std::string_view(ns));
    s.set("ServiceNamespace", ns);
    s.set("TotalAuthenticatedEntities", static_cast<int64_t>(a ? a->entities.size() : 0));
    if (a != nullptr) {
      s.set("LastAuthenticated", advisor::TimeValue(a->time_ms));
      s.set("LastAuthenticatedEntity", a->entity);
      s.set("LastAuthenticatedRegion", a->region);
    }
    if (action_level && a != nullptr) s.set("TrackedActionsLastAccessed", TrackedActionsJson(*a));
    s.set("Entities", EntitiesJson(scope.entities, a));
    services.push(std::move(s));
  }
  json::Value out = json::Value::MakeObject();
  out.set("Services", std::move(services));
  return out;
}

Result<std::string> NewJobId() { return ids::SecureUuid(); }

const json::Array& ReportServices(const Job& job) {
  static const json::Array kEmpty;
  const json::Value* s = job.report.find("Services");
  return s != nullptr && s->is_array() ? s->as_array() : kEmpty;
}

// Sorts AccessDetails per GetOrganizationsAccessReport's SortKey. Services
// never accessed count as the oldest.
Status SortAccessDetails(json::Array& items, std::string_view key) {
  if (key.empty() || key == "SERVICE_NAMESPACE_ASCENDING") return Status::Ok();
  auto ns = [](const json::Value& v) { return std::string(v.get_string("ServiceNamespace")); };
  auto time = [](const json::Value& v) {
    const json::Value* t = v.find("LastAuthenticatedTime");
    return t != nullptr && t->is_number() ? t->as_double() : -1.0;
  };
  if (key == "SERVICE_NAMESPACE_DESCENDING") {
    std::stable_sort(items.begin(), items.end(),
                     [&ns](const json::Value& a, const json::Value& b) { return ns(a) > ns(b); });
  } else if (key == "LAST_AUTHENTICATED_TIME_ASCENDING") {
    std::stable_sort(
        items.begin(), items.end(),
        [&time](const json::Value& a, const json::Value& b) { return time(a) < time(b); });
  } else if (key == "LAST_AUTHENTICATED_TIME_DESCENDING") {
    std::stable_sort(
        items.begin(), items.end(),
        [&time](const json::Value& a, const json::Value& b) { return time(a) > time(b); });
  } else {
    return Status::Modeled("InvalidInputException", "Invalid SortKey " + std::string(key) + ".");
  }
  return Status::Ok();
}

}  // namespace

void AdvisorService::Register(server::Registry& registry) {
  using Handler =
      Result<json::Value> (AdvisorService::*)(server::RequestContext&, const json::Value&);
  const std::pair<std::string_view, Handler> bindings[] = {
      {"GenerateServiceLastAccessedDetails", &AdvisorService::GenerateServiceLastAccessedDetails},
      {"GetServiceLastAccessedDetails", &AdvisorService::GetServiceLastAccessedDetails},
      {"GetServiceLastAccessedDetailsWithEntities",
       &AdvisorService::GetServiceLastAccessedDetailsWithEntities},
      {"GenerateOrganizationsAccessReport", &AdvisorService::GenerateOrganizationsAccessReport},
      {"GetOrganizationsAccessReport", &AdvisorService::GetOrganizationsAccessReport},
  };
  for (const auto& b : bindings) {
    registry.Add("iam", b.first,
                 [this, h = b.second](server::RequestContext& ctx, const json::Value& in) {
                   return (this->*h)(ctx, in);
                 });
  }
}

Result<json::Value> AdvisorService::GenerateServiceLastAccessedDetails(server::RequestContext& ctx,
                                                                       const json::Value& in) {
  std::string arn(in.get_string("Arn"));
  std::string granularity(in.get_string("Granularity"));
  if (granularity.empty()) granularity = "SERVICE_LEVEL";
  RETURN_IF_ERROR(ctx.Authorize("iam:GenerateServiceLastAccessedDetails", arn));
  const std::string& account = ctx.principal().account_id;
  int64_t now = NowMs(ctx);
  EntityScope scope;
  std::vector<AccessRecord> rows;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(scope, advisor::ResolveEntity(tx, account, arn));
    std::vector<std::string> arns;
    for (const EntityInfo& e : scope.entities) arns.push_back(e.arn);
    if (arns.empty()) return Status::Ok();
    ASSIGN_OR_RETURN(rows, AccessOfEntities(tx, account, arns, now - kTrackingPeriodMs));
    return Status::Ok();
  }));
  ASSIGN_OR_RETURN(std::string job_id, NewJobId());
  Job job{job_id, account, ctx.principal().arn, std::string(advisor::kServiceJob), granularity,
          now,    now,     json::Value()};
  job.report = ServiceReportJson(scope, advisor::Summarize(rows), granularity == "ACTION_LEVEL");
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) { return advisor::InsertJob(tx, job); }));
  json::Value out = json::Value::MakeObject();
  out.set("JobId", job_id);
  return out;
}

Result<json::Value> AdvisorService::GetServiceLastAccessedDetails(server::RequestContext& ctx,
                                                                  const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:GetServiceLastAccessedDetails", "*"));
  ASSIGN_OR_RETURN(Job job, advisor::FindOwnJob(db_, in.get_string("JobId"), ctx.principal().arn,
                                                advisor::kServiceJob, NowMs(ctx)));
  json::Array services = ReportServices(job);
  for (json::Value& s : services) {
    json::Object& members = s.as_object();
    std::erase_if(members, [](const json::Member& m) { return m.first == "Entities"; });
  }
  json::Value out = json::Value::MakeObject();
  SetJobFields(out, job);
  out.set("JobType", job.granularity);
  RETURN_IF_ERROR(PageInto(out, "ServicesLastAccessed", services, in));
  return out;
}

Result<json::Value> AdvisorService::GetServiceLastAccessedDetailsWithEntities(
    server::RequestContext& ctx, const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:GetServiceLastAccessedDetailsWithEntities", "*"));
  ASSIGN_OR_RETURN(Job job, advisor::FindOwnJob(db_, in.get_string("JobId"), ctx.principal().arn,
                                                advisor::kServiceJob, NowMs(ctx)));
  std::string_view ns = in.get_string("ServiceNamespace");
  json::Array entities;
  for (const json::Value& s : ReportServices(job)) {
    if (s.get_string("ServiceNamespace") != ns) continue;
    const json::Value* e = s.find("Entities");
    if (e != nullptr && e->is_array()) entities = e->as_array();
  }
  json::Value out = json::Value::MakeObject();
  SetJobFields(out, job);
  RETURN_IF_ERROR(PageInto(out, "EntityDetailsList", entities, in));
  return out;
}

Result<json::Value> AdvisorService::GenerateOrganizationsAccessReport(server::RequestContext& ctx,
                                                                      const json::Value& in) {
  std::string path(in.get_string("EntityPath"));
  std::string policy_id(in.get_string("OrganizationsPolicyId"));
  const std::string& account = ctx.principal().account_id;
  RETURN_IF_ERROR(ctx.Authorize("iam:GenerateOrganizationsAccessReport",
                                "arn:aws:iam::" + account + ":access-report/" + path));
  // The report reads the organization's tree and policies (IAM User Guide,
  // "Refining permissions using service last accessed data").
  for (std::string_view action :
       {"organizations:DescribeOrganization", "organizations:ListChildren",
        "organizations:ListParents", "organizations:ListPoliciesForTarget"}) {
    RETURN_IF_ERROR(ctx.Authorize(action, "*"));
  }
  if (!policy_id.empty()) RETURN_IF_ERROR(ctx.Authorize("organizations:DescribePolicy", "*"));
  int64_t now = NowMs(ctx);
  json::Value report;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(advisor::OrgScope scope, advisor::ResolveOrgScope(tx, account, path));
    ASSIGN_OR_RETURN(NamespaceSet allowed, advisor::ScpAllowedNamespaces(tx, scope, policy_id));
    ASSIGN_OR_RETURN(auto access, advisor::OrgAccess(tx, scope, now - kTrackingPeriodMs));
    report = advisor::OrgReportJson(allowed, access);
    return Status::Ok();
  }));
  ASSIGN_OR_RETURN(std::string job_id, NewJobId());
  Job job{job_id, account, ctx.principal().arn, std::string(advisor::kOrganizationsJob), "",
          now,    now,     std::move(report)};
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) { return advisor::InsertJob(tx, job); }));
  json::Value out = json::Value::MakeObject();
  out.set("JobId", job_id);
  return out;
}

Result<json::Value> AdvisorService::GetOrganizationsAccessReport(server::RequestContext& ctx,
                                                                 const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("iam:GetOrganizationsAccessReport", "*"));
  ASSIGN_OR_RETURN(Job job, advisor::FindOwnJob(db_, in.get_string("JobId"), ctx.principal().arn,
                                                advisor::kOrganizationsJob, NowMs(ctx)));
  json::Array details = ReportServices(job);
  int64_t accessed = 0;
  for (const json::Value& d : details) accessed += d.find("LastAuthenticatedTime") != nullptr;
  RETURN_IF_ERROR(SortAccessDetails(details, in.get_string("SortKey")));
  json::Value out = json::Value::MakeObject();
  SetJobFields(out, job);
  out.set("NumberOfServicesAccessible", static_cast<int64_t>(details.size()));
  out.set("NumberOfServicesNotAccessed", static_cast<int64_t>(details.size()) - accessed);
  RETURN_IF_ERROR(PageInto(out, "AccessDetails", details, in));
  return out;
}

}  // namespace rampart::audit
