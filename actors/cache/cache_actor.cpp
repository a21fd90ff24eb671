// The cache actor: a thin shell that owns the policy of one cache_store (one
// shard). Handles in this process read and write the store's table
// directly and ask the actor to drain what they recorded; everyone else
// (actors, peers) uses the cache protocol. The handle is in
// cache_handle.cpp.

#include <atomic>
#include <optional>
#include <unordered_map>

#include <caf/all.hpp>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "p21/knob.hpp"
#include "p21/profiling.hpp"
#include "p21/request.hpp"
#include "redis_backed.hpp"
#include "redis_tier.hpp"
#include "shard.hpp"
#include "whole_cache_knob.hpp"

namespace p21 {

namespace {

using namespace cache_detail;

using load_timeout_atom = caf::atom_constant<caf::atom("loadtmo")>;

/// The shard to itself: drain again (see `drain_store`).
using drain_tick_atom = caf::atom_constant<caf::atom("cdtick")>;

/// The shard to itself, from liburcu's thread: what shrink `id` evicted is
/// freed and the heap trimmed; its reply goes out.
using shrunk_atom = caf::atom_constant<caf::atom("cshrunk")>;

/// How often a shard drains while reads or writes keep coming. Writes in
/// between wait in the queue, visible to every reader already; only the
/// policy (order, byte accounting, eviction) sees them up to this much
/// later, or sooner when a quarter of the queue's limit fills. Reads wait
/// in their stripes; a thread that reads more than 2048 keys in a tick
/// (2 M reads/s) has the rest dropped, as Caffeine drops reads its full
/// buffers cannot take.
constexpr auto drain_tick = std::chrono::milliseconds{1};

/// The public interface plus the shard's own timer, the handles' drain and
/// a `load` whose turn lapses after a hold shorter than `load_timeout` (what
/// the cluster's public proxy asks for a peer: `remote_load_timeout`).
using shard_actor = cache_actor::extend_with<knob_owner_actor>::extend<caf::reacts_to<load_timeout_atom, std::string, uint64_t>,
                                        caf::reacts_to<drain_tick_atom>,
                                        caf::reacts_to<shrunk_atom, uint64_t>,
                                        caf::replies_to<drain_atom>::with<bool>,
                                        caf::reacts_to<flush_near_atom, uint64_t>,
                                        caf::replies_to<load_atom, std::string, caf::timespan>::with<load_reply>>;

/// A Redis-backed shard's helpers: detached actors that run the calls which
/// wait for Redis, so that the shard (on a scheduler thread) never does.
using redis_worker = caf::typed_actor<
    caf::replies_to<get_atom, std::string>::with<caf::optional<std::string>>,
    caf::replies_to<get_atom,
                    std::vector<std::string>>::with<std::vector<caf::optional<std::string>>>,
    caf::replies_to<put_atom, std::string, std::string, caf::timespan>::with<bool>,
    caf::replies_to<erase_atom, std::string>::with<bool>,
    caf::replies_to<load_atom, std::string>::with<load_reply>,
    caf::replies_to<load_atom, std::string, caf::timespan>::with<load_reply>,
    caf::replies_to<loaded_atom, std::string, std::string, caf::timespan>::with<bool>,
    caf::replies_to<load_failed_atom, std::string, caf::error>::with<bool>>;

redis_worker::behavior_type redis_worker_impl(redis_worker::pointer self,
                                              std::shared_ptr<shard_shared> sh) {
  auto* sys = &self->system();
  drain_fn drain = [sh, sys](bool wait) -> caf::error {
    auto owner = sh->owner();
    if (!owner)
      return caf::none; // a starting owner drains what it finds
    if (!wait) {
      caf::anon_send(owner, drain_atom::value);
      return caf::none;
    }
    auto drained = blocking_request<bool>(*sys, owner, std::chrono::seconds{10}, drain_atom::value);
    return drained ? caf::none : drained.error();
  };
  return {
      [=](get_atom, const std::string& key) -> caf::result<caf::optional<std::string>> {
        auto v = redis_get(*sh, key, key_hash(key), drain);
        if (!v)
          return v.error();
        if (!*v)
          return caf::optional<std::string>{};
        return caf::optional<std::string>{std::move(**v)};
      },
      [=](get_atom, const std::vector<std::string>& keys)
          -> caf::result<std::vector<caf::optional<std::string>>> {
        auto v = redis_get_many(*sh, keys, drain);
        if (!v)
          return v.error();
        std::vector<caf::optional<std::string>> out;
        for (auto& x : *v)
          out.emplace_back(x ? caf::optional<std::string>{std::move(*x)} : caf::none);
        return out;
      },
      [=](put_atom, const std::string& key, const std::string& value,
          caf::timespan ttl) -> caf::result<bool> {
        if (auto err = redis_put(*sh, key, key_hash(key), value, ttl, drain))
          return err;
        return true;
      },
      [=](erase_atom, const std::string& key) -> caf::result<bool> {
        auto r = redis_erase(*sh, key, key_hash(key), drain);
        if (!r)
          return r.error();
        return *r;
      },
      [=](load_atom, const std::string& key) -> caf::result<load_reply> {
        auto turn = redis_begin_load(*sh, key, key_hash(key), drain);
        if (!turn)
          return turn.error();
        return load_reply{turn->hit, std::move(turn->value)};
      },
      [=](load_atom, const std::string& key, caf::timespan hold) -> caf::result<load_reply> {
        auto turn = redis_begin_load(*sh, key, key_hash(key), drain, hold);
        if (!turn)
          return turn.error();
        return load_reply{turn->hit, std::move(turn->value)};
      },
      [=](loaded_atom, const std::string& key, const std::string& value,
          caf::timespan ttl) -> caf::result<bool> {
        if (auto err = redis_end_load(*sh, key, key_hash(key), value, ttl, drain))
          return err;
        return true;
      },
      [=](load_failed_atom, const std::string& key, const caf::error& err) {
        static_cast<void>(redis_end_load(*sh, key, key_hash(key), caf::expected<std::string>{err},
                                         timespan{0}, drain));
        return true;
      },
  };
}

/// A key whose loader is running: when it started and who waits for it.
struct pending_load {
  uint64_t id = 0;
  time_point started;
  /// How long the loader's turn lasts before its waiters get `timeout`.
  timespan hold{0};
  std::vector<caf::typed_response_promise<load_reply>> waiters;
};

struct cache_state {
  std::shared_ptr<shard_shared> shared;
  /// `cache.NAME.max_entries` (`cache.NAME/K.max_entries` for shard K of
  /// a sharded cache): the store's capacity, as `resize_atom` sets it.
  knob_spec max_entries_knob;
  cache_store* store = nullptr;
  std::unordered_map<std::string, pending_load> loading;
  /// A Redis-backed shard's workers (empty for a local cache).
  std::vector<redis_worker> workers;
  uint64_t next_load_id = 0;
  uint64_t restarts = 0;
  timespan load_timeout{0};
  /// Whether a `drain_tick_atom` is on its way.
  bool tick_pending = false;
  /// When the last drain ran (`drain_store`).
  time_point last_drain{};
  /// Shrinks whose evicted values wait for their grace period: the reply
  /// goes out once they are freed (`shrunk_atom`).
  std::unordered_map<uint64_t, std::pair<caf::typed_response_promise<shrink_result>, shrink_result>>
      shrinking;
  uint64_t next_shrink_id = 0;

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
  s.load_successes += self->state.shared->redis_loads.load();
  s.load_failures += self->state.shared->redis_load_failures.load();
  for (auto& [key, load] : self->state.loading)
    s.load_waiters += load.waiters.size();
  return s;
}

/// The first half of `get_or_load`: the value, a wait for the running
/// loader, or the caller's turn to load, which lapses after `hold` (zero or
/// longer: `load_timeout`) so that a loader that never reports strands no one.
template <class WorkerOf>
caf::result<load_reply> begin_load(cache_self self, WorkerOf worker, const std::string& key,
                                   timespan hold) {
  auto& st = self->state;
  if (hold.count() <= 0 || hold > st.load_timeout)
    hold = st.load_timeout;
  if (!st.workers.empty())
    return self->delegate(worker(key), load_atom::value, key, hold);
  if (auto v = st.store->get(key, clock::now()))
    return load_reply{true, std::move(*v)};
  auto i = st.loading.find(key);
  if (i != st.loading.end()) {
    auto promise = self->make_response_promise<load_reply>();
    i->second.waiters.push_back(promise);
    return promise;
  }
  auto id = ++st.next_load_id;
  st.loading.emplace(key, pending_load{id, clock::now(), hold, {}});
  self->delayed_send(self, hold, load_timeout_atom::value, key, id);
  return load_reply{false, {}};
}

/// Keeps draining every `drain_tick` (writers send no message of their own
/// meanwhile) once a drain found writes.
void keep_ticking(cache_self self) {
  auto& st = self->state;
  st.store->keep_draining();
  if (!st.tick_pending) {
    st.tick_pending = true;
    self->delayed_send(self, drain_tick, drain_tick_atom::value);
  }
}

/// Drains the store. Records found less than a tick after the last drain
/// start the ticks (see `keep_draining`): requests come faster than ticks
/// would, so ticking costs fewer wake-ups. A cache used less than that
/// keeps its one message per 1 536 reads or per write, and no timer.
void drain_store(cache_self self) {
  auto& st = self->state;
  auto found = st.store->drain();
  auto now = clock::now();
  if (found > 0 && now - st.last_drain < drain_tick)
    keep_ticking(self);
  st.last_drain = now;
}

/// A shard's capacity and TTL as the node's current config gives them.
struct shard_limits {
  uint64_t max_entries = 0;
  uint64_t max_bytes = 0;
  timespan ttl{0};
};

/// The limits of one of the `shards` of cache `name` in `cfg`; none when the config
/// no longer has the cache with as many shards (created by `cache::create`,
/// or a change that waits for the node's restart).
std::optional<shard_limits> limits_in(const config& cfg, const std::string& name, size_t shards) {
  auto all = cfg.get<cache_config>().all();
  auto i = all.find(name);
  if (i == all.end() || i->second.shards != shards)
    return std::nullopt;
  return shard_limits{per_shard(i->second.max_entries, shards),
                      per_shard(i->second.max_bytes, shards), i->second.ttl};
}

/// What `resize_atom` and the `max_entries` knob do.
caf::error resize(cache_self self, uint64_t entries, uint64_t bytes) {
  drain_store(self);
  return self->state.store->resize(entries, bytes);
}

shard_actor::behavior_type cache_shard(cache_self self, std::shared_ptr<shard_shared> shared,
                                       std::shared_ptr<std::atomic<uint64_t>> starts,
                                       timespan load_timeout, knob_spec max_entries_knob,
                                       std::optional<shard_limits> limits) {
  auto& st = self->state;
  st.max_entries_knob = std::move(max_entries_knob);
  st.restarts = starts->fetch_add(1);
  st.load_timeout = load_timeout;
  st.shared = shared;
  st.store = &shared->store;
  if (st.restarts > 0) {
    st.store->reset();
    spdlog::warn("cache shard '{}' restarted empty (restart #{})", st.store->config().name,
                 st.restarts);
  }
  // Handles reach the owner through the shared object; a stopped owner is
  // forgotten at once, so that they start (or wait for) the next one. Set
  // after the reset: from here on writers may drain in place.
  shared->set_owner(caf::actor_cast<caf::actor>(self));
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
  drain_store(self);
  // A reload since the store was made (or the last owner's start) set the
  // capacity and TTL this shard starts with, not the start-up ones.
  if (limits) {
    auto& now = st.store->config();
    if (now.max_entries != limits->max_entries || now.max_bytes != limits->max_bytes)
      if (auto err = st.store->resize(limits->max_entries, limits->max_bytes))
        spdlog::error("cache shard '{}': {}", now.name, render(err));
    if (now.ttl != limits->ttl)
      st.store->set_ttl(limits->ttl);
  }
  if (shared->tier) {
    auto n = std::max<size_t>(1, std::min<size_t>(shared->tier->config().pool_size, 4));
    for (size_t i = 0; i < n; ++i)
      st.workers.push_back(self->spawn<caf::detached + caf::linked>(redis_worker_impl, shared));
    // A link passes on only abnormal exits: a shard that stops normally (an
    // unload, a shutdown) ends its workers itself.
    self->attach_functor([workers = st.workers](const caf::error&) {
      for (auto& w : workers)
        caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
    });
  }
  // The worker of a key (one key, one worker: a load and its `loaded` meet).
  auto worker = [self](const std::string& key) {
    auto& w = self->state.workers;
    return w[key_hash(key) % w.size()];
  };
  return {
      [=](get_atom, const std::string& key) -> caf::result<caf::optional<std::string>> {
        if (!self->state.workers.empty())
          return self->delegate(worker(key), get_atom::value, key);
        if (auto v = self->state.store->get(key, clock::now()))
          return caf::optional<std::string>{std::move(*v)};
        return caf::optional<std::string>{};
      },
      [=](get_atom, const std::vector<std::string>& keys)
          -> caf::result<std::vector<caf::optional<std::string>>> {
        if (!self->state.workers.empty())
          return self->delegate(worker(keys.empty() ? std::string{} : keys.front()),
                                get_atom::value, keys);
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
        if (!self->state.workers.empty())
          return self->delegate(worker(key), put_atom::value, key, std::move(value), ttl);
        if (auto err = self->state.store->put(key, std::move(value), ttl, clock::now()))
          return err;
        return true;
      },
      [=](erase_atom, const std::string& key) -> caf::result<bool> {
        if (!self->state.workers.empty())
          return self->delegate(worker(key), erase_atom::value, key);
        return self->state.store->erase(key);
      },
      [=](flush_near_atom, uint64_t seq) {
        // The Redis tier lost track of changes: nothing held may be served.
        drain_store(self);
        self->state.store->clear();
        self->state.shared->mark_flushed(seq);
      },
      [=](clear_atom) {
        drain_store(self);
        return self->state.store->clear();
      },
      [=](drain_atom) {
        drain_store(self);
        return true;
      },
      [=](drain_tick_atom) {
        self->state.tick_pending = false;
        // Records since the last drain, a write that came as the queue was
        // found empty, or a writer draining now (the tick only tries the
        // owner lock, see owner_drain.cpp): tick on. Else readers and
        // writers ask again.
        auto found = self->state.store->try_drain();
        if (!found || *found > 0 || !self->state.store->stop_draining_if_idle())
          keep_ticking(self);
      },
      [=](load_atom, const std::string& key) -> caf::result<load_reply> {
        return begin_load(self, worker, key, timespan{0});
      },
      [=](load_atom, const std::string& key, caf::timespan hold) -> caf::result<load_reply> {
        return begin_load(self, worker, key, hold);
      },
      [=](loaded_atom, const std::string& key, std::string& value,
          caf::timespan ttl) -> caf::result<bool> {
        if (!self->state.workers.empty())
          return self->delegate(worker(key), loaded_atom::value, key, std::move(value), ttl);
        auto err = self->state.store->put(key, value, ttl, clock::now());
        finish_load(self, key, err, value);
        if (err)
          return err;
        return true;
      },
      [=](load_failed_atom, const std::string& key, const caf::error& err) -> caf::result<bool> {
        if (!self->state.workers.empty())
          return self->delegate(worker(key), load_failed_atom::value, key, err);
        finish_load(self, key, err ? err : make_error(errc::command_failed, "loader failed"), {});
        return true;
      },
      [=](load_timeout_atom, const std::string& key, uint64_t id) {
        auto i = self->state.loading.find(key);
        if (i != self->state.loading.end() && i->second.id == id)
          finish_load(self, key,
                      make_error(errc::timeout, "the loader of this key did not report within " +
                                                    format_duration(i->second.hold)),
                      {});
      },
      [=](shrink_atom, double fraction) {
        drain_store(self);
        auto freed = self->state.store->shrink(fraction);
        auto rp = self->make_response_promise<shrink_result>();
        if (freed.bytes <= (1u << 20)) {
          rp.deliver(freed);
          return rp;
        }
        // Under memory pressure (rule 1): hand the freed heap back to the
        // system, or the process's RSS would not go down. The evicted
        // values are freed after a grace period, on liburcu's thread: the
        // trim follows them there, and the reply follows the trim, so that
        // whoever shrank (the optimizer's round, the monitor's relief) sees
        // the memory given back. A trim here ran before they were freed,
        // and RSS stayed up until some later trim whenever the values lay
        // in the heap rather than in mappings of their own.
        auto id = self->state.next_shrink_id++;
        self->state.shrinking.emplace(id, std::make_pair(rp, freed));
        caf::weak_actor_ptr weak = self->ctrl();
        cache_detail::after_deferred_frees([weak, id] {
          ::malloc_trim(0);
          if (auto strong = caf::actor_cast<caf::actor>(weak.lock()))
            caf::anon_send(strong, shrunk_atom::value, id);
        });
        return rp;
      },
      [=](shrunk_atom, uint64_t id) {
        auto i = self->state.shrinking.find(id);
        if (i == self->state.shrinking.end())
          return;
        i->second.first.deliver(i->second.second);
        self->state.shrinking.erase(i);
      },
      [=](resize_atom, uint64_t entries, uint64_t bytes) -> caf::result<bool> {
        if (auto err = resize(self, entries, bytes))
          return err;
        return true;
      },
      [=](get_knob_atom, const std::string& name) -> caf::result<double> {
        if (name != self->state.max_entries_knob.name)
          return unknown_knob(name);
        return double(self->state.store->config().max_entries);
      },
      [=](set_knob_atom, const std::string& name, double v) -> caf::result<double> {
        auto& knob = self->state.max_entries_knob;
        if (name != knob.name)
          return unknown_knob(name);
        auto n = knob_target(knob, v);
        if (!n)
          return n.error();
        auto& store = *self->state.store;
        if (auto err = resize(self, uint64_t(*n), store.config().max_bytes))
          return err;
        return double(store.config().max_entries);
      },
      [=](set_ttl_atom, caf::timespan ttl) {
        self->state.store->set_ttl(ttl);
        return true;
      },
      [=](stats_atom) {
        drain_store(self);
        return current_stats(self);
      },
      [=](metrics_atom) {
        namespace d = cache_metrics;
        drain_store(self);
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
                    d::hit_ratio(s.hit_rate(), labels),
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
                                         timespan load_timeout, std::shared_ptr<redis_tier> tier,
                                         profile_factory profile, config_source current) {
  if (cfg.backend == cache_backend::redis && !tier)
    throw std::invalid_argument("cache '" + name +
                                "' has backend = \"redis\" but the node has no "
                                "Redis tier");
  std::vector<child_spec> out;
  std::vector<std::shared_ptr<shard_shared>> shards;
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
    if (cfg.backend == cache_backend::redis) {
      shared->tier = tier;
      shared->cache_name = name;
      shared->load_timeout = load_timeout;
      spec.depends_on.push_back("redis");
      shards.push_back(shared);
    }
    spec.shared.put(shared);
    knob_spec knob{shard_knob_name(name, i, cfg.shards), 1, 1e9, true, "entries",
                   cfg.shards == 1 ? "capacity in entries" : "capacity in entries of this shard",
                   capacity_keys(name)};
    spec.knobs = {knob};
    auto prof = profile ? profile(spec.name) : nullptr;
    spec.start = [shared, starts, load_timeout, prof, knob, current, name,
                  shards = cfg.shards](caf::actor_system& sys) {
      std::optional<shard_limits> limits;
      if (auto c = current ? current() : nullptr)
        limits = limits_in(*c, name, shards);
      return caf::actor_cast<caf::actor>(
          spawn_profiled(sys, prof, cache_shard, shared, starts, load_timeout, knob, limits));
    };
    out.push_back(std::move(spec));
  }
  if (!shards.empty())
    tier->attach(name, std::make_shared<near_shards>(shards));
  return out;
}

} // namespace p21
