// An application's rule (p21/rule.hpp) in the engine: its value goes
// through a gate like a built-in rule's, and each knob it sets becomes a
// `set_knob` decision that the optimizer sends to the supervisor.

#include "common.hpp"
#include "p21/rule.hpp"

namespace p21 {

namespace {

bool has_labels(const std::map<std::string, std::string>& series, const metric_labels& want) {
  for (auto& [k, v] : want) {
    auto i = series.find(k);
    if (i == series.end() || i->second != v)
      return false;
  }
  return true;
}

/// A counter's or gauge's matching series, summed (a family is named as its
/// metric_def declares it; the exported spelling is accepted too).
std::optional<double> lookup(const metric_set* m, const std::string& family,
                             const metric_labels& labels) {
  if (!m)
    return std::nullopt;
  std::optional<double> sum;
  auto scan = [&](const std::vector<metric_sample>& xs, const char* suffix) {
    for (auto& x : xs)
      if ((x.name == family || "p21_" + x.name + suffix == family) && has_labels(x.labels, labels))
        sum = sum.value_or(0) + x.value;
  };
  scan(m->counters, "_total");
  scan(m->gauges, "");
  return sum;
}

class snapshot_view final : public rule_view {
public:
  snapshot_view(const rule_context& ctx)
    : ctx_(ctx) {}

  clock::time_point now() const override { return ctx_.now(); }

  std::optional<double> interval() const override {
    if (!ctx_.previous)
      return std::nullopt;
    return rules::seconds(ctx_.now() - ctx_.previous->now);
  }

  const performance_summary& summary() const override {
    static const performance_summary none;
    return ctx_.snapshot.summary ? *ctx_.snapshot.summary : none;
  }

  std::optional<double> metric(const std::string& family,
                               const metric_labels& labels) const override {
    return lookup(ctx_.snapshot.metrics.get(), family, labels);
  }

  std::optional<double> previous_metric(const std::string& family,
                                        const metric_labels& labels) const override {
    return ctx_.previous ? lookup(ctx_.previous->metrics.get(), family, labels) : std::nullopt;
  }

  const histogram_summary* histogram(const std::string& family,
                                     const metric_labels& labels) const override {
    if (auto& m = ctx_.snapshot.metrics)
      for (auto& h : m->histograms)
        if ((h.name == family || "p21_" + h.name == family) && has_labels(h.labels, labels))
          return &h;
    return nullptr;
  }

  double memory_percent() const override { return ctx_.snapshot.memory_percent; }
  double cpu_percent() const override { return ctx_.snapshot.cpu_percent; }
  bool memory_tight() const override { return ctx_.state.memory_tight; }

private:
  const rule_context& ctx_;
};

class custom_rule final : public engine_rule {
public:
  explicit custom_rule(std::shared_ptr<tuning_rule> rule)
    : engine_rule(rule->name(), rule->fires_above())
    , rule_(std::move(rule)) {}

  std::optional<std::string> gate_target(const decision&) const override { return std::string{}; }

  std::optional<rule_config> own_settings() const override { return rule_->settings(); }

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
