// Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant,
// RevokeGrant, grant tokens, and the grant check behind AuthorizeKey.
//
// A grant lets its grantee principal call the listed operations on one key
// in addition to what the key policy and IAM allow (AWS KMS Developer
// Guide, "Grants in AWS KMS"). Grants are loaded with the key into its
// cached KeyEntry, so using one reads no database; every grant write drops
// the key's entry. Rampart is strongly consistent, so a grant is usable as
// soon as CreateGrant returns; grant tokens are still issued and checked
// (an operation given a token this server did not issue fails with
// InvalidGrantTokenException) and identify the grant for RetireGrant.
//
// Grant token: base64 of "rkgt1" || key id (36) || grant id (64 hex) ||
// 16 random bytes || HMAC-SHA256 of everything before it under a key
// derived from the server root key.
#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>

#include "kms/kms_internal.h"
#include "rampart/core/arn.h"
#include "rampart/core/encoding.h"
#include "rampart/crypto/digest.h"
#include "rampart/crypto/random.h"

namespace rampart::kms::internal {

bool Grant::Allows(std::string_view operation) const {
  return std::find(operations.begin(), operations.end(), operation) != operations.end();
}

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// AWS KMS quotas: grants per key; constraint pairs and value length.
constexpr size_t kMaxGrantsPerKey = 50000;
constexpr size_t kMaxConstraintPairs = 8;
constexpr size_t kMaxConstraintValue = 384;

constexpr std::string_view kTokenMagic = "rkgt1";
constexpr size_t kKeyIdLen = 36;
constexpr size_t kGrantIdLen = 64;
constexpr size_t kNonceLen = 16;
constexpr size_t kMacLen = 32;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsGrantId(std::string_view s) {
  return s.size() == kGrantIdLen && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// --- tokens ---

std::string TokenMacKey(const SecretBytes& root_key) {
  return crypto::HmacSha256(root_key.reveal(), "rampart-kms-grant-token-v1");
}

Result<std::string> MakeToken(const SecretBytes& root_key, std::string_view key_id,
                              std::string_view grant_id) {
  ASSIGN_OR_RETURN(std::string nonce, crypto::RandomBytes(kNonceLen));
  std::string body = std::string(kTokenMagic) + std::string(key_id) + std::string(grant_id) + nonce;
  std::string mac = crypto::HmacSha256(TokenMacKey(root_key), body);
  return Base64Encode(body + mac);
}

struct TokenIds {
  std::string key_id;
  std::string grant_id;
};

Status InvalidToken() {
  return Status::Modeled("InvalidGrantTokenException", "The grant token is not valid.");
}

Result<TokenIds> ParseToken(const SecretBytes& root_key, std::string_view token) {
  constexpr size_t kBody = 5 + kKeyIdLen + kGrantIdLen + kNonceLen;
  if (token.size() > 8192) return InvalidToken();
  auto raw = Base64Decode(token);
  if (!raw || raw->size() != kBody + kMacLen || !raw->starts_with(kTokenMagic)) {
    return InvalidToken();
  }
  std::string_view bytes = *raw;
  std::string mac = crypto::HmacSha256(TokenMacKey(root_key), bytes.substr(0, kBody));
  if (CRYPTO_memcmp(mac.data(), bytes.data() + kBody, kMacLen) != 0) return InvalidToken();
  return TokenIds{std::string(bytes.substr(5, kKeyIdLen)),
                  std::string(bytes.substr(5 + kKeyIdLen, kGrantIdLen))};
}

// --- operations and constraints ---

// Operations that take an encryption context (on symmetric keys); grant
// constraints apply to these only.
bool TakesContext(std::string_view op) {
  for (std::string_view o : {"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo",
                             "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
                             "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}) {
    if (o == op) return true;
  }
  return false;
}

// The grant operations a key supports (AWS KMS Developer Guide, "Grant
// operations").
bool SupportedOn(const KeyRow& row, std::string_view op) {
  if (op == "CreateGrant" || op == "RetireGrant" || op == "DescribeKey") return true;
  if (row.key_spec == "SYMMETRIC_DEFAULT") return TakesContext(op);
  if (row.key_usage == "GENERATE_VERIFY_MAC") return op == "GenerateMac" || op == "VerifyMac";
  if (op == "GetPublicKey") return true;
  if (row.key_usage == "SIGN_VERIFY") return op == "Sign" || op == "Verify";
  return op == "Encrypt" || op == "Decrypt" || op == "ReEncryptFrom" || op == "ReEncryptTo";
}

// The request's encryption context from its condition keys, keys lowered.
Pairs RequestContext(std::span<const server::ConditionKey> keys) {
  constexpr std::string_view kPrefix = "kms:EncryptionContext:";
  Pairs out;
  for (const server::ConditionKey& k : keys) {
    if (k.name.starts_with(kPrefix) && !k.values.empty()) {
      out.emplace_back(Lower(std::string_view(k.name).substr(kPrefix.size())), k.values.front());
    }
  }
  return out;
}

bool Contains(const Pairs& haystack, const std::pair<std::string, std::string>& p) {
  std::string key = Lower(p.first);
  return std::any_of(haystack.begin(), haystack.end(),
                     [&](const auto& h) { return Lower(h.first) == key && h.second == p.second; });
}

bool ContainsAll(const Pairs& haystack, const Pairs& needles) {
  return std::all_of(needles.begin(), needles.end(),
                     [&](const auto& n) { return Contains(haystack, n); });
}

bool SameContext(const Pairs& a, const Pairs& b) {
  return a.size() == b.size() && ContainsAll(a, b) && ContainsAll(b, a);
}

bool ConstraintsHold(const Grant& g, const KeyEntry& key, std::string_view op,
                     std::span<const server::ConditionKey> keys) {
  if (!g.context_equals && !g.context_subset) return true;
  if (key.row.key_spec != "SYMMETRIC_DEFAULT" || !TakesContext(op)) return true;
  Pairs request = RequestContext(keys);
  if (g.context_equals && !SameContext(request, *g.context_equals)) return false;
  if (g.context_subset && !ContainsAll(request, *g.context_subset)) return false;
  return true;
}

bool IsRootOf(std::string_view arn, std::string_view account) { return arn == RootArn(account); }

}  // namespace

bool CallerIs(const server::RequestContext& ctx, std::string_view principal_arn) {
  const server::Principal& p = ctx.principal();
  if (principal_arn.empty()) return false;
  return p.arn == principal_arn || (!p.role_arn.empty() && p.role_arn == principal_arn);
}

const Grant* MatchingGrant(const server::RequestContext& ctx, const KeyEntry& key,
                           std::string_view action,
                           std::span<const server::ConditionKey> keys) {
  if (!action.starts_with("kms:")) return nullptr;
  std::string_view op = action.substr(4);
  const server::Principal& p = ctx.principal();
  for (const Grant& g : key.grants) {
    if (!g.Allows(op) || !ConstraintsHold(g, key, op, keys)) continue;
    if (CallerIs(ctx, g.grantee)) return &g;
    // A grant to an account delegates to that account's IAM policies, as
    // a key policy naming the account does.
    if (IsRootOf(g.grantee, p.account_id) &&
        (p.type == "Root" || ctx.Authorize(action, key.arn, keys).ok())) {
      return &g;
    }
  }
  return nullptr;
}

Status CheckGrantTokens(const SecretBytes& root_key, const json::Value& in) {
  const json::Value* tokens = in.find("GrantTokens");
  if (tokens == nullptr || !tokens->is_array()) return Status::Ok();
  for (const json::Value& t : tokens->as_array()) {
    if (!t.is_string()) return InvalidToken();
    RETURN_IF_ERROR(ParseToken(root_key, t.as_string()).status());
  }
  return Status::Ok();
}

namespace {

Result<Pairs> ParseStoredPairs(std::string_view text) {
  ASSIGN_OR_RETURN(json::Value v, json::Parse(text));
  Pairs out;
  if (!v.is_object()) return Status::Internal("stored grant constraint is not an object");
  for (const auto& [k, val] : v.as_object()) {
    if (val.is_string()) out.emplace_back(k, val.as_string());
  }
  return out;
}

std::string StorePairs(const Pairs& pairs) {
  json::Value v = json::Value::MakeObject();
  for (const auto& [k, val] : pairs) v.set(k, val);
  return json::Write(v);
}

std::vector<std::string> SplitOps(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t comma = s.find(',');
    out.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

std::string JoinOps(const std::vector<std::string>& ops) {
  std::string out;
  for (const std::string& o : ops) {
    if (!out.empty()) out += ',';
    out += o;
  }
  return out;
}

constexpr std::string_view kGrantColumns =
    "grant_id, key_id, name, grantee, retiring, operations, context_equals, context_subset, "
    "created_at";

Result<Grant> ReadGrant(const store::Statement& q) {
  Grant g;
  g.grant_id = q.Text(0);
  g.key_id = q.Text(1);
  g.name = q.Text(2);
  g.grantee = q.Text(3);
  g.retiring = q.Text(4);
  g.operations = SplitOps(q.Text(5));
  if (!q.IsNull(6)) {
    ASSIGN_OR_RETURN(g.context_equals, ParseStoredPairs(q.Text(6)));
  }
  if (!q.IsNull(7)) {
    ASSIGN_OR_RETURN(g.context_subset, ParseStoredPairs(q.Text(7)));
  }
  g.created_at = q.Int(8);
  return g;
}

}  // namespace

Status ReadGrantRows(store::Tx& tx, std::string_view region, std::string_view key_id,
                     std::vector<Grant>& out) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT " + std::string(kGrantColumns) +
                                      " FROM kms_grants WHERE key_id = ? AND region = ? "
                                      "ORDER BY created_at, grant_id"));
  q->Bind(1, key_id).Bind(2, region);
  while (true) {
    ASSIGN_OR_RETURN(bool more, q->Step());
    if (!more) return Status::Ok();
    ASSIGN_OR_RETURN(Grant g, ReadGrant(*q));
    out.push_back(std::move(g));
  }
}

namespace {

// --- CreateGrant ---

// An IAM principal ARN: arn:aws:iam::<12 digits>:<root|user/..|role/..|
// federated-user/..> or arn:aws:sts::<12 digits>:assumed-role/../..
Status CheckPrincipal(std::string_view arn, std::string_view member) {
  auto parsed = Arn::Parse(arn);
  bool ok = parsed && parsed->region.empty() && parsed->account.size() == 12 &&
            std::all_of(parsed->account.begin(), parsed->account.end(),
                        [](char c) { return c >= '0' && c <= '9'; });
  if (ok && parsed->service == "iam") {
    ok = parsed->resource == "root" || parsed->resource.starts_with("user/") ||
         parsed->resource.starts_with("role/") || parsed->resource.starts_with("federated-user/");
  } else if (ok && parsed->service == "sts") {
    ok = parsed->resource.starts_with("assumed-role/") ||
         parsed->resource.starts_with("federated-user/");
  } else {
    ok = false;
  }
  if (ok) return Status::Ok();
  return Status::Validation(std::string(member) + " '" + std::string(arn) +
                            "' is not a valid principal ARN.");
}

Result<std::optional<Pairs>> ReadConstraint(const json::Value& constraints, std::string_view name) {
  const json::Value* v = constraints.find(name);
  if (v == nullptr || v->is_null()) return std::optional<Pairs>();
  if (!v->is_object()) return Status::Validation(std::string(name) + " must be a map.");
  if (v->as_object().size() > kMaxConstraintPairs) {
    return Status::Validation(std::string(name) + " has more than 8 encryption context pairs.");
  }
  Pairs out;
  for (const auto& member : v->as_object()) {
    const std::string& k = member.first;
    const json::Value& val = member.second;
    if (!val.is_string() || k.empty()) {
      return Status::Validation(std::string(name) + " values must be non-empty strings.");
    }
    if (val.as_string().size() > kMaxConstraintValue) {
      return Status::Validation("A value in " + std::string(name) +
                                " is longer than 384 characters.");
    }
    if (Contains(out, {k, val.as_string()}) ||
        std::any_of(out.begin(), out.end(), [&](const auto& p) { return Lower(p.first) == Lower(k); })) {
      return Status::Validation(std::string(name) + " has duplicate keys.");
    }
    out.emplace_back(k, val.as_string());
  }
  std::sort(out.begin(), out.end());
  return std::optional<Pairs>(std::move(out));
}

Result<Grant> ReadNewGrant(const KeyEntry& key, const json::Value& in) {
  Grant g;
  g.key_id = key.row.key_id;
  g.grantee = std::string(in.get_string("GranteePrincipal"));
  RETURN_IF_ERROR(CheckPrincipal(g.grantee, "GranteePrincipal"));
  g.retiring = std::string(in.get_string("RetiringPrincipal"));
  if (!g.retiring.empty()) RETURN_IF_ERROR(CheckPrincipal(g.retiring, "RetiringPrincipal"));
  g.name = std::string(in.get_string("Name"));
  const json::Value* ops = in.find("Operations");
  if (ops == nullptr || !ops->is_array() || ops->as_array().empty()) {
    return Status::Validation("Operations must name at least one grant operation.");
  }
  for (const json::Value& o : ops->as_array()) {
    if (!o.is_string()) return Status::Validation("Operations must be strings.");
    const std::string& op = o.as_string();
    if (!SupportedOn(key.row, op)) {
      return Status::Validation("The grant operation " + op + " is not supported on " + key.arn +
                                " (key spec " + key.row.key_spec + ", key usage " +
                                key.row.key_usage + ").");
    }
    if (!g.Allows(op)) g.operations.push_back(op);
  }
  if (const json::Value* c = in.find("Constraints"); c != nullptr && c->is_object()) {
    ASSIGN_OR_RETURN(g.context_equals, ReadConstraint(*c, "EncryptionContextEquals"));
    ASSIGN_OR_RETURN(g.context_subset, ReadConstraint(*c, "EncryptionContextSubset"));
  }
  bool constrained = g.context_equals.has_value() || g.context_subset.has_value();
  if (constrained && key.row.key_spec != "SYMMETRIC_DEFAULT") {
    for (const std::string& op : g.operations) {
      if (op != "CreateGrant" && op != "RetireGrant" && op != "DescribeKey") {
        return Status::Validation(
            "Encryption context grant constraints are supported only for operations with "
            "symmetric encryption KMS keys; " + key.arn + " is " + key.row.key_spec + ".");
      }
    }
  }
  return g;
}

bool SameGrant(const Grant& a, const Grant& b) {
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  return a.name == b.name && a.grantee == b.grantee && a.retiring == b.retiring &&
         sorted(a.operations) == sorted(b.operations) && a.context_equals == b.context_equals &&
         a.context_subset == b.context_subset;
}

// Whether a grant with CreateGrant (parent) lets its grantee create child:
// no more operations, and an equally strict or stricter constraint (AWS
// KMS Developer Guide, "Granting CreateGrant permission").
bool Dominates(const Grant& parent, const Grant& child) {
  for (const std::string& op : child.operations) {
    if (!parent.Allows(op)) return false;
  }
  if (parent.context_equals &&
      (!child.context_equals || !SameContext(*child.context_equals, *parent.context_equals))) {
    return false;
  }
  if (parent.context_subset) {
    bool by_subset = child.context_subset && ContainsAll(*child.context_subset, *parent.context_subset);
    bool by_equals = child.context_equals && ContainsAll(*child.context_equals, *parent.context_subset);
    if (!by_subset && !by_equals) return false;
  }
  return true;
}

std::vector<server::ConditionKey> CreateGrantKeys(const Grant& g) {
  std::vector<server::ConditionKey> keys;
  keys.push_back({"kms:GrantOperations", g.operations});
  keys.push_back({"kms:GranteePrincipal", {g.grantee}});
  if (!g.retiring.empty()) keys.push_back({"kms:RetiringPrincipal", {g.retiring}});
  keys.push_back({"kms:GrantIsForAWSResource", {"false"}});
  server::ConditionKey type{"kms:GrantConstraintType", {}};
  if (g.context_equals) type.values.push_back("EncryptionContextEquals");
  if (g.context_subset) type.values.push_back("EncryptionContextSubset");
  if (!type.values.empty()) keys.push_back(std::move(type));
  return keys;
}

Status AuthorizeCreateGrant(Kms& kms, const server::RequestContext& ctx, const KeyEntry& key,
                            const Grant& g) {
  std::vector<server::ConditionKey> keys = CreateGrantKeys(g);
  ASSIGN_OR_RETURN(auto verdict, KeyPolicyVerdict(kms, ctx, key, "kms:CreateGrant", keys));
  if (verdict.allowed) return Status::Ok();
  if (verdict.explicit_deny) return verdict.denial;
  for (const Grant& parent : key.grants) {
    if (parent.Allows("CreateGrant") && CallerIs(ctx, parent.grantee) && Dominates(parent, g)) {
      return Status::Ok();
    }
  }
  return verdict.denial;
}

Status InsertGrant(store::Tx& tx, std::string_view region, const Grant& g) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO kms_grants (" + std::string(kGrantColumns) +
                                      ", region) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  q->Bind(1, g.grant_id).Bind(2, g.key_id).Bind(3, g.name).Bind(4, g.grantee);
  q->Bind(5, g.retiring).Bind(6, JoinOps(g.operations));
  if (g.context_equals) q->Bind(7, StorePairs(*g.context_equals)); else q->BindNull(7);
  if (g.context_subset) q->Bind(8, StorePairs(*g.context_subset)); else q->BindNull(8);
  q->Bind(9, g.created_at).Bind(10, region);
  return q->Run();
}

Result<json::Value> CreateGrant(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  ASSIGN_OR_RETURN(Grant g, ReadNewGrant(*key, in));
  RETURN_IF_ERROR(AuthorizeCreateGrant(kms, ctx, *key, g));
  RETURN_IF_ERROR(RequireEnabled(*key));
  // With a Name, retrying identical parameters returns the same grant.
  const Grant* existing = nullptr;
  if (!g.name.empty()) {
    for (const Grant& other : key->grants) {
      if (SameGrant(other, g)) existing = &other;
    }
  }
  if (existing != nullptr) {
    g.grant_id = existing->grant_id;
  } else {
    if (key->grants.size() >= kMaxGrantsPerKey) {
      return Status::Modeled("LimitExceededException",
                             "The key " + key->arn + " already has 50000 grants.");
    }
    ASSIGN_OR_RETURN(std::string random, crypto::RandomBytes(kGrantIdLen / 2));
    g.grant_id = HexEncode(random);
    g.created_at = NowSeconds(ctx);
    RETURN_IF_ERROR(WriteKey(kms, key->row.key_id,
                             [&](store::Tx& tx) { return InsertGrant(tx, key->row.region, g); }));
  }
  ASSIGN_OR_RETURN(std::string token, MakeToken(kms.root_key, key->row.key_id, g.grant_id));
  json::Value out = json::Value::MakeObject();
  out.set("GrantToken", std::move(token));
  out.set("GrantId", g.grant_id);
  return out;
}

// --- listing ---

json::Value PairsJson(const Pairs& pairs) {
  json::Value v = json::Value::MakeObject();
  for (const auto& [k, val] : pairs) v.set(k, val);
  return v;
}

json::Value GrantJson(const Grant& g, const KeyRow& key) {
  json::Value e = json::Value::MakeObject();
  e.set("KeyId", key.Arn());
  e.set("GrantId", g.grant_id);
  if (!g.name.empty()) e.set("Name", g.name);
  e.set("CreationDate", g.created_at);
  e.set("GranteePrincipal", g.grantee);
  if (!g.retiring.empty()) e.set("RetiringPrincipal", g.retiring);
  e.set("IssuingAccount", RootArn(key.account_id));
  json::Value ops = json::Value::MakeArray();
  for (const std::string& o : g.operations) ops.push(o);
  e.set("Operations", std::move(ops));
  if (g.context_equals || g.context_subset) {
    json::Value c = json::Value::MakeObject();
    if (g.context_equals) c.set("EncryptionContextEquals", PairsJson(*g.context_equals));
    if (g.context_subset) c.set("EncryptionContextSubset", PairsJson(*g.context_subset));
    e.set("Constraints", std::move(c));
  }
  return e;
}

Result<size_t> ListLimit(const json::Value& in) {
  const json::Value* l = in.find("Limit");
  if (l == nullptr || !l->is_int()) return size_t{50};
  int64_t n = l->as_int();
  if (n < 1 || n > 100) {
    return Status::Validation("1 validation error detected: Value '" + std::to_string(n) +
                              "' at 'limit' failed to satisfy constraint: Member must have value "
                              "between 1 and 100");
  }
  return static_cast<size_t>(n);
}

// One page of entries; the marker is the grant id of the first entry of
// the next page.
Result<json::Value> Page(std::vector<std::pair<const Grant*, const KeyRow*>> all,
                         const json::Value& in) {
  ASSIGN_OR_RETURN(size_t limit, ListLimit(in));
  std::string_view marker = in.get_string("Marker");
  size_t start = 0;
  if (!marker.empty()) {
    auto it = std::find_if(all.begin(), all.end(),
                           [&](const auto& e) { return e.first->grant_id == marker; });
    if (it == all.end()) return Status::Modeled("InvalidMarkerException", "Invalid marker.");
    start = static_cast<size_t>(it - all.begin());
  }
  json::Value list = json::Value::MakeArray();
  size_t end = std::min(all.size(), start + limit);
  for (size_t i = start; i < end; ++i) list.push(GrantJson(*all[i].first, *all[i].second));
  json::Value out = json::Value::MakeObject();
  out.set("Grants", std::move(list));
  out.set("Truncated", end < all.size());
  if (end < all.size()) out.set("NextMarker", all[end].first->grant_id);
  return out;
}

Status InvalidGrantId(std::string_view id) {
  return Status::Modeled("InvalidGrantIdException", "Invalid grant ID '" + std::string(id) + "'.");
}

Result<json::Value> ListGrants(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:ListGrants"));
  std::string_view grant_id = in.get_string("GrantId");
  if (!grant_id.empty() && !IsGrantId(grant_id)) return InvalidGrantId(grant_id);
  std::string_view grantee = in.get_string("GranteePrincipal");
  std::vector<std::pair<const Grant*, const KeyRow*>> all;
  for (const Grant& g : key->grants) {
    if (!grant_id.empty() && g.grant_id != grant_id) continue;
    if (!grantee.empty() && g.grantee != grantee) continue;
    all.emplace_back(&g, &key->row);
  }
  return Page(std::move(all), in);
}

Result<json::Value> ListRetirableGrants(Kms& kms, server::RequestContext& ctx,
                                        const json::Value& in) {
  std::string retiring(in.get_string("RetiringPrincipal"));
  RETURN_IF_ERROR(CheckPrincipal(retiring, "RetiringPrincipal"));
  RETURN_IF_ERROR(ctx.Authorize("kms:ListRetirableGrants", "*"));
  std::vector<Grant> grants;
  RETURN_IF_ERROR(kms.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare(
                                 "SELECT g.grant_id, g.key_id, g.name, g.grantee, g.retiring, "
                                 "g.operations, g.context_equals, g.context_subset, g.created_at "
                                 "FROM kms_grants g "
                                 "WHERE g.retiring = ? AND g.region = ? "
                                 "ORDER BY g.created_at, g.grant_id"));
    q->Bind(1, retiring).Bind(2, ctx.region());
    while (true) {
      ASSIGN_OR_RETURN(bool more, q->Step());
      if (!more) break;
      ASSIGN_OR_RETURN(Grant g, ReadGrant(*q));
      grants.push_back(std::move(g));
    }
    return Status::Ok();
  }));
  // Key rows for the ARNs, through the cache.
  std::vector<KeyPtr> owners;
  std::vector<std::pair<const Grant*, const KeyRow*>> all;
  for (const Grant& g : grants) {
    ASSIGN_OR_RETURN(KeyPtr k, LoadKey(kms, ctx, g.key_id));
    if (!k) continue;
    owners.push_back(k);
    all.emplace_back(&g, &owners.back()->row);
  }
  return Page(std::move(all), in);
}

// --- retiring and revoking ---

const Grant* FindGrant(const KeyEntry& key, std::string_view grant_id) {
  for (const Grant& g : key.grants) {
    if (g.grant_id == grant_id) return &g;
  }
  return nullptr;
}

Status GrantNotFound(std::string_view grant_id) {
  return Status::Modeled("NotFoundException", "Grant ID " + std::string(grant_id) + " not found.");
}

Status DeleteGrant(Kms& kms, const KeyEntry& key, std::string_view grant_id) {
  return WriteKey(kms, key.row.key_id, [&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM kms_grants WHERE grant_id = ? AND key_id = ? "
                                        "AND region = ?"));
    q->Bind(1, grant_id).Bind(2, key.row.key_id).Bind(3, key.row.region);
    return q->Run();
  });
}

// Who may retire a grant (AWS KMS Developer Guide, "Retiring and revoking
// grants"): its retiring principal, its grantee when the grant includes
// RetireGrant, and principals the key policy allows kms:RetireGrant (the
// account that owns the key, through the default key policy).
Status AuthorizeRetire(Kms& kms, const server::RequestContext& ctx, const KeyEntry& key,
                       const Grant& g) {
  if (CallerIs(ctx, g.retiring)) return Status::Ok();
  if (g.Allows("RetireGrant") && CallerIs(ctx, g.grantee)) return Status::Ok();
  std::vector<server::ConditionKey> keys;
  ASSIGN_OR_RETURN(auto verdict, KeyPolicyVerdict(kms, ctx, key, "kms:RetireGrant", keys));
  return verdict.denial;
}

Result<json::Value> RetireGrant(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  std::string_view token = in.get_string("GrantToken");
  KeyPtr key;
  std::string grant_id;
  if (!token.empty()) {
    ASSIGN_OR_RETURN(TokenIds ids, ParseToken(kms.root_key, token));
    ASSIGN_OR_RETURN(key, LoadKey(kms, ctx, ids.key_id));
    if (!key || key->row.region != ctx.region()) return GrantNotFound(ids.grant_id);
    grant_id = ids.grant_id;
  } else {
    std::string_view key_input = in.get_string("KeyId");
    grant_id = std::string(in.get_string("GrantId"));
    if (key_input.empty() || grant_id.empty()) {
      return Status::Validation("RetireGrant needs a GrantToken, or a KeyId and a GrantId.");
    }
    if (!IsGrantId(grant_id)) return InvalidGrantId(grant_id);
    ASSIGN_OR_RETURN(key, ResolveKey(kms, ctx, key_input, false));
  }
  const Grant* g = FindGrant(*key, grant_id);
  if (g == nullptr) return GrantNotFound(grant_id);
  RETURN_IF_ERROR(AuthorizeRetire(kms, ctx, *key, *g));
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  RETURN_IF_ERROR(DeleteGrant(kms, *key, grant_id));
  return json::Value::MakeObject();
}

Result<json::Value> RevokeGrant(Kms& kms, server::RequestContext& ctx, const json::Value& in) {
  ASSIGN_OR_RETURN(KeyPtr key, ResolveKey(kms, ctx, in.get_string("KeyId"), false));
  RETURN_IF_ERROR(AuthorizeKey(kms, ctx, *key, "kms:RevokeGrant"));
  std::string_view grant_id = in.get_string("GrantId");
  if (!IsGrantId(grant_id)) return InvalidGrantId(grant_id);
  if (FindGrant(*key, grant_id) == nullptr) return GrantNotFound(grant_id);
  RETURN_IF_ERROR(RequireNotPendingDeletion(*key));
  RETURN_IF_ERROR(DeleteGrant(kms, *key, grant_id));
  return json::Value::MakeObject();
}

}  // namespace

std::vector<Binding> GrantBindings() {
  return {{"CreateGrant", CreateGrant},
          {"ListGrants", ListGrants},
          {"ListRetirableGrants", ListRetirableGrants},
          {"RetireGrant", RetireGrant},
          {"RevokeGrant", RevokeGrant}};
}

}  // namespace rampart::kms::internal
