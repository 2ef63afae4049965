// Helpers shared by the Organizations files (src/iam/org_*.cc). Not a
// public interface.
//
// Ids follow AWS's formats (Organizations API reference, the patterns of
// the model's id shapes): o-<10 chars>, r-<4>, ou-<root suffix>-<8>,
// p-<8>, car-<16>, all lower-case letters and digits. ARNs are
// arn:aws:organizations::<management account>:<kind>/o-.../<id>.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rampart/core/json.h"
#include "rampart/core/status.h"
#include "rampart/iam/engine.h"
#include "rampart/iam/engine_authorizer.h"
#include "rampart/server/context.h"
#include "rampart/server/tags.h"
#include "rampart/store/store.h"

namespace rampart::iam::org {

inline constexpr std::string_view kScpType = "SERVICE_CONTROL_POLICY";
inline constexpr std::string_view kFullAccessId = "p-FullAWSAccess";
inline constexpr std::string_view kFullAccessName = "FullAWSAccess";
// Organizations quotas (orgs_reference_limits.html): an SCP is at most
// 5,120 characters, every character counted; at most 5 SCPs per target.
inline constexpr size_t kMaxScpCharacters = 5120;
inline constexpr size_t kMaxScpsPerTarget = 5;

// The text of the AWS-managed FullAWSAccess SCP.
std::string_view FullAccessContent();

// n random characters of [0-9a-z] from the CSPRNG.
Result<std::string> RandomLowerAlnum(size_t n);

struct OrgRow {
  std::string org_id;
  std::string management_account;
  std::string management_email;
  std::string root_id;
  bool scp_enabled = false;
  int64_t created_at = 0;

  std::string Arn() const;
  std::string RootArn() const;
  std::string OuArn(std::string_view ou_id) const;
  std::string AccountArn(std::string_view account_id) const;
  std::string PolicyArn(std::string_view policy_id) const;  // AWS-managed ones too
};

// The organization the account belongs to (as member or management), or
// nullopt.
Result<std::optional<OrgRow>> OrgOfAccount(store::Tx& tx, std::string_view account_id);

// A node of the organization tree: the root, an OU or an account.
enum class NodeType : uint8_t { kRoot, kOu, kAccount };
struct Node {
  NodeType type = NodeType::kRoot;
  std::string id;
  std::string name;
  std::string parent_id;  // empty for the root
};
std::string_view NodeTypeName(NodeType t);  // "ROOT", "ORGANIZATIONAL_UNIT", "ACCOUNT"
std::string NodeArn(const OrgRow& org, const Node& n);
// The node of org with this id, or nullopt (also for ids of another
// organization and ids of no known shape).
Result<std::optional<Node>> FindNode(store::Tx& tx, const OrgRow& org, std::string_view id);
// Children of a parent (root or OU) of one type, sorted by id.
Result<std::vector<Node>> ChildrenOf(store::Tx& tx, const OrgRow& org, std::string_view parent_id,
                                     NodeType type);

struct AccountRow {
  std::string account_id;
  std::string parent_id;
  std::string name;
  std::string email;
  std::string joined_method;  // CREATED or INVITED
  int64_t joined_at = 0;
  std::string status = "ACTIVE";  // or SUSPENDED once closed
};
Result<std::optional<AccountRow>> FindAccount(store::Tx& tx, const OrgRow& org,
                                              std::string_view account_id);
Result<std::vector<AccountRow>> AccountsOf(store::Tx& tx, const OrgRow& org,
                                           std::string_view parent_id);  // empty: all
json::Value AccountJson(const OrgRow& org, const AccountRow& a);
Status InsertAccount(store::Tx& tx, const OrgRow& org, const AccountRow& a);

// Attaches FullAWSAccess to a new target when SCPs are enabled.
Status AttachDefaultScp(store::Tx& tx, const OrgRow& org, std::string_view target_id);

// The common prologue of a handler: reads the caller's organization,
// authorizes action on resource(org) ("*" when the caller has none), then
// requires an organization (AWSOrganizationsNotInUseException) and, unless
// members_allowed, that the caller is its management account
// (AccessDeniedException) or, for Describe* and List* actions, a delegated
// administrator of any service, whose own policies must allow the action
// on the management account's resource, or a member account that the
// organization's delegation policy grants the action (Describe*, List* and
// policy management; its own policies must allow it too). The tags of the
// resource are supplied as aws:ResourceTag/<key>.
using ResourceOf = std::function<std::string(const OrgRow&)>;
// engine may be null (no delegated reads then).
Result<OrgRow> Authorized(store::Database& db, const EngineAuthorizer* engine,
                          const server::RequestContext& ctx, std::string_view action,
                          const ResourceOf& resource,
                          std::span<const server::ConditionKey> keys = {},
                          bool members_allowed = false);
// The same organization re-read inside a write transaction (it may have
// been deleted since): AWSOrganizationsNotInUseException when gone.
Result<OrgRow> RequireSameOrg(store::Tx& tx, const OrgRow& org);
// resource(org) for a fixed "*".
ResourceOf AnyResource();
// {"organizations:PolicyType": [type]}.
std::vector<server::ConditionKey> PolicyTypeKey(std::string_view type);

Status NotInUse();
Status ParentNotFound();
Status ChildNotFound();
Status TargetNotFound();
Status AccountNotFound();
Status OuNotFound();
Status PolicyNotFound();
// InvalidInputException; its Reason code goes into the message as for
// ConstraintViolation below.
Status InvalidInput(std::string_view reason, std::string message);
// ConstraintViolationException; AWS also returns a Reason code (e.g.
// MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED), which the protocol layer
// cannot carry yet, so the message names it.
Status ConstraintViolation(std::string_view reason, std::string message);
// Only SERVICE_CONTROL_POLICY is implemented; other policy types are
// refused with InvalidInputException.
Status RequireScpType(std::string_view type);

// Tags of the root, OUs, accounts and customer managed policies.
using TagList = server::TagList;
// The Tags input member: InvalidInputException for a duplicate key or the
// reserved aws: prefix, ConstraintViolationException over 50 tags.
Result<TagList> ReadTags(const json::Value& in);
// organizations:TagResource on arn, when tags is not empty (creating a
// resource with tags needs it as well as the create permission).
Status AuthorizeTags(const server::RequestContext& ctx, std::string_view arn, const TagList& tags);
Result<TagList> LoadTags(store::Tx& tx, const OrgRow& org, std::string_view resource_id);
// Adds or replaces tags (ConstraintViolationException over 50 in all).
Status PutTags(store::Tx& tx, const OrgRow& org, std::string_view resource_id, const TagList& tags);
Status DeleteTags(store::Tx& tx, const OrgRow& org, std::string_view resource_id);

// The delegation policy (org_resource_policy.cc). IsDelegable: whether a
// delegation policy may grant the operation (Describe*, List*, policy
// management). DelegationContent: the organization's policy text, if any.
// AuthorizeDelegated: a member account's call weighed against it (the
// caller's own policies must allow too; "*" stands for the organization's
// ARN, as for delegated administrators).
bool IsDelegable(std::string_view op);
// The resource a member's delegated call is weighed on: arn when it lies
// in the management account, else the organization's ARN ("*", and
// AWS-managed policies, whose ARNs name the account "aws", which the
// authorizer would take for the caller's own account, where a resource
// policy alone grants).
std::string InManagementAccount(const OrgRow& org, std::string_view arn);
std::string ResourcePolicyArn(const OrgRow& org, std::string_view policy_id);
Result<std::optional<std::string>> DelegationContent(store::Tx& tx, const OrgRow& org);
Status AuthorizeDelegated(const EngineAuthorizer& engine, const server::RequestContext& ctx,
                          std::string_view action, const OrgRow& org, std::string_view arn,
                          std::span<const server::ConditionKey> keys, std::string_view content);

// NextToken/MaxResults pagination over a fully read, sorted list. The
// token is an opaque base64 of the offset of the next item.
struct PageRequest {
  size_t offset = 0;
  size_t max = 20;
};
Result<PageRequest> ReadPage(const json::Value& in);
// Sets out[member] to one page of items and NextToken when more remain.
void SetPage(json::Value& out, std::string_view member, std::vector<json::Value> items,
             const PageRequest& page);

// SCP validation: the size quota (ConstraintViolationException), the
// policy language with the SCP rules (MalformedPolicyDocumentException:
// no Principal/NotPrincipal; a wildcard in Action/NotAction only alone or
// at the end of the action name).
Result<PolicyPtr> CompileScp(std::string_view content, std::string id);

// Where an account sits, as read from the tables; ComputePlacement turns
// it into what the engine needs. Pure, so it is unit-tested directly.
struct PlacementInput {
  std::string org_id;
  std::string root_id;
  std::string account_id;
  bool management = false;
  bool scp_enabled = false;
  std::vector<std::string> ou_chain;  // the account's OUs, outermost first
  // SCPs attached to each target id (root, OU or account).
  std::map<std::string, std::vector<PolicyPtr>, std::less<>> attached;
};
OrgPlacement ComputePlacement(const PlacementInput& in);

}  // namespace rampart::iam::org
