#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "engine.hpp"
#include "p21/db_config.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/subprocess_config.hpp"

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

/// `now - before` bucket by bucket (a window of a cumulative histogram).
std::vector<uint64_t> diff(const std::vector<uint64_t>& now, const std::vector<uint64_t>& before) {
  std::vector<uint64_t> out(now.size());
  for (size_t i = 0; i < now.size(); ++i)
    out[i] = diff(now[i], i < before.size() ? before[i] : uint64_t{0});
  return out;
}

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string fmt(double x, int precision = 1) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << x;
  return out.str();
}

/// Extra entries a cache may take within the memory left below rule 1's
/// clear threshold of `memory_budget` (none without a budget or a size).
std::optional<uint64_t> budget_entries(const node_snapshot& s, double clear_percent,
                                       uint64_t entries, uint64_t bytes) {
  if (s.memory_budget == 0 || entries == 0 || bytes == 0)
    return std::nullopt;
  auto room = clear_percent / 100 * double(s.memory_budget) - double(s.rss_bytes);
  if (room <= 0)
    return uint64_t{0};
  return uint64_t(room / (double(bytes) / double(entries)));
}

} // namespace

// -- the engine -------------------------------------------------------------------------

optimizer_engine::optimizer_engine(const config& cfg)
  : cfg_(cfg)
  , pool_size_(cfg.get<database_config>().pool_size)
  , max_processes_(cfg.get<subprocess_config>().max_processes)
  , monitor_interval_(cfg.performance.monitor_interval) {
  // A rule the config does not set runs with its defaults.
  for (auto& [name, rc] : default_rules())
    cfg_.get<optimizer_config>().rules.emplace(name, rc);
}

rule_gate& optimizer_engine::gate(const std::string& rule, const std::string& target) {
  auto key = std::make_pair(rule, target);
  auto i = gates_.find(key);
  if (i == gates_.end())
    i = gates_.emplace(key, rule_gate{cfg_.get<optimizer_config>().rules.at(rule), rule_fires_above(rule)}).first;
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
  else if (d.rule != "memory_pressure" && d.rule != "disk_usage" && d.rule != "response_time")
    return std::nullopt;
  auto i = gates_.find(std::make_pair(d.rule, target));
  if (i == gates_.end())
    return std::nullopt;
  return i->second.last_value();
}

bool optimizer_engine::set_rule(const std::string& name, const rule_config& rc) {
  auto i = cfg_.get<optimizer_config>().rules.find(name);
  if (i == cfg_.get<optimizer_config>().rules.end())
    return false;
  // A new horizon starts its forecasts' caution afresh (the smoothing
  // itself runs with forecasts off too, so it is warm).
  if (i->second.predict != rc.predict)
    for (auto& [key, f] : forecasts_)
      if (key.first == name) {
        f.caution = 1.0;
        f.off_until.reset();
      }
  i->second = rc;
  for (auto& [key, g] : gates_)
    if (key.first == name)
      g.settings(rc);
  return true;
}

double optimizer_engine::caution(const std::string& rule, const std::string& target) const {
  auto i = forecasts_.find(std::make_pair(rule, target));
  return i == forecasts_.end() ? 1.0 : i->second.caution;
}

std::optional<double> optimizer_engine::foresee(const std::string& rule, const std::string& target,
                                                double value,
                                                std::chrono::steady_clock::time_point now,
                                                forecast_use use) {
  auto& rc = cfg_.get<optimizer_config>().rules.at(rule);
  auto& f = forecasts_[std::make_pair(rule, target)];
  bool on = rc.predict > timespan{0};
  // Judge the one-step forecast for now: it did not come true when the value
  // lies outside its band (3 residuals, at least 5 % of the scale).
  if (auto e = f.holt.expected(now); e && on) {
    auto scale = std::max({std::fabs(rc.threshold), std::fabs(value), 1.0});
    auto band = std::max(3 * f.holt.residual(), 0.05 * scale);
    if (std::fabs(value - *e) > band) {
      ++f.misses;
      ++forecast_misses_[rule];
      f.caution *= 2; // a wider margin: the forecast must cross by more
      // And a rest after repeated misses, for triggers only: a capacity
      // sized without its forecast would lag the demand, and its wider
      // margin already errs on the safe side.
      if (f.misses % 3 == 0 && use == forecast_use::trigger)
        f.off_until = now + 10 * rc.predict;
    } else {
      f.caution = std::max(1.0, f.caution * 0.9);
    }
  }
  f.holt.observe(value, now);
  if (!on || (f.off_until && now < *f.off_until))
    return std::nullopt;
  auto p = f.holt.at(rc.predict);
  if (!p)
    return std::nullopt;
  auto margin = f.caution * f.holt.residual();
  bool upward = rule_fires_above(rule) == (use == forecast_use::capacity);
  return upward ? *p + margin : *p - margin;
}

void optimizer_engine::forecast_acted(const std::string& rule, const std::string& target) {
  if (auto i = forecasts_.find(std::make_pair(rule, target)); i != forecasts_.end())
    i->second.holt.rebase();
}

std::vector<decision> optimizer_engine::evaluate(const node_snapshot& s) {
  std::vector<decision> out;
  auto prev = std::move(last_);
  last_ = s;
  auto now = s.now;
  auto rule = [&](const char* name) -> const rule_config& {
    return cfg_.get<optimizer_config>().rules.at(name);
  };
  auto horizon = [&](const char* name) {
    return format_duration(rule(name).predict);
  };
  // Counters are cumulative: without a previous snapshot (the first
  // evaluation) the window is everything since the start.
  auto prev_cache = [&](const node_snapshot::cache_view& c) {
    if (prev)
      for (auto& x : prev->caches)
        if (x.component == c.component)
          return x;
    node_snapshot::cache_view zero;
    zero.component = c.component;
    zero.max_entries = c.max_entries;
    return zero;
  };

  // 1 memory_pressure: shrink caches, release SQLite memory. The model
  // shrinks by what brings memory to the clear threshold (when the caches'
  // bytes and a budget say how much that is); a forecast may act before the
  // threshold is crossed.
  bool memory_tight = false;
  {
    auto& g = gate("memory_pressure", "");
    auto seen = s.memory_percent;
    std::string why;
    if (auto f = foresee("memory_pressure", "", s.memory_percent, now); f && *f > seen) {
      if (*f > rule("memory_pressure").threshold)
        why = "forecast " + fmt(*f) + " % within " + horizon("memory_pressure");
      seen = *f;
    }
    if (g.observe(seen, now)) {
      auto step = rule("memory_pressure").step;
      uint64_t cached = 0;
      for (auto& c : s.caches)
        cached += c.bytes;
      if (model() && s.memory_budget > 0 && cached > 0) {
        auto excess =
            (seen - rule("memory_pressure").clear_threshold) / 100 * double(s.memory_budget);
        auto fraction = std::clamp(excess / double(cached), 0.05, 1.0);
        why += std::string{why.empty() ? "" : "; "} + "model: " + fmt(excess / double(1 << 20)) +
               " MiB above " + fmt(rule("memory_pressure").clear_threshold, 0) +
               " % of the budget, " + fmt(double(cached) / double(1 << 20)) + " MiB cached";
        step = std::ceil(fraction * 100) / 100;
      }
      for (auto& c : s.caches)
        out.push_back({"memory_pressure", decision::shrink_cache, c.component, step,
                       s.memory_percent, 0, why});
      if (s.db)
        out.push_back(
            {"memory_pressure", decision::release_memory, "db_pool", 0, s.memory_percent});
      out.push_back({"memory_pressure", decision::signal_pressure, "resources", step,
                     s.memory_percent, 0, why});
      g.acted(now);
      forecast_acted("memory_pressure", "");
    }
    // Rules that grow memory wait while memory is not back below the clear
    // threshold: one decision path, rules 1 and 2 never fight.
    memory_tight = g.firing() || s.memory_percent >= rule("memory_pressure").clear_threshold;
  }

  // How far a cache grows: in model mode to the size its miss-ratio curve
  // says reaches `target` (within the memory budget); else by `step`.
  auto grown_cache = [&](const node_snapshot::cache_view& c, const node_snapshot::cache_view& p,
                         double hits, double total, double target, double step, std::string& why) {
    auto by_step = c.max_entries + std::max<uint64_t>(1, uint64_t(double(c.max_entries) * step));
    if (!model())
      return by_step;
    auto curve = mrc_entries(diff(c.ghost_hit_depths, p.ghost_hit_depths), hits, total,
                             c.max_entries, target);
    if (!curve)
      return by_step;
    auto next = std::max(curve->entries, c.max_entries + 1);
    why = "miss-ratio curve: " + fmt(curve->hit_rate) + " % at " + std::to_string(next) +
          " entries" + (curve->reached ? "" : " (as far as the ghost list sees)");
    // The jump is not capped by `step`: the bound that applied is named.
    auto room = budget_entries(s, rule("memory_pressure").clear_threshold, c.entries, c.bytes);
    if (room && next > c.max_entries + *room) {
      next = std::max(c.max_entries + 1, c.max_entries + *room);
      why += "; held to " + std::to_string(next) + " by the memory budget (room for " +
             std::to_string(*room) + " more below memory_pressure's clear threshold)";
    } else if (!curve->reached) {
      why += "; bound: the ghost list's reach";
    } else if (room) {
      why += "; within the memory budget (room for " + std::to_string(*room) + " more)";
    } else {
      why += "; no memory budget bounds it";
    }
    return next;
  };

  // 2 cache_hit_rate: grow a cache whose misses are capacity misses; undo a
  // growth that did not raise the hit rate.
  for (auto& c : s.caches) {
    auto p = prev_cache(c);
    auto hits = double(diff(c.hits, p.hits));
    auto total = hits + double(diff(c.misses, p.misses));
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
    auto seen = rate;
    std::string why;
    if (auto f = foresee("cache_hit_rate", c.component, rate, now); f && *f < seen) {
      if (*f < rule("cache_hit_rate").threshold)
        why = "forecast " + fmt(*f) + " % within " + horizon("cache_hit_rate");
      seen = *f;
    }
    bool act = g.observe(seen, now);
    // Capacity misses: keys evicted, then asked for again (the ghost list).
    bool capacity_bound = diff(c.capacity_misses, p.capacity_misses) > 0;
    if (act && capacity_bound && !memory_tight) {
      std::string model_why;
      auto grown = grown_cache(c, p, hits, total, rule("cache_hit_rate").clear_threshold,
                               rule("cache_hit_rate").step, model_why);
      if (!model_why.empty())
        why += (why.empty() ? "" : "; ") + model_why;
      out.push_back({"cache_hit_rate", decision::resize_cache, c.component, double(grown), rate,
                     c.max_bytes, why});
      growths_[c.component] = {c.max_entries, rate};
      g.acted(now);
      forecast_acted("cache_hit_rate", c.component);
    }
  }

  // 3 connection_pool: grow while demand exceeds the connections kept open
  // (reads waiting, pool timeouts, overflow connections opened since the
  // last evaluation); shrink back once the peak use leaves connections idle.
  // The model sizes the pool by Little's law: connections needed = arrival
  // rate x time a connection is held, plus the reads that waited (their
  // time waiting over the window), and at least the peak in use; a forecast
  // of that demand sizes for where it is heading.
  if (s.db) {
    auto waiting = double(s.db->waiting);
    node_snapshot::db_view zero;
    auto& pdb = prev && prev->db ? *prev->db : zero;
    waiting += double(diff(s.db->timeouts, pdb.timeouts)) +
               double(diff(s.db->overflow_opened, pdb.overflow_opened));
    auto& g = gate("connection_pool", "db_pool");
    auto configured = cfg_.get<database_config>().pool_size;
    auto ceiling = configured + cfg_.get<database_config>().max_overflow;
    auto by = std::max<uint64_t>(
        1, uint64_t(std::ceil(rule("connection_pool").step * double(cfg_.get<database_config>().max_overflow))));
    if (model()) {
      double demand = double(s.db->peak_in_use);
      std::string why = "peak " + std::to_string(s.db->peak_in_use) + " in use";
      if (prev && prev->db) {
        auto wall = seconds(s.now - prev->now);
        auto held = s.db->query_time.sum - pdb.query_time.sum;
        auto waited = s.db->acquire_time.sum - pdb.acquire_time.sum;
        auto reads = double(diff(s.db->query_time.count, pdb.query_time.count));
        if (wall > 0 && reads > 0 && held >= 0) {
          auto little = (held + std::max(0.0, waited)) / wall;
          why = "Little's law: " + fmt(reads / wall) + " reads/s x " + fmt(1000 * held / reads, 2) +
                " ms held + " + fmt(std::max(0.0, waited) / wall, 2) +
                " waiting = " + fmt(little, 2) + "; " + why;
          demand = std::max(demand, little);
        }
      }
      auto target = demand;
      if (auto f = foresee("connection_pool", "db_pool", demand, now, forecast_use::capacity);
          f && *f > demand) {
        target = *f;
        why += "; forecast " + fmt(*f, 2) + " within " + horizon("connection_pool");
      }
      auto wanted = uint64_t(std::ceil(target - 1e-6));
      auto needed = std::clamp<uint64_t>(wanted, configured, ceiling);
      if (wanted > ceiling)
        why += "; held to " + std::to_string(ceiling) + " by pool_size + max_overflow";
      // Short of connections now or soon: the gate sees the shortfall (or
      // the waits, whichever is larger).
      auto shortfall = std::max(waiting, double(needed) - double(pool_size_));
      if (g.observe(shortfall, now)) {
        if (needed > pool_size_) {
          pool_size_ = needed;
          out.push_back({"connection_pool", decision::set_pool_size, "db_pool", double(pool_size_),
                         waiting, 0, why});
          pool_changed_ = now;
          g.acted(now);
        }
      } else if (!g.firing() && needed + by <= pool_size_ && s.db->waiting == 0 &&
                 (!pool_changed_ || now - *pool_changed_ >= rule("connection_pool").cooldown)) {
        // Calm for a cooldown and a step's worth unused: straight to what
        // the demand needs (a step of slack keeps it from see-sawing).
        pool_size_ = needed;
        out.push_back({"connection_pool", decision::set_pool_size, "db_pool", double(pool_size_),
                       waiting, 0, why});
        pool_changed_ = now;
      }
    } else if (g.observe(waiting, now)) {
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

  // 5 git_cache: grow the git cache while its hit rate is low (to what its
  // miss-ratio curve says in model mode).
  if (s.proc) {
    node_snapshot::proc_view zero;
    auto& pp = prev && prev->proc ? *prev->proc : zero;
    auto hits = double(diff(s.proc->git_hits, pp.git_hits));
    auto total = hits + double(diff(s.proc->git_misses, pp.git_misses));
    if (total >= min_git_requests) {
      auto rate = 100 * hits / total;
      auto& g = gate("git_cache", "subprocess");
      auto seen = rate;
      if (auto f = foresee("git_cache", "subprocess", rate, now); f && *f < seen)
        seen = *f;
      if (g.observe(seen, now) && !memory_tight && s.proc->git_capacity > 0) {
        auto cur = git_capacity_.value_or(s.proc->git_capacity);
        auto grown = cur + std::max<uint64_t>(1, uint64_t(double(cur) * rule("git_cache").step));
        std::string why;
        if (model())
          if (auto curve = mrc_entries(diff(s.proc->git_ghost_hit_depths, pp.git_ghost_hit_depths),
                                       hits, total, cur, rule("git_cache").clear_threshold)) {
            grown = std::max(curve->entries, cur + 1);
            // The git cache reports no byte sizes: the ghost list's reach
            // bounds the jump, and growth waits while memory is tight.
            why = "miss-ratio curve: " + fmt(curve->hit_rate) + " % at " + std::to_string(grown) +
                  " entries" +
                  (curve->reached ? ""
                                  : " (as far as the ghost list sees); bound: the ghost "
                                    "list's reach");
          }
        git_capacity_ = grown;
        out.push_back(
            {"git_cache", decision::resize_git_cache, "subprocess", double(grown), rate, 0, why});
        g.acted(now);
        forecast_acted("git_cache", "subprocess");
      }
    }
  }

  // 6 cpu_usage (before 8: both move max_processes; 6 wins an interval).
  bool cpu_moved = false;
  if (s.proc) {
    auto& g = gate("cpu_usage", "subprocess");
    auto configured = cfg_.get<subprocess_config>().max_processes;
    auto seen = s.cpu_percent;
    std::string forecast_why;
    if (auto f = foresee("cpu_usage", "subprocess", s.cpu_percent, now); f && *f > seen) {
      if (*f > rule("cpu_usage").threshold)
        forecast_why = "forecast " + fmt(*f) + " % within " + horizon("cpu_usage") + "; ";
      seen = *f;
    }
    if (g.observe(seen, now)) {
      // Overloaded at this level: do not restore up to it again soon.
      cpu_ceiling_ = max_processes_ > 1 ? max_processes_ - 1 : 1;
      cpu_calm_ = 0;
      auto lowered = std::max<uint64_t>(
          1, uint64_t(std::floor(double(max_processes_) * (1 - rule("cpu_usage").step))));
      std::string why;
      if (model()) {
        // CPU per running command: the machine's CPU over the commands that
        // ran on average (all of it counted as theirs: the cautious side).
        // Saturated, the measurement only bounds it from below: assume a
        // whole CPU per command.
        auto cpus = double(std::max(1u, s.cpus));
        auto target = rule("cpu_usage").clear_threshold;
        std::optional<double> running;
        if (prev && prev->proc) {
          auto wall = seconds(s.now - prev->now);
          auto busy = std::chrono::duration<double>(diff(s.proc->busy_time, prev->proc->busy_time));
          if (wall > 0 && busy.count() > 0)
            running = busy.count() / wall;
        }
        double per_command = 100.0 / cpus; // % of the machine per command
        if (seen < 95 && running && *running > 0.5) {
          per_command = std::max(seen / *running, 1.0);
          why = "model: " + fmt(seen) + " % over " + fmt(*running, 2) +
                " commands running = " + fmt(per_command) + " % each";
        } else {
          why = "model: saturated, a CPU (" + fmt(per_command) + " %) per command";
        }
        auto fits = std::max<uint64_t>(1, uint64_t(std::floor(target / per_command)));
        lowered = std::min(fits, max_processes_ > 1 ? max_processes_ - 1 : uint64_t{1});
        why += ": " + std::to_string(lowered) + " keep CPU under " + fmt(target, 0) + " %";
        if (fits > lowered)
          why += " (bound: one below the current limit; the model allows " + std::to_string(fits) +
                 ")";
        // Restores stop at what the model chose.
        cpu_ceiling_ = lowered;
      }
      if (lowered < max_processes_) {
        max_processes_ = lowered;
        out.push_back({"cpu_usage", decision::set_max_processes, "subprocess",
                       double(max_processes_), s.cpu_percent, 0, forecast_why + why});
        cpu_moved = true;
        forecast_acted("cpu_usage", "subprocess");
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
  bool procs_moved = cpu_moved;
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
          procs_moved = true;
        }
      }
    }
  }

  // 9 response_time: the slowest subsystem's p95 over the window; the action
  // goes where its time goes. Waiting for a connection: pool size; waiting
  // for a process slot: the process limit; loading on misses: the cache's
  // size. Time spent in the work itself has no knob here: nothing is done.
  {
    struct candidate {
      std::string subsystem;
      double p95_ms = 0;
      /// Share of the time spent waiting (or loading, for a cache).
      double wait_share = 0;
      std::string detail;
    };
    std::optional<candidate> worst;
    auto consider = [&](candidate c) {
      if (!worst || c.p95_ms > worst->p95_ms)
        worst = std::move(c);
    };
    if (s.db) {
      node_snapshot::db_view zero;
      auto& pdb = prev && prev->db ? *prev->db : zero;
      auto wait = window_quantile(s.db->acquire_time, pdb.acquire_time, 0.95);
      auto work = window_quantile(s.db->query_time, pdb.query_time, 0.95);
      if (wait || work) {
        auto w = wait.value_or(0), q = work.value_or(0);
        consider({"db_pool", 1000 * (w + q), w + q > 0 ? w / (w + q) : 0,
                  "p95 " + fmt(1000 * w) + " ms waiting for a connection, " + fmt(1000 * q) +
                      " ms holding it"});
      }
    }
    if (s.proc) {
      node_snapshot::proc_view zero;
      auto& pp = prev && prev->proc ? *prev->proc : zero;
      auto wait = window_quantile(s.proc->queue_time, pp.queue_time, 0.95);
      auto work = window_quantile(s.proc->duration, pp.duration, 0.95);
      if (wait || work) {
        auto w = wait.value_or(0), q = work.value_or(0);
        consider({"subprocess", 1000 * (w + q), w + q > 0 ? w / (w + q) : 0,
                  "p95 " + fmt(1000 * w) + " ms waiting for a process slot, " + fmt(1000 * q) +
                      " ms running"});
      }
    }
    for (auto& c : s.caches) {
      // A cache's response is a hit (fast) or a load: with more than 5 % of
      // lookups missing, its p95 is a load, whose mean the cache counts.
      auto p = prev_cache(c);
      auto loads = double(diff(c.load_successes, p.load_successes));
      auto misses = double(diff(c.misses, p.misses));
      auto total = misses + double(diff(c.hits, p.hits));
      if (loads > 0 && total > 0 && misses / total > 0.05) {
        auto mean = seconds(diff(c.load_time, p.load_time)) / loads;
        consider(
            {c.component, 1000 * mean, 1.0,
             fmt(100 * misses / total) + " % misses, each loading " + fmt(1000 * mean) + " ms"});
      }
    }
    auto& g = gate("response_time", "");
    if (worst && g.observe(worst->p95_ms, now)) {
      auto why = worst->subsystem + ": " + worst->detail;
      bool acted = false;
      if (worst->wait_share >= 0.5 && worst->subsystem == "db_pool") {
        auto ceiling = cfg_.get<database_config>().pool_size + cfg_.get<database_config>().max_overflow;
        auto next = std::min<uint64_t>(
            ceiling,
            pool_size_ + std::max<uint64_t>(1, uint64_t(std::ceil(double(pool_size_) *
                                                                  rule("response_time").step))));
        if (next > pool_size_) {
          pool_size_ = next;
          pool_changed_ = now;
          out.push_back({"response_time", decision::set_pool_size, "db_pool", double(next),
                         worst->p95_ms, 0, why});
          acted = true;
        }
      } else if (worst->wait_share >= 0.5 && worst->subsystem == "subprocess" && !procs_moved &&
                 s.cpu_percent < rule("cpu_usage").clear_threshold) {
        auto next = std::min<uint64_t>(
            4096, max_processes_ +
                      std::max<uint64_t>(1, uint64_t(std::ceil(double(max_processes_) *
                                                               rule("response_time").step))));
        max_processes_ = next;
        restore_target_ = next;
        out.push_back({"response_time", decision::set_max_processes, "subprocess", double(next),
                       worst->p95_ms, 0, why});
        acted = true;
      } else if (worst->subsystem != "db_pool" && worst->subsystem != "subprocess" &&
                 !memory_tight) {
        for (auto& c : s.caches)
          if (c.component == worst->subsystem) {
            auto p = prev_cache(c);
            auto hits = double(diff(c.hits, p.hits));
            auto total = hits + double(diff(c.misses, p.misses));
            std::string model_why;
            auto grown = grown_cache(c, p, hits, total, rule("cache_hit_rate").clear_threshold,
                                     rule("response_time").step, model_why);
            if (!model_why.empty())
              why += "; " + model_why;
            out.push_back({"response_time", decision::resize_cache, c.component, double(grown),
                           worst->p95_ms, c.max_bytes, why});
            acted = true;
          }
      }
      if (acted)
        g.acted(now);
    }
  }
  return out;
}

} // namespace p21
