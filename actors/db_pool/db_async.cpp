// The `db` handle's non-blocking forms: a query-cache hit completes the
// future at once; everything else is a request from the runtime's caller
// actors to the pool, which runs it on its own connection threads.

#include <caf/all.hpp>

#include "db_pool_actor.hpp"
#include "p21/async.hpp"
#include "p21/db.hpp"
#include "query_cache.hpp"
#include "reader_pool.hpp"

namespace p21 {

using db_detail::query_cache;

namespace {

/// A request that carries the caller's deadline and cancel token into the
/// pool (this node's pools): work still queued when the deadline passes or
/// the caller cancels is dropped there.
template <class R, class... Ts>
detail::asker<R> deadline_asker(Ts... xs) {
  return [args = std::make_tuple(std::move(xs)...)](
             caf::event_based_actor* self, const caf::actor& target, caf::timespan timeout,
             const cancel_token& token, std::function<void(caf::expected<R>, bool)> done) {
    auto h = caf::actor_cast<db_detail::deadline_pool_actor>(target);
    auto limit = db_detail::caller_limit{caf::make_timestamp() + timeout, token};
    std::apply(
        [&](const auto&... ys) {
          self->request(h, timeout, ys..., limit)
              .then([done](R& r) { done(caf::expected<R>{std::move(r)}, false); },
                    [done](caf::error& e) { done(caf::expected<R>{normalize(std::move(e))}, true); });
        },
        args);
  };
}

/// The deadline-carrying request to a pool of this node, the public
/// protocol to a peer's (whose proxy knows only that).
template <class R, class... Ts>
detail::asker<R> pool_asker(bool local, Ts... xs) {
  if (local)
    return deadline_asker<R>(std::move(xs)...);
  return detail::make_asker<R, db_pool_actor>(std::move(xs)...);
}

} // namespace

future<db_result> db::async_query(std::string sql, std::vector<db_value> params,
                                  call_options opts) {
  share_once();
  note_use();
  if (refs_->cache && rt_->accepting())
    if (auto hit = refs_->cache->get(query_cache::key(sql, params), false))
      return make_ready_future<db_result>(std::move(*hit));
  // A read the receiver got before it went down is safe to send again.
  return detail::start_call<db_result>(
      *rt_, name_, opts, timeout_, true,
      pool_asker<db_result>(local(), query_atom::value, std::move(sql), std::move(params)));
}

future<db_result> db::async_execute(std::string sql, std::vector<db_value> params,
                                    call_options opts) {
  return detail::start_call<db_result>(
      *rt_, name_, opts, timeout_, false,
      pool_asker<db_result>(local(), execute_atom::value, std::move(sql), std::move(params)));
}

future<std::vector<db_result>> db::async_transaction(std::vector<db_statement> statements,
                                                     call_options opts) {
  return detail::start_call<std::vector<db_result>>(
      *rt_, name_, opts, timeout_, false,
      pool_asker<std::vector<db_result>>(local(), transaction_atom::value, std::move(statements)));
}

bool db::local() const {
  return rt_->shared_object<db_detail::reader_pool>(name_) != nullptr;
}

} // namespace p21
