// The optimizer's node snapshot from typed inputs: the monitor's system
// values, read through the same selectors as an application's rule
// (p21/sensor.hpp) from the families the monitor declares, and the
// subsystems' typed stats. Nothing here spells a metric name; a subsystem
// is recognized by the type of the stats it reports.

#include <algorithm>
#include <thread>

#include <caf/message.hpp>

#include "engine.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/monitor.hpp"
#include "p21/protocol/subprocess.hpp"
#include "p21/sensor.hpp"
#include "rules/snapshot_view.hpp"

namespace p21 {

namespace {

node_snapshot::cache_view cache_view_of(const std::string& component, const cache_stats& x) {
  node_snapshot::cache_view v;
  v.component = component;
  v.hits = x.hits;
  v.misses = x.misses;
  v.evictions = x.evictions;
  v.capacity_misses = x.capacity_misses;
  v.max_entries = x.max_entries;
  v.max_bytes = x.max_bytes;
  v.entries = x.entries;
  v.bytes = x.bytes;
  v.ghost_hit_depths = x.ghost_hit_depths;
  v.load_successes = x.load_successes;
  v.load_time = x.load_time;
  return v;
}

node_snapshot::db_view db_view_of(const db_pool_stats& x) {
  node_snapshot::db_view v;
  v.waiting = x.waiting;
  v.idle = x.idle;
  v.timeouts = x.timeouts;
  v.overflow_opened = x.overflow_opened;
  v.peak_in_use = x.peak_in_use;
  v.acquire_time = x.acquire_time;
  v.query_time = x.query_time;
  return v;
}

node_snapshot::proc_view proc_view_of(const subprocess_stats& x) {
  node_snapshot::proc_view v;
  v.max_processes = x.max_processes;
  v.queued = x.queued;
  v.busy_time = x.busy_time;
  v.slot_time = x.slot_time;
  v.git_hits = x.git_hits;
  v.git_misses = x.git_misses;
  v.git_capacity = x.git_capacity;
  v.git_ghost_hit_depths = x.git_ghost_hit_depths;
  v.duration = x.duration;
  v.queue_time = x.queue_time;
  return v;
}

} // namespace

node_snapshot make_snapshot(const performance_summary& sum, const metric_set& m,
                            uint64_t memory_budget, const std::vector<std::string>& knobs) {
  node_snapshot s;
  namespace d = monitor_metrics;
  auto percent = [&](const metric_def& def) {
    return 100 * metric_value(m, sensor::value_of(def.name)).value_or(0);
  };
  s.cpu_percent = percent(d::system_cpu);
  s.memory_percent = percent(d::system_memory);
  if (auto c = metric_value(m, sensor::value_of(d::children_cpu.name)))
    s.children_cpu_percent = 100 * *c;
  s.cpus = std::max(1u, std::thread::hardware_concurrency());
  s.rss_bytes = uint64_t(metric_value(m, sensor::value_of(d::resident_memory.name)).value_or(0));
  s.memory_budget = memory_budget;
  if (memory_budget > 0)
    s.memory_percent =
        std::max(s.memory_percent, 100.0 * double(s.rss_bytes) / double(memory_budget));
  for (auto& g : m.gauges)
    if (d::disk_usage.names(g.name))
      if (auto path = g.labels.find("path"); path != g.labels.end())
        s.disk_percent[path->second] = 100 * g.value;
  auto& stats = m.stats;
  // The map is ordered by component, so caches come out in name order (as
  // the engine saw them before the stats were typed).
  for (auto& [component, msg] : stats) {
    if (component.empty())
      continue;
    if (msg.match_elements<cache_stats>())
      s.caches.push_back(cache_view_of(component, msg.get_as<cache_stats>(0)));
    else if (msg.match_elements<db_pool_stats>())
      s.db = db_view_of(msg.get_as<db_pool_stats>(0));
    else if (msg.match_elements<subprocess_stats>())
      s.proc = proc_view_of(msg.get_as<subprocess_stats>(0));
  }
  // The knobs the rules read, as the monitor's round read them from their
  // owners (`p21_knob_value`); a knob whose owner did not answer is absent.
  for (auto& g : m.gauges)
    if (d::knob_value.names(g.name))
      if (auto k = g.labels.find("knob"); k != g.labels.end())
        if (std::find(knobs.begin(), knobs.end(), k->second) != knobs.end())
          s.knobs[k->second] = g.value;
  s.summary = std::make_shared<const performance_summary>(sum);
  s.metrics = std::make_shared<const metric_set>(m);
  return s;
}

void add_components(node_snapshot& s, const node_view& view,
                    std::chrono::steady_clock::time_point now) {
  if (!view.stats)
    return;
  auto uptime = std::chrono::duration_cast<timespan>(now - view.epoch);
  for (auto& cs : view.stats()) {
    if (cs.prio == priority::critical)
      continue;
    s.first_use[cs.name] = cs.first_use;
    if (cs.running && cs.start_time)
      s.idle_for[cs.name] = uptime - cs.last_use.value_or(*cs.start_time);
  }
}

} // namespace p21
