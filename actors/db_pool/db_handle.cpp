// The `db` handle: reads answered from the shared query cache or run on the
// calling thread with a connection of the shared reader pool; everything
// else is a request to the pool actor.

#include <caf/all.hpp>

#include "db_pool_actor.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/faults.hpp"
#include "p21/runtime.hpp"
#include "query_cache.hpp"
#include "reader_pool.hpp"

namespace p21 {

using db_detail::query_cache;
using db_detail::reader_pool;

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
  return db{rt, name, s.get<database_config>().pool_timeout + s.runtime.request_timeout};
}

caf::expected<db_pool_actor> db::actor() {
  return rt_->actor_of<db_pool_actor>(name_);
}

void db::share_once() {
  // Once per handle (and its copies), whichever thread asks first. A peer's
  // pool (`PEER.db_pool`) shares neither: its reads go as messages.
  std::call_once(refs_->once, [&] {
    // Starts a lazy pool as the first message would: it warms the readers.
    static_cast<void>(rt_->actor_of(name_));
    refs_->cache = rt_->shared_object<query_cache>(name_);
    auto readers = rt_->shared_object<reader_pool>(name_);
    if (readers && readers->enabled())
      refs_->readers = std::move(readers);
  });
}

caf::expected<db_result> db::query(const std::string& sql, std::vector<db_value> params) {
  share_once();
  auto& cache = refs_->cache;
  auto& readers = refs_->readers;
  note_use();
  if (!rt_->accepting())
    return ask<db_result>(query_atom::value, sql, std::move(params)); // answers the error
  std::string key;
  uint64_t seq = 0;
  if (cache) {
    key = query_cache::key(sql, params);
    // A miss is counted here when the read runs here too.
    if (auto hit = cache->get(key, static_cast<bool>(readers)))
      return std::move(*hit);
    seq = cache->seq();
  }
  if (!readers)
    return ask<db_result>(query_atom::value, sql, std::move(params));
  auto r = readers->run(sql, params);
  if (!r)
    return r.error();
  if (cache)
    cache->put(key, r->result, {r->access.reads.begin(), r->access.reads.end()}, seq);
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

caf::error crash_db_writer(runtime& rt, const std::string& pool) {
  if (!rt.component(pool))
    return make_error(errc::not_found, "no db pool named '" + pool + "'");
  auto a = rt.actor_of(pool);
  if (!a)
    return std::move(a.error());
  caf::anon_send(*a, db_detail::crash_writer_atom::value);
  return caf::none;
}

} // namespace p21
