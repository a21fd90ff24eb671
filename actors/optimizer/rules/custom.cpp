// An application's rule (p21/rule.hpp) in the engine: its value goes
// through a gate like a built-in rule's, and each knob it sets becomes a
// `set_knob` decision that the optimizer sends to the supervisor.

#include "common.hpp"
#include "p21/rule.hpp"
#include "snapshot_view.hpp"

namespace p21 {

namespace {

class custom_rule final : public engine_rule {
public:
  explicit custom_rule(std::shared_ptr<tuning_rule> rule)
    : engine_rule(rule->name(), rule->fires_above())
    , rule_(std::move(rule)) {}

  std::optional<std::string> gate_target(const decision&) const override { return std::string{}; }

  std::optional<rule_config> own_settings() const override { return rule_->settings(); }

  std::vector<std::string> knobs_read() const override { return rule_->knobs_read(); }

  std::vector<sensor> sensors() const override { return rule_->sensors(); }

  /// A rule that does not say what it reads is run by every wake-up.
  bool woken_by(const std::vector<std::string>& families) const override {
    return rule_->sensors().empty() || engine_rule::woken_by(families);
  }

  std::vector<decision> evaluate(rule_context& ctx) override {
    std::vector<decision> out;
    snapshot_view view{ctx};
    auto value = rule_->measure(view);
    if (!value)
      return out;
    auto& g = ctx.gate();
    if (!g.observe(*value, ctx.now()))
      return out;
    for (auto& a : rule_->act(view, *value))
      out.push_back(ctx.decide(decision::set_knob, a.knob, a.value, *value, 0, a.why));
    if (!out.empty())
      g.acted(ctx.now());
    return out;
  }

private:
  std::shared_ptr<tuning_rule> rule_;
};

} // namespace

std::unique_ptr<engine_rule> make_custom_rule(std::shared_ptr<tuning_rule> rule) {
  return std::make_unique<custom_rule>(std::move(rule));
}

} // namespace p21
