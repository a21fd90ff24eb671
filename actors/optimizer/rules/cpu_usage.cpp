// Rule 6, cpu_usage: lower the subprocess pool's concurrency under CPU load
// (in model mode to what the CPU per running command allows), stretch the
// monitor's sampling, and restore both gradually once CPU is calm. Runs
// before rule 8: both move max_processes, and 6 wins an interval.

#include <algorithm>
#include <cmath>

#include "common.hpp"
#include "p21/protocol/monitor.hpp"
#include "p21/subprocess_config.hpp"

namespace p21 {

namespace {

class cpu_usage final : public engine_rule {
public:
  cpu_usage()
    : engine_rule(rule_id::cpu_usage) {}

  /// A guard: rule 8 and rule 9 follow what it did to max_processes, so
  /// every wake-up runs it.
  bool woken_by(const std::vector<std::string>&) const override { return true; }

  std::vector<sensor> sensors() const override {
    return {sensor::value_of(monitor_metrics::system_cpu.name)};
  }

  std::optional<std::string> gate_target(const decision&) const override {
    return std::string{"subprocess"};
  }

  std::vector<decision> evaluate(rule_context& ctx) override {
    using rules::fmt;
    std::vector<decision> out;
    auto& s = ctx.snapshot;
    if (!s.proc)
      return out;
    auto& st = ctx.state;
    auto& rc = ctx.settings();
    auto now = ctx.now();
    auto& g = ctx.gate("subprocess");
    auto configured = ctx.cfg().get<subprocess_config>().max_processes;
    auto configured_interval = ctx.cfg().performance.monitor_interval;
    bool moved = false;
    auto seen = s.cpu_percent;
    std::string forecast_why;
    if (auto f = ctx.foresee("subprocess", s.cpu_percent); f && *f > seen) {
      if (*f > rc.threshold)
        forecast_why = "forecast " + fmt(*f) + " % within " + ctx.horizon() + "; ";
      seen = *f;
    }
    if (g.observe(seen, now)) {
      // Overloaded at this level: do not restore up to it again soon.
      st.cpu_ceiling = st.max_processes > 1 ? st.max_processes - 1 : 1;
      st.cpu_calm = 0;
      auto lowered =
          std::max<uint64_t>(1, uint64_t(std::floor(double(st.max_processes) * (1 - rc.step))));
      std::string why;
      if (ctx.model()) {
        lowered = modelled(ctx, seen, why);
        // Restores stop at what the model chose.
        st.cpu_ceiling = lowered;
      }
      if (lowered < st.max_processes) {
        st.max_processes = lowered;
        out.push_back(ctx.decide(decision::set_max_processes, "subprocess",
                                 double(st.max_processes), s.cpu_percent, 0, forecast_why + why));
        moved = true;
        ctx.forecast_acted("subprocess");
      }
      // Background work too: sample less often, up to 4x the configured interval.
      auto stretched = std::min(st.monitor_interval * 2, configured_interval * 4);
      if (stretched > st.monitor_interval) {
        st.monitor_interval = stretched;
        out.push_back(ctx.decide(decision::set_monitor_interval, "monitor",
                                 std::chrono::duration<double>(st.monitor_interval).count(),
                                 s.cpu_percent));
      }
      g.acted(now);
    } else if (!g.firing()) {
      if (st.monitor_interval > configured_interval) {
        st.monitor_interval = configured_interval;
        out.push_back(ctx.decide(decision::set_monitor_interval, "monitor",
                                 std::chrono::duration<double>(st.monitor_interval).count(),
                                 s.cpu_percent));
      }
      // Restore gradually once CPU is back below the clear threshold, up to
      // what rule 8 last chose (or the configured limit), but not to the
      // level that overloaded until 10 calm evaluations have passed.
      if (st.cpu_ceiling && ++st.cpu_calm >= 10)
        st.cpu_ceiling.reset();
      auto cap = std::min<uint64_t>(st.restore_target.value_or(configured),
                                    st.cpu_ceiling.value_or(configured));
      if (st.max_processes < cap) {
        auto by = std::max<uint64_t>(1, uint64_t(std::ceil(double(configured) * rc.step / 2)));
        st.max_processes = std::min<uint64_t>(cap, st.max_processes + by);
        out.push_back(ctx.decide(decision::set_max_processes, "subprocess",
                                 double(st.max_processes), s.cpu_percent));
        moved = true;
      }
    }
    st.cpu_moved = moved || g.firing();
    return out;
  }

private:
  /// CPU per running command: the machine's CPU over the commands that ran
  /// on average (all of it counted as theirs: the cautious side).
  /// Saturated, the measurement only bounds it from below: assume a whole
  /// CPU per command. Returns the process limit that keeps CPU under the
  /// clear threshold, at most one below the current one.
  static uint64_t modelled(rule_context& ctx, double seen, std::string& why) {
    using rules::fmt;
    auto& s = ctx.snapshot;
    auto& st = ctx.state;
    auto cpus = double(std::max(1u, s.cpus));
    auto target = ctx.settings().clear_threshold;
    std::optional<double> running;
    if (ctx.previous && ctx.previous->proc) {
      auto wall = rules::seconds(s.now - ctx.previous->now);
      auto busy = std::chrono::duration<double>(
          rules::diff(s.proc->busy_time, ctx.previous->proc->busy_time));
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
    auto lowered = std::min(fits, st.max_processes > 1 ? st.max_processes - 1 : uint64_t{1});
    why += ": " + std::to_string(lowered) + " keep CPU under " + fmt(target, 0) + " %";
    if (fits > lowered)
      why += " (bound: one below the current limit; the model allows " + std::to_string(fits) + ")";
    return lowered;
  }
};

} // namespace

std::unique_ptr<engine_rule> make_cpu_usage_rule() {
  return std::make_unique<cpu_usage>();
}

} // namespace p21
