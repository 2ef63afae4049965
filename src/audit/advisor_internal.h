// Pieces shared by the access advisor files (src/audit/advisor_*.cc) and
// the `rampart advisor` command. Not a public interface.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iam/org_internal.h"
#include "rampart/audit/advisor.h"
#include "rampart/audit/advisor_services.h"
#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/store/store.h"

namespace rampart::audit::advisor {

// ---- report jobs (advisor_jobs.cc) ----

// A report job. Jobs complete when they are created (the data is local),
// but keep AWS's job shape: an id, a status, creation and completion times,
// and an owner: only the principal that generated a job (the same user, or
// the same role session) may read it.
struct Job {
  std::string job_id;  // a UUID (36 characters, jobIDType)
  std::string account_id;
  std::string owner_arn;    // the caller's ARN (session ARN for roles)
  std::string kind;         // kServiceJob or kOrganizationsJob
  std::string granularity;  // SERVICE_LEVEL / ACTION_LEVEL; empty for org jobs
  int64_t created_ms = 0;
  int64_t completed_ms = 0;
  json::Value report;  // the finished report (see the builders)
};
inline constexpr std::string_view kServiceJob = "SERVICE";
inline constexpr std::string_view kOrganizationsJob = "ORGANIZATIONS";
// How long a finished report can be read. AWS keeps reports for a limited
// time without documenting it; Rampart keeps them 7 days.
inline constexpr int64_t kJobLifetimeMs = int64_t{7} * 24 * 3600 * 1000;

// Stores the job and deletes the jobs whose lifetime is over.
Status InsertJob(store::Tx& tx, const Job& job);
// The job the caller may read: NoSuchEntity when unknown, expired, of
// another kind, or owned by another principal (the same answer, so that
// job ids of others cannot be probed).
Result<Job> FindOwnJob(store::Database& db, std::string_view job_id, std::string_view caller_arn,
                       std::string_view kind, int64_t now_ms);

// Seconds since the epoch (whole seconds while exact, else fractional) as
// an output timestamp.
json::Value TimeValue(int64_t ms);

// ---- per-service summaries (advisor_reports.cc) ----

struct ActionAccess {
  std::string action;
  std::string entity;
  std::string region;
  int64_t time_ms = 0;
};
// The last access to one service by a set of entities.
struct ServiceAccess {
  int64_t time_ms = 0;
  std::string entity;  // who made it
  std::string region;
  std::set<std::string> entities;               // every entity that accessed the service
  std::map<std::string, ActionAccess> actions;  // by action name
  std::map<std::string, int64_t> entity_last;   // each entity's last access
};
// By namespace.
std::map<std::string, ServiceAccess> Summarize(std::span<const AccessRecord> records);

// ---- organizations (advisor_org.cc) ----

// An Organizations entity path resolved against the caller's organization.
struct OrgScope {
  iam::org::OrgRow org;
  std::string path;                 // normalised, without a trailing slash
  std::vector<std::string> levels;  // root, OUs..., and the account if the target is one
  // Accounts at or under the target, each with its own entity path.
  std::vector<std::pair<std::string, std::string>> accounts;
};

// REQUIRES: management_account is the caller's account. Errors: the
// caller has no organization (AWSOrganizationsNotInUseException), is not its
// management account (AccessDenied), SCPs are not enabled or the path is
// malformed or names no entity of the organization (InvalidInput).
Result<OrgScope> ResolveOrgScope(store::Tx& tx, std::string_view management_account,
                                 std::string_view entity_path);

// The namespaces the SCPs along the scope's path allow, or only those the
// given SCP allows (NoSuchEntity when the organization has no such policy).
Result<NamespaceSet> ScpAllowedNamespaces(store::Tx& tx, const OrgScope& scope,
                                          std::string_view policy_id);

struct OrgServiceAccess {
  int64_t time_ms = 0;
  std::string region;
  std::string entity_path;         // of the account that made the last access
  std::set<std::string> accounts;  // accounts with an access
};
// The last access to each namespace by any principal of the scope's
// accounts, at or after since_ms.
Result<std::map<std::string, OrgServiceAccess>> OrgAccess(store::Tx& tx, const OrgScope& scope,
                                                          int64_t since_ms);

// The organizations report stored in a job: {"Services": [...AccessDetail]}
// sorted by namespace.
json::Value OrgReportJson(const NamespaceSet& allowed,
                          const std::map<std::string, OrgServiceAccess>& access);

// ---- propose-scp (advisor_org.cc) ----

// SCP documents that deny every namespace given ("ns:*"), in order, each
// within the 5,120-character SCP quota (split into as many as needed).
std::vector<std::string> DenyServicesScps(std::span<const std::string> namespaces);

}  // namespace rampart::audit::advisor
