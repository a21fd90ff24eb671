#pragma once

// The cache handle: the one way Perfect21 code and applications cache
// things. In the node's own process it reads and writes each shard's
// concurrent table directly (a hit costs no message) while the shard actor
// owns eviction; for a peer's cache it talks to the shard actor. It offers
// blocking calls for plain threads (and actors that accept a short lock)
// plus the shard's typed handle for requests from inside actors.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "p21/cache_config.hpp"
#include "p21/call_options.hpp"
#include "p21/config.hpp"
#include "p21/future.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/runtime.hpp"

namespace p21 {

namespace cache_detail {
struct shard_shared;
} // namespace cache_detail

namespace redis_detail {
class redis_tier;
} // namespace redis_detail

/// A named cache of a runtime (`async`, `query`, `git`, `[caches.NAME]`, or
/// one created with `create`). Cheap to copy; every call has a timeout and
/// returns errors as values.
class cache {
public:
  /// The loader of `get_or_load`: computes the value of a missing key.
  using loader = std::function<caf::expected<std::string>()>;

  // -- constructors -------------------------------------------------------------

  /// A handle to the cache `name` of `rt`; `not_found` when there is none.
  static caf::expected<cache> open(runtime& rt, const std::string& name);

  /// Creates a cache at run time (started at once) and returns its handle.
  static caf::expected<cache> create(runtime& rt, const std::string& name, named_cache_config cfg);

  /// Blocks until every value any cache of this process evicted, erased or
  /// dropped so far is freed: they are freed once no lock-free reader can
  /// hold them (a grace period), on a thread of their own, some
  /// milliseconds after a cache, or a whole node, let them go. For a
  /// program that measures its RSS after a node ended; never call it from
  /// an actor.
  static void wait_for_freed_values();

  // -- lookups ------------------------------------------------------------------

  /// The value of `key`, or an empty optional on a miss.
  caf::expected<std::optional<std::string>> get(const std::string& key);

  /// Calls `f(value)` with the value of `key` without copying it; returns
  /// whether it did (false: a miss). `value` is a `std::string_view` of
  /// the stored bytes, valid only until `f` returns: copy what must outlive
  /// the call. For a shard in this process the view points into the table
  /// itself, whose values are immutable (a `put` stores a new one; the old
  /// one is freed only after every reader left it): no lock, no copy, no
  /// allocation. `f` runs inside a read section that delays those frees,
  /// so keep it short; it may call the cache, but must not wait for
  /// another thread that uses it. For a peer's shard or a cache with
  /// `backend = "redis"` it runs on a copy (`get`).
  template <class F>
  caf::expected<bool> visit(const std::string& key, F&& f) {
    using fn = std::remove_reference_t<F>;
    return visit_impl(
        key, [](void* p, std::string_view v) { (*static_cast<fn*>(p))(v); },
        const_cast<void*>(static_cast<const void*>(std::addressof(f))));
  }

  /// Values of many keys in one round trip per shard.
  caf::expected<std::vector<std::optional<std::string>>>
  get_many(const std::vector<std::string>& keys);

  /// The value of `key`; on a miss runs `load` once, however many callers ask
  /// for the same key meanwhile (they wait for that one result). A failing
  /// loader's error reaches every waiter and nothing is cached. While the
  /// shard is down or restarting, `load` runs without it and its result is
  /// returned uncached (counted in `bypasses`).
  caf::expected<std::string> get_or_load(const std::string& key, const loader& load,
                                         timespan ttl = timespan{0});

  /// The loader of `async_get_or_load`: starts computing a missing key's
  /// value and returns its future (e.g. from `db::async_query`).
  using async_loader = std::function<future<std::string>()>;

  /// `get_or_load` without waiting, from any thread: a hit in this
  /// process's table completes at once; on a miss the shard is asked and,
  /// when it is this caller's turn, `load` starts (on this thread or a
  /// runtime thread) and its result is stored. Single-flight and the
  /// degradation while the shard is down are those of `get_or_load` (so
  /// `opts.retry` is not used: a shard that is down means the loader alone
  /// answers, at once); `opts.deadline` bounds each step. The loader's
  /// future must complete before the runtime stops (one from this
  /// runtime's handles always does). A
  /// `backend = "redis"` cache has no non-blocking form yet
  /// (`invalid_argument`).
  future<std::string> async_get_or_load(const std::string& key, async_loader load,
                                        timespan ttl = timespan{0}, call_options opts = {});

  /// Counts a `get_or_load` answered by its loader alone because the shard
  /// was down (the asynchronous form's graceful degradation).
  void note_bypass(const std::string& key);

  // -- modifiers ----------------------------------------------------------------

  /// Stores a copy of `value`; `ttl` zero means the cache's TTL. A value
  /// larger than the cache's byte capacity is refused with
  /// `invalid_argument`. The bytes are copied once, into the stored value
  /// (a `std::string` parameter cost a caller passing a named string a
  /// second copy and its allocation).
  caf::error put(const std::string& key, std::string_view value, timespan ttl = timespan{0});

  /// Removes `key`; true when it was there.
  caf::expected<bool> erase(const std::string& key);

  /// Removes everything; returns how many entries went.
  caf::expected<uint64_t> clear();

  /// Evicts `fraction` of every shard, coldest first.
  caf::expected<shrink_result> shrink(double fraction);

  /// Sets the capacity of the whole cache (split evenly over its shards).
  caf::error resize(uint64_t max_entries, uint64_t max_bytes);

  /// Sets the TTL of future puts.
  caf::error set_ttl(timespan ttl);

  // -- properties ---------------------------------------------------------------

  /// Stats summed over the shards.
  caf::expected<cache_stats> stats();

  /// Stats of each shard.
  caf::expected<std::vector<cache_stats>> shard_stats();

  const std::string& name() const noexcept { return name_; }
  size_t shards() const noexcept { return shards_; }

  /// The component name of shard `i`, e.g. `cache.async/0`.
  std::string component(size_t i) const;

  /// The shard owning `key` (for `self->request(...)` inside actors).
  caf::expected<cache_actor> shard_for(const std::string& key);

  /// Per-call timeout of the blocking calls.
  void timeout(timespan t) noexcept { timeout_ = t; }

private:
  cache(runtime& rt, std::string name, size_t shards);

  size_t shard_index(const std::string& key) const;
  using visitor = void (*)(void* f, std::string_view value);
  caf::expected<bool> visit_impl(const std::string& key, visitor call, void* f);
  /// Starts shard `s`'s actor if it is not running and may start on use.
  void ensure_owner(size_t s);
  /// Asks shard `s`'s owner to drain what handles recorded; `wait` blocks
  /// until it has (a writer that found the write queue full).
  caf::error request_drain(size_t s, bool wait);
  std::function<caf::error(bool)> drainer(size_t s);
  /// `get_or_load` of a cache with `backend = "redis"`: single-flight
  /// across nodes through a lock key in Redis.
  caf::expected<std::string> redis_get_or_load(size_t shard, const std::string& key,
                                               const loader& load, timespan ttl);

  template <class R, class... Ts>
  caf::expected<R> ask(size_t shard, Ts&&... xs) {
    auto h = rt_->actor_of<cache_actor>(component(shard));
    if (!h)
      return h.error();
    return rt_->request<R>(*h, timeout_, std::forward<Ts>(xs)...);
  }

  runtime* rt_;
  std::string name_;
  size_t shards_;
  timespan timeout_;
  /// Per shard, its table in this process; null for a peer's shard.
  std::vector<std::shared_ptr<cache_detail::shard_shared>> local_;
};

/// The component specs of one cache (one per shard), as the runtime starts
/// them; used for the configured caches and by `cache::create`. A cache
/// with `backend = "redis"` needs the node's Redis tier (the "redis"
/// component's shared object). With `current` (`node_view::settings`),
/// each shard's start takes its capacity and TTL (the live keys) from the
/// config it returns then, so that a cache first used, or a shard
/// restarted, after a reload runs with the reloaded values.
std::vector<child_spec> cache_components(const std::string& name, const named_cache_config& cfg,
                                         timespan load_timeout,
                                         std::shared_ptr<redis_detail::redis_tier> tier = nullptr,
                                         profile_factory profile = {},
                                         config_source current = {});

/// The asynchronous `get_or_load`, for use inside an event-based actor
/// `self`: asks `shard` (from `cache::shard_for(key)`), runs `load` in `self`
/// on a miss when no one else is loading the key, and calls `then` with the
/// value or the error. Never blocks; other messages keep flowing.
template <class Self, class Then>
void get_or_load(Self* self, const cache_actor& shard, std::string key,
                 std::function<caf::expected<std::string>()> load, timespan ttl, Then then,
                 timespan timeout = std::chrono::seconds{10},
                 std::function<void()> on_bypass = {}) {
  self->request(shard, timeout, load_atom::value, key)
      .then(
          [=](load_reply& r) mutable {
            if (r.hit) {
              then(caf::expected<std::string>{std::move(r.value)});
              return;
            }
            caf::expected<std::string> value = load();
            if (!value) {
              self->send(shard, load_failed_atom::value, key, value.error());
              then(std::move(value));
              return;
            }
            self->request(shard, timeout, loaded_atom::value, key, *value, ttl)
                .then([=](bool) mutable { then(std::move(value)); },
                      [=](caf::error&) mutable {
                        // Loaded, not stored: the shard went down meanwhile.
                        if (on_bypass)
                          on_bypass();
                        then(std::move(value));
                      });
          },
          [=](caf::error& e) mutable {
            // The shard is down or restarting: the loader alone answers.
            if (!on_bypass) {
              then(caf::expected<std::string>{normalize(e)});
              return;
            }
            on_bypass();
            then(load());
          });
}

/// Memoizes `fn` in the cache `cache_name`: results are keyed by the
/// function name and its serialized arguments and kept for `ttl`.
/// Arguments and result must be inspectable by CAF (`inspect` or builtin).
/// Calls block; use them from plain threads.
template <class R, class... Args>
class memoized {
public:
  memoized(cache c, std::string fn_name, std::function<R(Args...)> fn, timespan ttl)
    : cache_(std::move(c))
    , fn_name_(std::move(fn_name))
    , fn_(std::move(fn))
    , ttl_(ttl) {}

  caf::expected<R> operator()(const Args&... args) {
    auto key = make_key(args...);
    if (!key)
      return key.error();
    auto value = cache_.get_or_load(
        *key, [&]() -> caf::expected<std::string> { return encode(fn_(args...)); }, ttl_);
    if (!value)
      return value.error();
    return decode(*value);
  }

  /// The asynchronous form for actors: `then` receives `caf::expected<R>`.
  template <class Self, class Then>
  void async(Self* self, Then then, const Args&... args) {
    auto key = make_key(args...);
    if (!key) {
      then(caf::expected<R>{key.error()});
      return;
    }
    auto shard = cache_.shard_for(*key);
    if (!shard) {
      // The shard is down: the function alone answers (graceful degradation).
      cache_.note_bypass(*key);
      then(caf::expected<R>{fn_(args...)});
      return;
    }
    auto fn = fn_;
    auto arg_tuple = std::make_tuple(args...);
    auto c = cache_;
    auto k = *key;
    get_or_load(
        self, *shard, *key,
        [fn, arg_tuple]() -> caf::expected<std::string> {
          return encode(std::apply(fn, arg_tuple));
        },
        ttl_,
        [then](caf::expected<std::string> v) mutable {
          if (!v)
            then(caf::expected<R>{v.error()});
          else
            then(decode(*v));
        },
        std::chrono::seconds{10}, [c, k]() mutable { c.note_bypass(k); });
  }

  /// How many times the wrapped function actually ran is visible in the
  /// cache's stats (`load_successes`).
  cache& backing_cache() noexcept { return cache_; }

private:
  caf::expected<std::string> make_key(const Args&... args) const {
    std::vector<char> buf;
    caf::binary_serializer sink{nullptr, buf};
    std::string fname = fn_name_;
    if (auto err = sink(fname, const_cast<Args&>(args)...))
      return err;
    return std::string{buf.begin(), buf.end()};
  }

  static caf::expected<std::string> encode(R result) {
    std::vector<char> buf;
    caf::binary_serializer sink{nullptr, buf};
    if (auto err = sink(result))
      return err;
    return std::string{buf.begin(), buf.end()};
  }

  static caf::expected<R> decode(const std::string& bytes) {
    R result;
    caf::binary_deserializer source{nullptr, bytes.data(), bytes.size()};
    if (auto err = source(result))
      return err;
    return result;
  }

  cache cache_;
  std::string fn_name_;
  std::function<R(Args...)> fn_;
  timespan ttl_;
};

/// `auto f = p21::memoize<int, int>(rt, "fib", fib, 10min);` then `f(30)`.
template <class R, class... Args>
caf::expected<memoized<R, Args...>> memoize(runtime& rt, const std::string& fn_name,
                                            std::function<R(Args...)> fn, timespan ttl,
                                            const std::string& cache_name = "async") {
  auto c = cache::open(rt, cache_name);
  if (!c)
    return c.error();
  return memoized<R, Args...>{std::move(*c), fn_name, std::move(fn), ttl};
}

} // namespace p21
