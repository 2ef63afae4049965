// IpAddress / NotIpAddress (IAM User Guide, "IP address condition
// operators"): RFC 4632 CIDR blocks, IPv4 and IPv6 (RFC 4291 text forms).
// An address without /prefix is a single host.
#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <vector>

#include "rampart/iam/policy_condition.h"

namespace rampart::iam {

bool ParseCidr(std::string_view s, Cidr& out) {
  if (s.empty() || s.size() > 64) return false;
  size_t slash = s.find('/');
  std::string addr(s.substr(0, slash));  // inet_pton needs a terminator
  out = Cidr{};
  if (inet_pton(AF_INET, addr.c_str(), out.bytes) == 1) {
    out.v6 = false;
    out.prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), out.bytes) == 1) {
    out.v6 = true;
    out.prefix = 128;
  } else {
    return false;
  }
  if (slash == std::string_view::npos) return true;
  std::string_view p = s.substr(slash + 1);
  int prefix = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
  if (p.empty() || p.size() > 3 || ec != std::errc() || end != p.data() + p.size() ||
      prefix < 0 || prefix > out.prefix) {
    return false;
  }
  out.prefix = prefix;
  return true;
}

bool CidrContains(const Cidr& net, const Cidr& addr) {
  if (net.v6 != addr.v6) return false;
  int bits = net.prefix;
  int full = bits / 8;
  if (std::memcmp(net.bytes, addr.bytes, static_cast<size_t>(full)) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (net.bytes[full] & mask) == (addr.bytes[full] & mask);
}

namespace {

class IpMatcher final : public ConditionMatcher {
 public:
  explicit IpMatcher(std::vector<Cidr> nets) : nets_(std::move(nets)) {}

  Pattern::Result MatchAny(std::string_view value, const ContextKeys&) const override {
    Cidr addr;
    if (!ParseCidr(value, addr)) return Pattern::Result::kNoMatch;
    for (const Cidr& n : nets_) {
      if (CidrContains(n, addr)) return Pattern::Result::kMatch;
    }
    return Pattern::Result::kNoMatch;
  }

 private:
  std::vector<Cidr> nets_;
};

}  // namespace

MatcherOrError MakeIpMatcher(std::span<const std::string> values) {
  std::vector<Cidr> nets;
  for (const std::string& v : values) {
    Cidr c;
    if (!ParseCidr(v, c)) return "Invalid IP address in Condition: " + v;
    nets.push_back(c);
  }
  return std::unique_ptr<const ConditionMatcher>(std::make_unique<IpMatcher>(std::move(nets)));
}

}  // namespace rampart::iam
