#include "public_interface.hpp"

#include <type_traits>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "p21/config.hpp"
#include "p21/error.hpp"
#include "p21/log_limits.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "reply_bounds.hpp"

namespace p21::cluster_detail {

// -- the checks ----------------------------------------------------------------

std::string check_key(const std::string& key, const request_bounds& b) {
  if (key.size() > b.max_key_bytes)
    return "a key of " + std::to_string(key.size()) + " bytes (at most " +
           std::to_string(b.max_key_bytes) + ")";
  return {};
}

std::string check_keys(const std::vector<std::string>& keys, const request_bounds& b) {
  if (keys.size() > b.max_keys)
    return std::to_string(keys.size()) + " keys in one request (at most " +
           std::to_string(b.max_keys) + ")";
  for (auto& k : keys)
    if (auto why = check_key(k, b); !why.empty())
      return why;
  return {};
}

std::string check_put(const std::string& key, const std::string& value, caf::timespan ttl,
                      const request_bounds& b) {
  if (auto why = check_key(key, b); !why.empty())
    return why;
  if (value.size() > b.max_value_bytes)
    return "a value of " + std::to_string(value.size()) + " bytes (at most " +
           std::to_string(b.max_value_bytes) + ")";
  if (ttl.count() < 0 || ttl > b.max_ttl)
    return "a TTL outside 0 .. " + std::to_string(b.max_ttl.count() / 3'600'000'000'000) + " h";
  return {};
}

std::string check_statement(const std::string& sql, const std::vector<db_value>& params,
                            const request_bounds& b) {
  if (sql.size() > b.max_sql_bytes)
    return "a statement of " + std::to_string(sql.size()) + " bytes (at most " +
           std::to_string(b.max_sql_bytes) + ")";
  if (params.size() > b.max_params)
    return std::to_string(params.size()) + " parameters (at most " + std::to_string(b.max_params) +
           ")";
  return {};
}

std::string check_transaction(const std::vector<db_statement>& xs, const request_bounds& b) {
  if (xs.size() > b.max_statements)
    return std::to_string(xs.size()) + " statements in one transaction (at most " +
           std::to_string(b.max_statements) + ")";
  for (auto& x : xs)
    if (auto why = check_statement(x.sql, x.params, b); !why.empty())
      return why;
  return {};
}

// -- the proxies ----------------------------------------------------------------

namespace {

caf::error refused(const std::string& why) {
  return make_error(errc::invalid_argument, "refused from a peer: " + why);
}

caf::error forbidden(const std::string& what, const std::string& name) {
  return make_error(errc::forbidden, what + " is not part of what " + name + " offers to peers");
}

caf::error not_running(const std::string& name) {
  return make_error(errc::unavailable, "'" + name + "' is not running");
}

/// What a peer sees of an error the component's request ended with: the
/// component's own errors as they are, the proxy's wait by its name.
caf::error as_peer_sees(const std::string& name, caf::error e, caf::timespan waited) {
  if (e == caf::sec::request_timeout)
    return make_error(errc::timeout,
                      "'" + name + "' did not answer within " + format_duration(waited));
  if (e == caf::sec::request_receiver_down)
    return not_running(name);
  return e;
}

/// What the proxy makes of the component's reply `Q`: the peer's reply, or
/// why it is withheld. Empty: the reply as it is.
template <class R, class Q = R>
using reply_shape = std::function<caf::expected<R>(Q&)>;

/// What every public handler does: refuse (`why`), or report the component
/// missing, or ask it and answer the peer from this proxy, so that the
/// reply's sender, the only handle CAF hands the peer, is the proxy.
template <class R, class Q = R, class Handle, class... Ts>
caf::result<R> relay(caf::event_based_actor* self, const std::string& name,
                     const request_bounds& b, const std::string& why,
                     const caf::expected<Handle>& component, reply_shape<R, Q> shape, Ts... xs) {
  if (!why.empty())
    return refused(why);
  if (!component)
    return component.error();
  auto rp = self->make_response_promise<R>();
  auto waited = b.component_timeout;
  self->request(*component, waited, std::move(xs)...)
      .then(
          [rp, shape](Q& q) mutable {
            if (!shape) {
              if constexpr (std::is_same_v<R, Q>)
                rp.deliver(std::move(q));
              return;
            }
            auto r = shape(q);
            if (r)
              rp.deliver(std::move(*r));
            else
              rp.deliver(std::move(r.error()));
          },
          [rp, name, waited](caf::error& e) mutable {
            rp.deliver(as_peer_sees(name, std::move(e), waited));
          });
  return rp;
}

/// A reply passed on if it is within `max_bytes` (`bytes_of` counts it).
template <class R, class F>
reply_shape<R> within(uint64_t max_bytes, F bytes_of) {
  return [max_bytes, bytes_of](R& x) -> caf::expected<R> {
    if (auto why = check_reply(bytes_of(x), max_bytes); !why.empty())
      return refused(why);
    return std::move(x);
  };
}

/// Peers reach a proxy from outside: exits and downs they send are dropped
/// (only `kill` cannot be, and it ends nothing but the proxy), anything else
/// it does not understand is an error reply, logged at debug level because
/// a peer controls how often it happens.
void harden(caf::event_based_actor* self, const std::string& name) {
  // Shared by every proxy: what a peer sends is bounded per node, not per
  // proxy a peer can make us spawn.
  static log_rate_limiter exits;
  static log_rate_limiter refusals;
  self->set_exit_handler([name](caf::exit_msg& em) {
    log_limited(exits, log_level::debug, [&] {
      return "cluster: public " + name + " ignored an exit (" +
             peer_text(caf::to_string(em.reason)) + ") from a peer";
    });
  });
  self->set_down_handler([](caf::down_msg&) {});
  self->set_default_handler(
      [name](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
        log_limited(refusals, log_level::debug, [&] {
          return "cluster: public " + name + " refused " + peer_text(caf::to_string(x.content()));
        });
        return caf::sec::unexpected_message;
      });
}

} // namespace

caf::behavior public_cache(caf::event_based_actor* self, std::string name, component_finder find,
                           request_bounds b) {
  harden(self, name);
  using opt = caf::optional<std::string>;
  auto target = [find, name]() -> caf::expected<cache_actor> {
    if (auto a = find())
      return caf::actor_cast<cache_actor>(a);
    return not_running(name);
  };
  // Each handler checks, asks the shard and answers from here.
  auto max = b.max_reply_bytes;
  auto value_bytes = [](const opt& v) -> uint64_t { return v ? v->size() : 0; };
  auto load_bytes = [](const load_reply& x) -> uint64_t { return x.value.size(); };
  return {
      [=](get_atom, const std::string& key) -> caf::result<opt> {
        return relay<opt>(self, name, b, check_key(key, b), target(), within<opt>(max, value_bytes),
                          get_atom::value, key);
      },
      [=](get_atom, const std::vector<std::string>& keys) -> caf::result<std::vector<opt>> {
        // Repeats of a key are asked for once and the reply counted before
        // it is built: 1 000 copies of a 1 MiB value's key made 1 GiB.
        auto folded = std::make_shared<distinct_keys>(fold_duplicates(keys));
        reply_shape<std::vector<opt>> unfolded = [folded, max](std::vector<opt>& values) {
          return unfold(*folded, std::move(values), max);
        };
        return relay<std::vector<opt>>(self, name, b, check_keys(keys, b), target(), unfolded,
                                       get_atom::value, folded->keys);
      },
      [=](put_atom, const std::string& key, const std::string& value,
          caf::timespan ttl) -> caf::result<bool> {
        return relay<bool>(self, name, b, check_put(key, value, ttl, b), target(), {},
                           put_atom::value, key, value, ttl);
      },
      [=](erase_atom, const std::string& key) -> caf::result<bool> {
        return relay<bool>(self, name, b, check_key(key, b), target(), {}, erase_atom::value, key);
      },
      [=](load_atom, const std::string& key) -> caf::result<load_reply> {
        // The shard's `load` with a hold: a peer that takes the loader's
        // turn and never reports holds the key for `remote_load_timeout`,
        // not for `load_timeout` (cache_actor.cpp).
        caf::expected<caf::actor> shard = not_running(name);
        if (auto a = find())
          shard = std::move(a);
        return relay<load_reply>(self, name, b, check_key(key, b), shard,
                                 within<load_reply>(max, load_bytes), load_atom::value, key,
                                 b.remote_load_timeout);
      },
      [=](loaded_atom, const std::string& key, const std::string& value,
          caf::timespan ttl) -> caf::result<bool> {
        return relay<bool>(self, name, b, check_put(key, value, ttl, b), target(), {},
                           loaded_atom::value, key, value, ttl);
      },
      [=](load_failed_atom, const std::string& key, const caf::error& why) -> caf::result<bool> {
        return relay<bool>(self, name, b, check_key(key, b), target(), {}, load_failed_atom::value,
                           key, why);
      },
      [=](stats_atom) -> caf::result<cache_stats> {
        return relay<cache_stats>(self, name, b, {}, target(), {}, stats_atom::value);
      },
      // Capacity, TTL and contents as a whole belong to the owning node.
      [=](clear_atom) -> caf::result<uint64_t> { return forbidden("clear", name); },
      [=](shrink_atom, double) -> caf::result<shrink_result> { return forbidden("shrink", name); },
      [=](resize_atom, uint64_t, uint64_t) -> caf::result<bool> {
        return forbidden("resize", name);
      },
      [=](set_ttl_atom, caf::timespan) -> caf::result<bool> { return forbidden("set_ttl", name); },
  };
}

caf::behavior public_db_pool(caf::event_based_actor* self, component_finder find, bool allow_writes,
                             request_bounds b) {
  std::string name = "db_pool";
  harden(self, name);
  using params = std::vector<db_value>;
  auto target = [find, name]() -> caf::expected<db_pool_actor> {
    if (auto a = find())
      return caf::actor_cast<db_pool_actor>(a);
    return not_running(name);
  };
  // A query's rows are bounded by SQLite's limits, not by this node's
  // memory: the reply is counted before it is serialized.
  auto max = b.max_reply_bytes;
  auto rows_of = [](const db_result& x) { return reply_bytes(x); };
  auto all_rows_of = [](const std::vector<db_result>& xs) { return reply_bytes(xs); };
  auto read_only = [name](const char* what) {
    return make_error(errc::forbidden, std::string{what} + " on " + name +
                                           " from a peer needs `allow_writes = true` in "
                                           "[cluster.publish] of the node that publishes it");
  };
  return {
      // The pool runs `query` on a read-only connection, whose authorizer
      // refuses writes, so a query cannot be used to write.
      [=](query_atom, const std::string& sql, const params& ps) -> caf::result<db_result> {
        return relay<db_result>(self, name, b, check_statement(sql, ps, b), target(),
                                within<db_result>(max, rows_of), query_atom::value, sql, ps);
      },
      [=](execute_atom, const std::string& sql, const params& ps) -> caf::result<db_result> {
        if (!allow_writes)
          return read_only("execute");
        return relay<db_result>(self, name, b, check_statement(sql, ps, b), target(),
                                within<db_result>(max, rows_of), execute_atom::value, sql, ps);
      },
      [=](transaction_atom,
          const std::vector<db_statement>& xs) -> caf::result<std::vector<db_result>> {
        if (!allow_writes)
          return read_only("a transaction");
        return relay<std::vector<db_result>>(self, name, b, check_transaction(xs, b), target(),
                                             within<std::vector<db_result>>(max, all_rows_of),
                                             transaction_atom::value, xs);
      },
      [=](stats_atom) -> caf::result<db_pool_stats> {
        return relay<db_pool_stats>(self, name, b, {}, target(), {}, stats_atom::value);
      },
      // Maintenance and sizing belong to the owning node and its optimizer.
      [=](checkpoint_atom) -> caf::result<bool> { return forbidden("checkpoint", name); },
      [=](vacuum_atom) -> caf::result<bool> { return forbidden("vacuum", name); },
      [=](release_memory_atom) -> caf::result<uint64_t> {
        return forbidden("release_memory", name);
      },
      [=](set_pool_size_atom, uint64_t) -> caf::result<uint64_t> {
        return forbidden("set_pool_size", name);
      },
  };
}

} // namespace p21::cluster_detail
