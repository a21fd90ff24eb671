// The db pool: a scheduled actor that hands statements to connection actors,
// each on its own thread (detached), so that no SQLite call ever blocks a
// CAF scheduler thread. Reads go to `pool_size` (+ `max_overflow`) readers in
// parallel, writes to one writer, so a read never upgrades into SQLITE_BUSY.

#include <deque>
#include <map>
#include <thread>
#include <unordered_map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "../cache/cache_store.hpp"
#include "connection.hpp"
#include "direct_readers.hpp"
#include "p21/db.hpp"
#include "p21/histogram.hpp"

namespace p21 {

namespace db_detail {

/// SELECT results keyed by (sql, parameters), with exact invalidation: a
/// write to a table drops every result that read it, before the write is
/// acknowledged; a result whose tables were written while it ran is not
/// cached at all. Shared by the pool actor and its `db` handles: a handle
/// answers a hit without a message; the pool invalidates under the same
/// mutex before it acknowledges a write, so no handle reads past one.
class query_cache {
public:
  using clock = std::chrono::steady_clock;

  query_cache(uint64_t entries, timespan ttl) {
    cache_detail::store_config cfg;
    cfg.name = "query";
    cfg.max_entries = entries;
    cfg.max_bytes = 1ull << 40; // bounded by entries, as the report's db_maxsize
    cfg.ttl = ttl;
    store_ = std::make_unique<cache_detail::cache_store>(cfg);
  }

  /// The SQL and each parameter's kind and bytes, length-prefixed so that
  /// no two different (sql, params) pairs share a key.
  static std::string key(const std::string& sql, const std::vector<db_value>& params) {
    std::string k;
    k.reserve(sql.size() + 16 * params.size() + 8);
    auto append = [&k](const void* p, size_t n) {
      k.append(static_cast<const char*>(p), n);
    };
    auto size = static_cast<uint64_t>(sql.size());
    append(&size, sizeof(size));
    k += sql;
    for (auto& v : params) {
      k += static_cast<char>(v.kind);
      switch (v.kind) {
      case db_value::integer:
        append(&v.i, sizeof(v.i));
        break;
      case db_value::real:
        append(&v.r, sizeof(v.r));
        break;
      case db_value::text:
      case db_value::blob:
        size = v.s.size();
        append(&size, sizeof(size));
        k += v.s;
        break;
      default:
        break;
      }
    }
    return k;
  }

  /// A cached result; counts a hit, and a miss when `count_miss` (a handle
  /// that misses asks the pool, which counts the miss).
  std::optional<db_result> get(const std::string& key, bool count_miss = true) {
    std::shared_ptr<const db_result> found;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto i = store_->get(key, clock::now()) ? results_.find(key) : results_.end();
      if (i == results_.end()) {
        misses_ += count_miss ? 1 : 0;
        return std::nullopt;
      }
      ++hits_;
      found = i->second;
    }
    db_result r = *found; // copied outside the lock
    r.cached = true;
    return r;
  }

  /// Hits and misses so far.
  std::pair<uint64_t, uint64_t> counts() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return {hits_, misses_};
  }

  /// Caches `r` unless a table it read was written after `seq`.
  void put(const std::string& key, const db_result& r, const std::vector<std::string>& reads,
           uint64_t seq) {
    auto decoded = std::make_shared<const db_result>(r);
    std::lock_guard<std::mutex> guard{mtx_};
    if (last_write("*") > seq)
      return;
    for (auto& t : reads)
      if (last_write(t) > seq)
        return;
    // The store keeps order, TTL and the entry bound; the rows themselves
    // live decoded beside it, so a hit is a copy, not a deserialization.
    if (store_->put(key, std::string{}, timespan{0}, clock::now()))
      return;
    results_[key] = std::move(decoded);
    for (auto& t : reads)
      readers_of_[t].insert(key);
    if (++puts_since_compaction_ > 4 * store_->config().max_entries)
      compact();
  }

  /// Records committed writes and drops what they made stale.
  void invalidate(const std::vector<std::string>& writes) {
    if (writes.empty())
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    ++seq_;
    for (auto& t : writes) {
      last_write_[t] = seq_;
      if (t == "*") {
        flush_locked();
        return;
      }
      auto i = readers_of_.find(t);
      if (i == readers_of_.end())
        continue;
      for (auto& k : i->second) {
        store_->erase(k);
        results_.erase(k);
      }
      readers_of_.erase(i);
    }
  }

  void flush() {
    std::lock_guard<std::mutex> guard{mtx_};
    flush_locked();
  }

  uint64_t seq() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return seq_;
  }

private:
  void flush_locked() {
    ++seq_;
    last_write_["*"] = seq_;
    store_->clear();
    results_.clear();
    readers_of_.clear();
  }

  uint64_t last_write(const std::string& table) const {
    auto i = last_write_.find(table);
    return i == last_write_.end() ? 0 : i->second;
  }

  /// Forgets index entries of results the store already evicted.
  void compact() {
    puts_since_compaction_ = 0;
    auto now = clock::now();
    for (auto i = results_.begin(); i != results_.end();)
      i = store_->contains(i->first, now) ? std::next(i) : results_.erase(i);
    for (auto i = readers_of_.begin(); i != readers_of_.end();) {
      for (auto k = i->second.begin(); k != i->second.end();)
        k = store_->contains(*k, now) ? std::next(k) : i->second.erase(k);
      i = i->second.empty() ? readers_of_.erase(i) : std::next(i);
    }
  }

  mutable std::mutex mtx_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  std::unique_ptr<cache_detail::cache_store> store_;
  std::unordered_map<std::string, std::shared_ptr<const db_result>> results_;
  std::map<std::string, std::set<std::string>> readers_of_;
  std::map<std::string, uint64_t> last_write_;
  uint64_t seq_ = 0;
  uint64_t puts_since_compaction_ = 0;
};

} // namespace db_detail

} // namespace p21

// Handed to local db handles only; never cross the wire.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<p21::db_detail::query_cache>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<p21::db_detail::direct_readers>)

namespace p21 {

namespace {

using namespace db_detail;

using cache_ref_atom = caf::atom_constant<caf::atom("cacheref")>;
using direct_ref_atom = caf::atom_constant<caf::atom("directref")>;
using clock = std::chrono::steady_clock;

using data_version_atom = caf::atom_constant<caf::atom("dataver")>;

// -- connection actors ----------------------------------------------------------

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

/// What a connection tells the pool after answering a delegated read.
struct read_done {
  uint64_t reader_id = 0;
  uint64_t elapsed_ns = 0;
  bool ok = false;
  /// The result and its tables, when the pool should cache it.
  conn_reply reply;
  std::string cache_key;
  uint64_t write_seq = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_done& x) {
  return f(caf::meta::type_name("p21.read_done"), x.reader_id, x.elapsed_ns, x.ok, x.reply,
           x.cache_key, x.write_seq);
}

using read_done_atom = caf::atom_constant<caf::atom("readdone")>;
using close_idle_atom = caf::atom_constant<caf::atom("closeidle")>;
using warm_atom = caf::atom_constant<caf::atom("warmup")>;

using conn_actor = caf::typed_actor<
    caf::replies_to<query_atom, std::string, std::vector<db_value>>::with<conn_reply>,
    caf::replies_to<query_atom, std::string, std::vector<db_value>, direct_read>::with<db_result>,
    caf::replies_to<transaction_atom, std::vector<db_statement>>::with<conn_txn_reply>,
    caf::replies_to<checkpoint_atom>::with<bool>, caf::replies_to<vacuum_atom>::with<bool>,
    caf::replies_to<release_memory_atom>::with<uint64_t>,
    // The writer closes the shared set's idle overflow readers on the pool's
    // tick (all of them at once when true): SQLite stays off CAF's threads.
    caf::reacts_to<close_idle_atom, bool>,
    // The writer opens the shared set's pool_size readers at start.
    caf::reacts_to<warm_atom>, caf::replies_to<data_version_atom>::with<int64_t>>;

struct conn_timing {
  timespan health_check_after{0};
  timespan max_lifetime{0};
};

struct conn_state {
  connection_settings settings;
  conn_timing timing;
  std::unique_ptr<connection> conn;
  clock::time_point opened_at;
  clock::time_point last_used;
  caf::error open_error;

  static inline const char* name = "p21.db_connection";

  /// Opens, or replaces a connection that failed its health check or
  /// outlived max_lifetime. Returns how many health checks failed.
  caf::expected<uint64_t> ready() {
    auto now = clock::now();
    uint64_t failures = 0;
    if (conn && now - opened_at > timing.max_lifetime)
      conn.reset();
    if (conn && now - last_used > timing.health_check_after && !conn->healthy()) {
      spdlog::warn("a connection to '{}' failed its health check; replacing it", settings.path);
      ++failures;
      conn.reset();
    }
    if (!conn) {
      auto opened = connection::open(settings);
      if (!opened) {
        open_error = opened.error();
        return opened.error();
      }
      conn = std::move(*opened);
      opened_at = now;
    }
    last_used = now;
    return failures;
  }

  /// A reader leases a connection from the shared reader set for each
  /// statement; the writer uses its own.
  std::shared_ptr<direct_readers> direct;
  /// The writer's view of the shared reader set, for its upkeep.
  std::shared_ptr<direct_readers> readers;

  /// Runs one statement; on success also how many health checks failed.
  caf::expected<std::pair<statement_result, uint64_t>> run(const std::string& sql,
                                                           const std::vector<db_value>& params) {
    if (direct) {
      auto r = direct->run(sql, params);
      if (!r)
        return r.error();
      return std::make_pair(std::move(*r), uint64_t{0});
    }
    auto failures = ready();
    if (!failures)
      return failures.error();
    auto r = conn->run(sql, params);
    if (!r) {
      conn->reset_state();
      return r.error();
    }
    return std::make_pair(std::move(*r), *failures);
  }
};

std::vector<std::string> to_vector(const std::set<std::string>& xs) {
  return {xs.begin(), xs.end()};
}

conn_actor::behavior_type connection_actor(conn_actor::stateful_pointer<conn_state> self,
                                           connection_settings settings, conn_timing timing,
                                           std::shared_ptr<direct_readers> direct, bool reader) {
  self->state.settings = std::move(settings);
  self->state.timing = timing;
  if (reader) {
    self->state.direct = std::move(direct);
  } else {
    self->state.readers = std::move(direct);
    if (auto ok = self->state.ready(); !ok)
      spdlog::error("{}", render(ok.error()));
  }
  return {
      [=](query_atom, const std::string& sql,
          const std::vector<db_value>& params) -> caf::result<conn_reply> {
        auto r = self->state.run(sql, params);
        if (!r)
          return r.error();
        auto& [res, failures] = *r;
        return conn_reply{std::move(res.result), to_vector(res.access.reads),
                          to_vector(res.access.writes), failures};
      },
      [=](query_atom, const std::string& sql, const std::vector<db_value>& params,
          const direct_read& d) -> caf::result<db_result> {
        auto& st = self->state;
        auto t0 = clock::now();
        read_done done;
        done.reader_id = d.reader_id;
        done.cache_key = d.cache_key;
        done.write_seq = d.write_seq;
        auto report = [&] {
          done.elapsed_ns = static_cast<uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
          caf::anon_send(d.pool, read_done_atom::value, std::move(done));
        };
        auto ran = st.run(sql, params);
        if (!ran) {
          report();
          return ran.error();
        }
        auto& [res, failures] = *ran;
        done.reply.health_check_failures = failures;
        done.ok = true;
        auto result = res.result;
        if (!d.cache_key.empty()) {
          done.reply.result = std::move(res.result);
          done.reply.reads = to_vector(res.access.reads);
        }
        report();
        return result;
      },
      [=](transaction_atom,
          const std::vector<db_statement>& statements) -> caf::result<conn_txn_reply> {
        auto& st = self->state;
        if (auto ok = st.ready(); !ok)
          return ok.error();
        auto r = st.conn->transaction(statements);
        if (!r) {
          st.conn->reset_state();
          return r.error();
        }
        return conn_txn_reply{std::move(r->first), to_vector(r->second.writes)};
      },
      [=](checkpoint_atom) -> caf::result<bool> {
        auto& st = self->state;
        if (auto ok = st.ready(); !ok)
          return ok.error();
        if (auto err = st.conn->checkpoint())
          return err;
        return true;
      },
      [=](vacuum_atom) -> caf::result<bool> {
        auto& st = self->state;
        if (auto ok = st.ready(); !ok)
          return ok.error();
        if (auto err = st.conn->vacuum())
          return err;
        return true;
      },
      [=](release_memory_atom) -> uint64_t {
        auto& st = self->state;
        int64_t freed = 0;
        if (st.readers) {
          // Memory pressure (rule 1): idle overflow readers close now, the
          // idle ones left give SQLite's caches back too.
          st.readers->close_idle(true);
          freed += st.readers->release_memory();
        }
        freed += st.conn ? st.conn->release_memory() : 0;
        return static_cast<uint64_t>(std::max<int64_t>(0, freed));
      },
      [=](warm_atom) {
        if (self->state.readers)
          self->state.readers->warm();
      },
      [=](close_idle_atom, bool at_once) {
        if (self->state.readers)
          self->state.readers->close_idle(at_once);
      },
      [=](data_version_atom) -> caf::result<int64_t> {
        auto& st = self->state;
        if (auto ok = st.ready(); !ok)
          return ok.error();
        auto v = st.conn->data_version();
        if (!v)
          return v.error();
        return *v;
      },
  };
}

// -- the pool -------------------------------------------------------------------

using expire_atom = caf::atom_constant<caf::atom("expire")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

using version_tick_atom = caf::atom_constant<caf::atom("vertick")>;

using pool_actor =
    db_pool_actor::extend<caf::reacts_to<expire_atom, uint64_t>, caf::reacts_to<tick_atom>,
                          caf::reacts_to<version_tick_atom>,
                          caf::reacts_to<read_done_atom, read_done>,
                          caf::replies_to<cache_ref_atom>::with<std::shared_ptr<query_cache>>,
                          caf::replies_to<direct_ref_atom>::with<std::shared_ptr<direct_readers>>>;

struct reader {
  conn_actor handle;
  bool busy = false;
  bool overflow = false;
  clock::time_point since;
  std::string sql;
  bool leak_logged = false;
};

struct waiter {
  uint64_t id;
  std::string sql;
  std::vector<db_value> params;
  caf::typed_response_promise<db_result> promise;
  /// The query cache's key for this read, empty when not cacheable.
  std::string cache_key;
  /// The write sequence number when the read was dispatched.
  uint64_t write_seq = 0;
  clock::time_point arrived = clock::now();
};

struct pool_settings {
  connection_settings conn;
  conn_timing timing;
  size_t pool_size = 10;
  size_t max_overflow = 20;
  timespan pool_timeout{0};
  timespan idle_timeout{0};
  timespan leak_threshold{0};
  bool query_cache = true;
  uint64_t cache_entries = 1000;
  timespan cache_ttl{0};
  timespan data_version_interval{0};
};

struct pool_state {
  pool_settings cfg;
  std::shared_ptr<query_cache> cache;
  std::shared_ptr<direct_readers> direct;
  std::optional<int64_t> data_version;
  conn_actor writer;
  std::map<uint64_t, reader> readers;
  std::deque<waiter> waiting;
  uint64_t next_id = 0;
  db_pool_stats stats;

  static inline const char* name = "p21.db_pool";
};

using pool_self = pool_actor::stateful_pointer<pool_state>;

conn_actor spawn_connection(pool_self self, bool reader) {
  auto settings = self->state.cfg.conn;
  settings.query_only = reader;
  // Linked: connections go down with the pool, and a crashed connection
  // takes the pool down for the supervisor to restart cleanly.
  return self->spawn<caf::detached + caf::linked>(
      connection_actor, settings, self->state.cfg.timing, self->state.direct, reader);
}

void dispatch(pool_self self, uint64_t id, waiter w);

void release(pool_self self, uint64_t id) {
  auto& st = self->state;
  auto i = st.readers.find(id);
  if (i == st.readers.end())
    return;
  i->second.busy = false;
  i->second.since = clock::now();
  if (!st.waiting.empty()) {
    auto w = std::move(st.waiting.front());
    st.waiting.pop_front();
    dispatch(self, id, std::move(w));
  }
}

void dispatch(pool_self self, uint64_t id, waiter w) {
  auto& r = self->state.readers[id];
  r.busy = true;
  r.since = clock::now();
  r.sql = w.sql;
  r.leak_logged = false;
  // Counted (queries, errors, times) by the reader set the reader runs on.
  auto promise = w.promise;
  auto key = std::move(w.cache_key);
  auto seq = w.write_seq;
  self->request(r.handle, caf::infinite, query_atom::value, std::move(w.sql), std::move(w.params))
      .then(
          [=](conn_reply& reply) mutable {
            auto& st = self->state;
            if (st.cache && !key.empty())
              st.cache->put(key, reply.result, reply.reads, seq);
            promise.deliver(std::move(reply.result));
            release(self, id);
          },
          [=](caf::error& e) mutable {
            promise.deliver(std::move(e));
            release(self, id);
          });
}

/// The id of an idle reader thread, starting one if allowed. Reader threads
/// start on demand (plain threads' reads need none) and those beyond
/// `pool_size` stop when idle; the connections they lease are counted by
/// the shared reader set.
std::optional<uint64_t> idle_reader(pool_self self) {
  auto& st = self->state;
  for (auto& [id, r] : st.readers)
    if (!r.busy)
      return id;
  if (st.readers.size() < st.cfg.pool_size + st.cfg.max_overflow) {
    auto id = ++st.next_id;
    bool overflow = st.readers.size() >= st.cfg.pool_size;
    st.readers[id] = reader{spawn_connection(self, true), false, overflow, clock::now(), {}, false};
    return id;
  }
  return std::nullopt;
}

/// Sends a request to the writer and relays `take(reply)` to the caller.
template <class R, class Reply, class Take, class... Ts>
caf::result<R> to_writer(pool_self self, Take take, Ts&&... xs) {
  auto promise = self->make_response_promise<R>();
  self->request(self->state.writer, caf::infinite, std::forward<Ts>(xs)...)
      .then([=](Reply& x) mutable { promise.deliver(take(x)); },
            [=](caf::error& e) mutable {
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

/// `new_window`: the monitor's sample starts a new peak window; a plain
/// stats request does not.
db_pool_stats current_stats(pool_self self, bool new_window = false) {
  auto& st = self->state;
  auto s = st.stats;
  // Connections: the writer plus the shared reader set (reader threads
  // lease from it per statement and hold none).
  s.size = 1;
  s.in_use = 0;
  s.idle = 0;
  s.waiting = st.waiting.size();
  if (st.cache)
    std::tie(s.cache_hits, s.cache_misses) = st.cache->counts();
  // Reads run on the shared reader set, which keeps the timings.
  histogram acquire;
  histogram query;
  if (st.direct)
    st.direct->add_stats(s, acquire, query, new_window);
  s.acquire_time = acquire.summary(db_pool_metrics::acquire_seconds.name, 1e-9);
  s.query_time = query.summary(db_pool_metrics::query_seconds.name, 1e-9);
  s.configured_size = st.cfg.pool_size;
  return s;
}

pool_actor::behavior_type db_pool(pool_self self, pool_settings cfg,
                                  std::shared_ptr<query_cache> shared_cache,
                                  std::shared_ptr<direct_readers> direct) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.cache = std::move(shared_cache);
  st.direct = std::move(direct);
  if (st.cache)
    st.cache->flush(); // after a restart, nothing cached before is trusted
  st.writer = spawn_connection(self, false);
  if (st.cache)
    self->send(self, version_tick_atom::value);
  if (st.direct && st.direct->enabled()) {
    // Keep pool_size reader connections open: the writer opens them on
    // its own thread (a CAF detached actor, so none outlives the node).
    self->send(st.writer, warm_atom::value);
  }
  auto period = std::min(st.cfg.idle_timeout, st.cfg.leak_threshold) / 2;
  self->delayed_send(self, period, tick_atom::value);
  return {
      [=](query_atom, std::string& sql, std::vector<db_value>& params) -> caf::result<db_result> {
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
        if (st.cfg.pool_size + st.cfg.max_overflow == 0) {
          // In memory: one database per connection, so the writer reads too.
          ++st.stats.queries;
          return to_writer<db_result, conn_reply>(
              self, [](conn_reply& r) { return std::move(r.result); }, query_atom::value,
              std::move(sql), std::move(params));
        }
        if (auto id = idle_reader(self)) {
          // Delegate: the reader answers the caller directly, then reports.
          auto& r = st.readers[*id];
          r.busy = true;
          r.since = clock::now();
          r.sql = sql;
          r.leak_logged = false;
          return self->delegate(
              r.handle, query_atom::value, std::move(sql), std::move(params),
              direct_read{*id, seq, std::move(key), caf::actor_cast<caf::actor>(self)});
        }
        auto promise = self->make_response_promise<db_result>();
        waiter w{++st.next_id, std::move(sql), std::move(params), promise, std::move(key), seq};
        self->delayed_send(self, st.cfg.pool_timeout, expire_atom::value, w.id);
        st.waiting.push_back(std::move(w));
        return promise;
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
      [=](checkpoint_atom) { return to_writer<bool>(self, checkpoint_atom::value); },
      [=](vacuum_atom) { return to_writer<bool>(self, vacuum_atom::value); },
      [=](release_memory_atom) { return to_writer<uint64_t>(self, release_memory_atom::value); },
      [=](set_pool_size_atom, uint64_t n) -> caf::result<uint64_t> {
        if (n == 0)
          return make_error(errc::invalid_argument, "pool_size must be at least 1");
        self->state.cfg.pool_size = n;
        if (self->state.direct)
          self->state.direct->set_pool_size(n);
        return n;
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
        m.gauges = {d::size(double(s.size)),
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
      [=](expire_atom, uint64_t id) {
        auto& st = self->state;
        auto i =
            std::find_if(st.waiting.begin(), st.waiting.end(), [&](auto& w) { return w.id == id; });
        if (i == st.waiting.end())
          return;
        ++st.stats.timeouts;
        i->promise.deliver(make_error(errc::pool_timeout,
                                      "waited " + format_duration(st.cfg.pool_timeout) +
                                          " for a connection; all " +
                                          std::to_string(st.readers.size()) + " readers busy"));
        st.waiting.erase(i);
      },
      [=](cache_ref_atom) { return self->state.cache; },
      [=](direct_ref_atom) { return self->state.direct; },
      [=](read_done_atom, read_done& done) {
        auto& st = self->state;
        if (done.ok && st.cache && !done.cache_key.empty())
          st.cache->put(done.cache_key, done.reply.result, done.reply.reads, done.write_seq);
        release(self, done.reader_id);
      },
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
        for (auto i = st.readers.begin(); i != st.readers.end();) {
          auto& r = i->second;
          if (r.busy && !r.leak_logged && now - r.since > st.cfg.leak_threshold) {
            spdlog::warn("a statement has held a connection for over {}: {}",
                         format_duration(st.cfg.leak_threshold), r.sql);
            r.leak_logged = true;
          }
          if (r.overflow && !r.busy && now - r.since > st.cfg.idle_timeout) {
            self->unlink_from(r.handle);
            self->send_exit(r.handle, caf::exit_reason::user_shutdown);
            i = st.readers.erase(i);
          } else {
            ++i;
          }
        }
        if (st.direct)
          self->send(st.writer, close_idle_atom::value, false);
        auto period = std::min(st.cfg.idle_timeout, st.cfg.leak_threshold) / 2;
        self->delayed_send(self, period, tick_atom::value);
      },
  };
}

} // namespace

// -- component ------------------------------------------------------------------

child_spec db_pool_component(const std::string& name, const config& cfg,
                             std::function<void(sqlite3*)> on_connect) {
  pool_settings ps;
  auto& d = cfg.database;
  ps.conn.path = d.path;
  ps.conn.synchronous = d.synchronous;
  ps.conn.busy_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(d.busy_timeout);
  ps.conn.statement_cache = d.statement_cache;
  ps.conn.on_connect = std::move(on_connect);
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
  ps.cache_entries = cfg.cache.db_maxsize;
  ps.cache_ttl = cfg.cache.db_ttl;
  ps.data_version_interval = d.data_version_interval;
  // Owned by the component, not the actor: it outlives restarts, so handles
  // that hold it stay valid (a restarted pool flushes it).
  std::shared_ptr<query_cache> cache;
  if (ps.query_cache)
    cache = std::make_shared<query_cache>(ps.cache_entries, ps.cache_ttl);
  // Plain threads' reads run on these, on the calling thread.
  direct_settings ds;
  ds.conn = ps.conn;
  ds.pool_size = ps.pool_size;
  ds.max_overflow = ps.max_overflow;
  ds.pool_timeout = ps.pool_timeout;
  ds.idle_timeout = ps.idle_timeout;
  ds.health_check_after = ps.timing.health_check_after;
  ds.max_lifetime = ps.timing.max_lifetime;
  auto direct = std::make_shared<direct_readers>(ds);
  child_spec spec;
  spec.name = name;
  spec.prio = priority::normal;
  spec.start = [ps, cache, direct](caf::actor_system& sys) {
    return caf::actor_cast<caf::actor>(sys.spawn(db_pool, ps, cache, direct));
  };
  return spec;
}

// -- handle -----------------------------------------------------------------------

db::db(runtime& rt, std::string name, timespan timeout)
  : rt_(&rt)
  , name_(std::move(name))
  , timeout_(timeout)
  , refs_(std::make_shared<shared_refs>()) {
  // nop
}

caf::expected<db> db::open(runtime& rt, const std::string& name) {
  if (!rt.component(name))
    return make_error(errc::not_found, "no db pool named '" + name + "'");
  auto& s = rt.settings();
  return db{rt, name, s.database.pool_timeout + s.runtime.request_timeout};
}

caf::expected<db_pool_actor> db::actor() {
  return rt_->actor_of<db_pool_actor>(name_);
}

caf::expected<db_result> db::query(const std::string& sql, std::vector<db_value> params) {
  // Fetched once per handle (and its copies), whichever thread asks first.
  std::call_once(refs_->once, [&] {
    if (auto h = rt_->actor_of(name_)) {
      auto ref = rt_->request<std::shared_ptr<query_cache>>(*h, timeout_, cache_ref_atom::value);
      if (ref)
        refs_->cache = std::move(*ref);
      auto direct =
          rt_->request<std::shared_ptr<direct_readers>>(*h, timeout_, direct_ref_atom::value);
      if (direct && *direct && (*direct)->enabled())
        refs_->direct = std::move(*direct);
    }
  });
  auto& cache_ = refs_->cache;
  auto& direct_ = refs_->direct;
  note_use();
  if (!rt_->accepting())
    return ask<db_result>(query_atom::value, sql, std::move(params)); // answers the error
  auto direct = static_cast<bool>(direct_);
  std::string key;
  uint64_t seq = 0;
  if (cache_) {
    key = query_cache::key(sql, params);
    // A miss here is counted here when the read runs here too.
    if (auto hit = cache_->get(key, direct))
      return std::move(*hit);
    seq = cache_->seq();
  }
  if (!direct)
    return ask<db_result>(query_atom::value, sql, std::move(params));
  auto r = direct_->run(sql, params);
  if (!r)
    return r.error();
  if (cache_)
    cache_->put(key, r->result, {r->access.reads.begin(), r->access.reads.end()}, seq);
  return std::move(r->result);
}

void db::note_use() {
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  auto last = refs_->noted_ns.load(std::memory_order_relaxed);
  if (now - last > 1'000'000'000 &&
      refs_->noted_ns.compare_exchange_strong(last, now, std::memory_order_relaxed))
    rt_->note_use(name_);
}

caf::expected<db_result> db::execute(const std::string& sql, std::vector<db_value> params) {
  return ask<db_result>(execute_atom::value, sql, std::move(params));
}

caf::expected<std::vector<db_result>> db::transaction(std::vector<db_statement> statements) {
  return ask<std::vector<db_result>>(transaction_atom::value, std::move(statements));
}

caf::expected<db_pool_stats> db::stats() {
  return ask<db_pool_stats>(stats_atom::value);
}

} // namespace p21
