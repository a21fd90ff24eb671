#pragma once

// Who the HTTP endpoint serves: which `Host` a request may name (a DNS
// rebinding attack reaches a loopback listener under the attacker's own
// name), and which connections may use the last slots (so that the node's
// own health checks still get in when other addresses hold every slot they
// are allowed). Plain code, no libmicrohttpd.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <sys/socket.h>

namespace p21::http_detail {

/// The address the server listens on, as `admission` needs it.
struct listen_address {
  /// 0.0.0.0 or ::: every local address.
  bool wildcard = false;
  /// 127.0.0.0/8 or ::1 (or a wildcard, which includes them).
  bool loopback = false;
  /// The bound address (family, bytes), when not a wildcard.
  sockaddr_storage bound{};
};

/// The listen address of a bound socket.
listen_address listen_address_of(const sockaddr* addr);

class admission {
public:
  admission() = default;
  admission(listen_address listen, std::vector<std::string> allowed_hosts,
            size_t max_connections, size_t reserved_connections);

  /// Whether a request naming `host` (a `Host` field's value, with or
  /// without a port) is for this server: an IP literal (a rebinding attack
  /// needs a name: the browser sends the name it resolved), `localhost`
  /// when listening on loopback, or a name in `allowed_hosts` (any case,
  /// any port). A request without a Host field (HTTP/1.0) is served: a
  /// browser always sends one.
  bool host_allowed(std::string_view host) const;

  /// Whether a connection from `peer` is one of the node's own: from the
  /// listen address itself (from 127.0.0.1 or ::1 when listening on every
  /// address). Only those may take the last `reserved_connections` slots.
  bool reserved(const sockaddr* peer) const;

  /// Whether a new connection from `peer` may be accepted while
  /// `others_open` connections not `reserved` are open.
  bool admit(const sockaddr* peer, size_t others_open) const;

private:
  listen_address listen_;
  std::vector<std::string> allowed_hosts_;
  size_t others_max_ = 0;
};

} // namespace p21::http_detail
