// Rule 5, git_cache: grow the git cache while its hit rate is low (to what
// its miss-ratio curve says in model mode).

#include <algorithm>

#include "common.hpp"
#include "p21/protocol/subprocess.hpp"

namespace p21 {

namespace {

class git_cache final : public engine_rule {
public:
  git_cache()
    : engine_rule(rule_id::git_cache) {}

  std::vector<sensor> sensors() const override {
    using namespace subprocess_metrics;
    return {sensor::ratio_of(git_hits.name, {}, git_misses.name)};
  }

  std::optional<std::string> gate_target(const decision&) const override {
    return std::string{"subprocess"};
  }

  std::vector<decision> evaluate(rule_context& ctx) override {
    using rules::diff;
    std::vector<decision> out;
    auto& s = ctx.snapshot;
    if (!s.proc)
      return out;
    auto& rc = ctx.settings();
    node_snapshot::proc_view zero;
    auto& pp = ctx.previous && ctx.previous->proc ? *ctx.previous->proc : zero;
    auto hits = double(diff(s.proc->git_hits, pp.git_hits));
    auto total = hits + double(diff(s.proc->git_misses, pp.git_misses));
    if (total < rules::min_git_requests)
      return out;
    auto rate = 100 * hits / total;
    auto& g = ctx.gate("subprocess");
    auto seen = rate;
    if (auto f = ctx.foresee("subprocess", rate); f && *f < seen)
      seen = *f;
    if (g.observe(seen, ctx.now()) && !ctx.state.memory_tight && s.proc->git_capacity > 0) {
      auto cur = ctx.state.git_capacity.value_or(s.proc->git_capacity);
      auto grown = cur + std::max<uint64_t>(1, uint64_t(double(cur) * rc.step));
      std::string why;
      if (ctx.model())
        if (auto curve = mrc_entries(diff(s.proc->git_ghost_hit_depths, pp.git_ghost_hit_depths),
                                     hits, total, cur, rc.clear_threshold)) {
          grown = std::max(curve->entries, cur + 1);
          // The git cache reports no byte sizes: the ghost list's reach
          // bounds the jump, and growth waits while memory is tight.
          why = "miss-ratio curve: " + rules::fmt(curve->hit_rate) + " % at " +
                std::to_string(grown) + " entries" +
                (curve->reached ? ""
                                : " (as far as the ghost list sees); bound: the ghost "
                                  "list's reach");
        }
      ctx.state.git_capacity = grown;
      out.push_back(
          ctx.decide(decision::resize_git_cache, "subprocess", double(grown), rate, 0, why));
      g.acted(ctx.now());
      ctx.forecast_acted("subprocess");
    }
    return out;
  }
};

} // namespace

std::unique_ptr<engine_rule> make_git_cache_rule() {
  return std::make_unique<git_cache>();
}

} // namespace p21
