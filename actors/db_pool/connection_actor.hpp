#pragma once

// The db pool's connection side: each connection is a detached actor (its
// own thread), so that no SQLite call ever blocks a CAF scheduler thread.
// The writer owns one connection and also does the shared reader pool's
// upkeep; a reader runs each read on a connection leased from that pool.

#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/timestamp.hpp>
#include <caf/typed_actor.hpp>

#include "connection.hpp"
#include "p21/cancel_token.hpp"
#include "p21/config.hpp"
#include "p21/protocol/db_pool.hpp"
#include "query_cache.hpp"
#include "reader_pool.hpp"

namespace p21::db_detail {

// -- messages between the pool and its connections ------------------------------------

/// A statement's result plus what the pool needs to know about it.
struct conn_reply {
  db_result result;
  std::vector<std::string> reads;
  std::vector<std::string> writes;
  uint64_t health_check_failures = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, conn_reply& x) {
  return f(caf::meta::type_name("p21.conn_reply"), x.result, x.reads, x.writes,
           x.health_check_failures);
}

struct conn_txn_reply {
  std::vector<db_result> results;
  std::vector<std::string> writes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, conn_txn_reply& x) {
  return f(caf::meta::type_name("p21.conn_txn_reply"), x.results, x.writes);
}

/// A read the pool delegated: the connection replies to the caller itself
/// and reports to `pool` afterwards (one thread hand-off fewer).
struct direct_read {
  uint64_t reader_id = 0;
  uint64_t write_seq = 0;
  std::string cache_key;
  caf::actor pool;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, direct_read& x) {
  return f(caf::meta::type_name("p21.direct_read"), x.reader_id, x.write_seq, x.cache_key, x.pool);
}

/// What a connection tells the pool after answering a delegated read: its
/// slot and thread are free again (the result is cached already).
struct read_done {
  uint64_t reader_id = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_done& x) {
  return f(caf::meta::type_name("p21.read_done"), x.reader_id);
}

/// What a caller of the non-blocking forms (`db::async_*`) gives up with:
/// its deadline (system clock; max: none) and its cancel token. Work it
/// queued is dropped, not run, once either says so. Local only.
struct caller_limit {
  caf::timestamp deadline = caf::timestamp::max();
  cancel_token token;

  bool cancelled() const noexcept { return token.cancelled(); }
  bool past_deadline() const {
    return deadline != caf::timestamp::max() && caf::make_timestamp() >= deadline;
  }
  /// Whether nobody waits for the work any more.
  bool gone() const { return cancelled() || past_deadline(); }
};

using read_done_atom = caf::atom_constant<caf::atom("readdone")>;
using close_idle_atom = caf::atom_constant<caf::atom("closeidle")>;
using warm_atom = caf::atom_constant<caf::atom("warmup")>;
using data_version_atom = caf::atom_constant<caf::atom("dataver")>;

/// A connection: a reader (statements on a connection leased per read from
/// the shared reader pool, with a slot the pool holds for it) or the writer.
using conn_actor = caf::typed_actor<
    caf::replies_to<query_atom, std::string, std::vector<db_value>>::with<conn_reply>,
    caf::replies_to<query_atom, std::string, std::vector<db_value>, direct_read>::with<db_result>,
    caf::replies_to<transaction_atom, std::vector<db_statement>>::with<conn_txn_reply>,
    // With the caller's limit: dropped when its deadline passed or it
    // cancelled while queued here, interrupted when either happens while
    // it runs.
    caf::replies_to<query_atom, std::string, std::vector<db_value>,
                    caller_limit>::with<conn_reply>,
    caf::replies_to<transaction_atom, std::vector<db_statement>,
                    caller_limit>::with<conn_txn_reply>,
    caf::replies_to<checkpoint_atom>::with<bool>, caf::replies_to<vacuum_atom>::with<bool>,
    caf::replies_to<release_memory_atom>::with<uint64_t>,
    // The writer closes the shared pool's idle overflow readers on the pool's
    // tick (all of them at once when true): SQLite stays off CAF's threads.
    caf::reacts_to<close_idle_atom, bool>,
    // The writer opens the shared pool's pool_size readers at start.
    caf::reacts_to<warm_atom>, caf::replies_to<data_version_atom>::with<int64_t>>;

/// When a connection is checked and when it is replaced.
struct conn_timing {
  timespan health_check_after{0};
  timespan max_lifetime{0};
};

/// Spawns a connection actor on its own thread, linked to `parent`: it goes
/// down with the pool, and its crash takes the pool down for the supervisor
/// to restart cleanly. A reader reads on `readers`; the writer opens its
/// own connection and keeps `readers` (may be null) tidy.
/// A reader given `cache` puts a delegated read's result there before it
/// answers, so a caller that asks again after the answer hits.
conn_actor spawn_connection(caf::local_actor* parent, connection_settings settings,
                            conn_timing timing, std::shared_ptr<reader_pool> readers, bool reader,
                            std::shared_ptr<query_cache> cache = nullptr);

} // namespace p21::db_detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(p21::db_detail::caller_limit)
