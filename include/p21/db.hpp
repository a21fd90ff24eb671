#pragma once

// The db pool handle: blocking calls from plain threads to the node's SQLite
// pool, with bound parameters only.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "p21/db_config.hpp"
#include "p21/call_options.hpp"
#include "p21/future.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/runtime.hpp"

struct sqlite3;

namespace p21 {

namespace db_detail {
class query_cache;
class reader_pool;
} // namespace db_detail

/// A handle to a db pool component (the node's `db_pool` by default).
class db {
public:
  /// A handle to the pool component `name`; `not_found` when there is none.
  static caf::expected<db> open(runtime& rt, const std::string& name = "db_pool");

  /// A read: answered from the query cache when it holds a result that no
  /// acknowledged write has invalidated, otherwise run on a reader
  /// connection leased for the call and run on the calling thread (both
  /// without a message to the pool actor), in parallel with other reads. A
  /// write here is refused (use `execute`). Call it from plain threads; an
  /// actor uses `actor()` and `request`, and its reads run on the pool's
  /// detached reader threads.
  caf::expected<db_result> query(const std::string& sql, std::vector<db_value> params = {});

  /// A write (or any statement): runs on the pool's single writer.
  caf::expected<db_result> execute(const std::string& sql, std::vector<db_value> params = {});

  /// All-or-nothing: every statement or none, on the writer.
  caf::expected<std::vector<db_result>> transaction(std::vector<db_statement> statements);

  caf::expected<db_pool_stats> stats();

  // -- non-blocking forms: return at once, from any thread (p21/future.hpp) --

  /// `query` without waiting: a query-cache hit completes at once; a miss
  /// runs on the pool's reader threads, never on the calling one. Retried
  /// while the pool is unavailable (restarting), until `opts.deadline`.
  future<db_result> async_query(std::string sql, std::vector<db_value> params = {},
                                call_options opts = {});

  /// `execute` without waiting. Retried only while the pool cannot be
  /// reached; a statement the writer received is never sent twice.
  /// Cancelling the future drops the statement while it is queued for the
  /// writer and interrupts it while it runs; a committed one stays.
  future<db_result> async_execute(std::string sql, std::vector<db_value> params = {},
                                  call_options opts = {});

  /// `transaction` without waiting (retried as `async_execute`).
  future<std::vector<db_result>> async_transaction(std::vector<db_statement> statements,
                                                   call_options opts = {});

  /// The pool's typed handle, for `self->request(...)` inside actors.
  caf::expected<db_pool_actor> actor();

  /// Per-call timeout (default: `pool_timeout` plus `request_timeout`).
  void timeout(timespan t) noexcept { timeout_ = t; }

private:
  db(runtime& rt, std::string name, timespan timeout);

  template <class R, class... Ts>
  caf::expected<R> ask(Ts&&... xs) {
    auto h = actor();
    if (!h)
      return h.error();
    return rt_->request<R>(*h, timeout_, std::forward<Ts>(xs)...);
  }

  runtime* rt_;
  std::string name_;
  timespan timeout_;
  /// The pool's query cache (read directly for hits) and its reader pool
  /// (leased for reads on the calling thread): the component's shared
  /// objects, taken from the runtime on first use.
  struct shared_refs {
    std::once_flag once;
    std::shared_ptr<db_detail::query_cache> cache;
    std::shared_ptr<db_detail::reader_pool> readers;
    /// When this handle last told the runtime it used the pool (a read
    /// answered here sends no message; rule 4 must not think it unused).
    std::atomic<int64_t> noted_ns{0};
  };

  void note_use();
  /// Takes the pool's shared objects once per handle (and its copies).
  void share_once();
  /// Whether the pool is this node's (not a peer's).
  bool local() const;
  std::shared_ptr<shared_refs> refs_;
};

/// The component spec of a db pool for `cfg.get<database_config>()`; `on_connect` runs on
/// every new connection (to register SQL functions or collations). With
/// `current` (`node_view::settings`), each start takes the live keys
/// (`pool_size`, `pool_timeout`) from the config it returns then, so a pool
/// started or restarted after a reload runs with the reloaded values.
child_spec db_pool_component(const std::string& name, const config& cfg,
                             std::function<void(sqlite3*)> on_connect = {},
                             profile_factory profile = {}, config_source current = {});

} // namespace p21
