// Rule 1, memory_pressure: shrink caches, release SQLite memory, ask the
// registered resources to give memory back. The model shrinks by what
// brings memory to the clear threshold (when the caches' bytes and a budget
// say how much that is); a forecast may act before the threshold is crossed.

#include <algorithm>
#include <cmath>

#include "common.hpp"
#include "p21/protocol/monitor.hpp"

namespace p21 {

namespace {

class memory_pressure final : public engine_rule {
public:
  memory_pressure()
    : engine_rule(rule_id::memory_pressure) {}

  /// A guard: the rules after it that grow memory follow its verdict, so
  /// every wake-up runs it.
  bool woken_by(const std::vector<std::string>&) const override { return true; }

  std::vector<sensor> sensors() const override {
    return {sensor::value_of(monitor_metrics::system_memory.name),
            sensor::value_of(monitor_metrics::resident_memory.name)};
  }

  std::optional<std::string> gate_target(const decision&) const override { return std::string{}; }

  std::vector<decision> evaluate(rule_context& ctx) override {
    using rules::fmt;
    std::vector<decision> out;
    auto& s = ctx.snapshot;
    auto& rc = ctx.settings();
    auto& g = ctx.gate();
    auto seen = s.memory_percent;
    std::string why;
    if (auto f = ctx.foresee("", s.memory_percent); f && *f > seen) {
      if (*f > rc.threshold)
        why = "forecast " + fmt(*f) + " % within " + ctx.horizon();
      seen = *f;
    }
    if (g.observe(seen, ctx.now())) {
      auto step = rc.step;
      uint64_t cached = 0;
      for (auto& c : s.caches)
        cached += c.bytes;
      if (ctx.model() && s.memory_budget > 0 && cached > 0) {
        auto excess = (seen - rc.clear_threshold) / 100 * double(s.memory_budget);
        auto fraction = std::clamp(excess / double(cached), 0.05, 1.0);
        why += std::string{why.empty() ? "" : "; "} + "model: " + fmt(excess / double(1 << 20)) +
               " MiB above " + fmt(rc.clear_threshold, 0) + " % of the budget, " +
               fmt(double(cached) / double(1 << 20)) + " MiB cached";
        step = std::ceil(fraction * 100) / 100;
      }
      for (auto& c : s.caches)
        out.push_back(
            ctx.decide(decision::shrink_cache, c.component, step, s.memory_percent, 0, why));
      if (s.db)
        out.push_back(ctx.decide(decision::release_memory, "db_pool", 0, s.memory_percent));
      out.push_back(
          ctx.decide(decision::signal_pressure, "resources", step, s.memory_percent, 0, why));
      g.acted(ctx.now());
      ctx.forecast_acted();
    }
    // Rules that grow memory wait while memory is not back below the clear
    // threshold: one decision path, rules 1 and 2 never fight.
    ctx.state.memory_tight = g.firing() || s.memory_percent >= rc.clear_threshold;
    return out;
  }
};

} // namespace

std::unique_ptr<engine_rule> make_memory_pressure_rule() {
  return std::make_unique<memory_pressure>();
}

} // namespace p21
