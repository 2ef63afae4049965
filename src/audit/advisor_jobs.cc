// Access advisor report jobs and per-service summaries.
#include <algorithm>

#include "audit/advisor_internal.h"

namespace rampart::audit::advisor {
namespace {

Status NoSuchJob(std::string_view job_id) {
  return Status::Modeled("NoSuchEntityException",
                         "No report job with id " + std::string(job_id) + " was found.");
}

}  // namespace

json::Value TimeValue(int64_t ms) {
  if (ms % 1000 == 0) return json::Value(ms / 1000);
  return json::Value(static_cast<double>(ms) / 1000.0);
}

Status InsertJob(store::Tx& tx, const Job& job) {
  ASSIGN_OR_RETURN(auto purge, tx.Prepare("DELETE FROM advisor_jobs WHERE created_ms < ?"));
  purge->Bind(1, job.created_ms - kJobLifetimeMs);
  RETURN_IF_ERROR(purge->Run());
  ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO advisor_jobs (job_id, account_id, owner_arn, "
                                      "kind, granularity, created_ms, completed_ms, report) "
                                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
  std::string report = json::Write(job.report);
  q->Bind(1, job.job_id).Bind(2, job.account_id).Bind(3, job.owner_arn).Bind(4, job.kind);
  q->Bind(5, job.granularity).Bind(6, job.created_ms).Bind(7, job.completed_ms).Bind(8, report);
  return q->Run();
}

Result<Job> FindOwnJob(store::Database& db, std::string_view job_id, std::string_view caller_arn,
                       std::string_view kind, int64_t now_ms) {
  std::optional<Job> found;
  std::string report;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT account_id, owner_arn, kind, granularity, "
                                        "created_ms, completed_ms, report FROM advisor_jobs "
                                        "WHERE job_id = ?"));
    q->Bind(1, job_id);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return Status::Ok();
    found = Job{std::string(job_id), q->Text(0), q->Text(1), q->Text(2),
                q->Text(3),          q->Int(4),  q->Int(5),  json::Value()};
    report = q->Text(6);
    return Status::Ok();
  }));
  if (!found || found->owner_arn != caller_arn || found->kind != kind ||
      found->created_ms + kJobLifetimeMs < now_ms) {
    return NoSuchJob(job_id);
  }
  auto parsed = json::Parse(report);
  if (!parsed.ok()) return Status::Internal("stored report does not parse");
  found->report = std::move(parsed).value();
  return std::move(*found);
}

std::map<std::string, ServiceAccess> Summarize(std::span<const AccessRecord> records) {
  std::map<std::string, ServiceAccess> out;
  for (const AccessRecord& r : records) {
    ServiceAccess& s = out[r.service];
    s.entities.insert(r.entity_arn);
    if (r.time_ms > s.time_ms) {
      s.time_ms = r.time_ms;
      s.entity = r.entity_arn;
      s.region = r.region;
    }
    ActionAccess& a = s.actions[r.action];
    if (r.time_ms > a.time_ms) a = ActionAccess{r.action, r.entity_arn, r.region, r.time_ms};
    int64_t& last = s.entity_last[r.entity_arn];
    last = std::max(last, r.time_ms);
  }
  return out;
}

}  // namespace rampart::audit::advisor
