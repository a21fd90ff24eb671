// Rule 8, parallel_efficiency: move max_processes toward what the load keeps
// busy. Lowers it while slots sit idle (efficiency below the threshold) and
// nothing waits; raises it while commands wait for a slot and the CPU is
// free. Waits while rule 6 moved it this interval.

#include <algorithm>
#include <cmath>

#include "common.hpp"
#include "p21/protocol/monitor.hpp"
#include "p21/protocol/subprocess.hpp"

namespace p21 {

namespace {

/// Headroom above the commands running on average: the lowering branch
/// sizes for 1.25 x the load, so the raising one does too (a limit sized so
/// is 80 % busy, the clear threshold: neither branch moves it back).
constexpr double headroom = 1.25;

/// One window of the pool: what ran, what waited, what arrived.
struct pool_window {
  double wall = 0;
  /// Commands running on average (busy time over wall time).
  double running = 0;
  /// Commands that left the queue (or started at once) and that arrived.
  double started = 0;
  double arrived = 0;
  /// Mean wait for a slot and mean run time, seconds; run time is none when
  /// no command finished.
  double mean_wait = 0;
  std::optional<double> mean_run;
  /// Commands waited in the window: some are queued now, or the window's
  /// waits add up to 5 % of its run time (a stray short wait is no queue).
  bool queueing = false;
};

pool_window window_of(const node_snapshot::proc_view& now, const node_snapshot::proc_view& before,
                      double wall) {
  using rules::diff;
  pool_window w;
  w.wall = wall;
  w.running = rules::seconds(diff(now.busy_time, before.busy_time)) / wall;
  w.started = double(diff(now.queue_time.count, before.queue_time.count));
  w.arrived = w.started + double(diff(now.queued, before.queued));
  auto waited = std::max(0.0, now.queue_time.sum - before.queue_time.sum);
  auto ran = std::max(0.0, now.duration.sum - before.duration.sum);
  if (w.started > 0)
    w.mean_wait = waited / w.started;
  if (auto finished = double(diff(now.duration.count, before.duration.count)); finished > 0)
    w.mean_run = ran / finished;
  w.queueing = now.queued > 0 || (waited > 0 && waited >= 0.05 * ran);
  return w;
}

class parallel_efficiency final : public engine_rule {
public:
  parallel_efficiency()
    : engine_rule(rule_id::parallel_efficiency) {}

  std::vector<sensor> sensors() const override {
    using namespace subprocess_metrics;
    return {sensor::quantile_of(queue_seconds.name, 0.95), sensor::value_of(queued.name),
            sensor::rate_of(busy_seconds.name), sensor::value_of(monitor_metrics::system_cpu.name)};
  }

  std::optional<std::string> gate_target(const decision&) const override {
    return std::string{"subprocess"};
  }

  std::vector<decision> evaluate(rule_context& ctx) override {
    using rules::diff;
    std::vector<decision> out;
    auto& s = ctx.snapshot;
    auto* prev = ctx.previous;
    auto& st = ctx.state;
    st.procs_moved = st.cpu_moved;
    if (!s.proc || st.cpu_moved)
      return out;
    // Without a previous view of the pool (the first evaluation, or the
    // pool started since), the window is the pool's life so far: zero
    // counters, and the wall time its slot time at its limit makes.
    node_snapshot::proc_view zero;
    bool seen = prev && prev->proc;
    auto& pp = seen ? *prev->proc : zero;
    auto busy = std::chrono::duration<double>(diff(s.proc->busy_time, pp.busy_time));
    auto slots = std::chrono::duration<double>(diff(s.proc->slot_time, pp.slot_time));
    auto wall = seen ? std::chrono::duration<double>(s.now - prev->now)
                     : slots / double(std::max<uint64_t>(1, s.proc->max_processes));
    if (busy.count() <= 0 || slots.count() <= 0 || wall.count() <= 0)
      return out;
    auto w = window_of(*s.proc, pp, wall.count());
    auto now = ctx.now();
    if (!w.queueing)
      waiting_since_.reset();
    else if (!waiting_since_)
      waiting_since_ = now;
    auto efficiency = 100 * busy.count() / slots.count();
    auto& g = ctx.gate("subprocess");
    std::optional<uint64_t> next;
    std::string why;
    if (g.observe(efficiency, now)) {
      // Idle slots, but never taken away while commands wait for one.
      if (!w.queueing)
        next = lowered(ctx, w);
    } else if (w.queueing && !g.firing()) {
      next = raised(ctx, w, why);
    }
    if (next && *next != st.max_processes) {
      st.max_processes = *next;
      st.restore_target = *next;
      out.push_back(ctx.decide(decision::set_max_processes, "subprocess", double(*next),
                               efficiency, 0, why));
      // One cooldown for both directions: no flapping between them.
      g.acted(now);
      last_move_ = now;
      st.procs_moved = true;
    }
    return out;
  }

private:
  /// `step` of the way toward what the load keeps busy.
  static uint64_t lowered(const rule_context& ctx, const pool_window& w) {
    auto target = std::max(1.0, std::ceil(w.running * headroom));
    auto cur = double(ctx.state.max_processes);
    auto next = uint64_t(std::llround(cur + (target - cur) * ctx.settings().step));
    return std::clamp<uint64_t>(next, 1, 4096);
  }

  /// Commands wait and the CPU is free: in model mode to what Little's law
  /// says the load needs, in fixed mode by `step`; bounded by the CPU
  /// headroom, rule 6's ceiling and 4096. None while waiting for `for` or
  /// the cooldown, while memory is tight, or while the CPU is not below
  /// rule 6's clear threshold.
  std::optional<uint64_t> raised(const rule_context& ctx, const pool_window& w,
                                 std::string& why) const {
    using rules::fmt;
    auto& rc = ctx.settings();
    auto now = ctx.now();
    auto& st = ctx.state;
    auto& s = ctx.snapshot;
    auto cpu_clear = ctx.settings(rule_id::cpu_usage).clear_threshold;
    if (!waiting_since_ || now - *waiting_since_ < rc.for_duration)
      return std::nullopt;
    if (last_move_ && now - *last_move_ < rc.cooldown)
      return std::nullopt;
    if (st.memory_tight || s.cpu_percent >= cpu_clear)
      return std::nullopt;
    auto cur = st.max_processes;
    auto next = cur + std::max<uint64_t>(1, uint64_t(std::ceil(double(cur) * rc.step)));
    if (ctx.model() && w.mean_run) {
      // Little's law: commands in the pool on average = the rate they
      // start at x the time each spends in it (waiting + running). The
      // arrivals x run time say the same when the queue grew in the window
      // (an open load the pool could not keep up with).
      auto in_pool = w.started / w.wall * (w.mean_wait + *w.mean_run);
      auto offered = w.arrived / w.wall * *w.mean_run;
      auto load = std::max(in_pool, offered);
      next = std::max<uint64_t>(cur + 1, uint64_t(std::ceil(load * headroom)));
      why = "Little's law: " + fmt(w.started / w.wall) + " commands/s x (" +
            fmt(1000 * w.mean_wait) + " ms waiting + " + fmt(1000 * *w.mean_run) +
            " ms running) = " + fmt(load, 2) + " in the pool; " + std::to_string(next) +
            " slots for 1.25 x that";
    } else {
      why = "commands wait for a slot: " + std::to_string(s.proc->queued) + " queued, " +
            fmt(1000 * w.mean_wait) + " ms on average";
    }
    why += "; CPU " + fmt(s.cpu_percent) + " %";
    // Add no more commands than keep CPU under rule 6's clear threshold, at
    // what each running command costs: the CPU of the node's child
    // processes that ended in the window (the monitor's
    // `children_cpu_percent`) over the commands running; without it, the
    // machine's whole CPU charged to them (the cautious side, as rule 6
    // does), a CPU at most each. Sleeping or waiting commands cost little
    // and get the slots they wait for; CPU-bound ones stop short of the
    // level rule 6 would lower again.
    if (w.running > 0) {
      bool own = s.children_cpu_percent.has_value();
      auto per_command =
          std::min(own ? *s.children_cpu_percent / w.running : s.cpu_percent / w.running,
                   100.0 / double(std::max(1u, s.cpus)));
      if (per_command > 0) {
        auto fits = uint64_t(std::floor(w.running + (cpu_clear - s.cpu_percent) / per_command));
        if (fits < next) {
          why += "; bound: " + std::to_string(fits) + " keep CPU under " + fmt(cpu_clear, 0) +
                 " % at " + fmt(per_command) + " % per command (" +
                 (own ? "the commands' own CPU" : "the machine's CPU charged to them") + ")";
          next = fits;
        }
      }
    }
    if (st.cpu_ceiling && *st.cpu_ceiling < next) {
      next = *st.cpu_ceiling;
      why += "; bound: rule 6's ceiling " + std::to_string(next);
    }
    next = std::min<uint64_t>(next, 4096);
    if (next <= cur)
      return std::nullopt;
    return next;
  }

  /// Since when commands have waited (the raise's `for`).
  std::optional<std::chrono::steady_clock::time_point> waiting_since_;
  /// The last move, either way (the raise's cooldown; the lowering one is
  /// the gate's, which a raise also starts).
  std::optional<std::chrono::steady_clock::time_point> last_move_;
};

} // namespace

std::unique_ptr<engine_rule> make_parallel_efficiency_rule() {
  return std::make_unique<parallel_efficiency>();
}

} // namespace p21
