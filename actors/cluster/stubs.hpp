#pragma once

// What the cluster's two halves share: the gateway side (cluster.cpp) and
// the stubs that stand in for a peer's cache or db pool (stubs.cpp).

#include <functional>
#include <memory>
#include <string>

#include "frame_guard.hpp"
#include "p21/cluster_config.hpp"
#include "p21/config.hpp"
#include "p21/subsystem.hpp"
#include "p21/supervisor.hpp"

namespace p21::cluster_detail {

/// Why `[cluster.tls]` cannot be used: the TLS module is not linked in.
extern const char* const tls_module_missing;

/// The guard's bounds from `[cluster]`; inbound and outbound share them.
guard_limits guard_limits_of(const cluster_config& cl);

/// Starts a stub whose first connection attempt waits `first_connect_delay`.
using stub_factory = std::function<caf::actor(caf::actor_system&, timespan first_connect_delay)>;

/// The component the supervisor watches for a stub: it passes every message
/// to the stub `make` starts and replaces one that ended (a peer can kill
/// it) without the supervisor, with a backoff from `retry_initial` to
/// `retry_max` (stub_keeper.cpp).
caf::actor spawn_stub_keeper(caf::actor_system& sys, stub_factory make, std::string where,
                             timespan retry_initial, timespan retry_max);

/// The component that stands in for `actor` ("cache.NAME" or "db_pool") of
/// `peer`: a stub that connects in the background.
child_spec stub_component(const config& cfg, const cluster_peer& peer, const std::string& actor,
                          std::shared_ptr<const node_view> view);

} // namespace p21::cluster_detail
