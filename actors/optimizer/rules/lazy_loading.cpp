// Rule 4, lazy_loading: components used soon after start are preloaded next
// time; lazy components unused for `for` (0: never) are unloaded.

#include <algorithm>

#include "common.hpp"

namespace p21 {

namespace {

class lazy_loading final : public engine_rule {
public:
  lazy_loading()
    : engine_rule(rule_id::lazy_loading) {}

  // It reads no metric (the components' first use and idle time), so no
  // wake-up runs it: only the timer does.

  std::vector<decision> evaluate(rule_context& ctx) override {
    std::vector<decision> out;
    auto& rc = ctx.settings();
    if (!rc.enabled)
      return out;
    auto& preload = ctx.state.preload;
    auto listed = [&](const std::string& name) {
      return std::find(preload.begin(), preload.end(), name) != preload.end();
    };
    auto limit = std::chrono::duration<double>(rc.threshold);
    for (auto& [name, first] : ctx.snapshot.first_use)
      if (first && std::chrono::duration<double>(*first) <= limit && !listed(name)) {
        preload.push_back(name);
        out.push_back(
            ctx.decide(decision::preload, name, 0, std::chrono::duration<double>(*first).count()));
      }
    if (rc.for_duration > timespan{0})
      for (auto& [name, idle] : ctx.snapshot.idle_for)
        if (idle >= rc.for_duration && !listed(name)) {
          auto secs = std::chrono::duration<double>(idle).count();
          out.push_back(ctx.decide(decision::unload, name, secs, secs));
        }
    return out;
  }
};

} // namespace

std::unique_ptr<engine_rule> make_lazy_loading_rule() {
  return std::make_unique<lazy_loading>();
}

} // namespace p21
