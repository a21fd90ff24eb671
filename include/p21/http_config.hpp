#pragma once

// `[http]`, owned by the HTTP endpoint (actors/http/config_keys.cpp
// declares its keys).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include "p21/config.hpp"

namespace p21 {

/// `[http]`: the metrics and health endpoint.
struct http_config {
  /// `host:port` to listen on; empty keeps HTTP off.
  std::string listen;
  /// Connections open at once, all clients together; more are closed at accept.
  size_t max_connections = 128;
  /// Connections open at once from one client address.
  size_t max_connections_per_ip = 64;
  /// Of `max_connections`, the slots only the listen address itself (127.0.0.1
  /// and ::1 on a wildcard listener) may take: the node's own health checks.
  size_t reserved_connections = 8;
  /// Names a request's `Host` may give besides IP literals and `localhost`;
  /// others get 421 (DNS rebinding).
  std::vector<std::string> allowed_hosts;
  /// A connection silent this long is closed (whole seconds, at least 1).
  timespan idle_timeout = std::chrono::seconds{5};
  /// A request's deadline, from its first byte to the end of its response.
  timespan request_timeout = std::chrono::seconds{10};
  /// Bytes of request line and headers; beyond: 431.
  size_t max_header_bytes = 16 * 1024;
  /// Header fields of one request; beyond: 431.
  size_t max_headers = 64;
  /// Threads that poll connections and answer requests.
  size_t threads = 2;
};

} // namespace p21
