// Small conversions between the proxy's plain address types and Asio's,
// and the text forms the access log uses. Internal to src/proxy.
//
// Thread-safety: pure functions (OriginalDestination reads a socket
// option of a socket the caller owns).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include "rampart/proxy/net.h"

namespace rampart::proxy {

IpAddress FromAsio(const boost::asio::ip::address& a);
boost::asio::ip::address ToAsio(const IpAddress& ip);

// "192.0.2.1:80" or "[2001:db8::1]:443".
std::string EndpointText(const boost::asio::ip::tcp::endpoint& ep);

// Access-log text from hostile bytes: printable ASCII only, so every line
// stays valid UTF-8 JSON.
std::string Printable(std::string_view s);

// Where a connection redirected by the firewall (iptables REDIRECT/DNAT)
// was going: netfilter's SO_ORIGINAL_DST (IPv4) / IP6T_SO_ORIGINAL_DST
// (IPv6), both option 80. nullopt when netfilter knows nothing of it.
std::optional<boost::asio::ip::tcp::endpoint> OriginalDestination(boost::asio::ip::tcp::socket& socket);

}  // namespace rampart::proxy
