#include "reader_pool.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "p21/error.hpp"

namespace p21::db_detail {

namespace {

uint64_t ns(std::chrono::steady_clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

} // namespace

// -- reader_slots -------------------------------------------------------------------

reader_slots::reader_slots(size_t pool_size, size_t max_overflow, timespan pool_timeout)
  : pool_size_(pool_size)
  , max_overflow_(max_overflow)
  , pool_timeout_(pool_timeout) {
  // nop
}

caf::error reader_slots::acquire() {
  auto arrived = clock::now();
  std::unique_lock<std::mutex> guard{mtx_};
  if (queue_.empty() && in_use_ < pool_size_ + max_overflow_) {
    ++in_use_;
    peak_in_use_ = std::max(peak_in_use_, in_use_);
    record_wait_locked(arrived);
    return {};
  }
  auto w = std::make_shared<waiter>();
  w->ticket = ++next_ticket_;
  w->arrived = arrived;
  queue_.push_back(w);
  if (cv_.wait_until(guard, arrived + pool_timeout_, [&] { return w->granted; }))
    return {};
  // Timed out: still queued (granting happens under this lock).
  queue_.erase(std::find(queue_.begin(), queue_.end(), w));
  ++timeouts_;
  return timeout_error_locked();
}

uint64_t reader_slots::acquire_async(grant_fn on_grant) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto arrived = clock::now();
  if (queue_.empty() && in_use_ < pool_size_ + max_overflow_) {
    ++in_use_;
    peak_in_use_ = std::max(peak_in_use_, in_use_);
    record_wait_locked(arrived);
    return 0;
  }
  auto w = std::make_shared<waiter>();
  w->ticket = ++next_ticket_;
  w->arrived = arrived;
  w->on_grant = std::move(on_grant);
  queue_.push_back(w);
  return w->ticket;
}

bool reader_slots::cancel(uint64_t ticket) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = std::find_if(queue_.begin(), queue_.end(), [&](auto& w) { return w->ticket == ticket; });
  if (i == queue_.end())
    return false;
  queue_.erase(i);
  ++timeouts_;
  return true;
}

void reader_slots::release(size_t n) {
  std::vector<std::pair<grant_fn, uint64_t>> grants;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    in_use_ -= std::min(n, in_use_);
    grants = grant_locked();
  }
  run(std::move(grants));
}

std::vector<std::pair<reader_slots::grant_fn, uint64_t>> reader_slots::grant_locked() {
  std::vector<std::pair<grant_fn, uint64_t>> grants;
  bool woke = false;
  while (!queue_.empty() && in_use_ < pool_size_ + max_overflow_) {
    auto w = std::move(queue_.front());
    queue_.pop_front();
    ++in_use_;
    peak_in_use_ = std::max(peak_in_use_, in_use_);
    record_wait_locked(w->arrived);
    w->granted = true;
    if (w->on_grant)
      grants.emplace_back(std::move(w->on_grant), w->ticket);
    else
      woke = true;
  }
  if (woke)
    cv_.notify_all(); // each blocking waiter checks its own flag
  return grants;
}

void reader_slots::run(std::vector<std::pair<grant_fn, uint64_t>> grants) {
  for (auto& [f, ticket] : grants)
    f(ticket);
}

void reader_slots::record_wait_locked(clock::time_point arrived) {
  acquire_ns_.record(ns(clock::now() - arrived));
}

size_t reader_slots::limit() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return pool_size_ + max_overflow_;
}

void reader_slots::set_pool_size(size_t n) {
  std::vector<std::pair<grant_fn, uint64_t>> grants;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    pool_size_ = n;
    grants = grant_locked();
  }
  run(std::move(grants));
}

void reader_slots::set_pool_timeout(timespan t) {
  std::lock_guard<std::mutex> guard{mtx_};
  pool_timeout_ = t;
}

reader_slots::counts reader_slots::stats(bool new_window) const {
  std::lock_guard<std::mutex> guard{mtx_};
  counts c{in_use_, peak_in_use_, queue_.size(), timeouts_};
  if (new_window)
    peak_in_use_ = in_use_;
  return c;
}

void reader_slots::add_acquire_times(histogram& acquire_ns) const {
  acquire_ns.merge(acquire_ns_);
}

caf::error reader_slots::timeout_error() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return timeout_error_locked();
}

caf::error reader_slots::timeout_error_locked() const {
  return make_error(errc::pool_timeout, "waited " + format_duration(pool_timeout_) +
                                            " for a connection; all " + std::to_string(in_use_) +
                                            " readers busy");
}

// -- reader_pool --------------------------------------------------------------------

reader_pool::reader_pool(reader_settings cfg)
  : cfg_(std::move(cfg))
  , enabled_(cfg_.pool_size + cfg_.max_overflow > 0)
  , slots_(cfg_.pool_size, cfg_.max_overflow, cfg_.pool_timeout) {
  cfg_.conn.query_only = true;
}

caf::expected<statement_result> reader_pool::run(const std::string& sql,
                                                 const std::vector<db_value>& params) {
  if (auto err = slots_.acquire()) {
    std::lock_guard<std::mutex> guard{mtx_};
    ++errors_;
    return err;
  }
  auto r = run_granted(sql, params);
  slots_.release();
  return r;
}

caf::expected<statement_result> reader_pool::run_granted(const std::string& sql,
                                                         const std::vector<db_value>& params,
                                                         uint64_t generation) {
  auto s = take();
  if (!s) {
    std::lock_guard<std::mutex> guard{mtx_};
    ++errors_;
    return s.error();
  }
  auto t0 = clock::now();
  auto r = s->conn->run(sql, params, generation);
  if (!r)
    s->conn->reset_state();
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ++queries_;
    errors_ += r ? 0 : 1;
  }
  query_ns_.record(ns(clock::now() - t0));
  give_back(std::move(*s), false);
  return r;
}

caf::expected<reader_pool::leased> reader_pool::take() {
  std::unique_lock<std::mutex> guard{mtx_};
  if (!idle_.empty()) {
    auto s = std::move(idle_.back()); // the most recently used: warm caches
    idle_.pop_back();
    guard.unlock();
    auto now = clock::now();
    bool recycle = now - s.opened_at > cfg_.max_lifetime;
    if (!recycle && now - s.last_used > cfg_.health_check_after && !s.conn->healthy()) {
      spdlog::warn("a connection to '{}' failed its health check; replacing it", cfg_.conn.path);
      std::lock_guard<std::mutex> relock{mtx_};
      ++health_check_failures_;
      recycle = true;
    }
    if (!recycle)
      return s;
    s.conn.reset();
    auto opened = connection::open(cfg_.conn);
    if (!opened) {
      give_back(leased{}, true);
      return opened.error();
    }
    return leased{std::move(*opened), clock::now(), clock::now()};
  }
  // The slot bounds how many are open; open one outside the lock (it
  // counts as open meanwhile).
  ++open_;
  if (open_ > cfg_.pool_size)
    ++overflow_opened_;
  guard.unlock();
  auto opened = connection::open(cfg_.conn);
  if (!opened) {
    give_back(leased{}, true);
    return opened.error();
  }
  auto now = clock::now();
  return leased{std::move(*opened), now, now};
}

void reader_pool::give_back(leased s, bool failed) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (failed || !s.conn) {
    --open_;
  } else {
    s.last_used = clock::now();
    idle_.push_back(std::move(s));
  }
}

void reader_pool::warm() {
  for (;;) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (open_ >= cfg_.pool_size)
        return;
      ++open_;
    }
    auto opened = connection::open(cfg_.conn);
    std::lock_guard<std::mutex> guard{mtx_};
    if (!opened) {
      --open_;
      spdlog::error("{}", render(opened.error()));
      return;
    }
    auto now = clock::now();
    idle_.push_back(leased{std::move(*opened), now, now});
  }
}

void reader_pool::set_pool_size(size_t n) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    cfg_.pool_size = n;
  }
  slots_.set_pool_size(n);
}

void reader_pool::close_idle(bool at_once) {
  std::vector<leased> closing;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto now = clock::now();
    // Keep pool_size open; close older idle overflow ones.
    for (auto i = idle_.begin(); i != idle_.end() && open_ > cfg_.pool_size;) {
      if (at_once || now - i->last_used > cfg_.idle_timeout) {
        closing.push_back(std::move(*i));
        i = idle_.erase(i);
        --open_;
      } else {
        ++i;
      }
    }
  }
  // Closed here, outside the lock (sqlite3_close may flush).
}

int64_t reader_pool::release_memory() {
  std::lock_guard<std::mutex> guard{mtx_};
  int64_t freed = 0;
  for (auto& s : idle_)
    freed += s.conn->release_memory();
  return freed;
}

uint64_t reader_pool::open_connections() const {
  auto own = std::max<int64_t>(0, own_.load(std::memory_order_relaxed));
  std::lock_guard<std::mutex> guard{mtx_};
  return open_ + static_cast<uint64_t>(own);
}

uint64_t reader_pool::stranded_connections() const {
  auto own = std::max<int64_t>(0, own_.load(std::memory_order_relaxed));
  std::lock_guard<std::mutex> guard{mtx_};
  return open_ - std::min(open_, idle_.size()) + static_cast<uint64_t>(own);
}

void reader_pool::add_stats(db_pool_stats& s, histogram& acquire_ns, histogram& query_ns,
                            bool new_window) const {
  auto slots = slots_.stats(new_window);
  s.in_use += slots.in_use;
  s.peak_in_use += slots.peak_in_use;
  s.waiting += slots.waiting;
  s.timeouts += slots.timeouts;
  slots_.add_acquire_times(acquire_ns);
  std::lock_guard<std::mutex> guard{mtx_};
  s.size += open_;
  s.idle += idle_.size();
  s.queries += queries_;
  s.errors += errors_;
  s.overflow_opened += overflow_opened_;
  s.health_check_failures += health_check_failures_;
  query_ns.merge(query_ns_);
}

} // namespace p21::db_detail
