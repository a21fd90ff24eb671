#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>

namespace p21 {

/// Error codes every Perfect21 subsystem replies with. Carried inside a
/// `caf::error` of category `p21`, so they cross actor and node boundaries.
enum class errc : uint8_t {
  none = 0,
  /// A request waited longer than `pool_timeout` for a database connection.
  pool_timeout,
  /// SQL that SQLite refused: syntax, missing table, constraint, parameters.
  bad_query,
  /// A subprocess could not be started or failed.
  command_failed,
  /// An operation ran past its deadline.
  timeout,
  /// A bounded queue is full; the request was refused at once.
  overloaded,
  /// An argument was out of its domain.
  invalid_argument,
  /// The target is down, restarting, stopped or unreachable.
  unavailable,
  /// A named thing (cache, component, child) does not exist.
  not_found,
  /// A configuration file or value was refused.
  config_error,
  /// A supervisor exceeded its restart intensity and gave up.
  escalated,
  /// Shutdown did not complete within its phase timeouts.
  shutdown_timeout,
  /// A dependency cycle between components.
  dependency_cycle,
  /// Not allowed for this caller: a peer on a published port asked for
  /// something outside the published name's public interface.
  forbidden,
  /// The caller cancelled a non-blocking call (`p21::future::cancel`).
  cancelled,
};

/// The category atom of Perfect21 errors.
constexpr caf::atom_value error_category = caf::atom("p21");

/// Returns the enumerator name, e.g. `"pool_timeout"`.
std::string to_string(errc x);

/// Builds a `caf::error` for `x` (found by ADL, so `e == errc::timeout` works).
caf::error make_error(errc x);

/// Builds a `caf::error` for `x` carrying a human-readable context string.
caf::error make_error(errc x, std::string context);

/// Returns whether `e` is the Perfect21 error `x`.
bool is(const caf::error& e, errc x);

/// Renders any error readably without an actor system, e.g.
/// `p21::pool_timeout: waited 30s for a connection`.
std::string render(const caf::error& e);

/// Maps CAF's transport errors onto ours: a dead receiver becomes
/// `unavailable`, a request timeout becomes `timeout`; others pass through.
caf::error normalize(caf::error e);

/// Registers the renderer of the `p21` category with a CAF config.
void add_error_category(caf::actor_system_config& cfg);

} // namespace p21
