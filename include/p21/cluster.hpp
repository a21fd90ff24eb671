#pragma once

// Nodes that share actors over CAF's own network layer (`caf::io`, TLS via
// `caf::openssl`). A node publishes a gateway on `[cluster.publish]`; a peer
// connects to it, asks it for a published actor by name (`lookup`), and
// from then on talks to that actor through a CAF proxy. On the using node a
// stub stands in for the remote cache under the local component name
// `cache.NAME/0`, so `p21::cache::open(rt, "NAME")` works unchanged.

#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "p21/protocol/atoms.hpp"
#include "p21/config.hpp"
#include "p21/error.hpp"

namespace p21 {

/// The gateway's interface (untyped on the wire):
///   (lookup_atom, std::string name) -> caf::actor
/// `name` is a published component such as "cache.shared"; not published:
/// `not_found`; not running: `unavailable`.

/// Where and how to reach a node's gateway, for clients outside a node
/// (`p21 cache --connect`).
struct gateway_address {
  std::string host;
  uint16_t port = 0;
  /// PEM files; all empty for a plain connection.
  std::string certificate, key, ca;
};

/// Connects to the gateway at `addr` and looks up `name`, within `timeout`.
/// `sys` must have the middleman (and, for TLS, the openssl manager)
/// loaded. Errors: `unavailable` (unreachable, refused, handshake failed),
/// `timeout`, `not_found` (not published there).
caf::expected<caf::actor> lookup_remote(caf::actor_system& sys, const gateway_address& addr,
                                        const std::string& name, timespan timeout);

} // namespace p21
