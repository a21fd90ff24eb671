#pragma once

// Fault injection for soak runs and chaos drills: ends a part of a running
// node as a crash would, so that what recovers it (supervisors, reconnects,
// the callers' error paths) is exercised. Only code in the process can call
// these; a peer on a published port reaches the public interface alone.

#include <string>

#include "p21/fwd.hpp"

namespace caf {
class error;
} // namespace caf

namespace p21 {

/// Ends the writer connection of db pool `pool`: its detached actor exits
/// with reason `kill` after the statement it runs. The pool is linked to it
/// and ends too; the supervisor restarts both. Callers waiting on either get
/// an error, never silence. Errors: `not_found`, or `unavailable` while the
/// pool is not running.
caf::error crash_db_writer(runtime& rt, const std::string& pool = "db_pool");

} // namespace p21
