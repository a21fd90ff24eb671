#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine.hpp"

namespace p21 {

namespace {

/// Reads between evaluations below this many requests say nothing about a
/// hit rate.
constexpr double min_requests = 100;
constexpr double min_git_requests = 20;

/// A growth must raise the hit rate by this many points to stay.
constexpr double growth_must_gain = 2.0;

template <class T>
T diff(T now, T before) {
  return now > before ? now - before : T{0};
}

} // namespace

// -- rule_gate --------------------------------------------------------------------------

bool rule_gate::observe(double value, clock::time_point now) {
  last_value_ = value;
  if (!cfg_.enabled) {
    firing_ = false;
    pending_since_.reset();
    return false;
  }
  auto past = [&](double limit) {
    return above_ ? value > limit : value < limit;
  };
  if (firing_) {
    // Back at or past the clear threshold (a count such as waiting reads
    // clears at 0).
    auto cleared = above_ ? value <= cfg_.clear_threshold : value >= cfg_.clear_threshold;
    if (cleared) {
      firing_ = false;
      pending_since_.reset();
      return false;
    }
  } else {
    if (!past(cfg_.threshold)) {
      pending_since_.reset();
      return false;
    }
    if (!pending_since_)
      pending_since_ = now;
    if (now - *pending_since_ < cfg_.for_duration)
      return false;
    firing_ = true;
  }
  return !last_action_ || now - *last_action_ >= cfg_.cooldown;
}

// -- decisions --------------------------------------------------------------------------

std::string decision::describe() const {
  std::ostringstream out;
  switch (kind) {
  case shrink_cache:
    out << "shrink cache " << target << " by " << arg * 100 << " %";
    break;
  case resize_cache:
    out << "resize cache " << target << " to " << uint64_t(arg) << " entries";
    break;
  case release_memory:
    out << "release SQLite memory of " << target;
    break;
  case set_pool_size:
    out << "set " << target << " pool_size to " << uint64_t(arg);
    break;
  case resize_git_cache:
    out << "resize the git cache to " << uint64_t(arg) << " entries";
    break;
  case set_max_processes:
    out << "set " << target << " max_processes to " << uint64_t(arg);
    break;
  case checkpoint:
    out << "checkpoint " << target;
    break;
  case vacuum:
    out << "vacuum " << target;
    break;
  case preload:
    out << "preload " << target << " at the next start";
    break;
  case signal_pressure:
    out << "ask registered resources to give back " << arg * 100 << " %";
    break;
  case set_monitor_interval:
    out << "set the monitor's sampling interval to " << arg << " s";
    break;
  case rotate_logs:
    out << "rotate the log file";
    break;
  case unload:
    out << "unload " << target << " (unused for " << arg << " s; its next use starts it)";
    break;
  }
  return out.str();
}

// -- the engine -------------------------------------------------------------------------

optimizer_engine::optimizer_engine(const config& cfg)
  : cfg_(cfg)
  , pool_size_(cfg.database.pool_size)
  , max_processes_(cfg.subprocess.max_processes)
  , monitor_interval_(cfg.performance.monitor_interval) {
  // A rule the config does not set runs with its defaults.
  for (auto& [name, rc] : default_rules())
    cfg_.rules.emplace(name, rc);
}

rule_gate& optimizer_engine::gate(const std::string& rule, const std::string& target) {
  auto key = std::make_pair(rule, target);
  auto i = gates_.find(key);
  if (i == gates_.end())
    i = gates_.emplace(key, rule_gate{cfg_.rules.at(rule), rule_fires_above(rule)}).first;
  return i->second;
}

std::optional<double> optimizer_engine::last_value(const decision& d) const {
  std::string target;
  if (d.rule == "cache_hit_rate")
    target = d.target;
  else if (d.rule == "connection_pool")
    target = "db_pool";
  else if (d.rule == "git_cache" || d.rule == "cpu_usage" || d.rule == "parallel_efficiency")
    target = "subprocess";
  else if (d.rule != "memory_pressure" && d.rule != "disk_usage")
    return std::nullopt;
  auto i = gates_.find(std::make_pair(d.rule, target));
  if (i == gates_.end())
    return std::nullopt;
  return i->second.last_value();
}

bool optimizer_engine::set_rule(const std::string& name, const rule_config& rc) {
  auto i = cfg_.rules.find(name);
  if (i == cfg_.rules.end())
    return false;
  i->second = rc;
  for (auto& [key, g] : gates_)
    if (key.first == name)
      g.settings(rc);
  return true;
}

std::vector<decision> optimizer_engine::evaluate(const node_snapshot& s) {
  std::vector<decision> out;
  auto prev = std::move(last_);
  last_ = s;
  auto now = s.now;
  auto rule = [&](const char* name) -> const rule_config& {
    return cfg_.rules.at(name);
  };

  // 1 memory_pressure: shrink caches, release SQLite memory.
  bool memory_tight = false;
  {
    auto& g = gate("memory_pressure", "");
    if (g.observe(s.memory_percent, now)) {
      auto step = rule("memory_pressure").step;
      for (auto& c : s.caches)
        out.push_back(
            {"memory_pressure", decision::shrink_cache, c.component, step, s.memory_percent});
      if (s.db)
        out.push_back(
            {"memory_pressure", decision::release_memory, "db_pool", 0, s.memory_percent});
      out.push_back(
          {"memory_pressure", decision::signal_pressure, "resources", step, s.memory_percent});
      g.acted(now);
    }
    // Rules that grow memory wait while memory is not back below the clear
    // threshold: one decision path, rules 1 and 2 never fight.
    memory_tight = g.firing() || s.memory_percent >= rule("memory_pressure").clear_threshold;
  }

  // 2 cache_hit_rate: grow a cache whose misses are capacity misses; undo a
  // growth that did not raise the hit rate.
  if (prev) {
    for (auto& c : s.caches) {
      auto p = std::find_if(prev->caches.begin(), prev->caches.end(),
                            [&](auto& x) { return x.component == c.component; });
      if (p == prev->caches.end())
        continue;
      auto hits = double(diff(c.hits, p->hits));
      auto total = hits + double(diff(c.misses, p->misses));
      if (total < min_requests)
        continue;
      auto rate = 100 * hits / total;
      auto& g = gate("cache_hit_rate", c.component);
      if (auto gr = growths_.find(c.component); gr != growths_.end()) {
        auto before = gr->second;
        growths_.erase(gr);
        if (rate < before.rate_before + growth_must_gain) {
          out.push_back({"cache_hit_rate", decision::resize_cache, c.component,
                         double(before.old_entries), rate, c.max_bytes});
          g.acted(now);
          continue;
        }
      }
      bool act = g.observe(rate, now);
      // Capacity misses: keys evicted, then asked for again (the ghost list).
      bool capacity_bound = diff(c.capacity_misses, p->capacity_misses) > 0;
      if (act && capacity_bound && !memory_tight) {
        auto grown =
            c.max_entries +
            std::max<uint64_t>(1, uint64_t(double(c.max_entries) * rule("cache_hit_rate").step));
        out.push_back({"cache_hit_rate", decision::resize_cache, c.component, double(grown), rate,
                       c.max_bytes});
        growths_[c.component] = {c.max_entries, rate};
        g.acted(now);
      }
    }
  }

  // 3 connection_pool: grow while demand exceeds the connections kept open
  // (reads waiting, pool timeouts, overflow connections opened since the
  // last evaluation); shrink back once the peak use leaves connections idle.
  if (s.db) {
    auto waiting = double(s.db->waiting);
    if (prev && prev->db)
      waiting += double(diff(s.db->timeouts, prev->db->timeouts)) +
                 double(diff(s.db->overflow_opened, prev->db->overflow_opened));
    auto& g = gate("connection_pool", "db_pool");
    auto configured = cfg_.database.pool_size;
    auto ceiling = configured + cfg_.database.max_overflow;
    auto by = std::max<uint64_t>(
        1, uint64_t(std::ceil(rule("connection_pool").step * double(cfg_.database.max_overflow))));
    if (g.observe(waiting, now)) {
      if (pool_size_ < ceiling) {
        pool_size_ = std::min<uint64_t>(ceiling, pool_size_ + by);
        out.push_back(
            {"connection_pool", decision::set_pool_size, "db_pool", double(pool_size_), waiting});
        pool_changed_ = now;
        g.acted(now);
      }
    } else if (!g.firing() && pool_size_ > configured && s.db->waiting == 0 &&
               s.db->peak_in_use + by <= pool_size_ &&
               (!pool_changed_ || now - *pool_changed_ >= rule("connection_pool").cooldown)) {
      // Calm for a cooldown (the stabilization window) and a step's worth of
      // connections unused even at the peak: one step back toward the
      // configured size.
      pool_size_ -= std::min<uint64_t>(by, pool_size_ - configured);
      out.push_back(
          {"connection_pool", decision::set_pool_size, "db_pool", double(pool_size_), waiting});
      pool_changed_ = now;
    }
  }

  // 4 lazy_loading: components used soon after start are preloaded next time.
  {
    auto limit = std::chrono::duration<double>(rule("lazy_loading").threshold);
    if (rule("lazy_loading").enabled)
      for (auto& [name, first] : s.first_use)
        if (first && std::chrono::duration<double>(*first) <= limit &&
            std::find(preload_.begin(), preload_.end(), name) == preload_.end()) {
          preload_.push_back(name);
          out.push_back({"lazy_loading", decision::preload, name, 0,
                         std::chrono::duration<double>(*first).count()});
        }
  }

  // 4 (continued): unload lazy components unused for `for` (0: never).
  if (rule("lazy_loading").enabled && rule("lazy_loading").for_duration > timespan{0})
    for (auto& [name, idle] : s.idle_for)
      if (idle >= rule("lazy_loading").for_duration &&
          std::find(preload_.begin(), preload_.end(), name) == preload_.end())
        out.push_back({"lazy_loading", decision::unload, name,
                       std::chrono::duration<double>(idle).count(),
                       std::chrono::duration<double>(idle).count()});

  // 5 git_cache: grow the git cache while its hit rate is low.
  if (s.proc && prev && prev->proc) {
    auto hits = double(diff(s.proc->git_hits, prev->proc->git_hits));
    auto total = hits + double(diff(s.proc->git_misses, prev->proc->git_misses));
    if (total >= min_git_requests) {
      auto rate = 100 * hits / total;
      auto& g = gate("git_cache", "subprocess");
      if (g.observe(rate, now) && !memory_tight && s.proc->git_capacity > 0) {
        auto cur = git_capacity_.value_or(s.proc->git_capacity);
        auto grown = cur + std::max<uint64_t>(1, uint64_t(double(cur) * rule("git_cache").step));
        git_capacity_ = grown;
        out.push_back({"git_cache", decision::resize_git_cache, "subprocess", double(grown), rate});
        g.acted(now);
      }
    }
  }

  // 6 cpu_usage (before 8: both move max_processes; 6 wins an interval).
  bool cpu_moved = false;
  if (s.proc) {
    auto& g = gate("cpu_usage", "subprocess");
    auto configured = cfg_.subprocess.max_processes;
    if (g.observe(s.cpu_percent, now)) {
      // Overloaded at this level: do not restore up to it again soon.
      cpu_ceiling_ = max_processes_ > 1 ? max_processes_ - 1 : 1;
      cpu_calm_ = 0;
      auto lowered = std::max<uint64_t>(
          1, uint64_t(std::floor(double(max_processes_) * (1 - rule("cpu_usage").step))));
      if (lowered < max_processes_) {
        max_processes_ = lowered;
        out.push_back({"cpu_usage", decision::set_max_processes, "subprocess",
                       double(max_processes_), s.cpu_percent});
        cpu_moved = true;
      }
      // Background work too: sample less often, up to 4x the configured interval.
      auto stretched = std::min(monitor_interval_ * 2, cfg_.performance.monitor_interval * 4);
      if (stretched > monitor_interval_) {
        monitor_interval_ = stretched;
        out.push_back({"cpu_usage", decision::set_monitor_interval, "monitor",
                       std::chrono::duration<double>(monitor_interval_).count(), s.cpu_percent});
      }
      g.acted(now);
    } else if (!g.firing()) {
      if (monitor_interval_ > cfg_.performance.monitor_interval) {
        monitor_interval_ = cfg_.performance.monitor_interval;
        out.push_back({"cpu_usage", decision::set_monitor_interval, "monitor",
                       std::chrono::duration<double>(monitor_interval_).count(), s.cpu_percent});
      }
      // Restore gradually once CPU is back below the clear threshold, up to
      // what rule 8 last chose (or the configured limit), but not to the
      // level that overloaded until 10 calm evaluations have passed.
      if (cpu_ceiling_ && ++cpu_calm_ >= 10)
        cpu_ceiling_.reset();
      auto cap = std::min<uint64_t>(restore_target_.value_or(configured),
                                    cpu_ceiling_.value_or(configured));
      if (max_processes_ < cap) {
        auto by = std::max<uint64_t>(
            1, uint64_t(std::ceil(double(configured) * rule("cpu_usage").step / 2)));
        max_processes_ = std::min<uint64_t>(cap, max_processes_ + by);
        out.push_back({"cpu_usage", decision::set_max_processes, "subprocess",
                       double(max_processes_), s.cpu_percent});
        cpu_moved = true;
      }
    }
    cpu_moved = cpu_moved || g.firing();
  }

  // 7 disk_usage: checkpoint and VACUUM SQLite.
  {
    double worst = 0;
    for (auto& [path, pct] : s.disk_percent)
      worst = std::max(worst, pct);
    auto& g = gate("disk_usage", "");
    if (g.observe(worst, now)) {
      if (s.db) {
        out.push_back({"disk_usage", decision::checkpoint, "db_pool", 0, worst});
        out.push_back({"disk_usage", decision::vacuum, "db_pool", 0, worst});
      }
      out.push_back({"disk_usage", decision::rotate_logs, "logs", 0, worst});
      g.acted(now);
    }
  }

  // 8 parallel_efficiency: move max_processes toward what the load keeps busy.
  if (s.proc && prev && prev->proc && !cpu_moved) {
    auto busy = std::chrono::duration<double>(diff(s.proc->busy_time, prev->proc->busy_time));
    auto slots = std::chrono::duration<double>(diff(s.proc->slot_time, prev->proc->slot_time));
    auto wall = std::chrono::duration<double>(s.now - prev->now);
    if (busy.count() > 0 && slots.count() > 0 && wall.count() > 0) {
      auto efficiency = 100 * busy.count() / slots.count();
      auto& g = gate("parallel_efficiency", "subprocess");
      if (g.observe(efficiency, now) && s.proc->queued == 0) {
        auto used = busy.count() / wall.count(); // average commands running
        auto target = std::max(1.0, std::ceil(used * 1.25));
        auto cur = double(max_processes_);
        auto next = uint64_t(std::llround(cur + (target - cur) * rule("parallel_efficiency").step));
        next = std::clamp<uint64_t>(next, 1, 4096);
        if (next != max_processes_) {
          max_processes_ = next;
          restore_target_ = next;
          out.push_back({"parallel_efficiency", decision::set_max_processes, "subprocess",
                         double(next), efficiency});
          g.acted(now);
        }
      }
    }
  }
  return out;
}

} // namespace p21
