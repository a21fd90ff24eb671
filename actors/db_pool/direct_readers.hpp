#pragma once

// Reader connections that plain threads lease: the `db` handle runs a read
// on the calling thread, as HikariCP does, without a message to the pool
// actor (a plain thread is not a CAF scheduler thread, so blocking it on
// SQLite is allowed). Same limits as the pool's own readers: `pool_size`
// kept open, up to `max_overflow` more, `pool_timeout` for a lease, health
// check before reuse, `max_lifetime` recycling.

#include <condition_variable>
#include <mutex>
#include <vector>

#include "connection.hpp"
#include "p21/config.hpp"
#include "p21/error.hpp"
#include "p21/histogram.hpp"

namespace p21::db_detail {

struct direct_settings {
  connection_settings conn;
  size_t pool_size = 10;
  size_t max_overflow = 20;
  timespan pool_timeout{0};
  timespan idle_timeout{0};
  timespan health_check_after{0};
  timespan max_lifetime{0};
};

class direct_readers {
public:
  using clock = std::chrono::steady_clock;

  explicit direct_readers(direct_settings cfg);

  /// Whether reads can run here (an in-memory database cannot be shared).
  bool enabled() const noexcept { return enabled_; }

  /// Runs a read on a leased connection. Errors: `pool_timeout` after
  /// waiting `pool_timeout`, `bad_query` with SQLite's message, or the
  /// open error naming the path.
  caf::expected<statement_result> run(const std::string& sql, const std::vector<db_value>& params);

  /// Adds this set's counts and histograms to `s`.
  /// `new_window` starts a new window for the peak in-use count.
  void add_stats(db_pool_stats& s, histogram& acquire_ns, histogram& query_ns,
                 bool new_window) const;

  /// Opens connections until `pool_size` are open (blocking: call it off
  /// CAF's scheduler threads).
  void warm();

  /// Changes how many connections are kept open (the optimizer's rule 3).
  void set_pool_size(size_t n) {
    std::lock_guard<std::mutex> guard{mtx_};
    cfg_.pool_size = n;
  }

  /// Closes overflow connections idle past `idle_timeout` (all idle
  /// overflow connections at once when `now`: memory pressure).
  void close_idle(bool now = false);

  /// Frees what SQLite can of the idle connections' memory.
  int64_t release_memory();

private:
  struct slot {
    std::unique_ptr<connection> conn;
    clock::time_point opened_at;
    clock::time_point last_used;
  };

  caf::expected<slot> lease();
  void give_back(slot s, bool failed);

  direct_settings cfg_;
  bool enabled_ = false;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<slot> idle_;
  size_t open_ = 0;
  size_t in_use_ = 0;
  mutable size_t peak_in_use_ = 0;
  size_t waiting_ = 0;
  uint64_t queries_ = 0;
  uint64_t errors_ = 0;
  uint64_t timeouts_ = 0;
  uint64_t overflow_opened_ = 0;
  uint64_t health_check_failures_ = 0;
  histogram acquire_ns_;
  histogram query_ns_;
};

} // namespace p21::db_detail
