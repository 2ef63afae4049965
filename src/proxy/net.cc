#include "rampart/proxy/net.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace rampart::proxy {
namespace {

struct SpecialBlock {
  const char* cidr;
  const char* reason;
};

// RFC 6890 and the IANA special-purpose address registries. Anything here
// is refused unless an operator allows it by CIDR.
constexpr SpecialBlock kSpecialV4[] = {
    {"0.0.0.0/8", "unspecified"},      {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "cgnat"},        {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"},  {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "reserved"},      {"192.0.2.0/24", "documentation"},
    {"192.88.99.0/24", "reserved"},    {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "reserved"},     {"198.51.100.0/24", "documentation"},
    {"203.0.113.0/24", "documentation"}, {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"},
};
constexpr SpecialBlock kSpecialV6[] = {
    {"::/128", "unspecified"},       {"::1/128", "loopback"},
    {"::ffff:0:0/96", "ipv4-mapped"}, {"::/96", "ipv4-compatible"},
    {"64:ff9b::/96", "translation"}, {"64:ff9b:1::/48", "translation"},
    {"100::/64", "reserved"},        {"2001::/23", "reserved"},
    {"2001:db8::/32", "documentation"}, {"2002::/16", "translation"},
    {"fc00::/7", "private"},         {"fe80::/10", "link-local"},
    {"fec0::/10", "link-local"},     {"ff00::/8", "multicast"},
};

struct CompiledBlock {
  Cidr cidr;
  const char* reason;
};

std::vector<CompiledBlock> Compile() {
  std::vector<CompiledBlock> out;
  for (const auto& b : kSpecialV4) out.push_back({ParseCidr(b.cidr).value(), b.reason});
  for (const auto& b : kSpecialV6) out.push_back({ParseCidr(b.cidr).value(), b.reason});
  return out;
}

bool HostBitsZero(const IpAddress& a, int prefix) {
  for (size_t bit = static_cast<size_t>(prefix); bit < a.size() * 8; ++bit) {
    if ((a.bytes[bit / 8] >> (7 - bit % 8)) & 1) return false;
  }
  return true;
}

}  // namespace

// IPv4 by hand: glibc's inet_ntop formats it with sprintf, and the proxy
// writes an address per forwarded request.
std::string IpAddress::ToString() const {
  if (!v6) {
    std::string out;
    out.reserve(15);
    for (size_t i = 0; i < 4; ++i) {
      if (i > 0) out.push_back('.');
      unsigned b = bytes[i];
      if (b >= 100) out.push_back(static_cast<char>('0' + b / 100));
      if (b >= 10) out.push_back(static_cast<char>('0' + b / 10 % 10));
      out.push_back(static_cast<char>('0' + b % 10));
    }
    return out;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<IpAddress> ParseIp(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) return a;
  a.v6 = true;
  if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) return a;
  return std::nullopt;
}

bool Cidr::Contains(const IpAddress& a) const {
  if (a.v6 != base.v6) return false;
  int full = prefix / 8;
  if (std::memcmp(a.bytes.data(), base.bytes.data(), static_cast<size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == base.bytes[full];
}

std::string Cidr::ToString() const { return base.ToString() + "/" + std::to_string(prefix); }

Result<Cidr> ParseCidr(std::string_view text) {
  size_t slash = text.find('/');
  auto ip = ParseIp(text.substr(0, slash));
  if (!ip) return Status::Validation("'" + std::string(text) + "' is not an IP address or CIDR");
  Cidr c{*ip, static_cast<int>(ip->size() * 8)};
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), c.prefix);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || c.prefix < 0 ||
        c.prefix > static_cast<int>(ip->size() * 8) || (p.size() > 1 && p[0] == '0')) {
      return Status::Validation("'" + std::string(text) + "' has a bad prefix length");
    }
  }
  if (!HostBitsZero(c.base, c.prefix)) {
    return Status::Validation("'" + std::string(text) + "' has host bits set below the prefix");
  }
  return c;
}

bool AnyContains(const std::vector<Cidr>& blocks, const IpAddress& a) {
  for (const auto& b : blocks) {
    if (b.Contains(a)) return true;
  }
  return false;
}

const char* NonPublicReason(const IpAddress& a) {
  static const std::vector<CompiledBlock> blocks = Compile();
  // Longest prefix first matters only for the reason text ("loopback" over
  // "ipv4-compatible" for ::1); scan all and keep the most specific.
  const CompiledBlock* best = nullptr;
  for (const auto& b : blocks) {
    if (b.cidr.Contains(a) && (best == nullptr || b.cidr.prefix > best->cidr.prefix)) best = &b;
  }
  return best ? best->reason : nullptr;
}

Result<HostPort> ParseHostPort(std::string_view text) {
  HostPort hp;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::Validation("'" + std::string(text) + "' is not [ipv6]:port");
    }
    hp.host = std::string(text.substr(1, close - 1));
    if (!ParseIp(hp.host) || !ParseIp(hp.host)->v6) {
      return Status::Validation("'" + std::string(text) + "' has a bad IPv6 address");
    }
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 ||
        text.substr(0, colon).find(':') != std::string_view::npos) {
      return Status::Validation("'" + std::string(text) + "' is not host:port");
    }
    hp.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || port.size() > 5 || ec != std::errc() || end != port.data() + port.size() ||
      value == 0 || value > 65535) {
    return Status::Validation("'" + std::string(text) + "' has a bad port");
  }
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

}  // namespace rampart::proxy
