// Account-wide IAM reports: GetAccountSummary and the credential report
// (GenerateCredentialReport / GetCredentialReport) in AWS's CSV columns.
//
// Rampart has no console, so password_last_used is always
// "no_information"; access-key last use comes from the audit trail
// (server::AuditQueries). Signing certificates do not exist here ("false",
// "N/A").
#include <chrono>
#include <optional>

#include "iam/iam_internal.h"
#include "rampart/core/arn.h"
#include "rampart/iam/account.h"

namespace rampart::iam {
namespace {

// A report stays current for four hours, as on AWS.
constexpr int64_t kReportLifetime = 4 * 3600;

constexpr std::string_view kColumns =
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

// The report's time format: 2026-11-28T15:04:05+00:00.
std::string ReportTime(int64_t seconds) {
  std::string t = FormatIso8601(TimePoint(std::chrono::seconds(seconds)));
  return t.substr(0, t.size() - 1) + "+00:00";
}

struct KeyInfo {
  std::string id;
  bool active = false;
  int64_t created_at = 0;
  std::optional<server::KeyUse> last_use{};  // from the audit trail
};

// One principal's row inputs.
struct Row {
  std::string user;
  std::string arn;
  int64_t created_at = 0;
  bool root = false;
  bool password = false;
  int64_t password_changed = 0;
  bool mfa = false;
  std::vector<KeyInfo> keys;
};

Result<std::vector<KeyInfo>> KeysOf(store::Tx& tx, std::string_view account,
                                    std::string_view principal_id, bool root) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(
      root ? "SELECT status, created_at, access_key_id FROM access_keys WHERE account_id = ? "
             "AND principal_type = 'Root' AND principal_id = ? ORDER BY created_at, access_key_id"
           : "SELECT status, created_at, access_key_id FROM access_keys WHERE account_id = ? "
             "AND principal_type = 'IAMUser' AND principal_id = ? ORDER BY created_at, "
             "access_key_id"));
  q->Bind(1, account).Bind(2, principal_id);
  std::vector<KeyInfo> keys;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return keys;
    keys.push_back(KeyInfo{q->Text(2), q->Text(0) == "Active", q->Int(1)});
  }
}

std::string KeyColumns(const std::vector<KeyInfo>& keys, size_t i) {
  if (i >= keys.size()) return "false,N/A,N/A,N/A,N/A";
  const KeyInfo& k = keys[i];
  std::string columns =
      std::string(k.active ? "true" : "false") + "," + ReportTime(k.created_at) + ",";
  if (!k.last_use) return columns + "N/A,N/A,N/A";
  return columns + ReportTime(k.last_use->time) + "," + k.last_use->region + "," +
         k.last_use->service;
}

std::string Line(const Row& r, int64_t max_age_days) {
  std::string line = r.user + "," + r.arn + "," + ReportTime(r.created_at) + ",";
  if (r.root) {
    line += "not_supported,no_information,not_supported,not_supported,";
  } else if (r.password) {
    line += "true,no_information," + ReportTime(r.password_changed) + ",";
    line += max_age_days > 0 ? ReportTime(r.password_changed + max_age_days * 86400) : "N/A";
    line += ",";
  } else {
    line += "false,N/A,N/A,N/A,";
  }
  line += std::string(r.mfa ? "true" : "false") + ",";
  line += KeyColumns(r.keys, 0) + "," + KeyColumns(r.keys, 1) + ",false,N/A,false,N/A";
  return line;
}

Result<Row> RootRow(store::Tx& tx, std::string_view account) {
  Row r;
  r.user = "<root_account>";
  r.arn = RootArn(account);
  r.root = true;
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT created_at FROM accounts WHERE account_id = ?"));
  q->Bind(1, account);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (row) r.created_at = q->Int(0);
  ASSIGN_OR_RETURN(r.keys, KeysOf(tx, account, account, true));
  return r;
}

Result<std::vector<Row>> UserRows(store::Tx& tx, std::string_view account) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare(
      "SELECT u.user_name, u.user_id, u.path, u.created_at, l.changed_at, "
      "(SELECT COUNT(*) FROM mfa_devices d WHERE d.user_id = u.user_id) "
      "FROM iam_users u LEFT JOIN login_profiles l ON l.user_id = u.user_id "
      "WHERE u.account_id = ? ORDER BY u.name_key"));
  q->Bind(1, account);
  std::vector<Row> rows;
  std::vector<std::string> ids;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    Row r;
    r.user = q->Text(0);
    ids.push_back(q->Text(1));
    r.arn = internal::IamArn(account, "user", q->Text(2), r.user);
    r.created_at = q->Int(3);
    r.password = !q->IsNull(4);
    r.password_changed = r.password ? q->Int(4) : 0;
    r.mfa = q->Int(5) > 0;
    rows.push_back(std::move(r));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSIGN_OR_RETURN(rows[i].keys, KeysOf(tx, account, ids[i], false));
  }
  return rows;
}

// Everything the report says, read in one snapshot.
struct ReportData {
  int64_t max_age_days = 0;
  std::vector<Row> rows;  // the root first
};

Result<ReportData> ReadReportData(store::Tx& tx, std::string_view account) {
  ReportData d;
  ASSIGN_OR_RETURN(d.max_age_days,
                   internal::CountOf(tx,
                                     "SELECT COALESCE(MAX(max_age_days), 0) FROM "
                                     "password_policies WHERE account_id = ?",
                                     {account}));
  ASSIGN_OR_RETURN(Row root, RootRow(tx, account));
  d.rows.push_back(std::move(root));
  ASSIGN_OR_RETURN(auto users, UserRows(tx, account));
  for (Row& r : users) d.rows.push_back(std::move(r));
  return d;
}

std::string Csv(const ReportData& d) {
  std::string csv(kColumns);
  for (const Row& r : d.rows) csv += "\n" + Line(r, r.root ? 0 : d.max_age_days);
  return csv;
}

// Counts of one account's IAM entities and the quotas AWS reports.
struct Count {
  std::string_view name;
  std::string_view sql;  // one ? for the account
};

constexpr Count kCounts[] = {
    {"Users", "SELECT COUNT(*) FROM iam_users WHERE account_id = ?"},
    {"Groups", "SELECT COUNT(*) FROM iam_groups WHERE account_id = ?"},
    {"Roles", "SELECT COUNT(*) FROM iam_roles WHERE account_id = ?"},
    {"Policies", "SELECT COUNT(*) FROM iam_policies WHERE account_id = ?"},
    {"PolicyVersionsInUse",
     "SELECT (SELECT COUNT(*) FROM iam_user_attachments a JOIN iam_users u ON u.user_id = "
     "a.user_id WHERE u.account_id = ?1) + (SELECT COUNT(*) FROM iam_role_attachments a JOIN "
     "iam_roles r ON r.role_id = a.role_id WHERE r.account_id = ?1) + (SELECT COUNT(*) FROM "
     "iam_group_attachments a JOIN iam_groups g ON g.group_id = a.group_id WHERE g.account_id = "
     "?1)"},
    {"MFADevices", "SELECT COUNT(*) FROM mfa_devices WHERE account_id = ?"},
    {"MFADevicesInUse", "SELECT COUNT(*) FROM mfa_devices WHERE account_id = ? AND user_id <> ''"},
    {"InstanceProfiles", "SELECT COUNT(*) FROM iam_instance_profiles WHERE account_id = ?"},
    // OpenID Connect and SAML providers together, as AWS counts them.
    {"Providers",
     "SELECT (SELECT COUNT(*) FROM iam_oidc_providers WHERE account_id = ?1) + (SELECT COUNT(*) "
     "FROM iam_saml_providers WHERE account_id = ?1)"},
    {"ServerCertificates", "SELECT COUNT(*) FROM iam_server_certificates WHERE account_id = ?"},
    {"AccountAccessKeysPresent",
     "SELECT COUNT(*) > 0 FROM access_keys WHERE account_id = ? AND principal_type = 'Root'"},
};

constexpr std::pair<std::string_view, int64_t> kQuotas[] = {
    {"UsersQuota", 5000},
    {"GroupsQuota", 300},
    {"RolesQuota", 1000},
    {"PoliciesQuota", 1500},
    {"PolicySizeQuota", 6144},
    {"PolicyVersionsInUseQuota", 10000},
    {"VersionsPerPolicyQuota", 5},
    {"AccessKeysPerUserQuota", 2},
    {"AttachedPoliciesPerUserQuota", 10},
    {"AttachedPoliciesPerGroupQuota", 10},
    {"AttachedPoliciesPerRoleQuota", 10},
    {"GroupsPerUserQuota", 10},
    {"UserPolicySizeQuota", 2048},
    {"GroupPolicySizeQuota", 5120},
    {"RolePolicySizeQuota", 10240},
    {"AssumeRolePolicySizeQuota", 2048},
    {"SigningCertificatesPerUserQuota", 2},
    {"ServerCertificatesQuota", 20},
    {"InstanceProfilesQuota", 1000},
    {"AccountSigningCertificatesPresent", 0},
    {"AccountMFAEnabled", 0},
    {"GlobalEndpointTokenVersion", 1},
};

}  // namespace

Result<json::Value> AccountService::GetAccountSummary(server::RequestContext& ctx,
                                                      const json::Value&) {
  RETURN_IF_ERROR(ctx.Authorize("iam:GetAccountSummary", "*"));
  const std::string& account = ctx.principal().account_id;
  json::Value summary = json::Value::MakeObject();
  for (const auto& [name, value] : kQuotas) summary.set(name, value);
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    for (const Count& c : kCounts) {
      ASSIGN_OR_RETURN(int64_t n, internal::CountOf(tx, c.sql, {account}));
      summary.set(c.name, n);
    }
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("SummaryMap", std::move(summary));
  return out;
}

Result<json::Value> AccountService::GenerateCredentialReport(server::RequestContext& ctx,
                                                             const json::Value&) {
  RETURN_IF_ERROR(ctx.Authorize("iam:GenerateCredentialReport", "*"));
  const std::string& account = ctx.principal().account_id;
  const int64_t now = internal::NowSeconds(ctx);
  int64_t current = 0;
  ReportData data;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(current,
                     internal::CountOf(tx,
                                       "SELECT COUNT(*) FROM credential_reports WHERE "
                                       "account_id = ? AND generated_at > ?",
                                       {account, std::to_string(now - kReportLifetime)}));
    if (current > 0) return Status::Ok();
    ASSIGN_OR_RETURN(data, ReadReportData(tx, account));
    return Status::Ok();
  }));
  const bool fresh = current == 0;
  if (fresh) {
    if (audit_queries_ != nullptr) {
      for (Row& r : data.rows) {
        for (KeyInfo& k : r.keys) {
          ASSIGN_OR_RETURN(k.last_use, audit_queries_->LastKeyUse(account, k.id));
        }
      }
    }
    std::string csv = Csv(data);
    RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
      ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT OR REPLACE INTO credential_reports "
                                          "(account_id, content, generated_at) VALUES (?, ?, ?)"));
      q->Bind(1, account).BindBlob(2, csv).Bind(3, now);
      return q->Run();
    }));
  }
  // The report is built synchronously, so it is complete when we answer.
  json::Value out = json::Value::MakeObject();
  out.set("State", "COMPLETE");
  out.set("Description", fresh ? "A new credential report was generated."
                               : "The current credential report is less than 4 hours old.");
  return out;
}

Result<json::Value> AccountService::GetCredentialReport(server::RequestContext& ctx,
                                                        const json::Value&) {
  RETURN_IF_ERROR(ctx.Authorize("iam:GetCredentialReport", "*"));
  const std::string& account = ctx.principal().account_id;
  std::optional<std::pair<std::string, int64_t>> report;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT content, generated_at FROM credential_reports "
                                        "WHERE account_id = ?"));
    q->Bind(1, account);
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (row) report.emplace(q->Text(0), q->Int(1));
    return Status::Ok();
  }));
  if (!report) {
    return Status::Modeled("CredentialReportNotPresentException",
                           "Credential report not present. Call GenerateCredentialReport first.");
  }
  if (report->second + kReportLifetime < internal::NowSeconds(ctx)) {
    return Status::Modeled("CredentialReportExpiredException",
                           "The credential report is older than 4 hours. Call "
                           "GenerateCredentialReport to make a new one.");
  }
  json::Value out = json::Value::MakeObject();
  out.set("Content", std::move(report->first));
  out.set("ReportFormat", "text/csv");
  out.set("GeneratedTime", report->second);
  return out;
}

}  // namespace rampart::iam
