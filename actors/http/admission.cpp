#include "admission.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>

namespace p21::http_detail {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// `host` without its port, brackets or a final dot; lower case.
std::string host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return lower(host.substr(1, close == std::string_view::npos ? host.size() - 1 : close - 1));
  }
  // One colon: a port; more: a bare IPv6 address.
  auto colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos)
    host = host.substr(0, colon);
  if (!host.empty() && host.back() == '.')
    host.remove_suffix(1);
  return lower(host);
}

bool ip_literal(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

bool is_loopback(const sockaddr* a) {
  if (a->sa_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr) >> 24) == 127;
  if (a->sa_family == AF_INET6) {
    auto& addr = reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&addr))
      return true;
    return IN6_IS_ADDR_V4MAPPED(&addr) && addr.s6_addr[12] == 127;
  }
  return false;
}

/// Whether `a` is exactly 127.0.0.1 or ::1 (or ::ffff:127.0.0.1).
bool is_first_loopback(const sockaddr* a) {
  static const unsigned char v4[4] = {127, 0, 0, 1};
  if (a->sa_family == AF_INET)
    return std::memcmp(&reinterpret_cast<const sockaddr_in*>(a)->sin_addr, v4, 4) == 0;
  if (a->sa_family == AF_INET6) {
    auto& addr = reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&addr) ||
           (IN6_IS_ADDR_V4MAPPED(&addr) && std::memcmp(addr.s6_addr + 12, v4, 4) == 0);
  }
  return false;
}

bool same_address(const sockaddr* a, const sockaddr* b) {
  if (a->sa_family != b->sa_family)
    return false;
  if (a->sa_family == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(b)->sin_addr.s_addr;
  if (a->sa_family == AF_INET6)
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr,
                       &reinterpret_cast<const sockaddr_in6*>(b)->sin6_addr,
                       sizeof(in6_addr)) == 0;
  return false;
}

} // namespace

listen_address listen_address_of(const sockaddr* addr) {
  listen_address out;
  if (addr->sa_family == AF_INET) {
    std::memcpy(&out.bound, addr, sizeof(sockaddr_in));
    out.wildcard = reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr == INADDR_ANY;
  } else if (addr->sa_family == AF_INET6) {
    std::memcpy(&out.bound, addr, sizeof(sockaddr_in6));
    out.wildcard = IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr);
  }
  out.loopback = out.wildcard || is_loopback(addr);
  return out;
}

admission::admission(listen_address listen, std::vector<std::string> allowed_hosts,
                     size_t max_connections, size_t reserved_connections)
  : listen_(listen)
  // At least one slot stays open to everyone.
  , others_max_(max_connections - std::min(reserved_connections, max_connections - 1)) {
  for (auto& h : allowed_hosts)
    allowed_hosts_.push_back(host_name(h));
}

bool admission::host_allowed(std::string_view host) const {
  auto name = host_name(host);
  if (name.empty())
    return false;
  if (ip_literal(name))
    return true;
  if (listen_.loopback && name == "localhost")
    return true;
  return std::find(allowed_hosts_.begin(), allowed_hosts_.end(), name) != allowed_hosts_.end();
}

bool admission::reserved(const sockaddr* peer) const {
  if (listen_.wildcard)
    return is_first_loopback(peer);
  return same_address(peer, reinterpret_cast<const sockaddr*>(&listen_.bound));
}

bool admission::admit(const sockaddr* peer, size_t others_open) const {
  return reserved(peer) || others_open < others_max_;
}

} // namespace p21::http_detail
