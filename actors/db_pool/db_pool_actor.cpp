#include "db_pool_actor.hpp"

#include <functional>
#include <map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "p21/cache_config.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/histogram.hpp"
#include "p21/log_limits.hpp"
#include "p21/profiling.hpp"

namespace p21 {

namespace db_detail {

namespace {

using clock = std::chrono::steady_clock;

using expire_atom = caf::atom_constant<caf::atom("expire")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using version_tick_atom = caf::atom_constant<caf::atom("vertick")>;
using granted_atom = caf::atom_constant<caf::atom("granted")>;

using pool_actor = db_pool_actor::extend_with<deadline_pool_actor>::extend_with<
    knob_owner_actor>::extend<
    caf::reacts_to<expire_atom, uint64_t>, caf::reacts_to<tick_atom>,
    caf::reacts_to<version_tick_atom>, caf::reacts_to<read_done_atom, read_done>,
    caf::reacts_to<granted_atom, uint64_t>, caf::reacts_to<crash_writer_atom>>;

/// A detached reader thread; it runs reads on slots the pool holds.
struct reader {
  conn_actor handle;
  bool busy = false;
  bool overflow = false;
  clock::time_point since;
  std::string sql;
  bool leak_logged = false;
};

/// A read waiting in the reader pool's queue for a slot.
struct waiter {
  std::string sql;
  std::vector<db_value> params;
  caf::typed_response_promise<db_result> promise;
  /// The query cache's key for this read, empty when not cacheable.
  std::string cache_key;
  /// The write sequence number when the read arrived.
  uint64_t write_seq = 0;
  /// The caller's deadline and cancel token: a read granted after either
  /// says the caller is gone is dropped.
  caller_limit limit;
};

struct pool_state {
  pool_settings cfg;
  std::shared_ptr<query_cache> cache;
  std::shared_ptr<reader_pool> readers;
  std::optional<int64_t> data_version;
  conn_actor writer;
  std::map<uint64_t, reader> threads;
  /// By reader-slot ticket.
  std::map<uint64_t, waiter> waiting;
  /// Reader slots this pool holds (granted, not yet given back).
  size_t held = 0;
  uint64_t next_id = 0;
  db_pool_stats stats;
  /// Callers whose statement is with the writer or a reader thread, by
  /// call number. CAF 0.17 drops an undelivered promise silently: without
  /// this, a caller of a pool that ends would wait out its whole timeout.
  std::map<uint64_t, std::function<void(caf::error)>> unanswered;
  uint64_t next_call = 0;

  /// Remembers `promise` until `answered(id)`; the id.
  template <class R>
  uint64_t awaiting(caf::typed_response_promise<R> promise) {
    auto id = ++next_call;
    unanswered.emplace(id, [promise](caf::error e) mutable { promise.deliver(std::move(e)); });
    return id;
  }
  void answered(uint64_t id) { unanswered.erase(id); }

  static inline const char* name = "p21.db_pool";

  /// The slots outlive this pool: whatever it holds or waits for goes back,
  /// so that a restart does not shrink the limit of both paths.
  ~pool_state() {
    // A stop never waits for SQLite: what the writer and readers run now is
    // interrupted (statements started later run normally).
    if (cfg.conn.cancel)
      cfg.conn.cancel->interrupt_running();
    // Every caller hears back. A write may have committed just before: not
    // acknowledged is not the same as not done.
    auto gone = [] {
      return make_error(errc::unavailable,
                        "the db pool stopped before the statement's result came back");
    };
    for (auto& [id, fail] : unanswered)
      fail(gone());
    for (auto& [ticket, w] : waiting)
      w.promise.deliver(gone());
    if (!readers)
      return;
    auto& slots = readers->slots();
    for (auto& [ticket, w] : waiting)
      if (!slots.cancel(ticket))
        ++held; // granted, its message not yet handled
    slots.release(held);
  }
};

using pool_self = pool_actor::stateful_pointer<pool_state>;

conn_actor spawn_reader_or_writer(pool_self self, bool reader) {
  auto& st = self->state;
  return spawn_connection(self, st.cfg.conn, st.cfg.timing, st.readers, reader,
                          reader ? st.cache : nullptr);
}

/// Gives back a slot and the reader thread that used it.
void release(pool_self self, uint64_t id) {
  auto& st = self->state;
  --st.held;
  st.readers->slots().release();
  auto i = st.threads.find(id);
  if (i == st.threads.end())
    return;
  i->second.busy = false;
  i->second.since = clock::now();
}

/// An idle reader thread for a granted slot, starting one if none is idle
/// (the slots bound how many are busy). Those beyond `pool_size` stop when
/// idle past `idle_timeout`.
uint64_t idle_reader(pool_self self, const std::string& sql) {
  auto& st = self->state;
  uint64_t id = 0;
  for (auto& [i, r] : st.threads)
    if (!r.busy) {
      id = i;
      break;
    }
  if (id == 0) {
    id = ++st.next_id;
    bool overflow = st.threads.size() >= st.cfg.pool_size;
    st.threads[id] = reader{spawn_reader_or_writer(self, true), false, overflow, {}, {}, false};
  }
  auto& r = st.threads[id];
  r.busy = true;
  r.since = clock::now();
  r.sql = sql;
  r.leak_logged = false;
  return id;
}

/// Runs a waiter's read once its slot was granted.
void dispatch(pool_self self, waiter w) {
  auto id = idle_reader(self, w.sql);
  auto& r = self->state.threads[id];
  // Counted (queries, errors, times) by the reader pool the read runs on.
  auto promise = w.promise;
  auto key = std::move(w.cache_key);
  auto seq = w.write_seq;
  auto call = self->state.awaiting(promise);
  self->request(r.handle, caf::infinite, query_atom::value, std::move(w.sql), std::move(w.params))
      .then(
          [=](conn_reply& reply) mutable {
            auto& st = self->state;
            st.answered(call);
            if (st.cache && !key.empty())
              st.cache->put(key, reply.result, reply.reads, seq);
            promise.deliver(std::move(reply.result));
            release(self, id);
          },
          [=](caf::error& e) mutable {
            self->state.answered(call);
            promise.deliver(std::move(e));
            release(self, id);
          });
}

/// Sends a request to the writer and relays `take(reply)` to the caller.
template <class R, class Reply, class Take, class... Ts>
caf::result<R> to_writer(pool_self self, Take take, Ts&&... xs) {
  auto promise = self->make_response_promise<R>();
  auto call = self->state.awaiting(promise);
  self->request(self->state.writer, caf::infinite, std::forward<Ts>(xs)...)
      .then(
          [=](Reply& x) mutable {
            self->state.answered(call);
            promise.deliver(take(x));
          },
          [=](caf::error& e) mutable {
            self->state.answered(call);
            ++self->state.stats.errors;
            promise.deliver(std::move(e));
          });
  return promise;
}

/// A maintenance command whose reply passes through unchanged.
template <class R, class... Ts>
caf::result<R> to_writer(pool_self self, Ts&&... xs) {
  return to_writer<R, R>(
      self, [](R& x) { return std::move(x); }, std::forward<Ts>(xs)...);
}

/// A write: before acknowledging it, drops the cached results it made stale,
/// so whoever hears "committed" can no longer read the old rows.
template <class R, class Reply, class Take, class... Ts>
caf::result<R> write_through(pool_self self, Take take, Ts&&... xs) {
  ++self->state.stats.queries;
  return to_writer<R, Reply>(
      self,
      [self, take](Reply& r) {
        if (self->state.cache)
          self->state.cache->invalidate(r.writes);
        return take(r);
      },
      std::forward<Ts>(xs)...);
}

/// The answer to a caller whose work was dropped (`limit.gone()`).
caf::error dropped(const caller_limit& limit) {
  if (limit.cancelled())
    return make_error(errc::cancelled, "the caller cancelled before the statement ran; "
                                       "dropped, not run");
  return make_error(errc::timeout, "the caller's deadline passed before the statement ran; "
                                   "dropped, not run");
}

/// A read: from the query cache, on a reader with a free slot, or queued
/// for one until `pool_timeout`, the caller's deadline or its cancel.
caf::result<db_result> read(pool_self self, std::string sql, std::vector<db_value> params,
                            caller_limit limit) {
  auto& st = self->state;
  std::string key;
  if (st.cache) {
    key = query_cache::key(sql, params);
    if (auto hit = st.cache->get(key)) {
      ++st.stats.queries;
      return std::move(*hit);
    }
  }
  auto seq = st.cache ? st.cache->seq() : 0;
  if (!st.readers->enabled()) {
    // In memory: one database per connection, so the writer reads too.
    ++st.stats.queries;
    return to_writer<db_result, conn_reply>(
        self, [](conn_reply& r) { return std::move(r.result); }, query_atom::value,
        std::move(sql), std::move(params), std::move(limit));
  }
  // The grant may come on any thread that gives a slot back: it only
  // sends, and a pool gone by then has cancelled its tickets.
  auto addr = caf::actor_cast<caf::actor_addr>(self);
  auto ticket = st.readers->slots().acquire_async([addr](uint64_t t) {
    if (auto pool = caf::actor_cast<caf::actor>(addr))
      caf::anon_send(pool, granted_atom::value, t);
  });
  if (ticket == 0) {
    // A slot now: the reader answers the caller directly, then reports.
    ++st.held;
    auto id = idle_reader(self, sql);
    return self->delegate(
        st.threads[id].handle, query_atom::value, std::move(sql), std::move(params),
        direct_read{id, seq, std::move(key), caf::actor_cast<caf::actor>(self)});
  }
  auto promise = self->make_response_promise<db_result>();
  // Given up at pool_timeout, or earlier at the caller's deadline.
  auto wait = st.cfg.pool_timeout;
  if (limit.deadline != caf::timestamp::max())
    wait = std::min(wait, std::max(timespan{0}, limit.deadline - caf::make_timestamp()));
  self->delayed_send(self, wait, expire_atom::value, ticket);
  // Or when the caller cancels: its place in the queue goes at once.
  limit.token.on_cancel([addr, ticket] {
    if (auto pool = caf::actor_cast<caf::actor>(addr))
      caf::anon_send(pool, expire_atom::value, ticket);
  });
  st.waiting.emplace(ticket, waiter{std::move(sql), std::move(params), promise, std::move(key),
                                    seq, std::move(limit)});
  return promise;
}

/// `new_window`: the monitor's sample starts a new peak window; a plain
/// stats request does not.
db_pool_stats current_stats(pool_self self, bool new_window = false) {
  auto& st = self->state;
  auto s = st.stats;
  // Connections: the writer plus the shared reader pool (reader threads
  // lease from it per statement and hold none); slots, waiters and
  // timeouts of both paths are the reader pool's too.
  s.size = 1;
  s.in_use = 0;
  s.idle = 0;
  s.waiting = 0;
  if (st.cache)
    std::tie(s.cache_hits, s.cache_misses) = st.cache->counts();
  histogram acquire;
  histogram query;
  st.readers->add_stats(s, acquire, query, new_window);
  s.acquire_time = acquire.summary(db_pool_metrics::acquire_seconds, 1e-9);
  s.query_time = query.summary(db_pool_metrics::query_seconds, 1e-9);
  s.configured_size = st.cfg.pool_size;
  return s;
}

/// What `set_pool_size_atom` and the `pool_size` knob do.
caf::expected<uint64_t> set_pool_size(pool_self self, uint64_t n) {
  if (n == 0)
    return make_error(errc::invalid_argument, "pool_size must be at least 1");
  self->state.cfg.pool_size = n;
  self->state.readers->set_pool_size(n);
  return n;
}

pool_actor::behavior_type db_pool(pool_self self, pool_settings cfg,
                                  std::shared_ptr<query_cache> shared_cache,
                                  std::shared_ptr<reader_pool> readers) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.cache = std::move(shared_cache);
  st.readers = std::move(readers);
  if (st.cache)
    st.cache->flush(); // after a restart, nothing cached before is trusted
  st.writer = spawn_reader_or_writer(self, false);
  if (st.cache)
    self->send(self, version_tick_atom::value);
  if (st.readers->enabled()) {
    // Keep pool_size reader connections open: the writer opens them on
    // its own thread (a CAF detached actor, so none outlives the node).
    self->send(st.writer, warm_atom::value);
  }
  auto period = std::min(st.cfg.idle_timeout, st.cfg.leak_threshold) / 2;
  self->delayed_send(self, period, tick_atom::value);
  return {
      [=](query_atom, std::string& sql, std::vector<db_value>& params) -> caf::result<db_result> {
        return read(self, std::move(sql), std::move(params), caller_limit{});
      },
      [=](query_atom, std::string& sql, std::vector<db_value>& params,
          caller_limit& limit) -> caf::result<db_result> {
        if (limit.gone())
          return dropped(limit);
        return read(self, std::move(sql), std::move(params), std::move(limit));
      },
      [=](granted_atom, uint64_t ticket) {
        auto& st = self->state;
        ++st.held;
        auto i = st.waiting.find(ticket);
        if (i == st.waiting.end()) {
          release(self, 0); // cannot happen: a waiter leaves only by cancel
          return;
        }
        auto w = std::move(i->second);
        st.waiting.erase(i);
        if (w.limit.gone()) {
          w.promise.deliver(dropped(w.limit));
          release(self, 0);
          return;
        }
        dispatch(self, std::move(w));
      },
      [=](expire_atom, uint64_t ticket) {
        auto& st = self->state;
        auto i = st.waiting.find(ticket);
        // Granted meanwhile: its `granted` message is on the way.
        if (i == st.waiting.end() || !st.readers->slots().cancel(ticket))
          return;
        auto& limit = i->second.limit;
        i->second.promise.deliver(limit.gone() ? dropped(limit)
                                               : st.readers->slots().timeout_error());
        st.waiting.erase(i);
      },
      [=](execute_atom, std::string& sql, std::vector<db_value>& params) -> caf::result<db_result> {
        return write_through<db_result, conn_reply>(
            self, [](conn_reply& r) { return std::move(r.result); }, query_atom::value,
            std::move(sql), std::move(params));
      },
      [=](transaction_atom,
          std::vector<db_statement>& statements) -> caf::result<std::vector<db_result>> {
        return write_through<std::vector<db_result>, conn_txn_reply>(
            self, [](conn_txn_reply& r) { return std::move(r.results); }, transaction_atom::value,
            std::move(statements));
      },
      [=](execute_atom, std::string& sql, std::vector<db_value>& params,
          caller_limit& limit) -> caf::result<db_result> {
        if (limit.gone())
          return dropped(limit);
        return write_through<db_result, conn_reply>(
            self, [](conn_reply& r) { return std::move(r.result); }, query_atom::value,
            std::move(sql), std::move(params), std::move(limit));
      },
      [=](transaction_atom, std::vector<db_statement>& statements,
          caller_limit& limit) -> caf::result<std::vector<db_result>> {
        if (limit.gone())
          return dropped(limit);
        return write_through<std::vector<db_result>, conn_txn_reply>(
            self, [](conn_txn_reply& r) { return std::move(r.results); }, transaction_atom::value,
            std::move(statements), std::move(limit));
      },
      [=](crash_writer_atom) {
        spdlog::warn("db pool: ending the writer (fault injection)");
        // Not send_exit: CAF unlinks an actor from the sender of the exit it
        // receives, so the pool would outlive its writer. Sent anonymously,
        // the writer ends as a crash ends it and the link takes the pool down.
        caf::anon_send_exit(self->state.writer, caf::exit_reason::kill);
      },
      [=](checkpoint_atom) { return to_writer<bool>(self, checkpoint_atom::value); },
      [=](vacuum_atom) { return to_writer<bool>(self, vacuum_atom::value); },
      [=](release_memory_atom) { return to_writer<uint64_t>(self, release_memory_atom::value); },
      [=](set_pool_size_atom, uint64_t n) { return set_pool_size(self, n); },
      [=](get_knob_atom, const std::string& name) -> caf::result<double> {
        if (name != self->state.cfg.pool_size_knob.name)
          return unknown_knob(name);
        return double(self->state.cfg.pool_size);
      },
      [=](set_knob_atom, const std::string& name, double v) -> caf::result<double> {
        auto& knob = self->state.cfg.pool_size_knob;
        if (name != knob.name)
          return unknown_knob(name);
        auto n = knob_target(knob, v);
        if (!n)
          return n.error();
        if (auto r = set_pool_size(self, uint64_t(*n)); !r)
          return r.error();
        return double(self->state.cfg.pool_size);
      },
      [=](set_pool_timeout_atom, caf::timespan t) -> caf::result<caf::timespan> {
        if (t <= caf::timespan{0})
          return make_error(errc::invalid_argument, "pool_timeout must be positive");
        self->state.cfg.pool_timeout = t;
        self->state.readers->slots().set_pool_timeout(t);
        return t;
      },
      [=](stats_atom) { return current_stats(self); },
      [=](metrics_atom) {
        namespace d = db_pool_metrics;
        auto s = current_stats(self, true);
        metric_set m;
        m.counters = {d::queries(double(s.queries)), d::errors(double(s.errors)),
                      d::timeouts(double(s.timeouts)),
                      d::overflow_opened(double(s.overflow_opened)),
                      d::health_check_failures(double(s.health_check_failures))};
        m.gauges = {d::connections(double(s.size)),
                    d::in_use(double(s.in_use)),
                    d::idle(double(s.idle)),
                    d::waiting(double(s.waiting)),
                    d::peak_in_use(double(s.peak_in_use)),
                    d::configured_size(double(s.configured_size))};
        m.histograms = {s.acquire_time, s.query_time};
        // The same instant, typed: peak_in_use's window was just reset, so
        // the optimizer reads it from here rather than asking again.
        m.stats[""] = caf::make_message(std::move(s));
        return m;
      },
      [=](read_done_atom, const read_done& done) { release(self, done.reader_id); },
      [=](version_tick_atom) {
        // Another process's commit changes the writer's data_version (ours do
        // not): then the cache may hold rows that are no longer true.
        self->request(self->state.writer, caf::infinite, data_version_atom::value)
            .then(
                [=](int64_t v) {
                  auto& st = self->state;
                  if (st.data_version && *st.data_version != v) {
                    spdlog::info(
                        "the database file changed outside this pool; query cache flushed");
                    st.cache->flush();
                  }
                  st.data_version = v;
                  self->delayed_send(self, st.cfg.data_version_interval, version_tick_atom::value);
                },
                [=](caf::error&) {
                  self->delayed_send(self, self->state.cfg.data_version_interval,
                                     version_tick_atom::value);
                });
      },
      [=](tick_atom) {
        auto& st = self->state;
        auto now = clock::now();
        for (auto i = st.threads.begin(); i != st.threads.end();) {
          auto& r = i->second;
          if (r.busy && !r.leak_logged && now - r.since > st.cfg.leak_threshold) {
            spdlog::warn("a statement has held a connection for over {}: {}",
                         format_duration(st.cfg.leak_threshold), peer_text(r.sql));
            r.leak_logged = true;
          }
          if (r.overflow && !r.busy && now - r.since > st.cfg.idle_timeout) {
            self->unlink_from(r.handle);
            self->send_exit(r.handle, caf::exit_reason::user_shutdown);
            i = st.threads.erase(i);
          } else {
            ++i;
          }
        }
        self->send(st.writer, close_idle_atom::value, false);
        auto period = std::min(st.cfg.idle_timeout, st.cfg.leak_threshold) / 2;
        self->delayed_send(self, period, tick_atom::value);
      },
  };
}

} // namespace

caf::actor spawn_db_pool(caf::actor_system& sys, const pool_settings& cfg,
                         std::shared_ptr<query_cache> cache, std::shared_ptr<reader_pool> readers,
                         std::shared_ptr<actor_profile> profile) {
  return caf::actor_cast<caf::actor>(
      spawn_profiled(sys, std::move(profile), db_pool, cfg, std::move(cache), std::move(readers)));
}

} // namespace db_detail

// -- component ------------------------------------------------------------------

child_spec db_pool_component(const std::string& name, const config& cfg,
                             std::function<void(sqlite3*)> on_connect, profile_factory profile,
                             config_source current) {
  using namespace db_detail;
  pool_settings ps;
  auto& d = cfg.get<database_config>();
  ps.conn.path = d.path;
  ps.conn.synchronous = d.synchronous;
  ps.conn.busy_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(d.busy_timeout);
  ps.conn.statement_cache = d.statement_cache;
  ps.conn.on_connect = std::move(on_connect);
  ps.conn.statement_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(d.statement_timeout);
  ps.conn.cancel = std::make_shared<statement_cancel>();
  ps.conn.max_result_bytes = d.max_result_bytes;
  ps.timing.health_check_after = d.health_check_after;
  ps.timing.max_lifetime = d.max_lifetime;
  // One SQLite in-memory database per connection would not be shared: an
  // in-memory pool runs everything on its writer.
  ps.pool_size = d.path == ":memory:" ? 0 : d.pool_size;
  ps.max_overflow = d.path == ":memory:" ? 0 : d.max_overflow;
  ps.pool_timeout = d.pool_timeout;
  ps.idle_timeout = d.idle_timeout;
  ps.leak_threshold = d.leak_threshold;
  ps.query_cache = d.query_cache;
  ps.cache_entries = cfg.get<cache_config>().db_maxsize;
  ps.cache_ttl = cfg.get<cache_config>().db_ttl;
  ps.cache_max_bytes = d.query_cache_max_bytes;
  ps.data_version_interval = d.data_version_interval;
  // Owned by the component, not the actor: they outlive restarts, and the
  // `db` handles reach them through the runtime without a message.
  std::shared_ptr<query_cache> cache;
  if (ps.query_cache)
    cache = std::make_shared<query_cache>(ps.cache_entries, ps.cache_ttl, ps.cache_max_bytes);
  reader_settings rs;
  rs.conn = ps.conn;
  rs.pool_size = ps.pool_size;
  rs.max_overflow = ps.max_overflow;
  rs.pool_timeout = ps.pool_timeout;
  rs.idle_timeout = ps.idle_timeout;
  rs.health_check_after = ps.timing.health_check_after;
  rs.max_lifetime = ps.timing.max_lifetime;
  auto readers = std::make_shared<reader_pool>(rs);
  ps.pool_size_knob.name = name + ".pool_size";
  child_spec spec;
  spec.name = name;
  spec.prio = priority::normal;
  spec.knobs = {ps.pool_size_knob};
  auto prof = profile ? profile(name) : nullptr;
  spec.start = [ps, cache, readers, prof, current](caf::actor_system& sys) {
    // The live keys as the latest reload left them (a reader pool shared
    // across restarts may still hold a value a reload or the optimizer set).
    // (An in-memory pool has no readers: pool_size stays 0.)
    auto now = ps;
    if (auto c = current ? current() : nullptr; c && now.pool_size > 0) {
      now.pool_size = c->get<database_config>().pool_size;
      now.pool_timeout = c->get<database_config>().pool_timeout;
      readers->set_pool_size(now.pool_size);
      readers->slots().set_pool_timeout(now.pool_timeout);
    }
    return spawn_db_pool(sys, now, cache, readers, prof);
  };
  if (cache)
    spec.shared.put(cache);
  spec.shared.put(readers);
  return spec;
}

} // namespace p21
