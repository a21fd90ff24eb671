#pragma once

// The standard subsystems, as the umbrella library `Perfect21::perfect21`
// registers them with the runtime. `runtime{cfg}` starts a node with all of
// them; `runtime{cfg, subsystems, components}` with exactly the ones given.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/fwd.hpp>

#include "p21/config_schema.hpp"
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

namespace detail {

/// What `runtime{cfg, components}` starts (p21/runtime.hpp).
struct standard_set {
  static std::vector<subsystem> subsystems() { return standard_subsystems(); }
};

} // namespace detail

// -- the standard schema --------------------------------------------------------
// The overloads of p21/config_schema.hpp that take a schema work with the
// framework alone; these use every standard subsystem's keys.

/// `make_schema(standard_subsystems())`: the framework's sections and every
/// standard subsystem's.
config_schema standard_schema();

/// Reads and validates a TOML file. Throws `config_error`.
[[nodiscard]] config load_config_file(const std::string& path);

/// Reads and validates TOML text; `source_name` is used in error messages.
/// Throws `config_error`.
[[nodiscard]] config load_config_string(std::string_view toml,
                                        const std::string& source_name = "<string>");

/// Checks every key's range and choices and the cross-field constraints of a
/// config built in code. Throws `config_error` (with line 0).
void validate(const config& cfg);

/// Renders the effective configuration as TOML, every key included.
std::string to_toml(const config& cfg);

/// The reference of `standard_schema()` (`p21 check --reference`).
std::string config_reference();

/// Announces every standard Perfect21 message type and the `p21` error
/// category to a CAF config, so they also cross the wire. The runtime calls
/// it; call it yourself for an actor system of your own that talks to
/// Perfect21 actors.
void add_message_types(caf::actor_system_config& cfg);

} // namespace p21
