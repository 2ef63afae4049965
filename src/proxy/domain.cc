#include "rampart/proxy/domain.h"

#include <idn2.h>

#include <cstdlib>
#include <memory>

#include "rampart/proxy/net.h"

namespace rampart::proxy {
namespace {

// RFC 3492 section 5: parameter values for Punycode.
constexpr uint32_t kBase = 36, kTmin = 1, kTmax = 26, kSkew = 38, kDamp = 700;
constexpr uint32_t kInitialBias = 72, kInitialN = 128;
constexpr uint32_t kMaxInt = 0xffffffffu;

constexpr size_t kMaxHostInput = 1024;
constexpr size_t kMaxName = 253;
constexpr size_t kMaxLabel = 63;

// RFC 3492 section 6.1.
uint32_t Adapt(uint32_t delta, uint32_t num_points, bool first_time) {
  delta = first_time ? delta / kDamp : delta / 2;
  delta += delta / num_points;
  uint32_t k = 0;
  while (delta > ((kBase - kTmin) * kTmax) / 2) {
    delta /= kBase - kTmin;
    k += kBase;
  }
  return k + (kBase - kTmin + 1) * delta / (delta + kSkew);
}

char Digit(uint32_t d) { return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26)); }

uint32_t Threshold(uint32_t k, uint32_t bias) {
  if (k <= bias) return kTmin;
  if (k >= bias + kTmax) return kTmax;
  return k - bias;
}

// Emits delta as a generalised variable-length integer (section 3.3).
void EmitVarint(uint32_t q, uint32_t bias, std::string& out) {
  for (uint32_t k = kBase;; k += kBase) {
    uint32_t t = Threshold(k, bias);
    if (q < t) break;
    out.push_back(Digit(t + (q - t) % (kBase - t)));
    q = (q - t) / (kBase - t);
  }
  out.push_back(Digit(q));
}

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

Status BadHost(std::string_view text, std::string_view why) {
  std::string shown(text.substr(0, 80));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return Status::Validation("'" + shown + "' is not a valid host name: " + std::string(why));
}

// Whether a name needs IDNA processing: any non-ASCII byte, or an
// A-label ("xn--...", any case) whose Punycode must be checked.
bool NeedsIdna(std::string_view name) {
  for (char c : name) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  for (size_t start = 0; start < name.size();) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.size() >= 4 && LowerAscii(label[0]) == 'x' && LowerAscii(label[1]) == 'n' && label[2] == '-' &&
        label[3] == '-') {
      return true;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return false;
}

// UTS #46 processing with libidn2 (non-transitional, NFC): Unicode case
// folding and mapping (fullwidth forms, ideographic full stops), IDNA2008
// validity (CONTEXTJ, bidi, disallowed code points, hyphen rules), and
// A-labels checked by decoding them. The result is the ASCII form.
Result<std::string> IdnaToAscii(std::string_view name, std::string_view whole) {
  // libidn2 reads a C string: a NUL or other control byte would make the
  // name it checks differ from the bytes a client sent (e.g. in an SNI).
  for (char c : name) {
    auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b == 0x7f) return BadHost(whole, "control character or space in name");
  }
  std::string input(name);  // NUL-terminated for libidn2
  char* out = nullptr;
  int rc = idn2_lookup_u8(reinterpret_cast<const uint8_t*>(input.c_str()), reinterpret_cast<uint8_t**>(&out),
                          IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  std::unique_ptr<char, decltype(&std::free)> owner(out, &std::free);
  if (rc != IDN2_OK) return BadHost(whole, std::string("invalid IDN: ") + idn2_strerror(rc));
  return std::string(out);
}

Result<std::string> NormalizeLabel(std::string_view label, std::string_view whole) {
  std::string out;
  for (char c : label) {
    if (static_cast<unsigned char>(c) >= 0x80) return BadHost(whole, "character outside [a-z0-9_-]");
    out.push_back(LowerAscii(c));
  }
  if (out.empty()) return BadHost(whole, "empty label");
  if (out.size() > kMaxLabel) return BadHost(whole, "label longer than 63");
  if (out.front() == '-' || out.back() == '-') return BadHost(whole, "label starts or ends with '-'");
  for (char c : out) {
    if (!IsLabelChar(c)) return BadHost(whole, "character outside [a-z0-9_-]");
  }
  return out;
}

}  // namespace

Result<std::vector<uint32_t>> DecodeUtf8(std::string_view text) {
  std::vector<uint32_t> out;
  size_t i = 0;
  while (i < text.size()) {
    auto b0 = static_cast<unsigned char>(text[i]);
    size_t len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xe ? 3 : (b0 >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > text.size()) return Status::Validation("invalid UTF-8");
    uint32_t cp = len == 1 ? b0 : b0 & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xc0) != 0x80) return Status::Validation("invalid UTF-8");
      cp = (cp << 6) | (b & 0x3f);
    }
    static constexpr uint32_t kMinForLen[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLen[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return Status::Validation("invalid UTF-8");
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

Result<std::string> PunycodeEncode(const std::vector<uint32_t>& input) {
  std::string out;
  for (uint32_t cp : input) {
    if (cp < 0x80) out.push_back(static_cast<char>(cp));
  }
  const auto basic = static_cast<uint32_t>(out.size());
  if (basic > 0) out.push_back('-');
  uint32_t n = kInitialN, delta = 0, bias = kInitialBias, handled = basic;
  const auto total = static_cast<uint32_t>(input.size());
  while (handled < total) {
    uint32_t m = kMaxInt;
    for (uint32_t cp : input) {
      if (cp >= n && cp < m) m = cp;
    }
    if ((m - n) > (kMaxInt - delta) / (handled + 1)) return Status::Validation("punycode overflow");
    delta += (m - n) * (handled + 1);
    n = m;
    for (uint32_t cp : input) {
      if (cp < n && ++delta == 0) return Status::Validation("punycode overflow");
      if (cp != n) continue;
      EmitVarint(delta, bias, out);
      bias = Adapt(delta, handled + 1, handled == basic);
      delta = 0;
      ++handled;
    }
    ++delta;
    ++n;
  }
  return out;
}

Result<Host> NormalizeHost(std::string_view text) {
  if (text.empty()) return BadHost(text, "empty");
  if (text.size() > kMaxHostInput) return BadHost(text, "too long");
  if (text.front() == '[') {
    auto ip = text.back() == ']' ? ParseIp(text.substr(1, text.size() - 2)) : std::nullopt;
    if (!ip || !ip->v6) return BadHost(text, "bad IPv6 literal");
    return Host{ip->ToString(), true};
  }
  if (auto ip = ParseIp(text)) return Host{ip->ToString(), true};
  std::string_view rest = text;
  if (rest.back() == '.') rest.remove_suffix(1);
  if (rest.empty()) return BadHost(text, "empty");
  std::string ascii;
  if (NeedsIdna(rest)) {
    ASSIGN_OR_RETURN(ascii, IdnaToAscii(rest, text));
    rest = ascii;
    if (!rest.empty() && rest.back() == '.') rest.remove_suffix(1);  // a mapped trailing full stop
    if (rest.empty()) return BadHost(text, "empty");
  }
  std::string name;
  while (true) {
    size_t dot = rest.find('.');
    ASSIGN_OR_RETURN(std::string label, NormalizeLabel(rest.substr(0, dot), text));
    if (dot == std::string_view::npos) {
      // A numeric last label would make resolvers read the name as an
      // IPv4 number ("127.1", "0x7f.1"): no real TLD starts with a digit.
      if (label.front() >= '0' && label.front() <= '9') return BadHost(text, "numeric top-level label");
      name += label;
      break;
    }
    name += label;
    name.push_back('.');
    rest.remove_prefix(dot + 1);
  }
  if (name.size() > kMaxName) return BadHost(text, "longer than 253");
  return Host{std::move(name), false};
}

Status DomainMatcher::AddEntries(const std::vector<std::string>& entries, const char* list,
                                 Rules& rules) {
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string_view entry = entries[i];
    bool suffix = !entry.empty() && entry.front() == '.';
    if (suffix) entry.remove_prefix(1);
    auto host = NormalizeHost(entry);
    if (!host.ok()) {
      return Status::Validation(std::string(list) + "[" + std::to_string(i) + "]: " +
                                host.status().message());
    }
    if (suffix && host->is_ip) {
      return Status::Validation(std::string(list) + "[" + std::to_string(i) +
                                "]: a leading dot does not apply to an IP address");
    }
    (suffix ? rules.suffix : rules.exact).insert(std::move(host->name));
  }
  return Status::Ok();
}

Result<DomainMatcher> DomainMatcher::Build(const std::vector<std::string>& allow,
                                           const std::vector<std::string>& deny) {
  DomainMatcher m;
  RETURN_IF_ERROR(AddEntries(allow, "allow", m.allow_));
  RETURN_IF_ERROR(AddEntries(deny, "deny", m.deny_));
  return m;
}

bool DomainMatcher::Lookup(const Rules& rules, const Host& host, std::string& rule) {
  if (rules.exact.contains(std::string_view(host.name))) {
    rule = host.name;
    return true;
  }
  if (host.is_ip) return false;
  std::string_view rest = host.name;
  while (true) {
    if (auto it = rules.suffix.find(rest); it != rules.suffix.end()) {
      rule = "." + *it;
      return true;
    }
    size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return false;
    rest.remove_prefix(dot + 1);
  }
}

MatchResult DomainMatcher::Match(const Host& host) const {
  MatchResult r;
  if (Lookup(deny_, host, r.rule)) {
    r.reason = "denylist";
    return r;
  }
  if (Lookup(allow_, host, r.rule)) {
    r.allowed = true;
    return r;
  }
  r.reason = "not in allowlist";
  return r;
}

size_t DomainMatcher::size() const {
  return allow_.exact.size() + allow_.suffix.size() + deny_.exact.size() + deny_.suffix.size();
}

}  // namespace rampart::proxy
