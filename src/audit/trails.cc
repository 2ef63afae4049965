// CloudTrail trails: CreateTrail, UpdateTrail, DeleteTrail, GetTrail,
// DescribeTrails, GetTrailStatus, StartLogging, StopLogging,
// GetEventSelectors, PutEventSelectors (ListTrails and tags: trail_tags.cc).
// A trail's S3 bucket is a directory under <data-dir>/trails/ (see
// delivery.cc); there is no S3.
#include "audit/trails.h"

#include <chrono>
#include <optional>

#include "rampart/audit/digest.h"
#include "rampart/core/clock.h"

#include "audit/trail_tags.h"
#include "audit/trails_internal.h"

namespace rampart::audit::internal {
namespace {

constexpr size_t kMaxTrailsPerRegion = 5;
constexpr size_t kMaxEventSelectors = 5;

int64_t NowSeconds(const server::RequestContext& ctx) {
  return std::chrono::duration_cast<std::chrono::seconds>(ctx.time().time_since_epoch()).count();
}

Status InvalidName() {
  return Status::Modeled(
      "InvalidTrailNameException",
      "Trail name must be 3-128 letters, digits, periods, underscores or dashes, start and end "
      "with a letter or digit, and have no two periods, underscores or dashes in a row.");
}

// A trail as a request names it: by name (account empty: the caller's), or
// by ARN.
struct TrailRef {
  std::string account;
  std::string name;
};

Status NotFound(std::string_view name_or_arn, const server::RequestContext& ctx) {
  // CloudTrail names the trail by ARN, also when it was given by name.
  std::string arn(name_or_arn);
  if (!name_or_arn.starts_with("arn:")) {
    arn = "arn:aws:cloudtrail:" + std::string(ctx.region()) + ":" + ctx.principal().account_id +
          ":trail/" + arn;
  }
  return Status::Modeled("TrailNotFoundException",
                         "Unknown trail: " + arn + " for the user: " + ctx.principal().account_id);
}

// Name may be a trail name or a trail ARN
// (arn:aws:cloudtrail:<region>:<account>:trail/<name>).
Result<TrailRef> ParseTrailRef(std::string_view name_or_arn) {
  if (!name_or_arn.starts_with("arn:")) {
    if (!ValidTrailName(name_or_arn)) return InvalidName();
    return TrailRef{"", std::string(name_or_arn)};
  }
  std::string_view rest = name_or_arn;
  std::string_view parts[6];
  for (int i = 0; i < 5; ++i) {
    size_t colon = rest.find(':');
    if (colon == std::string_view::npos) return InvalidName();
    parts[i] = rest.substr(0, colon);
    rest.remove_prefix(colon + 1);
  }
  parts[5] = rest;
  if (parts[2] != "cloudtrail" || !parts[5].starts_with("trail/")) return InvalidName();
  std::string_view name = parts[5].substr(6);
  if (!ValidTrailName(name)) return InvalidName();
  return TrailRef{std::string(parts[4]), std::string(name)};
}

// Whether row is another account's trail that the caller sees: an
// organization trail of its organization.
bool Shared(const TrailRow& row, const server::RequestContext& ctx) {
  return row.account_id != ctx.principal().account_id;
}

// The ARN a request is authorized against. A member account's view of an
// organization trail is authorized as a trail of its own account (the
// copy CloudTrail keeps in every member account), so that the member's own
// policies decide, not the management account's.
std::string AuthorizationArn(const TrailRow& row, const server::RequestContext& ctx) {
  if (!Shared(row, ctx)) return row.Arn();
  return "arn:aws:cloudtrail:" + row.home_region + ":" + ctx.principal().account_id + ":trail/" +
         row.name;
}

// Finds the trail a request names. By name the caller finds only its own
// trails; a member account finds its organization's trails by their ARN
// (in the management account), as in CloudTrail. member_org is
// MemberOrganization of the caller.
Result<TrailRow> FindTrail(store::Tx& tx, std::string_view name_or_arn,
                           const server::RequestContext& ctx, const std::string& member_org) {
  ASSIGN_OR_RETURN(TrailRef ref, ParseTrailRef(name_or_arn));
  const std::string& caller = ctx.principal().account_id;
  std::optional<TrailRow> row;
  if (ref.account.empty() || ref.account == caller) {
    ASSIGN_OR_RETURN(row, LoadTrail(tx, caller, ctx.region(), ref.name));
  } else if (!member_org.empty()) {
    ASSIGN_OR_RETURN(row, LoadTrail(tx, ref.account, ctx.region(), ref.name));
    if (row && row->organization_id != member_org) row.reset();
  }
  if (!row) return NotFound(name_or_arn, ctx);
  ASSIGN_OR_RETURN(row->log_file_validation,
                   LogFileValidationEnabled(tx, row->account_id, row->name));
  return std::move(*row);
}

// Whether the request's name is an ARN of another account: only then can
// it name an organization trail of the caller's organization.
bool NamesOtherAccount(std::string_view name_or_arn, const server::RequestContext& ctx) {
  auto ref = ParseTrailRef(name_or_arn);
  return ref.ok() && !ref->account.empty() && ref->account != ctx.principal().account_id;
}

// MemberOrganization, asked only when the name could need it.
std::string OrganizationFor(const Deps& deps, std::string_view name_or_arn,
                            const server::RequestContext& ctx) {
  if (!NamesOtherAccount(name_or_arn, ctx)) return {};
  return MemberOrganization(deps, ctx.principal().account_id);
}

// Member accounts see their organization's trails but may not change them.
Status CheckOwner(const TrailRow& row, const server::RequestContext& ctx) {
  if (!Shared(row, ctx)) return Status::Ok();
  return Status::Modeled("NotOrganizationMasterAccountException",
                         "The organization trail " + row.Arn() +
                             " can be changed only by the management account of the "
                             "organization.");
}

Status CheckHomeRegion(const TrailRow& row, const server::RequestContext& ctx) {
  if (row.home_region == ctx.region()) return Status::Ok();
  return Status::Modeled("InvalidHomeRegionException",
                         "This operation must be called from the trail's home region, " +
                             row.home_region + ".");
}

Status RejectUnsupported(const json::Value& in) {
  for (std::string_view member : {"SnsTopicName", "CloudWatchLogsLogGroupArn",
                                  "CloudWatchLogsRoleArn", "KmsKeyId"}) {
    if (!in.get_string(member).empty()) {
      return Status::Modeled("UnsupportedOperationException",
                             "Rampart does not support " + std::string(member) + " on trails.");
    }
  }
  return Status::Ok();
}

// IsOrganizationTrail: only the management account of an organization may
// make its trail record every account of the organization.
Status ApplyOrganization(const json::Value& in, const Deps& deps, TrailRow& row) {
  const json::Value* org = in.find("IsOrganizationTrail");
  if (org == nullptr || !org->is_bool()) return Status::Ok();
  if (!org->as_bool()) {
    row.organization_id.clear();
    return Status::Ok();
  }
  if (deps.organizations == nullptr) {
    return Status::Modeled("UnsupportedOperationException",
                           "Organization trails are not available on this server.");
  }
  ASSIGN_OR_RETURN(iam::OrgPlacement placement, deps.organizations->PlacementOf(row.account_id));
  if (placement.org_id.empty()) {
    return Status::Modeled("OrganizationsNotInUseException",
                           "This account is not a member of an organization.");
  }
  if (!placement.management) {
    return Status::Modeled("NotOrganizationMasterAccountException",
                           "Only the management account of the organization can create or "
                           "update an organization trail.");
  }
  row.organization_id = placement.org_id;
  return Status::Ok();
}

bool BoolOr(const json::Value& in, std::string_view member, bool fallback) {
  const json::Value* v = in.find(member);
  return v != nullptr && v->is_bool() ? v->as_bool() : fallback;
}

// Applies the destination members of CreateTrail/UpdateTrail to row.
Status ApplySettings(const json::Value& in, const Deps& deps, TrailRow& row) {
  RETURN_IF_ERROR(RejectUnsupported(in));
  RETURN_IF_ERROR(ApplyOrganization(in, deps, row));
  if (const json::Value* bucket = in.find("S3BucketName"); bucket != nullptr) {
    if (!bucket->is_string() || !ValidBucketName(bucket->as_string())) {
      return Status::Modeled("InvalidS3BucketNameException",
                             "Bucket name is not valid: " +
                                 std::string(bucket->is_string() ? bucket->as_string() : ""));
    }
    row.bucket = bucket->as_string();
  }
  if (const json::Value* prefix = in.find("S3KeyPrefix"); prefix != nullptr) {
    if (!prefix->is_string() || !ValidKeyPrefix(prefix->as_string())) {
      return Status::Modeled("InvalidS3PrefixException", "The S3 key prefix is not valid.");
    }
    row.prefix = prefix->as_string();
  }
  row.include_global = BoolOr(in, "IncludeGlobalServiceEvents", row.include_global);
  row.multi_region = BoolOr(in, "IsMultiRegionTrail", row.multi_region);
  row.log_file_validation = BoolOr(in, "EnableLogFileValidation", row.log_file_validation);
  if (row.multi_region && !row.include_global) {
    return Status::Modeled("InvalidParameterCombinationException",
                           "A multi-region trail must include global service events.");
  }
  return Status::Ok();
}

json::Value Settings(const TrailRow& row) {
  json::Value out = json::Value::MakeObject();
  out.set("Name", row.name);
  out.set("S3BucketName", row.bucket);
  if (!row.prefix.empty()) out.set("S3KeyPrefix", row.prefix);
  out.set("IncludeGlobalServiceEvents", row.include_global);
  out.set("IsMultiRegionTrail", row.multi_region);
  out.set("TrailARN", row.Arn());
  out.set("LogFileValidationEnabled", row.log_file_validation);
  out.set("IsOrganizationTrail", !row.organization_id.empty());
  return out;
}

json::Value TrailShape(const TrailRow& row) {
  json::Value out = Settings(row);
  out.set("HomeRegion", row.home_region);
  out.set("HasCustomEventSelectors", !row.event_selectors.empty());
  out.set("HasInsightSelectors", false);
  return out;
}

Result<json::Value> CreateTrail(const Deps& deps, server::RequestContext& ctx,
                                const json::Value& in) {
  std::string_view name = in.get_string("Name");
  if (!ValidTrailName(name)) return InvalidName();
  TrailRow row;
  row.account_id = ctx.principal().account_id;
  row.home_region = std::string(ctx.region());
  row.name = std::string(name);
  ASSIGN_OR_RETURN(TrailTags tags, ReadTrailTags(in));
  RETURN_IF_ERROR(ctx.Authorize("cloudtrail:CreateTrail", row.Arn(), server::RequestTagKeys(tags)));
  RETURN_IF_ERROR(ApplySettings(in, deps, row));
  row.created_at = NowSeconds(ctx);
  Status st = deps.db->Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(bool taken, TrailNameTaken(tx, row.account_id, row.name));
    if (taken) {
      return Status::Modeled("TrailAlreadyExistsException",
                             "Trail " + row.name + " already exists for customer: " +
                                 row.account_id);
    }
    ASSIGN_OR_RETURN(auto trails, LoadTrails(tx, row.account_id, row.home_region));
    if (trails.size() >= kMaxTrailsPerRegion) {
      return Status::Modeled("MaximumNumberOfTrailsExceededException",
                             "User: " + row.account_id + " already has 5 trails in " +
                                 row.home_region + ".");
    }
    RETURN_IF_ERROR(InsertTrail(tx, row));
    RETURN_IF_ERROR(PutTrailTags(tx, row.account_id, row.name, tags));
    return SetLogFileValidation(tx, row.account_id, row.name, row.log_file_validation,
                                row.created_at);
  });
  RETURN_IF_ERROR(st);
  return Settings(row);
}

// Runs fn on the named trail inside a write transaction and stores the
// changed row. Mutations must come from the home region.
Result<TrailRow> Mutate(const Deps& deps, server::RequestContext& ctx, std::string_view action,
                        std::string_view name_or_arn,
                        const std::function<Status(store::Tx&, TrailRow&)>& fn) {
  TrailRow result;
  std::string member_org = OrganizationFor(deps, name_or_arn, ctx);
  Status st = deps.db->Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(TrailRow row, FindTrail(tx, name_or_arn, ctx, member_org));
    ASSIGN_OR_RETURN(auto keys, TrailResourceTagKeys(tx, row.account_id, row.name));
    RETURN_IF_ERROR(ctx.Authorize(action, AuthorizationArn(row, ctx), keys));
    RETURN_IF_ERROR(CheckOwner(row, ctx));
    RETURN_IF_ERROR(CheckHomeRegion(row, ctx));
    RETURN_IF_ERROR(fn(tx, row));
    RETURN_IF_ERROR(UpdateTrailRow(tx, row));
    RETURN_IF_ERROR(SetLogFileValidation(tx, row.account_id, row.name, row.log_file_validation,
                                         NowSeconds(ctx)));
    result = std::move(row);
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  return result;
}

Result<json::Value> UpdateTrail(const Deps& deps, server::RequestContext& ctx,
                                const json::Value& in) {
  auto apply = [&](store::Tx&, TrailRow& r) { return ApplySettings(in, deps, r); };
  ASSIGN_OR_RETURN(TrailRow row,
                   Mutate(deps, ctx, "cloudtrail:UpdateTrail", in.get_string("Name"), apply));
  return Settings(row);
}

Result<json::Value> DeleteTrail(const Deps& deps, server::RequestContext& ctx,
                                const json::Value& in) {
  std::string_view name = in.get_string("Name");
  std::string member_org = OrganizationFor(deps, name, ctx);
  Status st = deps.db->Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(TrailRow row, FindTrail(tx, name, ctx, member_org));
    ASSIGN_OR_RETURN(auto keys, TrailResourceTagKeys(tx, row.account_id, row.name));
    RETURN_IF_ERROR(ctx.Authorize("cloudtrail:DeleteTrail", AuthorizationArn(row, ctx), keys));
    RETURN_IF_ERROR(CheckOwner(row, ctx));
    RETURN_IF_ERROR(CheckHomeRegion(row, ctx));
    RETURN_IF_ERROR(ForgetTrailDigests(tx, row.account_id, row.name));
    RETURN_IF_ERROR(DeleteTrailTags(tx, row.account_id, row.name));
    return DeleteTrailRow(tx, row);
  });
  RETURN_IF_ERROR(st);
  return json::Value::MakeObject();
}

Result<TrailRow> Read(const Deps& deps, server::RequestContext& ctx, std::string_view action,
                      std::string_view name_or_arn) {
  TrailRow result;
  std::vector<server::ConditionKey> keys;
  std::string member_org = OrganizationFor(deps, name_or_arn, ctx);
  Status st = deps.db->Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(result, FindTrail(tx, name_or_arn, ctx, member_org));
    ASSIGN_OR_RETURN(keys, TrailResourceTagKeys(tx, result.account_id, result.name));
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(ctx.Authorize(action, AuthorizationArn(result, ctx), keys));
  return result;
}

Result<json::Value> GetTrail(const Deps& deps, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(TrailRow row, Read(deps, ctx, "cloudtrail:GetTrail", in.get_string("Name")));
  json::Value out = json::Value::MakeObject();
  out.set("Trail", TrailShape(row));
  return out;
}

// Whether a trailNameList entry names row: a name names the caller's own
// trail, an ARN the trail of its account.
bool Names(const TrailRef& ref, const TrailRow& row, const server::RequestContext& ctx) {
  std::string_view account = ref.account.empty() ? ctx.principal().account_id : ref.account;
  return ref.name == row.name && account == row.account_id;
}

Result<json::Value> DescribeTrails(const Deps& deps, server::RequestContext& ctx,
                                   const json::Value& in) {
  RETURN_IF_ERROR(ctx.Authorize("cloudtrail:DescribeTrails", "*"));
  bool shadows = BoolOr(in, "includeShadowTrails", true);
  std::vector<TrailRef> wanted;
  if (const json::Value* list = in.find("trailNameList"); list != nullptr && list->is_array()) {
    for (const json::Value& n : list->as_array()) {
      if (!n.is_string()) continue;
      ASSIGN_OR_RETURN(TrailRef ref, ParseTrailRef(n.as_string()));
      wanted.push_back(std::move(ref));
    }
  }
  // A member account's copies of its organization's trails are shadow
  // trails (CloudTrail's DescribeTrails documentation).
  std::string member_org = shadows ? MemberOrganization(deps, ctx.principal().account_id) : "";
  std::vector<TrailRow> rows;
  Status st = deps.db->Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(rows, LoadTrails(tx, ctx.principal().account_id, ctx.region()));
    ASSIGN_OR_RETURN(auto organization, LoadOrganizationTrails(tx, member_org, ctx.region()));
    for (TrailRow& r : organization) rows.push_back(std::move(r));
    for (TrailRow& r : rows) {
      ASSIGN_OR_RETURN(r.log_file_validation, LogFileValidationEnabled(tx, r.account_id, r.name));
    }
    return Status::Ok();
  });
  RETURN_IF_ERROR(st);
  json::Value list = json::Value::MakeArray();
  for (const TrailRow& row : rows) {
    if (!shadows && row.home_region != ctx.region()) continue;
    bool listed = wanted.empty();
    for (const TrailRef& w : wanted) listed = listed || Names(w, row, ctx);
    if (listed) list.push(TrailShape(row));
  }
  json::Value out = json::Value::MakeObject();
  out.set("trailList", std::move(list));
  return out;
}

void SetTime(json::Value& out, std::string_view member, int64_t seconds) {
  if (seconds != 0) out.set(member, seconds);
}

Result<json::Value> GetTrailStatus(const Deps& deps, server::RequestContext& ctx,
                                   const json::Value& in) {
  ASSIGN_OR_RETURN(TrailRow row,
                   Read(deps, ctx, "cloudtrail:GetTrailStatus", in.get_string("Name")));
  int64_t digest_time = 0;
  RETURN_IF_ERROR(deps.db->Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(digest_time, LatestDigestTime(tx, row.account_id, row.name));
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("IsLogging", row.logging);
  SetTime(out, "LatestDeliveryTime", row.latest_delivery_time);
  SetTime(out, "LatestDigestDeliveryTime", digest_time);
  SetTime(out, "StartLoggingTime", row.start_logging_time);
  SetTime(out, "StopLoggingTime", row.stop_logging_time);
  if (!row.latest_delivery_error.empty()) out.set("LatestDeliveryError", row.latest_delivery_error);
  if (row.latest_delivery_attempt != 0) {
    out.set("LatestDeliveryAttemptTime",
            FormatIso8601(TimePoint(std::chrono::seconds(row.latest_delivery_attempt))));
    out.set("LatestDeliveryAttemptSucceeded", row.latest_delivery_error.empty() ? "true" : "false");
  }
  if (row.start_logging_time != 0) {
    out.set("TimeLoggingStarted",
            FormatIso8601(TimePoint(std::chrono::seconds(row.start_logging_time))));
  }
  if (row.stop_logging_time != 0) {
    out.set("TimeLoggingStopped",
            FormatIso8601(TimePoint(std::chrono::seconds(row.stop_logging_time))));
  }
  return out;
}

Result<json::Value> StartLogging(const Deps& deps, server::RequestContext& ctx,
                                 const json::Value& in) {
  int64_t now = NowSeconds(ctx);
  ASSIGN_OR_RETURN(TrailRow row,
                   Mutate(deps, ctx, "cloudtrail:StartLogging", in.get_string("Name"),
                          [&](store::Tx& tx, TrailRow& r) -> Status {
                            if (r.logging) return Status::Ok();
                            // Deliver what happens from now on.
                            ASSIGN_OR_RETURN(r.delivered_seq, MaxEventSeq(tx));
                            r.logging = true;
                            r.start_logging_time = now;
                            return Status::Ok();
                          }));
  (void)row;
  return json::Value::MakeObject();
}

Result<json::Value> StopLogging(const Deps& deps, server::RequestContext& ctx,
                                const json::Value& in) {
  int64_t now = NowSeconds(ctx);
  ASSIGN_OR_RETURN(TrailRow row, Mutate(deps, ctx, "cloudtrail:StopLogging", in.get_string("Name"),
                                        [&](store::Tx&, TrailRow& r) -> Status {
                                          if (!r.logging) return Status::Ok();
                                          r.logging = false;
                                          r.stop_logging_time = now;
                                          return Status::Ok();
                                        }));
  (void)row;
  // Events recorded before the stop are delivered right away.
  if (deps.wake_delivery) deps.wake_delivery();
  return json::Value::MakeObject();
}

json::Value SelectorsOf(const TrailRow& row) {
  if (row.event_selectors.empty()) return DefaultSelectors();
  auto parsed = json::Parse(row.event_selectors);
  return parsed.ok() ? std::move(parsed).value() : DefaultSelectors();
}

Result<json::Value> GetEventSelectors(const Deps& deps, server::RequestContext& ctx,
                                      const json::Value& in) {
  ASSIGN_OR_RETURN(TrailRow row,
                   Read(deps, ctx, "cloudtrail:GetEventSelectors", in.get_string("TrailName")));
  json::Value out = json::Value::MakeObject();
  out.set("TrailARN", row.Arn());
  out.set("EventSelectors", SelectorsOf(row));
  return out;
}

Status InvalidSelectors(std::string message) {
  return Status::Modeled("InvalidEventSelectorsException", std::move(message));
}

// Normalises PutEventSelectors' list (management events only).
Result<json::Value> NormaliseSelectors(const json::Value& in) {
  const json::Value* advanced = in.find("AdvancedEventSelectors");
  const json::Value* selectors = in.find("EventSelectors");
  if (advanced != nullptr && selectors != nullptr) {
    return Status::Modeled("InvalidParameterCombinationException",
                           "EventSelectors and AdvancedEventSelectors cannot both be specified.");
  }
  if (advanced != nullptr) {
    return InvalidSelectors("Rampart supports basic event selectors only.");
  }
  if (selectors == nullptr || !selectors->is_array() || selectors->as_array().empty() ||
      selectors->as_array().size() > kMaxEventSelectors) {
    return InvalidSelectors("Specify between 1 and 5 event selectors.");
  }
  json::Value out = json::Value::MakeArray();
  for (const json::Value& sel : selectors->as_array()) {
    const json::Value* data = sel.find("DataResources");
    if (data != nullptr && data->is_array() && !data->as_array().empty()) {
      return InvalidSelectors("Rampart records management events only; DataResources must be empty.");
    }
    json::Value n = json::Value::MakeObject();
    std::string_view rw = sel.get_string("ReadWriteType");
    n.set("ReadWriteType", rw.empty() ? std::string_view("All") : rw);
    n.set("IncludeManagementEvents", BoolOr(sel, "IncludeManagementEvents", true));
    n.set("DataResources", json::Value::MakeArray());
    json::Value excluded = json::Value::MakeArray();
    if (const json::Value* ex = sel.find("ExcludeManagementEventSources");
        ex != nullptr && ex->is_array()) {
      excluded = *ex;
    }
    n.set("ExcludeManagementEventSources", std::move(excluded));
    out.push(std::move(n));
  }
  return out;
}

Result<json::Value> PutEventSelectors(const Deps& deps, server::RequestContext& ctx,
                                      const json::Value& in) {
  ASSIGN_OR_RETURN(json::Value selectors, NormaliseSelectors(in));
  std::string text = json::Write(selectors);
  ASSIGN_OR_RETURN(TrailRow row,
                   Mutate(deps, ctx, "cloudtrail:PutEventSelectors", in.get_string("TrailName"),
                          [&](store::Tx&, TrailRow& r) {
                            r.event_selectors = text;
                            return Status::Ok();
                          }));
  json::Value out = json::Value::MakeObject();
  out.set("TrailARN", row.Arn());
  out.set("EventSelectors", std::move(selectors));
  return out;
}

}  // namespace

std::string MemberOrganization(const Deps& deps, std::string_view account) {
  if (deps.organizations == nullptr) return {};
  auto placement = deps.organizations->PlacementOf(account);
  if (!placement.ok() || placement->management) return {};
  return placement->org_id;
}

void RegisterTrails(server::Registry& registry, const Deps& deps) {
  using Handler = Result<json::Value> (*)(const Deps&, server::RequestContext&, const json::Value&);
  const std::pair<std::string_view, Handler> table[] = {
      {"CreateTrail", CreateTrail},         {"UpdateTrail", UpdateTrail},
      {"DeleteTrail", DeleteTrail},         {"GetTrail", GetTrail},
      {"DescribeTrails", DescribeTrails},   {"GetTrailStatus", GetTrailStatus},
      {"StartLogging", StartLogging},       {"StopLogging", StopLogging},
      {"GetEventSelectors", GetEventSelectors}, {"PutEventSelectors", PutEventSelectors},
  };
  for (const auto& [op, handler] : table) {
    registry.Add("cloudtrail", op,
                 [deps, h = handler](server::RequestContext& ctx, const json::Value& in) {
                   return h(deps, ctx, in);
                 });
  }
}

}  // namespace rampart::audit::internal
