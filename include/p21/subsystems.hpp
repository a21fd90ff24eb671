#pragma once

// The standard subsystems, as the umbrella library `Perfect21::perfect21`
// registers them with the runtime. `runtime{cfg}` starts a node with all of
// them; `runtime{cfg, subsystems, components}` with exactly the ones given.

#include <memory>
#include <vector>

#include "p21/fwd.hpp"
#include "p21/subsystem.hpp"

namespace p21 {

/// Caches (`[cache]`, `[caches.NAME]`).
subsystem cache_subsystem();
/// The SQLite pool (`[database]`).
subsystem db_pool_subsystem();
/// The subprocess pool and its git cache (`[subprocess]`).
subsystem subprocess_subsystem();
/// The monitor (`[monitor]`, alerts, health score).
subsystem monitor_subsystem();
/// The optimizer and its nine rules (`[optimizer.rules.NAME]`).
subsystem optimizer_subsystem();
/// The HTTP endpoint (`[http]`).
subsystem http_subsystem();
/// Nodes that share actors (`[cluster]`), plain connections only.
subsystem cluster_subsystem();
/// TLS for the cluster (`[cluster.tls]`); in `Perfect21::cluster_tls`, the
/// only target that links CAF's OpenSSL library.
subsystem cluster_tls_subsystem();

/// Every subsystem above except TLS, in start order.
std::vector<subsystem> standard_subsystems();

/// The components a standard runtime would start for `cfg` (plus `extra`),
/// with `[components.NAME]` applied, in start order. Throws `config_error`.
std::vector<child_spec> resolve_components(const config& cfg, std::vector<child_spec> extra = {});

} // namespace p21
