#include "redis_url.hpp"

namespace p21::redis_detail {

std::string redis_endpoint::describe() const {
  if (!socket.empty())
    return "unix:" + socket;
  return host + ":" + std::to_string(port) + (db != 0 ? "/" + std::to_string(db) : "");
}

std::optional<redis_endpoint> parse_redis_url(const std::string& url, std::string* why) {
  auto fail = [&](const std::string& reason) -> std::optional<redis_endpoint> {
    if (why)
      *why = reason + " (want redis://[user:password@]host:port/db or unix:///path)";
    return std::nullopt;
  };
  redis_endpoint ep;
  const std::string unix_scheme = "unix://", tcp_scheme = "redis://";
  if (url.compare(0, unix_scheme.size(), unix_scheme) == 0) {
    ep.socket = url.substr(unix_scheme.size());
    if (ep.socket.empty() || ep.socket[0] != '/')
      return fail("'" + url + "' names no absolute socket path");
    return ep;
  }
  if (url.compare(0, tcp_scheme.size(), tcp_scheme) != 0)
    return fail("'" + url + "' is neither redis:// nor unix://");
  auto rest = url.substr(tcp_scheme.size());
  auto at = rest.rfind('@');
  if (at != std::string::npos) {
    auto creds = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = creds.find(':');
    if (colon == std::string::npos) {
      ep.password = creds; // redis://password@host
    } else {
      ep.user = creds.substr(0, colon);
      ep.password = creds.substr(colon + 1);
    }
  }
  auto slash = rest.find('/');
  auto hostport = rest.substr(0, slash);
  if (slash != std::string::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty()) {
      if (db.size() > 5 || db.find_first_not_of("0123456789") != std::string::npos)
        return fail("database '" + db + "' is not a number");
      ep.db = std::stoi(db);
    }
  }
  auto colon = hostport.rfind(':');
  ep.host = hostport.substr(0, colon);
  if (colon != std::string::npos) {
    auto port = hostport.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) == 0 ||
        std::stoi(port) > 65535)
      return fail("port '" + port + "' is not 1-65535");
    ep.port = static_cast<uint16_t>(std::stoi(port));
  }
  if (ep.host.empty())
    return fail("'" + url + "' names no host");
  return ep;
}

} // namespace p21::redis_detail
