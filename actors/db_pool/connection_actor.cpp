#include "connection_actor.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "p21/error.hpp"

namespace p21::db_detail {

namespace {

using clock = std::chrono::steady_clock;

/// The caller's deadline (system clock) on the steady clock; max: none.
clock::time_point steady_deadline(caf::timestamp deadline) {
  if (deadline == caf::timestamp::max())
    return clock::time_point::max();
  return clock::now() + (deadline - caf::make_timestamp());
}

caf::error dropped(const caller_limit& limit) {
  if (limit.cancelled())
    return make_error(errc::cancelled, "the caller cancelled while the statement was queued; "
                                       "dropped, not run");
  return make_error(errc::timeout, "the caller's deadline passed while the statement was "
                                   "queued; dropped, not run");
}

struct conn_state {
  connection_settings settings;
  conn_timing timing;
  std::unique_ptr<connection> conn;
  clock::time_point opened_at;
  clock::time_point last_used;
  /// A reader runs statements on this shared pool; the writer keeps it tidy.
  std::shared_ptr<reader_pool> readers;
  bool reader = false;
  /// A reader's pool's query cache (may be null): filled before a
  /// delegated read is answered.
  std::shared_ptr<query_cache> cache;
  /// The cancel generation of the pool that spawned this actor: once that
  /// pool stops, nothing here runs (or keeps running) another statement.
  uint64_t generation = connection::current_generation;

  static inline const char* name = "p21.db_connection";

  conn_state() = default;
  conn_state(const conn_state&) = delete;
  conn_state& operator=(const conn_state&) = delete;

  ~conn_state() {
    close();
  }

  /// Closes its own connection, if open; the reader pool counts it for
  /// `runtime::resources()`.
  void close() {
    if (!conn)
      return;
    conn.reset();
    if (readers)
      readers->note_own_connection(-1);
  }

  /// Opens, or replaces a connection that failed its health check or
  /// outlived max_lifetime. Returns how many health checks failed.
  caf::expected<uint64_t> ready() {
    auto now = clock::now();
    uint64_t failures = 0;
    if (conn && now - opened_at > timing.max_lifetime)
      close();
    if (conn && now - last_used > timing.health_check_after && !conn->healthy()) {
      spdlog::warn("a connection to '{}' failed its health check; replacing it", settings.path);
      ++failures;
      close();
    }
    if (!conn) {
      auto opened = connection::open(settings);
      if (!opened)
        return opened.error();
      conn = std::move(*opened);
      opened_at = now;
      if (readers)
        readers->note_own_connection(+1);
    }
    last_used = now;
    return failures;
  }

  /// Runs one statement; on success also how many health checks failed.
  caf::expected<std::pair<statement_result, uint64_t>>
  run(const std::string& sql, const std::vector<db_value>& params,
      const caller_limit& limit = {}) {
    if (reader) {
      // The pool took a slot for this read before it sent it here.
      auto r = readers->run_granted(sql, params, generation);
      if (!r)
        return r.error();
      return std::make_pair(std::move(*r), uint64_t{0});
    }
    auto failures = ready();
    if (!failures)
      return failures.error();
    conn->limit_next_call(steady_deadline(limit.deadline), limit.token);
    auto r = conn->run(sql, params, generation);
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
                                           std::shared_ptr<reader_pool> readers, bool reader,
                                           uint64_t generation,
                                           std::shared_ptr<query_cache> cache) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.timing = timing;
  st.readers = std::move(readers);
  st.reader = reader;
  st.generation = generation;
  st.cache = std::move(cache);
  if (!reader)
    if (auto ok = st.ready(); !ok)
      spdlog::error("{}", render(ok.error()));
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
          const caller_limit& limit) -> caf::result<conn_reply> {
        if (limit.gone())
          return dropped(limit);
        auto r = self->state.run(sql, params, limit);
        if (!r)
          return r.error();
        auto& [res, failures] = *r;
        return conn_reply{std::move(res.result), to_vector(res.access.reads),
                          to_vector(res.access.writes), failures};
      },
      [=](transaction_atom, const std::vector<db_statement>& statements,
          const caller_limit& limit) -> caf::result<conn_txn_reply> {
        if (limit.gone())
          return dropped(limit);
        auto& st = self->state;
        if (auto ok = st.ready(); !ok)
          return ok.error();
        st.conn->limit_next_call(steady_deadline(limit.deadline), limit.token);
        auto r = st.conn->transaction(statements, st.generation);
        if (!r) {
          st.conn->reset_state();
          return r.error();
        }
        return conn_txn_reply{std::move(r->first), to_vector(r->second.writes)};
      },
      [=](query_atom, const std::string& sql, const std::vector<db_value>& params,
          const direct_read& d) -> caf::result<db_result> {
        auto& st = self->state;
        auto report = [&] { caf::anon_send(d.pool, read_done_atom::value, read_done{d.reader_id}); };
        auto ran = st.run(sql, params);
        if (!ran) {
          report();
          return ran.error();
        }
        auto& res = ran->first;
        // Cached before the answer leaves, so the caller's next ask hits.
        if (st.cache && !d.cache_key.empty())
          st.cache->put(d.cache_key, res.result, to_vector(res.access.reads), d.write_seq);
        report();
        return std::move(res.result);
      },
      [=](transaction_atom,
          const std::vector<db_statement>& statements) -> caf::result<conn_txn_reply> {
        auto& st = self->state;
        if (auto ok = st.ready(); !ok)
          return ok.error();
        auto r = st.conn->transaction(statements, st.generation);
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
        if (st.readers && !st.reader) {
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

} // namespace

conn_actor spawn_connection(caf::local_actor* parent, connection_settings settings,
                            conn_timing timing, std::shared_ptr<reader_pool> readers, bool reader,
                            std::shared_ptr<query_cache> cache) {
  settings.query_only = reader;
  // Taken now, on the pool's thread: a pool that stops before the new
  // thread runs still stops what it would run.
  auto generation =
      settings.cancel ? settings.cancel->generation() : connection::current_generation;
  return parent->spawn<caf::detached + caf::linked>(connection_actor, std::move(settings), timing,
                                                    std::move(readers), reader, generation,
                                                    std::move(cache));
}

} // namespace p21::db_detail
