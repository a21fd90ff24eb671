#pragma once

// The db pool's reader side, shared by its two paths: the pool actor's
// detached reader threads (reads from actors) and the calling thread (reads
// from plain threads through the `db` handle, as HikariCP does). One slot
// policy bounds both: `pool_size` + `max_overflow` reads at once, one FIFO
// of waiters, `pool_timeout` for each.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "connection.hpp"
#include "p21/config.hpp"
#include "p21/db_config.hpp"
#include "p21/histogram.hpp"
#include "p21/protocol/db_pool.hpp"

namespace p21::db_detail {

/// How many reads may run at once and who waits for the next free slot:
/// limits, one FIFO of waiters (blocking threads and actors alike) and
/// `pool_timeout`. Thread-safe; plain logic, no connections.
class reader_slots {
public:
  using clock = std::chrono::steady_clock;

  /// Called with its ticket when a queued waiter is granted a slot, on the
  /// thread that released it and outside the lock: it must not block.
  using grant_fn = std::function<void(uint64_t ticket)>;

  /// What a waiter saw at the moment it counted.
  struct counts {
    size_t in_use = 0;
    size_t peak_in_use = 0;
    size_t waiting = 0;
    uint64_t timeouts = 0;
  };

  // -- constructors -----------------------------------------------------------

  reader_slots(size_t pool_size, size_t max_overflow, timespan pool_timeout);

  // -- acquiring and releasing ------------------------------------------------

  /// Takes a slot, waiting behind earlier waiters at most `pool_timeout`
  /// (blocking: plain threads only). Error: `pool_timeout`.
  [[nodiscard]] caf::error acquire();

  /// Takes a slot now (returns 0) or queues `on_grant` and returns its
  /// ticket; never blocks (for actors, which time out with `cancel`).
  [[nodiscard]] uint64_t acquire_async(grant_fn on_grant);

  /// A queued waiter gives up at its `pool_timeout`: true (and a timeout
  /// counted) when it was still waiting; false when it was granted a slot
  /// meanwhile, which it then holds and must release.
  bool cancel(uint64_t ticket);

  /// Gives back `n` slots; the oldest waiters get them.
  void release(size_t n = 1);

  // -- properties -------------------------------------------------------------

  /// `pool_size` + `max_overflow`.
  size_t limit() const;

  /// Changes `pool_size` (the optimizer's rule 3); a larger limit grants
  /// waiters at once.
  void set_pool_size(size_t n);

  /// Changes `pool_timeout` for the waits that begin from now on (a reload).
  void set_pool_timeout(timespan t);

  /// `new_window` starts a new window for the peak in-use count.
  counts stats(bool new_window = false) const;

  /// Adds the wait of every grant, in nanoseconds, to `acquire_ns`.
  void add_acquire_times(histogram& acquire_ns) const;

  /// The error a waiter past `pool_timeout` gets.
  caf::error timeout_error() const;

private:
  struct waiter {
    uint64_t ticket = 0;
    clock::time_point arrived;
    /// Empty for a blocking waiter, which `granted` wakes instead.
    grant_fn on_grant;
    bool granted = false;
  };

  /// Moves free slots to the oldest waiters; returns the callbacks to run
  /// once the lock is released.
  std::vector<std::pair<grant_fn, uint64_t>> grant_locked();
  void run(std::vector<std::pair<grant_fn, uint64_t>> grants);
  void record_wait_locked(clock::time_point arrived);
  caf::error timeout_error_locked() const;

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  size_t pool_size_;
  size_t max_overflow_;
  timespan pool_timeout_;
  size_t in_use_ = 0;
  mutable size_t peak_in_use_ = 0;
  uint64_t timeouts_ = 0;
  uint64_t next_ticket_ = 0;
  /// Shared so that a blocking waiter keeps its entry across the wait.
  std::deque<std::shared_ptr<waiter>> queue_;
  histogram acquire_ns_;
};

/// How reader connections are opened and kept.
struct reader_settings {
  connection_settings conn;
  size_t pool_size = database_config{}.pool_size;
  size_t max_overflow = database_config{}.max_overflow;
  timespan pool_timeout{0};
  timespan idle_timeout{0};
  timespan health_check_after{0};
  timespan max_lifetime{0};
};

/// The reader connections behind the slots: `pool_size` kept open, up to
/// `max_overflow` more while busy, health check before reuse, recycling
/// after `max_lifetime`. Blocking (SQLite): call it off CAF's scheduler
/// threads. Shared by the pool actor's readers and the `db` handles.
class reader_pool {
public:
  using clock = std::chrono::steady_clock;

  // -- constructors -----------------------------------------------------------

  explicit reader_pool(reader_settings cfg);

  // -- reads ------------------------------------------------------------------

  /// Whether reads can run here (an in-memory database cannot be shared).
  bool enabled() const noexcept { return enabled_; }

  /// Takes a slot (waiting as `reader_slots::acquire`), runs a read on a
  /// leased connection and gives both back. Errors: `pool_timeout`,
  /// `bad_query` with SQLite's message, or the open error naming the path.
  caf::expected<statement_result> run(const std::string& sql, const std::vector<db_value>& params);

  /// Runs a read for a caller that already holds a slot (and keeps it).
  /// `generation`: the pool actor's cancel generation (see `connection::run`).
  caf::expected<statement_result> run_granted(const std::string& sql,
                                              const std::vector<db_value>& params,
                                              uint64_t generation = connection::current_generation);

  /// The one slot policy of both paths.
  reader_slots& slots() noexcept { return slots_; }

  // -- upkeep -----------------------------------------------------------------

  /// Opens connections until `pool_size` are open.
  void warm();

  /// Changes how many connections are kept open and the slot limit.
  void set_pool_size(size_t n);

  /// Closes overflow connections idle past `idle_timeout` (all idle
  /// overflow connections at once when `at_once`: memory pressure).
  void close_idle(bool at_once = false);

  /// Frees what SQLite can of the idle connections' memory.
  int64_t release_memory();

  // -- what it holds (`runtime::resources()`) --------------------------------

  /// A connection actor (the writer) opened (+1) or closed (-1) a
  /// connection of its own; any thread.
  void note_own_connection(int delta) noexcept {
    own_.fetch_add(delta, std::memory_order_relaxed);
  }

  /// Connections open now: the pool's reader connections and the connection
  /// actors' own. Any thread.
  uint64_t open_connections() const;

  /// Of those, the ones not kept idle by the pool for its next use: leased
  /// reader connections and the connection actors' own. Once the pool's
  /// component stopped, any is a leak.
  uint64_t stranded_connections() const;

  /// Adds the connections' and slots' counts and histograms to `s`.
  void add_stats(db_pool_stats& s, histogram& acquire_ns, histogram& query_ns,
                 bool new_window) const;

private:
  struct leased {
    std::unique_ptr<connection> conn;
    clock::time_point opened_at;
    clock::time_point last_used;
  };

  caf::expected<leased> take();
  void give_back(leased s, bool failed);

  reader_settings cfg_;
  bool enabled_ = false;
  reader_slots slots_;
  mutable std::mutex mtx_;
  std::vector<leased> idle_;
  size_t open_ = 0;
  std::atomic<int64_t> own_{0};
  uint64_t queries_ = 0;
  uint64_t errors_ = 0;
  uint64_t overflow_opened_ = 0;
  uint64_t health_check_failures_ = 0;
  histogram query_ns_;
};

} // namespace p21::db_detail
