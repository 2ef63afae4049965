// Helpers shared by the IAM handler files (src/iam/iam_*.cc). Not a public
// interface.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/iam/policy_ast.h"
#include "rampart/server/context.h"
#include "rampart/server/tags.h"
#include "rampart/server/identity.h"
#include "rampart/store/store.h"

namespace rampart::iam::internal {

// "arn:aws:iam::<acct>:<kind><path><name>", e.g. kind "user" or "policy".
std::string IamArn(std::string_view account, std::string_view kind, std::string_view path,
                   std::string_view name);
// IAM names are unique regardless of case ("IAM identifiers", IAM User Guide).
std::string NameKey(std::string_view name);
// Whole seconds since the epoch of the request's time.
int64_t NowSeconds(const server::RequestContext& ctx);
// The Path input member, "/" when absent.
std::string PathOr(const json::Value& in);

struct UserRow {
  std::string account_id;
  std::string name;
  std::string user_id;
  std::string path;
  int64_t created_at = 0;
  std::string boundary_arn{};  // permissions boundary, empty for none
  std::string Arn() const { return IamArn(account_id, "user", path, name); }
};

// The user or nullopt.
Result<std::optional<UserRow>> FindUser(store::Tx& tx, std::string_view account,
                                        std::string_view name);
// The user or NoSuchEntity.
Result<UserRow> RequireUser(store::Tx& tx, std::string_view account, std::string_view name);
Status NoSuchUser(std::string_view name);
json::Value UserJson(const UserRow& u);
// {PermissionsBoundaryType, PermissionsBoundaryArn} as GetUser/GetRole show it.
json::Value BoundaryJson(std::string_view boundary_arn);

// Marker/MaxItems pagination. The marker is the (opaque, base64) sort key
// of the first item of the next page.
struct Page {
  std::string start;  // sort key to start at (inclusive), empty = first
  int64_t max_items = 100;
};
Result<Page> ReadPage(const json::Value& in);
// Sets IsTruncated and, when truncated, Marker.
void SetPage(json::Value& out, bool truncated, std::string_view next_key);

// Collects one page of rows: Take(key) for each row in sort-key order
// returns whether the row belongs on this page; the row after the last
// one that fits becomes the next page's marker.
class PageCollector {
 public:
  explicit PageCollector(const Page& page) : page_(page) {}
  // Whether the row with sort key `key` goes on this page. False once the
  // page is full (the first such key is remembered as the next marker).
  bool Take(std::string_view key) {
    if (full()) return false;
    if (taken_ == page_.max_items) {
      next_ = std::string(key);
      return false;
    }
    ++taken_;
    return true;
  }
  bool full() const { return !next_.empty(); }
  // IsTruncated and Marker into out.
  void Finish(json::Value& out) const { SetPage(out, !next_.empty(), next_); }

 private:
  Page page_;
  int64_t taken_ = 0;
  std::string next_;
};

using TagList = server::TagList;
// The Tags input member; InvalidInput on duplicate keys or reserved
// ("aws:") keys.
Result<TagList> ReadTags(const json::Value& in);
// The TagKeys input member (UntagUser, UntagRole, UntagPolicy).
std::vector<std::string> ReadTagKeys(const json::Value& in);
// Deletes keys (any case) from resource_id's tags inside tx.
Status RemoveTags(store::Tx& tx, std::string_view resource_id,
                  const std::vector<std::string>& keys);
// ListUserTags / ListRoleTags / ListPolicyTags output for one page.
json::Value TagPageJson(TagList tags, const Page& page);
// aws:RequestTag/<key> for each tag and aws:TagKeys (creation and Tag*
// calls, IAM service authorization reference); aws:TagKeys alone (Untag*
// calls).
using server::RequestTagKeys;
using server::TagKeysKey;
// aws:ResourceTag/<key> and iam:ResourceTag/<key> for an existing user or
// role's tags, appended to keys.
void AddIamResourceTagKeys(const TagList& tags, std::vector<server::ConditionKey>& keys);
// iam:PermissionsBoundary with a boundary ARN given as input (none when
// empty).
std::vector<server::ConditionKey> BoundaryKey(std::string_view boundary_arn);
// Whether AWS supplies iam:PermissionsBoundary on action when the target
// user or role has a boundary.
bool ActionSeesBoundary(std::string_view action);
// Merges tags into resource_id's tags inside tx (LimitExceeded over 50).
Status PutTags(store::Tx& tx, std::string_view resource_id, const TagList& tags);
Result<TagList> LoadTags(store::Tx& tx, std::string_view resource_id);
Status DeleteTags(store::Tx& tx, std::string_view resource_id);
using server::TagsJson;

// Runs a statement that returns a single integer (e.g. COUNT(*)).
Result<int64_t> CountOf(store::Tx& tx, std::string_view sql,
                        std::initializer_list<std::string_view> params);

}  // namespace rampart::iam::internal

namespace rampart::iam::internal {

// Reads the user (outside any write), then authorizes action on its ARN
// (or on the path-less ARN when it does not exist, so that a caller
// without permission learns nothing). The request carries `keys` plus the
// user's tags as aws:ResourceTag/* and iam:ResourceTag/*, and its boundary
// as iam:PermissionsBoundary where ActionSeesBoundary(action). The user,
// AccessDenied or NoSuchEntity.
Result<UserRow> AuthorizedUser(store::Database& db, const server::RequestContext& ctx,
                               std::string_view action, std::string_view name,
                               std::vector<server::ConditionKey> keys = {});
// The same for the UserName member, or the calling IAM user when it is
// absent (signing certificates, service-specific credentials);
// InvalidInput when neither names a user.
Result<UserRow> AuthorizedUserOrCaller(store::Database& db, const server::RequestContext& ctx,
                                       std::string_view action, const json::Value& in);
// Keys for an action on an existing user or role: its resource tags and,
// where AWS supplies it, its boundary.
std::vector<server::ConditionKey> TargetKeys(std::string_view action, const TagList& tags,
                                             std::string_view boundary_arn,
                                             std::vector<server::ConditionKey> keys);

struct PolicyRow {
  std::string name;
  std::string policy_id;
  std::string arn;
  std::string path;
  std::string description;
  std::string default_version;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  bool aws_managed = false;  // arn:aws:iam::aws:policy/...: read-only
};
// A customer managed policy of account, or an AWS managed policy, by ARN;
// nullopt when neither exists.
Result<std::optional<PolicyRow>> FindPolicy(store::Tx& tx, std::string_view account,
                                            std::string_view arn);
Status NoSuchPolicy(std::string_view arn);
// The document of the default version of the managed policy arn (customer
// or AWS managed), or nullopt.
Result<std::optional<std::string>> DefaultPolicyDocument(store::Tx& tx, std::string_view arn);
// The policy a PermissionsBoundary input names, checked to exist in the
// caller's account or among the AWS managed policies: its ARN, or
// InvalidInput / NoSuchEntity as AWS answers.
Result<std::string> RequireBoundaryPolicy(store::Tx& tx, std::string_view account,
                                          std::string_view arn);

// Authorizes action (with keys) on arn, then reads the policy of the
// caller's account or the AWS managed policy: the policy, AccessDenied or
// NoSuchEntity.
Result<PolicyRow> AuthorizedPolicy(store::Database& db, const server::RequestContext& ctx,
                                   std::string_view action, std::string_view arn,
                                   std::span<const server::ConditionKey> keys = {});
// The same for a change: AWS managed policies are refused.
Result<PolicyRow> ModifiablePolicy(store::Database& db, const server::RequestContext& ctx,
                                   std::string_view action, std::string_view arn,
                                   std::span<const server::ConditionKey> keys = {});
// Refusal of any change to an AWS managed policy.
Status AwsPolicyIsReadOnly(std::string_view arn);

// Versions of managed policies (iam_policy_versions.cc).
struct VersionRow {
  std::string version_id;
  std::string document;
  int64_t created_at = 0;
};
Status InsertPolicyVersion(store::Tx& tx, std::string_view policy_id, std::string_view version_id,
                           std::string_view document, int64_t created_at);
// One version of policy (AWS managed ones have only v1), or nullopt.
Result<std::optional<VersionRow>> FindPolicyVersion(store::Tx& tx, const PolicyRow& policy,
                                                    std::string_view version_id);
Status NoSuchPolicyVersion(std::string_view arn, std::string_view version_id);
// VersionId, IsDefaultVersion, CreateDate (no Document).
json::Value VersionJson(const VersionRow& v, const PolicyRow& policy);

// AWS managed policies (iam_aws_policies.cc): written by Rampart, served
// under arn:aws:iam::aws:policy/ to every account, never modifiable.
struct AwsPolicy {
  std::string_view name;
  std::string_view policy_id;
  std::string_view description;
  std::string_view document;
};
inline constexpr std::string_view kAwsPolicyPrefix = "arn:aws:iam::aws:policy/";
bool IsAwsPolicyArn(std::string_view arn);
std::span<const AwsPolicy> AwsPolicies();
// The AWS managed policy with this ARN (exact case), or nullptr.
const AwsPolicy* FindAwsPolicy(std::string_view arn);
PolicyRow AwsPolicyRow(const AwsPolicy& p);

}  // namespace rampart::iam::internal

namespace rampart::iam::internal {

struct RoleRow {
  std::string account_id;
  std::string name;
  std::string role_id;
  std::string path;
  std::string description;
  std::string trust_policy;
  int64_t max_session_duration = 3600;
  int64_t created_at = 0;
  std::string boundary_arn{};  // permissions boundary, empty for none
  std::string Arn() const { return IamArn(account_id, "role", path, name); }
};

// The role of account by name (any case), or nullopt.
Result<std::optional<RoleRow>> FindRole(store::Tx& tx, std::string_view account,
                                        std::string_view name);
// The role with exactly this ARN (any account), or nullopt; roles of a
// closed account (Organizations' CloseAccount) cannot be assumed and are
// not found.
Result<std::optional<RoleRow>> FindRoleByArn(store::Tx& tx, std::string_view arn);
Status NoSuchRole(std::string_view name);
// The role with this unique id (AROA...), or nullopt.
Result<std::optional<RoleRow>> FindRoleById(store::Tx& tx, std::string_view role_id);
// The Role structure GetRole answers (without tags).
json::Value RoleToJson(const RoleRow& role);
// Inserts a new role row (the caller checked that the name is free and
// the trust policy compiles). Used by CreateRole and by Organizations'
// CreateAccount (OrganizationAccountAccessRole).
Status InsertRole(store::Tx& tx, const RoleRow& role);

}  // namespace rampart::iam::internal

namespace rampart::iam::internal {

// A principal that holds inline policies and managed-policy attachments: a
// user, a group or a role. The handlers for both are one code path
// parameterised by this table.
struct Holder {
  std::string id;    // user_id / role_id: the key of its policy rows
  std::string name;  // as stored
};

struct HolderKind {
  std::string_view title;         // "User": forms "UserName", "iam:PutUserPolicy"
  std::string_view noun;          // "user": forms messages
  std::string_view inline_table;  // (<id_column>, policy_name, document)
  std::string_view attach_table;  // (<id_column>, policy_arn)
  std::string_view id_column;
  PolicySizeKind inline_size;     // quota of its inline policies together
  // Reads the holder and authorizes action on its ARN with keys (plus the
  // holder's own resource keys): the holder, AccessDenied or NoSuchEntity.
  Result<Holder> (*authorized)(store::Database& db, const server::RequestContext& ctx,
                               std::string_view action, std::string_view name,
                               std::vector<server::ConditionKey> keys);
  // The holder inside a write transaction, or NoSuchEntity.
  Result<Holder> (*require)(store::Tx& tx, std::string_view account, std::string_view name);
};

extern const HolderKind kUserHolder;  // iam_user_policies.cc
extern const HolderKind kRoleHolder;  // iam_roles.cc
extern const HolderKind kGroupHolder;  // iam_groups.cc

// Adds or replaces one inline policy of a holder inside tx (no quota or
// validation: callers check those).
Status InsertInlinePolicy(store::Tx& tx, const HolderKind& kind, std::string_view holder_id,
                          std::string_view policy_name, std::string_view document);

// Put/Get/List/Delete<Kind>Policy and Attach/Detach/ListAttached<Kind>Policies
// (iam_policy_holders.cc).
Result<json::Value> PutInlinePolicy(store::Database& db, const HolderKind& kind,
                                    server::RequestContext& ctx, const json::Value& in);
Result<json::Value> GetInlinePolicy(store::Database& db, const HolderKind& kind,
                                    server::RequestContext& ctx, const json::Value& in);
Result<json::Value> ListInlinePolicies(store::Database& db, const HolderKind& kind,
                                       server::RequestContext& ctx, const json::Value& in);
Result<json::Value> DeleteInlinePolicy(store::Database& db, const HolderKind& kind,
                                       server::RequestContext& ctx, const json::Value& in);
Result<json::Value> AttachManagedPolicy(store::Database& db, const HolderKind& kind,
                                        server::RequestContext& ctx, const json::Value& in);
Result<json::Value> DetachManagedPolicy(store::Database& db, const HolderKind& kind,
                                        server::RequestContext& ctx, const json::Value& in);
Result<json::Value> ListAttachedPolicies(store::Database& db, const HolderKind& kind,
                                         server::RequestContext& ctx, const json::Value& in);

}  // namespace rampart::iam::internal

namespace rampart::iam::internal {

// What the handlers below need from IamService. The service registers them
// from a table of free functions (iam_service.cc), so that adding an
// operation does not change the public IamService header. Like IamService's
// own handlers they run concurrently; both members are thread-safe.
struct IamDeps {
  store::Database& db;
  server::CredentialStore& creds;
};
using FreeHandler = Result<json::Value> (*)(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in);

// Role updates (iam_roles.cc).
Result<json::Value> UpdateAssumeRolePolicy(const IamDeps& deps, server::RequestContext& ctx,
                                           const json::Value& in);
Result<json::Value> UpdateRole(const IamDeps& deps, server::RequestContext& ctx,
                               const json::Value& in);
Result<json::Value> UpdateRoleDescription(const IamDeps& deps, server::RequestContext& ctx,
                                          const json::Value& in);
// Renames or moves a user (iam_users.cc).
Result<json::Value> UpdateUser(const IamDeps& deps, server::RequestContext& ctx,
                               const json::Value& in);
// Instance profiles (iam_instance_profiles.cc).
Result<json::Value> CreateInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                          const json::Value& in);
Result<json::Value> GetInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in);
Result<json::Value> DeleteInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                          const json::Value& in);
Result<json::Value> ListInstanceProfiles(const IamDeps& deps, server::RequestContext& ctx,
                                         const json::Value& in);
Result<json::Value> AddRoleToInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in);
Result<json::Value> RemoveRoleFromInstanceProfile(const IamDeps& deps,
                                                  server::RequestContext& ctx,
                                                  const json::Value& in);
Result<json::Value> ListInstanceProfilesForRole(const IamDeps& deps, server::RequestContext& ctx,
                                                const json::Value& in);
Result<json::Value> TagInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in);
Result<json::Value> UntagInstanceProfile(const IamDeps& deps, server::RequestContext& ctx,
                                         const json::Value& in);
Result<json::Value> ListInstanceProfileTags(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in);
// The instance profiles holding the role, as InstanceProfile structures
// (GetAccountAuthorizationDetails' InstanceProfileList).
Result<json::Value> InstanceProfilesOfRole(store::Tx& tx, std::string_view role_id);
// How many instance profiles hold the role (DeleteRole's conflict check).
Result<int64_t> InstanceProfileCountOfRole(store::Tx& tx, std::string_view role_id);

// OpenID Connect providers (iam_oidc_providers.cc).
Result<json::Value> CreateOpenIDConnectProvider(const IamDeps& deps, server::RequestContext& ctx,
                                                const json::Value& in);
Result<json::Value> GetOpenIDConnectProvider(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in);
Result<json::Value> ListOpenIDConnectProviders(const IamDeps& deps, server::RequestContext& ctx,
                                               const json::Value& in);
Result<json::Value> DeleteOpenIDConnectProvider(const IamDeps& deps, server::RequestContext& ctx,
                                                const json::Value& in);
Result<json::Value> AddClientIDToOpenIDConnectProvider(const IamDeps& deps,
                                                       server::RequestContext& ctx,
                                                       const json::Value& in);
Result<json::Value> RemoveClientIDFromOpenIDConnectProvider(const IamDeps& deps,
                                                            server::RequestContext& ctx,
                                                            const json::Value& in);
Result<json::Value> UpdateOpenIDConnectProviderThumbprint(const IamDeps& deps,
                                                          server::RequestContext& ctx,
                                                          const json::Value& in);
Result<json::Value> TagOpenIDConnectProvider(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in);
Result<json::Value> UntagOpenIDConnectProvider(const IamDeps& deps, server::RequestContext& ctx,
                                               const json::Value& in);
Result<json::Value> ListOpenIDConnectProviderTags(const IamDeps& deps,
                                                  server::RequestContext& ctx,
                                                  const json::Value& in);
// The issuer URL as a provider stores it (https:// removed, trailing
// slashes dropped), or InvalidInput for anything but an https URL with a
// host and no query, fragment, user info or non-printable characters.
Result<std::string> OidcProviderUrl(std::string_view url);
// At most 5 thumbprints, each 40 hex digits (LimitExceeded / InvalidInput).
Status CheckThumbprints(const std::vector<std::string>& thumbprints);
// At most 100 client IDs, each 1 to 255 characters.
Status CheckClientIds(const std::vector<std::string>& client_ids);
// A provider as STS's AssumeRoleWithWebIdentity needs it.
struct OidcProviderInfo {
  std::string arn;  // arn:aws:iam::<acct>:oidc-provider/<url>
  std::string url;  // the issuer without https://
  std::vector<std::string> client_ids;
  std::vector<std::string> thumbprints;
};
// The provider of account whose URL (as OidcProviderUrl stores it) is url.
Result<std::optional<OidcProviderInfo>> FindOidcProvider(store::Tx& tx, std::string_view account,
                                                         std::string_view url);

// iam_entities_for_policy.cc.
Result<json::Value> ListEntitiesForPolicy(const IamDeps& deps, server::RequestContext& ctx,
                                          const json::Value& in);

}  // namespace rampart::iam::internal

namespace rampart::iam::internal {

// SAML providers (iam_saml_providers.cc).
Result<json::Value> CreateSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in);
Result<json::Value> GetSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                    const json::Value& in);
Result<json::Value> ListSAMLProviders(const IamDeps& deps, server::RequestContext& ctx,
                                      const json::Value& in);
Result<json::Value> UpdateSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in);
Result<json::Value> DeleteSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in);
Result<json::Value> TagSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                    const json::Value& in);
Result<json::Value> UntagSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                      const json::Value& in);
Result<json::Value> ListSAMLProviderTags(const IamDeps& deps, server::RequestContext& ctx,
                                         const json::Value& in);
// What CheckSamlMetadata keeps of a metadata document.
struct SamlMetadata {
  std::optional<int64_t> valid_until;  // seconds since the epoch, the earliest validUntil
};
// Checks a SAML metadata document: well-formed XML (no DTD), an
// EntityDescriptor root with exactly one IDPSSODescriptor holding at least
// one signing X509Certificate that parses. InvalidInput otherwise.
Result<SamlMetadata> CheckSamlMetadata(std::string_view document);
// Seconds since the epoch of a UTC xs:dateTime, or nullopt.
std::optional<int64_t> ParseXmlDateTime(std::string_view text);

// SSH public keys of users (iam_ssh_keys.cc).
Result<json::Value> UploadSSHPublicKey(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in);
Result<json::Value> GetSSHPublicKey(const IamDeps& deps, server::RequestContext& ctx,
                                    const json::Value& in);
Result<json::Value> ListSSHPublicKeys(const IamDeps& deps, server::RequestContext& ctx,
                                      const json::Value& in);
Result<json::Value> UpdateSSHPublicKey(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in);
Result<json::Value> DeleteSSHPublicKey(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in);
// An RSA public key as IAM keeps it.
struct SshPublicKey {
  std::string ssh;          // "ssh-rsa <base64 blob>"
  std::string pem;          // SubjectPublicKeyInfo PEM
  std::string fingerprint;  // MD5 of the blob, colon-separated hex
  int bits = 0;
};
// Parses an OpenSSH "ssh-rsa" line or a PEM RSA public key of at least
// 2048 bits: the key, UnrecognizedPublicKeyEncoding or InvalidPublicKey.
Result<SshPublicKey> ParseSshPublicKey(std::string_view body);

// Server certificates (iam_server_certificates.cc).
Result<json::Value> UploadServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in);
Result<json::Value> GetServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                         const json::Value& in);
Result<json::Value> ListServerCertificates(const IamDeps& deps, server::RequestContext& ctx,
                                           const json::Value& in);
Result<json::Value> UpdateServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in);
Result<json::Value> DeleteServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in);
Result<json::Value> TagServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                         const json::Value& in);
Result<json::Value> UntagServerCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                           const json::Value& in);
Result<json::Value> ListServerCertificateTags(const IamDeps& deps, server::RequestContext& ctx,
                                              const json::Value& in);
// What IAM keeps of a PEM certificate.
struct CertificateInfo {
  std::string der;
  int64_t not_before = 0;  // seconds since the epoch
  int64_t not_after = 0;
};
// The first certificate of a PEM text, or MalformedCertificate.
Result<CertificateInfo> ParsePemCertificate(std::string_view pem);
// Every certificate of a PEM chain (at least one), or MalformedCertificate.
Status CheckPemChain(std::string_view pem);
// Whether the unencrypted PEM private key belongs to the certificate:
// MalformedCertificate when the key does not parse, KeyPairMismatch when
// it is another key.
Status CheckKeyMatchesCertificate(std::string_view certificate_pem, std::string_view key_pem);

// Signing certificates of users (iam_signing_certificates.cc).
Result<json::Value> UploadSigningCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in);
Result<json::Value> ListSigningCertificates(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in);
Result<json::Value> UpdateSigningCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in);
Result<json::Value> DeleteSigningCertificate(const IamDeps& deps, server::RequestContext& ctx,
                                             const json::Value& in);

// Service-specific credentials (iam_service_credentials.cc).
Result<json::Value> CreateServiceSpecificCredential(const IamDeps& deps,
                                                    server::RequestContext& ctx,
                                                    const json::Value& in);
Result<json::Value> ListServiceSpecificCredentials(const IamDeps& deps,
                                                   server::RequestContext& ctx,
                                                   const json::Value& in);
Result<json::Value> ResetServiceSpecificCredential(const IamDeps& deps,
                                                   server::RequestContext& ctx,
                                                   const json::Value& in);
Result<json::Value> UpdateServiceSpecificCredential(const IamDeps& deps,
                                                    server::RequestContext& ctx,
                                                    const json::Value& in);
Result<json::Value> DeleteServiceSpecificCredential(const IamDeps& deps,
                                                    server::RequestContext& ctx,
                                                    const json::Value& in);

// Service-linked roles (iam_service_linked_roles.cc).
Result<json::Value> CreateServiceLinkedRole(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in);
Result<json::Value> DeleteServiceLinkedRole(const IamDeps& deps, server::RequestContext& ctx,
                                            const json::Value& in);
Result<json::Value> GetServiceLinkedRoleDeletionStatus(const IamDeps& deps,
                                                       server::RequestContext& ctx,
                                                       const json::Value& in);
// Whether a role path marks a service-linked role (/aws-service-role/...),
// which only its service may change or delete.
bool IsServiceLinkedPath(std::string_view path);
// UnmodifiableEntity for a change to a service-linked role.
Status ProtectedRole(std::string_view role_name);
// The service-linked role name for a service principal and optional
// suffix, or InvalidInput.
Result<std::string> ServiceLinkedRoleName(std::string_view service, std::string_view suffix);

}  // namespace rampart::iam::internal
