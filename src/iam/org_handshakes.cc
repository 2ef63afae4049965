// Handshakes: inviting an existing account into the organization.
// InviteAccountToOrganization, AcceptHandshake, DeclineHandshake,
// CancelHandshake, DescribeHandshake, ListHandshakesForAccount,
// ListHandshakesForOrganization, and EnableAllFeatures (Rampart's
// organizations always have all features).
//
// An invitation names an account of this server by id; it is OPEN for 15
// days, then EXPIRED. Only the invited account may accept or decline it,
// only the management account may cancel it; any other transition is
// InvalidHandshakeTransitionException, a repeated one
// HandshakeAlreadyInStateException. Accepting places the account under the
// root (with FullAWSAccess when SCPs are enabled) and applies the
// invitation's tags.
#include <algorithm>
#include <cctype>

#include "iam/iam_internal.h"
#include "iam/org_internal.h"
#include "rampart/core/arn.h"
#include "rampart/core/json.h"
#include "rampart/iam/organizations.h"

namespace rampart::iam {

using org::OrgRow;

namespace {

constexpr int64_t kInviteLifetime = 15 * 24 * 3600;

struct HandshakeRow {
  std::string id;
  std::string org_id;
  std::string management_account;
  std::string management_email;
  std::string target_account;
  std::string state;  // OPEN, ACCEPTED, DECLINED, CANCELED (EXPIRED is computed)
  std::string notes;
  std::string tags;  // the invitation's Tags as JSON, applied on acceptance
  int64_t requested_at = 0;
  int64_t expires_at = 0;

  std::string StateAt(int64_t now) const {
    return state == "OPEN" && now >= expires_at ? "EXPIRED" : state;
  }
  std::string Arn() const {
    return "arn:aws:organizations::" + management_account + ":handshake/" + org_id + "/invite/" +
           id;
  }
};

constexpr std::string_view kColumns =
    "handshake_id, org_id, management_account, management_email, target_account, state, notes, "
    "tags, requested_at, expires_at";

HandshakeRow ReadRow(const store::Statement& q) {
  return {q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4),
          q.Text(5), q.Text(6), q.Text(7), q.Int(8),  q.Int(9)};
}

Result<std::vector<HandshakeRow>> Query(store::Tx& tx, std::string_view where,
                                        std::string_view arg) {
  ASSIGN_OR_RETURN(auto q,
                   tx.Prepare("SELECT " + std::string(kColumns) + " FROM org_handshakes WHERE " +
                              std::string(where) + " ORDER BY requested_at, handshake_id"));
  q->Bind(1, arg);
  std::vector<HandshakeRow> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return out;
    out.push_back(ReadRow(*q));
  }
}

Status NotFound() {
  return Status::Modeled("HandshakeNotFoundException",
                         "We can't find a handshake with the HandshakeId that you specified.");
}

Status AlreadyIn(std::string_view state) {
  return Status::Modeled(
      "HandshakeAlreadyInStateException",
      "The handshake is already in the requested state, " + std::string(state) + ".");
}

Status BadTransition(std::string_view from) {
  return Status::Modeled("InvalidHandshakeTransitionException",
                         "A handshake in state " + std::string(from) + " cannot change that way.");
}

Status ConstraintViolation(std::string_view reason, std::string message) {
  return Status::Modeled("HandshakeConstraintViolationException",
                         std::move(message) + " (" + std::string(reason) + ")");
}

json::Value Party(std::string_view id, std::string_view type) {
  json::Value p = json::Value::MakeObject();
  p.set("Id", id);
  p.set("Type", type);
  return p;
}

json::Value Resource(std::string_view value, std::string_view type) {
  json::Value r = json::Value::MakeObject();
  r.set("Value", value);
  r.set("Type", type);
  return r;
}

json::Value HandshakeJson(const HandshakeRow& h, int64_t now) {
  json::Value parties = json::Value::MakeArray();
  parties.push(Party(h.org_id, "ORGANIZATION"));
  parties.push(Party(h.target_account, "ACCOUNT"));
  json::Value org_details = json::Value::MakeArray();
  org_details.push(Resource(h.management_email, "MASTER_EMAIL"));
  org_details.push(Resource(h.management_account, "MASTER_NAME"));
  org_details.push(Resource("ALL", "ORGANIZATION_FEATURE_SET"));
  json::Value org_resource = Resource(h.org_id, "ORGANIZATION");
  org_resource.set("Resources", std::move(org_details));
  json::Value resources = json::Value::MakeArray();
  resources.push(std::move(org_resource));
  resources.push(Resource(h.target_account, "ACCOUNT"));
  if (!h.notes.empty()) resources.push(Resource(h.notes, "NOTES"));

  json::Value v = json::Value::MakeObject();
  v.set("Id", h.id);
  v.set("Arn", h.Arn());
  v.set("Parties", std::move(parties));
  v.set("State", h.StateAt(now));
  v.set("RequestedTimestamp", h.requested_at);
  v.set("ExpirationTimestamp", h.expires_at);
  v.set("Action", "INVITE");
  v.set("Resources", std::move(resources));
  return v;
}

// The resource a party's request is authorized against. The handshake
// belongs to the management account; the invited account has no
// resource policy to lean on there, so its own policies decide, on "*".
std::string PartyArn(const HandshakeRow& h, const server::RequestContext& ctx) {
  return ctx.principal().account_id == h.management_account ? h.Arn() : "*";
}

json::Value Wrap(const HandshakeRow& h, int64_t now) {
  json::Value out = json::Value::MakeObject();
  out.set("Handshake", HandshakeJson(h, now));
  return out;
}

Result<std::optional<HandshakeRow>> FindHandshake(store::Tx& tx, std::string_view id) {
  ASSIGN_OR_RETURN(auto rows, Query(tx, "handshake_id = ?", id));
  if (rows.empty()) return std::optional<HandshakeRow>();
  return std::optional<HandshakeRow>(std::move(rows.front()));
}

Status SetState(store::Tx& tx, const HandshakeRow& h, std::string_view state) {
  ASSIGN_OR_RETURN(auto q,
                   tx.Prepare("UPDATE org_handshakes SET state = ? WHERE handshake_id = ?"));
  q->Bind(1, state).Bind(2, h.id);
  return q->Run();
}

// Moves an OPEN handshake to state, or explains why it cannot.
Status Transition(store::Tx& tx, const HandshakeRow& h, std::string_view state, int64_t now) {
  std::string current = h.StateAt(now);
  if (current == state) return AlreadyIn(state);
  if (current != "OPEN") return BadTransition(current);
  return SetState(tx, h, state);
}

// The invitation's Filter: ActionType or ParentHandshakeId, not both.
Result<bool> MatchesFilter(const json::Value& in) {
  const json::Value* filter = in.find("Filter");
  if (filter == nullptr || !filter->is_object()) return true;
  std::string_view action = filter->get_string("ActionType");
  std::string_view parent = filter->get_string("ParentHandshakeId");
  if (!action.empty() && !parent.empty()) {
    return org::InvalidInput("MAX_LIMIT_EXCEEDED_FILTER",
                             "Filter may name an ActionType or a ParentHandshakeId, not both.");
  }
  // Every Rampart handshake is an INVITE, and none has a parent.
  return parent.empty() && (action.empty() || action == "INVITE");
}

json::Value Page(std::vector<HandshakeRow> rows, bool match, const org::PageRequest& page,
                 int64_t now) {
  std::vector<json::Value> items;
  if (match) {
    for (const HandshakeRow& h : rows) items.push_back(HandshakeJson(h, now));
  }
  json::Value out = json::Value::MakeObject();
  org::SetPage(out, "Handshakes", std::move(items), page);
  return out;
}

// The account row of an account joining by invitation: the name and
// e-mail address it had when it last left an organization (unless another
// account has the address now), or its id and a reserved (RFC 2606
// .invalid) address, as for management accounts.
Result<org::AccountRow> JoiningAccount(store::Tx& tx, std::string_view account_id) {
  org::AccountRow a;
  a.account_id = std::string(account_id);
  a.name = a.account_id;
  a.email = "root@" + a.account_id + ".rampart.invalid";
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT name, email FROM org_former_accounts WHERE "
                                      "account_id = ?"));
  q->Bind(1, account_id);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return a;
  a.name = q->Text(0);
  // The address may have gone to another account since (e-mail addresses
  // are unique across organizations); the reserved one is always free.
  std::string email = q->Text(1);
  std::string key = email;
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  ASSIGN_OR_RETURN(int64_t taken, internal::CountOf(tx,
                                                    "SELECT COUNT(*) FROM org_accounts WHERE "
                                                    "email_key = ?",
                                                    {key}));
  if (taken == 0) a.email = std::move(email);
  return a;
}

}  // namespace

Result<json::Value> OrganizationsService::InviteAccountToOrganization(server::RequestContext& ctx,
                                                                      const json::Value& in) {
  const json::Value* target = in.find("Target");
  std::string type(target != nullptr ? target->get_string("Type") : "");
  std::string account(target != nullptr ? target->get_string("Id") : "");
  if (type != "ACCOUNT") {
    return org::InvalidInput("INVALID_PARTY_TYPE_TARGET",
                             "Rampart invites accounts by account id (Type ACCOUNT).");
  }
  ASSIGN_OR_RETURN(org::TagList tags, org::ReadTags(in));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:InviteAccountToOrganization",
                                   org::AnyResource(), server::RequestTagKeys(tags)));
  // The tags go on the account when it accepts: tagging needs its permission.
  RETURN_IF_ERROR(org::AuthorizeTags(ctx, org.AccountArn(account), tags));
  int64_t now = internal::NowSeconds(ctx);
  HandshakeRow h;
  ASSIGN_OR_RETURN(std::string suffix, org::RandomLowerAlnum(32));
  h.id = "h-" + suffix;
  h.org_id = org.org_id;
  h.management_account = org.management_account;
  h.management_email = org.management_email;
  h.target_account = account;
  h.state = "OPEN";
  h.notes = std::string(in.get_string("Notes"));
  h.tags = json::Write(server::TagsJson(tags));
  h.requested_at = now;
  h.expires_at = now + kInviteLifetime;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    RETURN_IF_ERROR(org::RequireSameOrg(tx, org).status());
    ASSIGN_OR_RETURN(int64_t known, internal::CountOf(tx,
                                                      "SELECT COUNT(*) FROM accounts WHERE "
                                                      "account_id = ?",
                                                      {account}));
    if (known == 0) {
      return org::InvalidInput("INVALID_PARTY_TYPE_TARGET",
                               "No account " + account + " exists on this server.");
    }
    ASSIGN_OR_RETURN(auto member_of, org::OrgOfAccount(tx, account));
    if (member_of) {
      return ConstraintViolation("ALREADY_IN_AN_ORGANIZATION",
                                 "The account " + account + " is already in an organization.");
    }
    ASSIGN_OR_RETURN(auto pending, Query(tx, "target_account = ?", account));
    for (const HandshakeRow& p : pending) {
      if (p.org_id == org.org_id && p.StateAt(now) == "OPEN") {
        return Status::Modeled("DuplicateHandshakeException",
                               "An open invitation of this account already exists: " + p.id + ".");
      }
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO org_handshakes (" + std::string(kColumns) +
                                        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    q->Bind(1, h.id).Bind(2, h.org_id).Bind(3, h.management_account).Bind(4, h.management_email);
    q->Bind(5, h.target_account).Bind(6, h.state).Bind(7, h.notes).Bind(8, h.tags);
    q->Bind(9, h.requested_at).Bind(10, h.expires_at);
    return q->Run();
  }));
  return Wrap(h, now);
}

Result<json::Value> OrganizationsService::AcceptHandshake(server::RequestContext& ctx,
                                                          const json::Value& in) {
  std::string id(in.get_string("HandshakeId"));
  const std::string& caller = ctx.principal().account_id;
  int64_t now = internal::NowSeconds(ctx);
  HandshakeRow h;
  RETURN_IF_ERROR(WriteAndInvalidate([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto found, FindHandshake(tx, id));
    if (!found || found->target_account != caller) return NotFound();
    h = std::move(*found);
    RETURN_IF_ERROR(ctx.Authorize("organizations:AcceptHandshake", PartyArn(h, ctx)));
    RETURN_IF_ERROR(Transition(tx, h, "ACCEPTED", now));
    ASSIGN_OR_RETURN(auto member_of, org::OrgOfAccount(tx, caller));
    if (member_of) {
      return ConstraintViolation("ALREADY_IN_AN_ORGANIZATION",
                                 "The account is already in an organization.");
    }
    OrgRow inviting;
    inviting.org_id = h.org_id;
    ASSIGN_OR_RETURN(OrgRow org, org::RequireSameOrg(tx, inviting));
    ASSIGN_OR_RETURN(org::AccountRow a, JoiningAccount(tx, caller));
    a.parent_id = org.root_id;
    a.joined_method = "INVITED";
    a.joined_at = now;
    RETURN_IF_ERROR(org::InsertAccount(tx, org, a));
    RETURN_IF_ERROR(org::AttachDefaultScp(tx, org, caller));
    auto tags = json::Parse(h.tags);
    if (tags.ok()) {
      json::Value wrapper = json::Value::MakeObject();
      wrapper.set("Tags", std::move(tags).value());
      ASSIGN_OR_RETURN(org::TagList list, org::ReadTags(wrapper));
      RETURN_IF_ERROR(org::PutTags(tx, org, caller, list));
    }
    h.state = "ACCEPTED";
    return Status::Ok();
  }));
  return Wrap(h, now);
}

Result<json::Value> OrganizationsService::DeclineHandshake(server::RequestContext& ctx,
                                                           const json::Value& in) {
  return CloseHandshake(ctx, in.get_string("HandshakeId"), /*by_target=*/true);
}

Result<json::Value> OrganizationsService::CancelHandshake(server::RequestContext& ctx,
                                                          const json::Value& in) {
  return CloseHandshake(ctx, in.get_string("HandshakeId"), /*by_target=*/false);
}

Result<json::Value> OrganizationsService::CloseHandshake(server::RequestContext& ctx,
                                                         std::string_view id, bool by_target) {
  std::string_view action =
      by_target ? "organizations:DeclineHandshake" : "organizations:CancelHandshake";
  std::string_view state = by_target ? "DECLINED" : "CANCELED";
  int64_t now = internal::NowSeconds(ctx);
  HandshakeRow h;
  RETURN_IF_ERROR(db_.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto found, FindHandshake(tx, id));
    if (!found) return NotFound();
    const std::string& party = by_target ? found->target_account : found->management_account;
    if (party != ctx.principal().account_id) return NotFound();
    h = std::move(*found);
    RETURN_IF_ERROR(ctx.Authorize(action, PartyArn(h, ctx)));
    RETURN_IF_ERROR(Transition(tx, h, state, now));
    h.state = std::string(state);
    return Status::Ok();
  }));
  return Wrap(h, now);
}

Result<json::Value> OrganizationsService::DescribeHandshake(server::RequestContext& ctx,
                                                            const json::Value& in) {
  std::string id(in.get_string("HandshakeId"));
  const std::string& caller = ctx.principal().account_id;
  std::optional<HandshakeRow> h;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(h, FindHandshake(tx, id));
    return Status::Ok();
  }));
  // Only its two parties see a handshake.
  if (!h || (h->target_account != caller && h->management_account != caller)) return NotFound();
  RETURN_IF_ERROR(ctx.Authorize("organizations:DescribeHandshake", PartyArn(*h, ctx)));
  return Wrap(*h, internal::NowSeconds(ctx));
}

Result<json::Value> OrganizationsService::ListHandshakesForAccount(server::RequestContext& ctx,
                                                                   const json::Value& in) {
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(bool match, MatchesFilter(in));
  RETURN_IF_ERROR(ctx.Authorize("organizations:ListHandshakesForAccount", "*"));
  std::vector<HandshakeRow> rows;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(rows, Query(tx, "target_account = ?", ctx.principal().account_id));
    return Status::Ok();
  }));
  return Page(std::move(rows), match, page, internal::NowSeconds(ctx));
}

Result<json::Value> OrganizationsService::ListHandshakesForOrganization(server::RequestContext& ctx,
                                                                        const json::Value& in) {
  ASSIGN_OR_RETURN(org::PageRequest page, org::ReadPage(in));
  ASSIGN_OR_RETURN(bool match, MatchesFilter(in));
  ASSIGN_OR_RETURN(OrgRow org,
                   org::Authorized(db_, engine_, ctx, "organizations:ListHandshakesForOrganization",
                                   org::AnyResource()));
  std::vector<HandshakeRow> rows;
  RETURN_IF_ERROR(db_.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(rows, Query(tx, "org_id = ?", org.org_id));
    return Status::Ok();
  }));
  return Page(std::move(rows), match, page, internal::NowSeconds(ctx));
}

Result<json::Value> OrganizationsService::EnableAllFeatures(server::RequestContext& ctx,
                                                            const json::Value& in) {
  RETURN_IF_ERROR(
      org::Authorized(db_, engine_, ctx, "organizations:EnableAllFeatures", org::AnyResource())
          .status());
  return ConstraintViolation("ORGANIZATION_ALREADY_HAS_ALL_FEATURES",
                             "The organization already has all features enabled.");
}

}  // namespace rampart::iam
