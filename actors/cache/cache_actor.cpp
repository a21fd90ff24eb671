// The cache actor: a thin shell that owns the policy of one cache_store (one
// shard). Handles in this process read and write the store's table
// directly and ask the actor to drain what they recorded; everyone else
// (actors, peers) uses the cache protocol. The handle is in
// cache_handle.cpp.

#include <atomic>
#include <unordered_map>

#include <caf/all.hpp>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include "p21/cache.hpp"
#include "p21/profiling.hpp"
#include "shard.hpp"

namespace p21 {

namespace {

using namespace cache_detail;

using load_timeout_atom = caf::atom_constant<caf::atom("loadtmo")>;

/// The public interface plus the shard's own timer and the handles' drain.
using shard_actor = cache_actor::extend<caf::reacts_to<load_timeout_atom, std::string, uint64_t>,
                                        caf::replies_to<drain_atom>::with<bool>>;

/// A key whose loader is running: when it started and who waits for it.
struct pending_load {
  uint64_t id = 0;
  time_point started;
  std::vector<caf::typed_response_promise<load_reply>> waiters;
};

struct cache_state {
  std::shared_ptr<shard_shared> shared;
  cache_store* store = nullptr;
  std::unordered_map<std::string, pending_load> loading;
  uint64_t next_load_id = 0;
  uint64_t restarts = 0;
  timespan load_timeout{0};

  static inline const char* name = "p21.cache";
};

using cache_self = shard_actor::stateful_pointer<cache_state>;

/// Settles a pending load: every waiter gets `reply` (or `err`).
void finish_load(cache_self self, const std::string& key, const caf::error& err,
                 const std::string& value) {
  auto i = self->state.loading.find(key);
  if (i == self->state.loading.end())
    return;
  auto elapsed = clock::now() - i->second.started;
  auto& s = *self->state.store;
  s.record_load(!err, std::chrono::duration_cast<timespan>(elapsed));
  for (auto& w : i->second.waiters) {
    if (err)
      w.deliver(err);
    else
      w.deliver(load_reply{true, value});
  }
  self->state.loading.erase(i);
}

/// The shard's counters with the actor's own (restarts, loads in flight).
cache_stats current_stats(cache_self self) {
  auto s = self->state.store->stats();
  s.restarts = self->state.restarts;
  s.loads_in_flight = self->state.loading.size();
  for (auto& [key, load] : self->state.loading)
    s.load_waiters += load.waiters.size();
  return s;
}

shard_actor::behavior_type cache_shard(cache_self self, std::shared_ptr<shard_shared> shared,
                                       std::shared_ptr<std::atomic<uint64_t>> starts,
                                       timespan load_timeout) {
  auto& st = self->state;
  st.restarts = starts->fetch_add(1);
  st.load_timeout = load_timeout;
  st.shared = shared;
  st.store = &shared->store;
  // Handles reach the owner through the shared object; a stopped owner is
  // forgotten at once, so that they start (or wait for) the next one.
  shared->set_owner(caf::actor_cast<caf::actor>(self));
  if (st.restarts > 0) {
    st.store->reset();
    spdlog::warn("cache shard '{}' restarted empty (restart #{})", st.store->config().name,
                 st.restarts);
  }
  // A stopped shard's entries go with it, as they did when they lived in
  // the actor: an unloaded cache (rule 4) frees its memory, a crashed one
  // restarts empty.
  self->attach_functor(
      [shared, addr = self->address()](const caf::error&) { shared->retire(addr); });
  // A requested stop (an unload, a shutdown) retires before the actor is
  // gone, so that whoever hears of the stop finds the table cleared; the
  // functor above may run after the supervisor's down message.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    shared->retire(self->address());
    self->quit(msg.reason);
  });
  // Writes handles made while no owner ran (a lazy cache's first use).
  st.store->drain();
  return {
      [=](get_atom, const std::string& key) -> caf::result<caf::optional<std::string>> {
        if (auto v = self->state.store->get(key, clock::now()))
          return caf::optional<std::string>{std::move(*v)};
        return caf::optional<std::string>{};
      },
      [=](get_atom, const std::vector<std::string>& keys) {
        std::vector<caf::optional<std::string>> out;
        out.reserve(keys.size());
        auto now = clock::now();
        for (auto& k : keys) {
          auto v = self->state.store->get(k, now);
          out.emplace_back(v ? caf::optional<std::string>{std::move(*v)} : caf::none);
        }
        return out;
      },
      [=](put_atom, const std::string& key, std::string& value,
          caf::timespan ttl) -> caf::result<bool> {
        if (auto err = self->state.store->put(key, std::move(value), ttl, clock::now()))
          return err;
        return true;
      },
      [=](erase_atom, const std::string& key) { return self->state.store->erase(key); },
      [=](clear_atom) {
        self->state.store->drain();
        return self->state.store->clear();
      },
      [=](drain_atom) {
        self->state.store->drain();
        return true;
      },
      [=](load_atom, const std::string& key) -> caf::result<load_reply> {
        auto& st = self->state;
        if (auto v = st.store->get(key, clock::now()))
          return load_reply{true, std::move(*v)};
        auto i = st.loading.find(key);
        if (i != st.loading.end()) {
          auto promise = self->make_response_promise<load_reply>();
          i->second.waiters.push_back(promise);
          return promise;
        }
        // The caller becomes the loader; a loader that never reports back is
        // given up after load_timeout so its waiters are not stranded.
        auto id = ++st.next_load_id;
        st.loading.emplace(key, pending_load{id, clock::now(), {}});
        self->delayed_send(self, st.load_timeout, load_timeout_atom::value, key, id);
        return load_reply{false, {}};
      },
      [=](loaded_atom, const std::string& key, std::string& value,
          caf::timespan ttl) -> caf::result<bool> {
        auto err = self->state.store->put(key, value, ttl, clock::now());
        finish_load(self, key, err, value);
        if (err)
          return err;
        return true;
      },
      [=](load_failed_atom, const std::string& key, const caf::error& err) {
        finish_load(self, key, err ? err : make_error(errc::command_failed, "loader failed"), {});
        return true;
      },
      [=](load_timeout_atom, const std::string& key, uint64_t id) {
        auto i = self->state.loading.find(key);
        if (i != self->state.loading.end() && i->second.id == id)
          finish_load(self, key,
                      make_error(errc::timeout, "the loader of this key did not report within " +
                                                    format_duration(self->state.load_timeout)),
                      {});
      },
      [=](shrink_atom, double fraction) {
        self->state.store->drain();
        auto freed = self->state.store->shrink(fraction);
        // Under memory pressure (rule 1): hand the freed heap back to the
        // system, or the process's RSS would not go down.
        if (freed.bytes > (1u << 20))
          ::malloc_trim(0);
        return freed;
      },
      [=](resize_atom, uint64_t entries, uint64_t bytes) -> caf::result<bool> {
        self->state.store->drain();
        if (auto err = self->state.store->resize(entries, bytes))
          return err;
        return true;
      },
      [=](set_ttl_atom, caf::timespan ttl) {
        self->state.store->set_ttl(ttl);
        return true;
      },
      [=](stats_atom) {
        self->state.store->drain();
        return current_stats(self);
      },
      [=](metrics_atom) {
        namespace d = cache_metrics;
        self->state.store->drain();
        auto s = current_stats(self);
        std::map<std::string, std::string> labels{{"cache", s.name}};
        metric_set m;
        m.counters = {d::hits(double(s.hits), labels),
                      d::misses(double(s.misses), labels),
                      d::puts(double(s.puts), labels),
                      d::evictions(double(s.evictions), labels),
                      d::capacity_misses(double(s.capacity_misses), labels),
                      d::expirations(double(s.expirations), labels),
                      d::loads(double(s.load_successes), labels),
                      d::load_failures(double(s.load_failures), labels),
                      d::bypasses(double(s.bypasses), labels)};
        m.gauges = {d::entries(double(s.entries), labels), d::bytes(double(s.bytes), labels),
                    d::max_entries(double(s.max_entries), labels),
                    d::max_bytes(double(s.max_bytes), labels)};
        m.stats[""] = caf::make_message(std::move(s));
        return m;
      },
  };
}

} // namespace

// -- component specs ----------------------------------------------------------

std::vector<child_spec> cache_components(const std::string& name, const named_cache_config& cfg,
                                         timespan load_timeout, profile_factory profile) {
  std::vector<child_spec> out;
  for (size_t i = 0; i < cfg.shards; ++i) {
    store_config sc;
    sc.name = cfg.shards == 1 ? name : name + "/" + std::to_string(i);
    sc.max_entries = per_shard(cfg.max_entries, cfg.shards);
    sc.max_bytes = per_shard(cfg.max_bytes, cfg.shards);
    sc.ttl = cfg.ttl;
    sc.policy = cfg.policy;
    child_spec spec;
    spec.name = "cache." + name + "/" + std::to_string(i);
    spec.prio = priority::normal;
    auto starts = std::make_shared<std::atomic<uint64_t>>(0);
    auto shared = std::make_shared<shard_shared>(sc);
    spec.shared.put(shared);
    auto prof = profile ? profile(spec.name) : nullptr;
    spec.start = [shared, starts, load_timeout, prof](caf::actor_system& sys) {
      return caf::actor_cast<caf::actor>(
          spawn_profiled(sys, prof, cache_shard, shared, starts, load_timeout));
    };
    out.push_back(std::move(spec));
  }
  return out;
}

} // namespace p21
