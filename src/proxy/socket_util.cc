#include "socket_util.h"

#include <algorithm>
#include <cstring>

#include <netinet/in.h>
#include <sys/socket.h>

namespace rampart::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

IpAddress FromAsio(const asio::ip::address& a) {
  IpAddress ip;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  } else {
    ip.v6 = true;
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), ip.bytes.begin());
  }
  return ip;
}

asio::ip::address ToAsio(const IpAddress& ip) {
  if (!ip.v6) {
    asio::ip::address_v4::bytes_type b;
    std::copy_n(ip.bytes.begin(), 4, b.begin());
    return asio::ip::address_v4(b);
  }
  asio::ip::address_v6::bytes_type b;
  std::copy_n(ip.bytes.begin(), 16, b.begin());
  return asio::ip::address_v6(b);
}

std::string EndpointText(const tcp::endpoint& ep) {
  IpAddress ip = FromAsio(ep.address());
  std::string host = ip.v6 ? "[" + ip.ToString() + "]" : ip.ToString();
  return host + ":" + std::to_string(ep.port());
}

std::string Printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return out;
}

std::optional<tcp::endpoint> OriginalDestination(tcp::socket& socket) {
  constexpr int kSoOriginalDst = 80;
  boost::system::error_code ec;
  bool v6 = socket.local_endpoint(ec).address().is_v6();
  if (ec) return std::nullopt;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int level = v6 ? IPPROTO_IPV6 : IPPROTO_IP;
  if (::getsockopt(socket.native_handle(), level, kSoOriginalDst, &ss, &len) != 0) return std::nullopt;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), &in->sin_addr, 4);
    return tcp::endpoint(asio::ip::address_v4(b), ntohs(in->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), &in6->sin6_addr, 16);
    return tcp::endpoint(asio::ip::address_v6(b), ntohs(in6->sin6_port));
  }
  return std::nullopt;
}

}  // namespace rampart::proxy
