// Rule 2, cache_hit_rate: grow a cache whose misses are capacity misses (to
// what its miss-ratio curve says in model mode); undo a growth that did not
// raise the hit rate.

#include "common.hpp"
#include "p21/protocol/cache.hpp"

namespace p21 {

namespace {

/// A growth must raise the hit rate by this many points to stay.
constexpr double growth_must_gain = 2.0;

class cache_hit_rate final : public engine_rule {
public:
  cache_hit_rate()
    : engine_rule(rule_id::cache_hit_rate) {}

  std::vector<sensor> sensors() const override {
    using namespace cache_metrics;
    return {sensor::ratio_of(hits.name, {}, misses.name), sensor::rate_of(capacity_misses.name),
            sensor::value_of(hit_ratio.name)};
  }

  std::optional<std::string> gate_target(const decision& d) const override { return d.target; }

  std::vector<decision> evaluate(rule_context& ctx) override {
    using rules::diff;
    std::vector<decision> out;
    auto& rc = ctx.settings();
    auto now = ctx.now();
    for (auto& c : ctx.snapshot.caches) {
      auto p = rules::previous_cache(ctx, c);
      auto hits = double(diff(c.hits, p.hits));
      auto total = hits + double(diff(c.misses, p.misses));
      if (total < rules::min_requests)
        continue;
      auto rate = 100 * hits / total;
      auto& g = ctx.gate(c.component);
      auto& growths = ctx.state.growths;
      if (auto gr = growths.find(c.component); gr != growths.end()) {
        auto before = gr->second;
        growths.erase(gr);
        if (rate < before.rate_before + growth_must_gain) {
          out.push_back(ctx.decide(decision::resize_cache, c.component, double(before.old_entries),
                                   rate, c.max_bytes));
          g.acted(now);
          continue;
        }
      }
      auto seen = rate;
      std::string why;
      if (auto f = ctx.foresee(c.component, rate); f && *f < seen) {
        if (*f < rc.threshold)
          why = "forecast " + rules::fmt(*f) + " % within " + ctx.horizon();
        seen = *f;
      }
      bool act = g.observe(seen, now);
      // Capacity misses: keys evicted, then asked for again (the ghost list).
      bool capacity_bound = diff(c.capacity_misses, p.capacity_misses) > 0;
      if (act && capacity_bound && !ctx.state.memory_tight) {
        std::string model_why;
        auto grown =
            rules::grown_cache(ctx, c, p, hits, total, rc.clear_threshold, rc.step, model_why);
        if (!model_why.empty())
          why += (why.empty() ? "" : "; ") + model_why;
        out.push_back(
            ctx.decide(decision::resize_cache, c.component, double(grown), rate, c.max_bytes, why));
        growths[c.component] = {c.max_entries, rate};
        g.acted(now);
        ctx.forecast_acted(c.component);
      }
    }
    return out;
  }
};

} // namespace

std::unique_ptr<engine_rule> make_cache_hit_rate_rule() {
  return std::make_unique<cache_hit_rate>();
}

} // namespace p21
