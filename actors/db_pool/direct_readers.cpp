#include "direct_readers.hpp"

#include <spdlog/spdlog.h>

namespace p21::db_detail {

namespace {

uint64_t ns(std::chrono::steady_clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

} // namespace

direct_readers::direct_readers(direct_settings cfg)
  : cfg_(std::move(cfg))
  , enabled_(cfg_.pool_size + cfg_.max_overflow > 0) {
  cfg_.conn.query_only = true;
}

caf::expected<direct_readers::slot> direct_readers::lease() {
  auto arrived = clock::now();
  std::unique_lock<std::mutex> guard{mtx_};
  auto limit = cfg_.pool_size + cfg_.max_overflow;
  ++waiting_;
  auto available =
      cv_.wait_for(guard, cfg_.pool_timeout, [&] { return !idle_.empty() || open_ < limit; });
  --waiting_;
  if (!available) {
    ++timeouts_;
    return make_error(errc::pool_timeout, "waited " + format_duration(cfg_.pool_timeout) +
                                              " for a connection; all " + std::to_string(open_) +
                                              " readers busy");
  }
  ++in_use_;
  peak_in_use_ = std::max(peak_in_use_, in_use_);
  acquire_ns_.record(ns(clock::now() - arrived));
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
      give_back(slot{}, true);
      return opened.error();
    }
    return slot{std::move(*opened), clock::now(), clock::now()};
  }
  // Open a new one outside the lock; it counts as open meanwhile.
  ++open_;
  if (open_ > cfg_.pool_size)
    ++overflow_opened_;
  guard.unlock();
  auto opened = connection::open(cfg_.conn);
  if (!opened) {
    give_back(slot{}, true);
    return opened.error();
  }
  auto now = clock::now();
  return slot{std::move(*opened), now, now};
}

void direct_readers::give_back(slot s, bool failed) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    --in_use_;
    if (failed || !s.conn) {
      --open_;
    } else {
      s.last_used = clock::now();
      idle_.push_back(std::move(s));
    }
  }
  cv_.notify_one();
}

caf::expected<statement_result> direct_readers::run(const std::string& sql,
                                                    const std::vector<db_value>& params) {
  auto s = lease();
  if (!s) {
    std::lock_guard<std::mutex> guard{mtx_};
    ++errors_;
    return s.error();
  }
  auto t0 = clock::now();
  auto r = s->conn->run(sql, params);
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

void direct_readers::add_stats(db_pool_stats& s, histogram& acquire_ns, histogram& query_ns,
                               bool new_window) const {
  std::lock_guard<std::mutex> guard{mtx_};
  s.size += open_;
  s.in_use += in_use_;
  s.peak_in_use += peak_in_use_;
  if (new_window)
    peak_in_use_ = in_use_;
  s.idle += idle_.size();
  s.waiting += waiting_;
  s.queries += queries_;
  s.errors += errors_;
  s.timeouts += timeouts_;
  s.overflow_opened += overflow_opened_;
  s.health_check_failures += health_check_failures_;
  acquire_ns.merge(acquire_ns_);
  query_ns.merge(query_ns_);
}

void direct_readers::warm() {
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
    idle_.push_back(slot{std::move(*opened), now, now});
    cv_.notify_one();
  }
}

void direct_readers::close_idle(bool at_once) {
  std::vector<slot> closing;
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
  // Closed outside the lock (sqlite3_close may flush).
}

int64_t direct_readers::release_memory() {
  std::lock_guard<std::mutex> guard{mtx_};
  int64_t freed = 0;
  for (auto& s : idle_)
    freed += s.conn->release_memory();
  return freed;
}

} // namespace p21::db_detail
