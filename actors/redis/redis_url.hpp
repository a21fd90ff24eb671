#pragma once

// `[redis] url`, parsed: plain code without hiredis, so that the config's
// check (and its fuzz target) need no Redis client.

#include <cstdint>
#include <optional>
#include <string>

namespace p21::redis_detail {

/// Where the server is, parsed from `[redis] url`.
struct redis_endpoint {
  std::string host;
  uint16_t port = 6379;
  /// Set for `unix:///path` (then host and port are unused).
  std::string socket;
  std::string user;
  std::string password;
  int db = 0;

  /// `host:port` or the socket path, without the credentials (for logs).
  std::string describe() const;
};

/// Parses `redis://[user:password@]host:port/db` or `unix:///path`; on
/// failure returns nothing and says why in `why` (when given).
std::optional<redis_endpoint> parse_redis_url(const std::string& url, std::string* why = nullptr);

} // namespace p21::redis_detail
