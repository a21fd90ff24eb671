#pragma once

// What a peer on a published port may do. A peer never gets a component's
// own handle: the gateway hands it a public proxy per published name that
// understands only the public protocol of that name, checks each request's
// arguments against fixed bounds, asks the component found by name at that
// moment (so a restarted component keeps its proxy) and answers the peer
// itself. It never delegates: CAF hands the requester a handle to whoever
// replies, and a peer holding the shard's handle could clear, resize or
// kill it. Replies are bounded too (reply_bounds.hpp). Exit and down
// messages a peer sends are dropped; an unconditional `kill` ends only the
// proxy, which the gateway replaces without the supervisor (a peer's doing
// never counts toward a restart intensity).
//
//   published cache:   get (one key or many), put, erase, get_or_load's
//                      load / loaded / load_failed, stats.
//   published db_pool: query, stats; execute and transaction only with
//                      `[cluster.publish] allow_writes = true`.
//
// Everything else (clear, resize, shrink, set_ttl, checkpoint, vacuum,
// set_pool_size, timers, handle sharing, metrics) answers `forbidden` or
// `unexpected_message`.

#include <functional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "p21/types.hpp"

namespace p21::cluster_detail {

/// Limits of one peer request. A frame is already bounded by `max_frame`;
/// these keep one accepted frame from meaning unbounded work.
struct request_bounds {
  size_t max_key_bytes = 64 * 1024;
  size_t max_keys = 10'000;
  size_t max_value_bytes = 64ull << 20;
  size_t max_sql_bytes = 1 << 20;
  size_t max_params = 32'766; // SQLite's own limit of host parameters
  size_t max_statements = 1'000;
  caf::timespan max_ttl = std::chrono::hours{24 * 366};
  /// `[cluster.publish] max_reply_bytes`.
  uint64_t max_reply_bytes = 16ull << 20;
  /// How long the proxy waits for the component (`[runtime] request_timeout`).
  caf::timespan component_timeout = std::chrono::seconds{10};
  /// `[cluster.publish] remote_load_timeout`: a peer's loader turn lapses
  /// after this.
  caf::timespan remote_load_timeout = std::chrono::seconds{5};
};

// -- the checks, without actors -----------------------------------------------

/// Why a peer's request is refused (empty: it passes).
std::string check_key(const std::string& key, const request_bounds& b);
std::string check_keys(const std::vector<std::string>& keys, const request_bounds& b);
std::string check_put(const std::string& key, const std::string& value, caf::timespan ttl,
                      const request_bounds& b);
std::string check_statement(const std::string& sql, const std::vector<db_value>& params,
                            const request_bounds& b);
std::string check_transaction(const std::vector<db_statement>& xs, const request_bounds& b);

// -- the proxies ----------------------------------------------------------------

/// The component behind a published name as it runs now, or an invalid
/// handle while it does not.
using component_finder = std::function<caf::actor()>;

/// The public face of a published cache.
caf::behavior public_cache(caf::event_based_actor* self, std::string name, component_finder find,
                           request_bounds bounds);

/// The public face of a published db pool.
caf::behavior public_db_pool(caf::event_based_actor* self, component_finder find, bool allow_writes,
                             request_bounds bounds);

} // namespace p21::cluster_detail
