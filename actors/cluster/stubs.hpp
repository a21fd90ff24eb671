#pragma once

// What the cluster's two halves share: the gateway side (cluster.cpp) and
// the stubs that stand in for a peer's cache or db pool (stubs.cpp).

#include <memory>
#include <string>

#include "frame_guard.hpp"
#include "p21/config.hpp"
#include "p21/subsystem.hpp"
#include "p21/supervisor.hpp"

namespace p21::cluster_detail {

/// Why `[cluster.tls]` cannot be used: the TLS module is not linked in.
extern const char* const tls_module_missing;

/// The guard's bounds from `[cluster]`; inbound and outbound share them.
guard_limits guard_limits_of(const cluster_config& cl);

/// The component that stands in for `actor` ("cache.NAME" or "db_pool") of
/// `peer`: a stub that connects in the background.
child_spec stub_component(const config& cfg, const cluster_peer& peer, const std::string& actor,
                          std::shared_ptr<const node_view> view);

} // namespace p21::cluster_detail
