#pragma once

// The db pool actor: a thin scheduled shell that routes statements. Writes
// go to one writer connection, so a read never upgrades into SQLITE_BUSY;
// reads take a slot of the shared reader pool and run on a detached reader
// thread; the query cache answers repeated reads. Its state and logic live
// in `query_cache`, `reader_pool` and the connection actors.

#include <memory>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/timestamp.hpp>
#include <caf/typed_actor.hpp>

#include "connection_actor.hpp"
#include "p21/cache_config.hpp"
#include "p21/config.hpp"
#include "p21/db_config.hpp"
#include "p21/fwd.hpp"
#include "p21/knob.hpp"
#include "query_cache.hpp"
#include "reader_pool.hpp"

namespace p21::db_detail {

/// Fault injection (`crash_db_writer`): the pool kills its writer. Outside
/// the public protocol, so a published pool's proxy never forwards it.
using crash_writer_atom = caf::atom_constant<caf::atom("crashwrite")>;

/// The pool's statements with the caller's limit (`db::async_*`), also
/// outside the public protocol: work still queued when the deadline
/// (system clock) passes or the caller cancels is dropped, not run, and a
/// statement on the writer is interrupted when either happens while it runs.
using deadline_pool_actor = caf::typed_actor<
    caf::replies_to<query_atom, std::string, std::vector<db_value>, caller_limit>::with<db_result>,
    caf::replies_to<execute_atom, std::string, std::vector<db_value>,
                    caller_limit>::with<db_result>,
    caf::replies_to<transaction_atom, std::vector<db_statement>,
                    caller_limit>::with<std::vector<db_result>>>;

/// What a pool is built from (`[database]` and the query cache's part of
/// `[cache]`). Defaults come from the sections' own, declared once there.
struct pool_settings {
  connection_settings conn;
  conn_timing timing;
  size_t pool_size = database_config{}.pool_size;
  size_t max_overflow = database_config{}.max_overflow;
  timespan pool_timeout{0};
  timespan idle_timeout{0};
  timespan leak_threshold{0};
  bool query_cache = true;
  uint64_t cache_entries = cache_config{}.db_maxsize;
  timespan cache_ttl{0};
  uint64_t cache_max_bytes = database_config{}.query_cache_max_bytes;
  timespan data_version_interval{0};
  /// `NAME.pool_size`: the reader connections, as `set_pool_size_atom` sets.
  knob_spec pool_size_knob{"db_pool.pool_size", 1, 10'000, true, "connections",
                           "reader connections kept open", {"database.pool_size"}};
};

/// Spawns a pool over the component's shared objects, which outlive it: a
/// restarted pool flushes `cache` (may be null) and gives back the reader
/// slots the previous one held.
caf::actor spawn_db_pool(caf::actor_system& sys, const pool_settings& cfg,
                         std::shared_ptr<query_cache> cache, std::shared_ptr<reader_pool> readers,
                         std::shared_ptr<actor_profile> profile = nullptr);

} // namespace p21::db_detail
