// IAM SAML 2.0 identity providers: CreateSAMLProvider, GetSAMLProvider,
// ListSAMLProviders, UpdateSAMLProvider, DeleteSAMLProvider and the tag
// calls.
//
// A provider is named by the caller (arn:aws:iam::<acct>:saml-provider/<name>)
// and holds the identity provider's metadata document, checked on the way
// in: well-formed XML without a DTD, an EntityDescriptor root naming an
// IDPSSODescriptor with at least one signing certificate that parses as
// X.509. ValidUntil comes from the metadata's validUntil attribute. Tags are
// keyed by the provider's ARN. Nothing federates through a provider yet:
// there is no AssumeRoleWithSAML.
#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "iam/iam_internal.h"
#include "rampart/core/encoding.h"

namespace rampart::iam::internal {
namespace {

// IAM quota: SAML providers per account.
constexpr int64_t kProvidersPerAccount = 100;
// Deep enough for any real metadata, small enough that a hostile document
// cannot make the element stack large.
constexpr size_t kMaxXmlDepth = 64;
// Attributes per element; repeated names are looked for among them.
constexpr size_t kMaxAttributes = 64;

Status InvalidInput(std::string message) {
  return Status::Modeled("InvalidInputException", std::move(message));
}

Status BadMetadata(std::string_view why) {
  return InvalidInput("Could not parse metadata: " + std::string(why));
}

bool IsNameChar(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || c == '_' || c == '-' || c == '.' || c == ':' || u >= 0x80;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view LocalName(std::string_view qname) {
  size_t colon = qname.rfind(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

// Whether text's entity references are all predefined or numeric: a
// metadata document has no DTD, so no other entity can be declared.
bool EntitiesValid(std::string_view text) {
  for (size_t i = text.find('&'); i != std::string_view::npos; i = text.find('&', i + 1)) {
    size_t end = text.find(';', i);
    if (end == std::string_view::npos || end - i > 12) return false;
    std::string_view ref = text.substr(i + 1, end - i - 1);
    bool named = ref == "lt" || ref == "gt" || ref == "amp" || ref == "quot" || ref == "apos";
    bool numeric =
        ref.size() >= 2 && ref[0] == '#' && std::all_of(ref.begin() + 1, ref.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == 'x';
        });
    if (!named && !numeric) return false;
  }
  return true;
}

using Attributes = std::vector<std::pair<std::string_view, std::string_view>>;

std::string_view AttributeOf(const Attributes& attrs, std::string_view local) {
  for (const auto& a : attrs) {
    if (LocalName(a.first) == local) return a.second;
  }
  return {};
}

// Reads a document once, front to back, checking well-formedness and
// reporting elements and text to a visitor. No DTD, no external entities:
// a hostile document costs time linear in its size and memory bounded by
// kMaxXmlDepth. One scanner per document and thread; it borrows the text.
class XmlScanner {
 public:
  struct Visitor {
    virtual ~Visitor() = default;
    virtual Status Start(std::string_view name, const Attributes& attrs, size_t depth) = 0;
    virtual void End(std::string_view name) = 0;
    virtual void Text(std::string_view text) = 0;
  };

  explicit XmlScanner(std::string_view doc) : doc_(doc) {}

  Status Run(Visitor& v) {
    if (doc_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
    bool seen_root = false;
    while (pos_ < doc_.size()) {
      size_t lt = doc_.find('<', pos_);
      std::string_view text =
          doc_.substr(pos_, (lt == std::string_view::npos ? doc_.size() : lt) - pos_);
      RETURN_IF_ERROR(OnText(text, v));
      if (lt == std::string_view::npos) break;
      pos_ = lt;
      RETURN_IF_ERROR(Markup(v, seen_root));
    }
    if (!stack_.empty())
      return BadMetadata("element " + std::string(stack_.back()) + " is not closed");
    if (!seen_root) return BadMetadata("no root element");
    return Status::Ok();
  }

 private:
  Status OnText(std::string_view text, Visitor& v) {
    if (stack_.empty()) {
      if (!std::all_of(text.begin(), text.end(), IsSpace)) {
        return BadMetadata("text outside the root element");
      }
      return Status::Ok();
    }
    if (!EntitiesValid(text)) return BadMetadata("unknown entity reference");
    v.Text(text);
    return Status::Ok();
  }

  // Skips from pos_ past the first `close`, or fails.
  Status SkipPast(std::string_view close, std::string_view what) {
    size_t end = doc_.find(close, pos_);
    if (end == std::string_view::npos) return BadMetadata(std::string(what) + " is not closed");
    pos_ = end + close.size();
    return Status::Ok();
  }

  Status Markup(Visitor& v, bool& seen_root) {
    std::string_view rest = doc_.substr(pos_);
    if (rest.starts_with("<!--")) return SkipPast("-->", "a comment");
    if (rest.starts_with("<?")) return SkipPast("?>", "a processing instruction");
    if (rest.starts_with("<![CDATA[")) {
      if (stack_.empty()) return BadMetadata("CDATA outside the root element");
      size_t start = pos_ + 9;
      RETURN_IF_ERROR(SkipPast("]]>", "a CDATA section"));
      v.Text(doc_.substr(start, pos_ - 3 - start));
      return Status::Ok();
    }
    if (rest.starts_with("<!")) return BadMetadata("document type declarations are not allowed");
    if (rest.starts_with("</")) return EndTag(v);
    if (stack_.empty() && seen_root) return BadMetadata("more than one root element");
    seen_root = true;
    return StartTag(v);
  }

  std::string_view ReadName() {
    size_t start = pos_;
    while (pos_ < doc_.size() && IsNameChar(doc_[pos_])) ++pos_;
    return doc_.substr(start, pos_ - start);
  }

  void SkipSpace() {
    while (pos_ < doc_.size() && IsSpace(doc_[pos_])) ++pos_;
  }

  Status EndTag(Visitor& v) {
    pos_ += 2;
    std::string_view name = ReadName();
    SkipSpace();
    if (pos_ >= doc_.size() || doc_[pos_] != '>') return BadMetadata("malformed end tag");
    ++pos_;
    if (stack_.empty() || stack_.back() != name) {
      return BadMetadata("end tag " + std::string(name) + " does not match its start tag");
    }
    stack_.pop_back();
    v.End(name);
    return Status::Ok();
  }

  Status StartTag(Visitor& v) {
    ++pos_;
    std::string_view name = ReadName();
    if (name.empty()) return BadMetadata("malformed start tag");
    Attributes attrs;
    while (true) {
      size_t before = pos_;
      SkipSpace();
      if (pos_ >= doc_.size())
        return BadMetadata("start tag " + std::string(name) + " is not closed");
      char c = doc_[pos_];
      if (c == '>' || doc_.substr(pos_).starts_with("/>")) break;
      if (pos_ == before) return BadMetadata("malformed attributes of " + std::string(name));
      RETURN_IF_ERROR(Attribute(name, attrs));
    }
    bool empty = doc_[pos_] == '/';
    pos_ += empty ? 2 : 1;
    if (stack_.size() >= kMaxXmlDepth) return BadMetadata("elements are nested too deeply");
    RETURN_IF_ERROR(v.Start(name, attrs, stack_.size()));
    if (empty) {
      v.End(name);
    } else {
      stack_.push_back(name);
    }
    return Status::Ok();
  }

  Status Attribute(std::string_view element, Attributes& attrs) {
    std::string_view attr = ReadName();
    SkipSpace();
    if (attr.empty() || pos_ >= doc_.size() || doc_[pos_] != '=') {
      return BadMetadata("malformed attributes of " + std::string(element));
    }
    ++pos_;
    SkipSpace();
    if (pos_ >= doc_.size() || (doc_[pos_] != '"' && doc_[pos_] != '\'')) {
      return BadMetadata("attribute values must be quoted");
    }
    char quote = doc_[pos_++];
    size_t end = doc_.find(quote, pos_);
    if (end == std::string_view::npos) return BadMetadata("attribute value is not closed");
    std::string_view value = doc_.substr(pos_, end - pos_);
    if (value.find('<') != std::string_view::npos || !EntitiesValid(value)) {
      return BadMetadata("malformed attribute value");
    }
    if (attrs.size() >= kMaxAttributes) {
      return BadMetadata("too many attributes on " + std::string(element));
    }
    for (const auto& a : attrs) {
      if (a.first == attr) return BadMetadata("repeated attribute " + std::string(attr));
    }
    attrs.emplace_back(attr, value);
    pos_ = end + 1;
    return Status::Ok();
  }

  std::string_view doc_;
  size_t pos_ = 0;
  std::vector<std::string_view> stack_;
};

// Collects what IAM needs from the metadata: whether the identity provider
// descriptor is there, its signing certificates, and validUntil. One per
// scan; not shared between threads.
class MetadataVisitor : public XmlScanner::Visitor {
 public:
  Status Start(std::string_view name, const Attributes& attrs, size_t depth) override {
    std::string_view local = LocalName(name);
    if (depth == 0 && local != "EntityDescriptor") {
      return BadMetadata("the root element must be an EntityDescriptor");
    }
    if (local == "EntityDescriptor" || local == "IDPSSODescriptor") {
      std::string_view until = AttributeOf(attrs, "validUntil");
      if (!until.empty()) valid_until.emplace_back(until);
    }
    if (local == "IDPSSODescriptor") {
      ++idp_descriptors;
      in_idp = true;
    } else if (local == "KeyDescriptor" && in_idp) {
      std::string_view use = AttributeOf(attrs, "use");
      in_signing_key = use.empty() || use == "signing";
    } else if (local == "X509Certificate" && in_signing_key) {
      in_certificate = true;
      certificates.emplace_back();
    }
    return Status::Ok();
  }

  void End(std::string_view name) override {
    std::string_view local = LocalName(name);
    if (local == "IDPSSODescriptor") in_idp = false;
    if (local == "KeyDescriptor") in_signing_key = false;
    if (local == "X509Certificate") in_certificate = false;
  }

  void Text(std::string_view text) override {
    if (in_certificate) certificates.back().append(text);
  }

  int idp_descriptors = 0;
  std::vector<std::string> certificates;  // base64 text as found
  std::vector<std::string> valid_until;

 private:
  bool in_idp = false;
  bool in_signing_key = false;
  bool in_certificate = false;
};

bool IsX509Der(std::string_view der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  bool whole =
      cert != nullptr && p == reinterpret_cast<const unsigned char*>(der.data()) + der.size();
  X509_free(cert);
  if (!whole) ERR_clear_error();
  return whole;
}

bool CertificateParses(std::string_view base64_text) {
  std::string compact;
  for (char c : base64_text) {
    if (!IsSpace(c)) compact.push_back(c);
  }
  auto der = Base64Decode(compact);
  return der.has_value() && !der->empty() && IsX509Der(*der);
}

}  // namespace

// Seconds since the epoch of an xs:dateTime in UTC
// ("2030-01-02T03:04:05Z", fractional seconds allowed), or nullopt.
std::optional<int64_t> ParseXmlDateTime(std::string_view text) {
  // YYYY-MM-DDThh:mm:ss: digits everywhere but at the separators.
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd";
  if (text.size() < kShape.size()) return std::nullopt;
  for (size_t i = 0; i < kShape.size(); ++i) {
    bool digit = std::isdigit(static_cast<unsigned char>(text[i])) != 0;
    if (kShape[i] == 'd' ? !digit : text[i] != kShape[i]) return std::nullopt;
  }
  auto num = [&text](size_t at, size_t len) {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  std::string_view tail = text.substr(kShape.size());
  if (tail.starts_with(".")) {
    size_t digits = 1;
    while (digits < tail.size() && std::isdigit(static_cast<unsigned char>(tail[digits])) != 0) {
      ++digits;
    }
    tail.remove_prefix(digits);
  }
  if (tail != "Z" && tail != "+00:00") return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{year{num(0, 4)}, month{static_cast<unsigned>(num(5, 2))},
                     day{static_cast<unsigned>(num(8, 2))}};
  int h = num(11, 2), mi = num(14, 2), s = num(17, 2);
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  int64_t days = sys_days{ymd}.time_since_epoch().count();
  return days * 86400 + h * 3600 + mi * 60 + s;
}

Result<SamlMetadata> CheckSamlMetadata(std::string_view document) {
  MetadataVisitor visitor;
  RETURN_IF_ERROR(XmlScanner(document).Run(visitor));
  if (visitor.idp_descriptors != 1) {
    return BadMetadata(
        "the metadata must describe exactly one identity provider "
        "(IDPSSODescriptor)");
  }
  if (visitor.certificates.empty()) {
    return BadMetadata(
        "the identity provider has no signing certificate (a KeyDescriptor "
        "with an X509Certificate)");
  }
  for (const std::string& c : visitor.certificates) {
    if (!CertificateParses(c)) return BadMetadata("a signing certificate is not valid X.509");
  }
  SamlMetadata out;
  for (const std::string& v : visitor.valid_until) {
    std::optional<int64_t> t = ParseXmlDateTime(v);
    if (!t) return BadMetadata("validUntil is not a UTC date and time");
    if (!out.valid_until || *t < *out.valid_until) out.valid_until = t;
  }
  return out;
}

namespace {

struct ProviderRow {
  std::string arn;
  std::string metadata;
  std::optional<int64_t> valid_until;
  int64_t created_at = 0;
};

Status NoSuchProvider(std::string_view arn) {
  return Status::Modeled("NoSuchEntityException", "Manifest not found for arn " + std::string(arn));
}

Result<std::optional<ProviderRow>> FindProvider(store::Tx& tx, std::string_view account,
                                                std::string_view arn) {
  ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT arn, metadata, valid_until, created_at FROM "
                                      "iam_saml_providers WHERE account_id = ? AND arn = ?"));
  q->Bind(1, account).Bind(2, arn);
  ASSIGN_OR_RETURN(bool row, q->Step());
  if (!row) return std::optional<ProviderRow>();
  ProviderRow p{q->Text(0), q->Text(1), std::nullopt, q->Int(3)};
  if (!q->IsNull(2)) p.valid_until = q->Int(2);
  return std::optional<ProviderRow>(std::move(p));
}

// Authorizes action on arn with keys plus the provider's tags as
// aws:ResourceTag/* and iam:ResourceTag/*: the provider, AccessDenied or
// NoSuchEntity.
Result<ProviderRow> ExistingProvider(store::Database& db, const server::RequestContext& ctx,
                                     std::string_view action, std::string_view arn,
                                     std::vector<server::ConditionKey> keys = {}) {
  std::optional<ProviderRow> provider;
  TagList tags;
  RETURN_IF_ERROR(db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(provider, FindProvider(tx, ctx.principal().account_id, arn));
    if (!provider) return Status::Ok();
    ASSIGN_OR_RETURN(tags, LoadTags(tx, provider->arn));
    return Status::Ok();
  }));
  AddIamResourceTagKeys(tags, keys);
  RETURN_IF_ERROR(ctx.Authorize(action, arn, keys));
  if (!provider) return NoSuchProvider(arn);
  return std::move(*provider);
}

std::string ArnOf(const json::Value& in) { return std::string(in.get_string("SAMLProviderArn")); }

void BindValidUntil(store::Statement& q, int index, const std::optional<int64_t>& valid_until) {
  if (valid_until) {
    q.Bind(index, *valid_until);
  } else {
    q.BindNull(index);
  }
}

}  // namespace

Result<json::Value> CreateSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in) {
  const std::string& account = ctx.principal().account_id;
  std::string name(in.get_string("Name"));
  std::string arn = IamArn(account, "saml-provider/", "", name);
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  RETURN_IF_ERROR(ctx.Authorize("iam:CreateSAMLProvider", arn, RequestTagKeys(tags)));
  std::string metadata(in.get_string("SAMLMetadataDocument"));
  ASSIGN_OR_RETURN(SamlMetadata checked, CheckSamlMetadata(metadata));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t same, CountOf(tx,
                                           "SELECT COUNT(*) FROM iam_saml_providers WHERE "
                                           "account_id = ? AND name_key = ?",
                                           {account, NameKey(name)}));
    if (same > 0) {
      return Status::Modeled("EntityAlreadyExistsException",
                             "SAMLProvider named " + name + " already exists.");
    }
    ASSIGN_OR_RETURN(int64_t n, CountOf(tx,
                                        "SELECT COUNT(*) FROM iam_saml_providers WHERE "
                                        "account_id = ?",
                                        {account}));
    if (n >= kProvidersPerAccount) {
      return Status::Modeled("LimitExceededException",
                             "Cannot exceed quota for SamlProvidersPerAccount: " +
                                 std::to_string(kProvidersPerAccount));
    }
    ASSIGN_OR_RETURN(auto q, tx.Prepare("INSERT INTO iam_saml_providers (account_id, name_key, "
                                        "arn, metadata, valid_until, created_at) VALUES "
                                        "(?, ?, ?, ?, ?, ?)"));
    std::string key = NameKey(name);
    q->Bind(1, account).Bind(2, key).Bind(3, arn).Bind(4, metadata);
    BindValidUntil(*q, 5, checked.valid_until);
    q->Bind(6, NowSeconds(ctx));
    RETURN_IF_ERROR(q->Run());
    return PutTags(tx, arn, tags);
  }));
  json::Value out = json::Value::MakeObject();
  out.set("SAMLProviderArn", arn);
  if (!tags.empty()) out.set("Tags", TagsJson(tags));
  return out;
}

Result<json::Value> GetSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                    const json::Value& in) {
  ASSIGN_OR_RETURN(ProviderRow p, ExistingProvider(deps.db, ctx, "iam:GetSAMLProvider", ArnOf(in)));
  TagList tags;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, LoadTags(tx, p.arn));
    return Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("SAMLMetadataDocument", p.metadata);
  out.set("CreateDate", p.created_at);
  if (p.valid_until) out.set("ValidUntil", *p.valid_until);
  if (!tags.empty()) out.set("Tags", TagsJson(tags));
  return out;
}

Result<json::Value> ListSAMLProviders(const IamDeps& deps, server::RequestContext& ctx,
                                      const json::Value&) {
  RETURN_IF_ERROR(ctx.Authorize("iam:ListSAMLProviders", "*"));
  json::Value list = json::Value::MakeArray();
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("SELECT arn, valid_until, created_at FROM "
                                        "iam_saml_providers WHERE account_id = ? ORDER BY arn"));
    q->Bind(1, ctx.principal().account_id);
    while (true) {
      ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return Status::Ok();
      json::Value e = json::Value::MakeObject();
      e.set("Arn", q->Text(0));
      if (!q->IsNull(1)) e.set("ValidUntil", q->Int(1));
      e.set("CreateDate", q->Int(2));
      list.push(std::move(e));
    }
  }));
  json::Value out = json::Value::MakeObject();
  out.set("SAMLProviderList", std::move(list));
  return out;
}

Result<json::Value> UpdateSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in) {
  std::string arn = ArnOf(in);
  RETURN_IF_ERROR(ExistingProvider(deps.db, ctx, "iam:UpdateSAMLProvider", arn).status());
  std::string metadata(in.get_string("SAMLMetadataDocument"));
  ASSIGN_OR_RETURN(SamlMetadata checked, CheckSamlMetadata(metadata));
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("UPDATE iam_saml_providers SET metadata = ?, "
                                        "valid_until = ? WHERE account_id = ? AND arn = ?"));
    q->Bind(1, metadata);
    BindValidUntil(*q, 2, checked.valid_until);
    q->Bind(3, ctx.principal().account_id).Bind(4, arn);
    RETURN_IF_ERROR(q->Run());
    return q->Changes() == 0 ? NoSuchProvider(arn) : Status::Ok();
  }));
  json::Value out = json::Value::MakeObject();
  out.set("SAMLProviderArn", arn);
  return out;
}

Result<json::Value> DeleteSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                       const json::Value& in) {
  std::string arn = ArnOf(in);
  RETURN_IF_ERROR(ExistingProvider(deps.db, ctx, "iam:DeleteSAMLProvider", arn).status());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto q, tx.Prepare("DELETE FROM iam_saml_providers WHERE account_id = ? "
                                        "AND arn = ?"));
    q->Bind(1, ctx.principal().account_id).Bind(2, arn);
    RETURN_IF_ERROR(q->Run());
    if (q->Changes() == 0) return NoSuchProvider(arn);
    return DeleteTags(tx, arn);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> TagSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                    const json::Value& in) {
  std::string arn = ArnOf(in);
  ASSIGN_OR_RETURN(TagList tags, ReadTags(in));
  RETURN_IF_ERROR(
      ExistingProvider(deps.db, ctx, "iam:TagSAMLProvider", arn, RequestTagKeys(tags)).status());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto p, FindProvider(tx, ctx.principal().account_id, arn));
    if (!p) return NoSuchProvider(arn);
    return PutTags(tx, arn, tags);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> UntagSAMLProvider(const IamDeps& deps, server::RequestContext& ctx,
                                      const json::Value& in) {
  std::string arn = ArnOf(in);
  std::vector<std::string> keys = ReadTagKeys(in);
  RETURN_IF_ERROR(
      ExistingProvider(deps.db, ctx, "iam:UntagSAMLProvider", arn, TagKeysKey(keys)).status());
  RETURN_IF_ERROR(deps.db.Write([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(auto p, FindProvider(tx, ctx.principal().account_id, arn));
    if (!p) return NoSuchProvider(arn);
    return RemoveTags(tx, arn, keys);
  }));
  return json::Value::MakeObject();
}

Result<json::Value> ListSAMLProviderTags(const IamDeps& deps, server::RequestContext& ctx,
                                         const json::Value& in) {
  ASSIGN_OR_RETURN(ProviderRow p,
                   ExistingProvider(deps.db, ctx, "iam:ListSAMLProviderTags", ArnOf(in)));
  ASSIGN_OR_RETURN(Page page, ReadPage(in));
  TagList tags;
  RETURN_IF_ERROR(deps.db.Read([&](store::Tx& tx) -> Status {
    ASSIGN_OR_RETURN(tags, LoadTags(tx, p.arn));
    return Status::Ok();
  }));
  return TagPageJson(std::move(tags), page);
}

}  // namespace rampart::iam::internal
