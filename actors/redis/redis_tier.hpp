#pragma once

// The Redis tier behind caches with `backend = "redis"`: one per node, owned
// by the "redis" component. Data connections (a pool of `pool_size`) turn on
// `CLIENT TRACKING ... REDIRECT` to an invalidation connection subscribed to
// `__redis__:invalidate`, whose own thread drops invalidated keys from the
// near tiers (the caches' stores). Commands run on the calling thread (a
// handle's caller, a detached worker), never on a CAF scheduler thread,
// each within command_timeout from send to reply and max_reply_bytes.

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "p21/config.hpp"
#include "p21/histogram.hpp"
#include "p21/protocol/metrics.hpp"
#include "p21/redis_config.hpp"
#include "redis_url.hpp"

struct redisContext;

namespace p21::redis_detail {

struct args;
struct reply_ptr;

/// Cumulative figures of a tier (its metrics, the bench's details).
struct redis_counters {
  uint64_t round_trips = 0;
  uint64_t errors = 0;
  uint64_t invalidations = 0;
  uint64_t flushes = 0;
  uint64_t reconnects = 0;
  uint64_t near_hits = 0;
  uint64_t near_misses = 0;
  uint64_t redis_hits = 0;
  uint64_t redis_misses = 0;
  uint64_t lock_waits = 0;
  bool connected = false;
};

/// A cache's near copies (its shards' stores) as the tier reaches them: the
/// seam between the Redis client and the cache, which implements it. Called
/// from the tier's invalidation thread.
class near_tier {
public:
  virtual ~near_tier() = default;

  /// Drops `key` (the cache's key, without prefix and name) wherever it is
  /// held: Redis said it changed.
  virtual void drop(std::string_view key) = 0;

  /// Asks every copy to drop everything and to record flush `seq` when done.
  virtual void request_flush(uint64_t seq) = 0;

  /// Whether every copy completed flush `seq`; with `resend`, asks again
  /// those that did not (an owner may have gone down with the request).
  virtual bool flushed(uint64_t seq, bool resend) = 0;
};

class redis_tier {
public:
  /// What a near-tier insert checks after the fact: no invalidation of the
  /// key and no flush since the mark was taken (before its read).
  struct mark {
    uint64_t epoch = 0;
    uint64_t stripe = 0;
  };

  // -- constructors -------------------------------------------------------------

  explicit redis_tier(redis_config cfg);
  ~redis_tier();

  redis_tier(const redis_tier&) = delete;
  redis_tier& operator=(const redis_tier&) = delete;

  // -- lifecycle ----------------------------------------------------------------

  /// Connects the invalidation connection once and starts its thread. A
  /// refused login or database is an error (the node does not start); a
  /// server that is not there is retried in the background with backoff.
  caf::error start();

  /// Stops the invalidation thread (the near tiers then stop serving hits).
  void stop();

  /// Registers the near copies of cache `name`: invalidations and flushes
  /// reach them. `near` must not own the tier (it holds its shards weakly).
  void attach(const std::string& name, std::shared_ptr<near_tier> near);

  // -- keys ---------------------------------------------------------------------

  /// The Redis key of `key` in cache `name`: prefix, name, colon, key.
  std::string key(const std::string& name, const std::string& key) const;

  /// The single-flight lock of a Redis key.
  std::string lock_key(const std::string& redis_key) const;

  // -- coherence ----------------------------------------------------------------

  /// Whether the near tiers may serve hits: invalidations flow and every
  /// flush since the last loss completed.
  bool coherent() const noexcept { return coherent_.load(std::memory_order_acquire); }

  /// Whether the invalidation connection is up (commands are tried at all).
  bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }

  mark mark_of(const std::string& redis_key) const noexcept;

  /// Whether a value read after `m` was taken may stay in the near tier.
  bool unchanged(const std::string& redis_key, mark m) const noexcept;

  // -- commands (blocking, each within command_timeout from send to reply) ------

  caf::expected<std::optional<std::string>> get(const std::string& redis_key);
  caf::expected<std::vector<std::optional<std::string>>>
  mget(const std::vector<std::string>& redis_keys);
  /// `SET key value [PX ttl]` then `GET key` in one round trip: what the
  /// key holds now, read (hence tracked) by this connection.
  caf::expected<std::optional<std::string>> set(const std::string& redis_key,
                                                const std::string& value, timespan ttl);
  /// `DEL`; true when the key was there.
  caf::expected<bool> del(const std::string& redis_key);
  /// `SET lock token NX PX ttl`; true when this node now holds it.
  caf::expected<bool> try_lock(const std::string& lock, timespan ttl);
  /// Deletes `lock` if this node holds it.
  void unlock(const std::string& lock);
  /// `GET key` and `EXISTS lock` in one round trip (a waiting loader).
  caf::expected<std::pair<std::optional<std::string>, bool>>
  get_and_lock_held(const std::string& redis_key, const std::string& lock);

  // -- statistics -----------------------------------------------------------------

  void note_near_hit() noexcept;
  void note_near_miss() noexcept;
  void note_lock_wait() noexcept { lock_waits_.fetch_add(1, std::memory_order_relaxed); }
  redis_counters counters() const;
  /// Its metrics (`redis_*`), for the "redis" component's `metrics` reply.
  metric_set metrics() const;

  const redis_config& config() const noexcept { return cfg_; }
  const redis_endpoint& endpoint() const noexcept { return ep_; }

private:
  struct connection;
  struct striped_counter {
    struct alignas(64) cell {
      std::atomic<uint64_t> n{0};
    };
    std::array<cell, 16> cells;
    void add() noexcept;
    uint64_t sum() const noexcept;
  };

  /// A connected, logged-in context, or null with the reason; `fatal` when
  /// retrying cannot help (credentials, database number).
  redisContext* open(timespan connect_timeout, std::string& why, bool& fatal) const;
  caf::expected<std::unique_ptr<connection>> checkout();
  void checkin(std::unique_ptr<connection> c, bool broken);
  /// Runs `argv` commands pipelined on one pooled connection; their replies.
  template <class F>
  auto with_connection(F f) -> decltype(f(std::declval<redisContext*>()));
  caf::error unavailable(const std::string& why) const;
  /// Sends `commands` on `ctx` and reads their replies within one
  /// command_timeout, no reply over max_reply_bytes (redis_exchange.hpp).
  caf::expected<std::vector<reply_ptr>> round_trip(redisContext* ctx,
                                                   const std::vector<args>& commands);

  void run();
  bool connect_invalidation(redisContext*& ctx, std::string& why, bool& fatal);
  void on_invalidation(const std::string& redis_key);
  /// Stops near hits and asks every shard to drop its entries.
  void begin_flush(bool count = true);
  /// Re-sends pending flushes; true once every shard has flushed.
  bool flushes_done(bool resend);
  void wake();

  redis_config cfg_;
  redis_endpoint ep_;
  /// This node's single-flight lock value.
  std::string token_;

  std::atomic<bool> connected_{false};
  std::atomic<bool> coherent_{false};
  std::atomic<uint64_t> epoch_{0};
  /// The invalidation connection's generation: data connections made
  /// for an older one re-connect (their tracking redirects to a dead client).
  std::atomic<uint64_t> generation_{0};
  std::atomic<long long> invalidation_client_{0};
  std::array<std::atomic<uint64_t>, 1024> stripes_{};

  std::mutex pool_mtx_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<connection>> idle_;
  size_t open_ = 0;

  std::mutex near_mtx_;
  std::map<std::string, std::shared_ptr<near_tier>> near_;
  std::atomic<uint64_t> flush_seq_{0};

  std::mutex run_mtx_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  int wake_fd_[2] = {-1, -1};
  /// A context connected by `start` for the thread to take over.
  redisContext* first_ = nullptr;
  bool started_ = false;

  std::atomic<uint64_t> round_trips_{0}, errors_{0}, invalidations_{0}, flushes_{0}, reconnects_{0},
      redis_hits_{0}, redis_misses_{0}, lock_waits_{0};
  striped_counter near_hits_, near_misses_;
  histogram latency_;
};

} // namespace p21::redis_detail
