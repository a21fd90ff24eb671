#include "public_interface.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "p21/error.hpp"
#include "p21/log_limits.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"

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

/// What every public handler does: refuse (`why`), or report the component
/// missing, or delegate the request to it.
template <class R, class Handle, class... Ts>
caf::result<R> relay(caf::event_based_actor* self, const std::string& why,
                     const caf::expected<Handle>& component, Ts... xs) {
  if (!why.empty())
    return refused(why);
  if (!component)
    return component.error();
  return self->delegate(*component, xs...);
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
  // Each handler checks, then delegates: the component replies to the peer
  // directly, and the proxy keeps no state per request.
  return {
      [=](get_atom, const std::string& key) -> caf::result<opt> {
        return relay<opt>(self, check_key(key, b), target(), get_atom::value, key);
      },
      [=](get_atom, const std::vector<std::string>& keys) -> caf::result<std::vector<opt>> {
        return relay<std::vector<opt>>(self, check_keys(keys, b), target(), get_atom::value, keys);
      },
      [=](put_atom, const std::string& key, const std::string& value,
          caf::timespan ttl) -> caf::result<bool> {
        return relay<bool>(self, check_put(key, value, ttl, b), target(), put_atom::value, key,
                           value, ttl);
      },
      [=](erase_atom, const std::string& key) -> caf::result<bool> {
        return relay<bool>(self, check_key(key, b), target(), erase_atom::value, key);
      },
      [=](load_atom, const std::string& key) -> caf::result<load_reply> {
        return relay<load_reply>(self, check_key(key, b), target(), load_atom::value, key);
      },
      [=](loaded_atom, const std::string& key, const std::string& value,
          caf::timespan ttl) -> caf::result<bool> {
        return relay<bool>(self, check_put(key, value, ttl, b), target(), loaded_atom::value, key,
                           value, ttl);
      },
      [=](load_failed_atom, const std::string& key, const caf::error& why) -> caf::result<bool> {
        return relay<bool>(self, check_key(key, b), target(), load_failed_atom::value, key, why);
      },
      [=](stats_atom) -> caf::result<cache_stats> {
        return relay<cache_stats>(self, {}, target(), stats_atom::value);
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
  auto read_only = [name](const char* what) {
    return make_error(errc::forbidden, std::string{what} + " on " + name +
                                           " from a peer needs `allow_writes = true` in "
                                           "[cluster.publish] of the node that publishes it");
  };
  return {
      // The pool runs `query` on a read-only connection, whose authorizer
      // refuses writes, so a query cannot be used to write.
      [=](query_atom, const std::string& sql, const params& ps) -> caf::result<db_result> {
        return relay<db_result>(self, check_statement(sql, ps, b), target(), query_atom::value, sql,
                                ps);
      },
      [=](execute_atom, const std::string& sql, const params& ps) -> caf::result<db_result> {
        if (!allow_writes)
          return read_only("execute");
        return relay<db_result>(self, check_statement(sql, ps, b), target(), execute_atom::value,
                                sql, ps);
      },
      [=](transaction_atom,
          const std::vector<db_statement>& xs) -> caf::result<std::vector<db_result>> {
        if (!allow_writes)
          return read_only("a transaction");
        return relay<std::vector<db_result>>(self, check_transaction(xs, b), target(),
                                             transaction_atom::value, xs);
      },
      [=](stats_atom) -> caf::result<db_pool_stats> {
        return relay<db_pool_stats>(self, {}, target(), stats_atom::value);
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
