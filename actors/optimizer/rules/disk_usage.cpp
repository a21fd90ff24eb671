// Rule 7, disk_usage: checkpoint and VACUUM SQLite, rotate the log file.

#include <algorithm>

#include "common.hpp"
#include "p21/protocol/monitor.hpp"

namespace p21 {

namespace {

class disk_usage final : public engine_rule {
public:
  disk_usage()
    : engine_rule(rule_id::disk_usage) {}

  std::vector<sensor> sensors() const override {
    return {sensor::value_of(monitor_metrics::disk_usage.name)};
  }

  std::optional<std::string> gate_target(const decision&) const override { return std::string{}; }

  std::vector<decision> evaluate(rule_context& ctx) override {
    std::vector<decision> out;
    double worst = 0;
    for (auto& [path, pct] : ctx.snapshot.disk_percent)
      worst = std::max(worst, pct);
    auto& g = ctx.gate();
    if (g.observe(worst, ctx.now())) {
      if (ctx.snapshot.db) {
        out.push_back(ctx.decide(decision::checkpoint, "db_pool", 0, worst));
        out.push_back(ctx.decide(decision::vacuum, "db_pool", 0, worst));
      }
      out.push_back(ctx.decide(decision::rotate_logs, "logs", 0, worst));
      g.acted(ctx.now());
    }
    return out;
  }
};

} // namespace

std::unique_ptr<engine_rule> make_disk_usage_rule() {
  return std::make_unique<disk_usage>();
}

} // namespace p21
