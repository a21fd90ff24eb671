// A rule declared in the config file (`[optimizer.rules.NAME]` with a
// `sensor` and a `knob`): the sensor's value goes through a gate like a
// built-in rule's (with its forecast when `predict` is set), and when it
// fires the knob moves by Little's law, by `scale` or by `step`, from the
// value its owner reported in the monitor's round this evaluation reads.

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "common.hpp"
#include "../models.hpp"
#include "p21/config_schema.hpp"
#include "p21/sensor.hpp"
#include "snapshot_view.hpp"

namespace p21 {

namespace {

class declared_rule final : public engine_rule {
public:
  declared_rule(const std::string& name, const rule_config& rc)
    : engine_rule(name, rc.fires_above)
    , rc_(rc)
    , sensor_(parse_sensor(rc.sensor)) {
    if (!rc.arrivals.empty())
      arrivals_ = parse_sensor(rc.arrivals);
    if (!rc.service.empty())
      service_ = parse_sensor(rc.service);
    if (!rc.backlog.empty())
      backlog_ = parse_sensor(rc.backlog);
  }

  std::optional<std::string> gate_target(const decision&) const override { return std::string{}; }

  std::vector<std::string> knobs_read() const override { return {rc_.knob}; }

  bool declared() const override { return true; }

  std::vector<sensor> sensors() const override {
    std::vector<sensor> out{sensor_};
    for (auto& s : {arrivals_, service_, backlog_})
      if (s)
        out.push_back(*s);
    return out;
  }

  std::vector<decision> evaluate(rule_context& ctx) override {
    std::vector<decision> out;
    snapshot_view view{ctx};
    auto value = view.read(sensor_);
    if (!value) {
      warn_missing(view);
      return out;
    }
    auto seen = *value;
    std::string forecast_why;
    if (auto f = ctx.foresee("", *value); f && (fires_above() ? *f > seen : *f < seen)) {
      forecast_why = "forecast " + rules::fmt(*f, 3) + " within " + ctx.horizon() + "; ";
      seen = *f;
    }
    auto& g = ctx.gate();
    if (!g.observe(seen, ctx.now()))
      return out;
    auto current = view.knob(rc_.knob);
    if (!current) {
      warn_once(knob_warned_, "optimizer: rule " + name() + ": knob '" + rc_.knob +
                                  "' has no value in this round (its owner did not answer); "
                                  "not acting");
      return out;
    }
    std::string why;
    auto next = target(ctx, view, *current, why);
    if (!next || *next == *current)
      return out;
    out.push_back(ctx.decide(decision::set_knob, rc_.knob, *next, *value, 0, forecast_why + why));
    g.acted(ctx.now());
    if (!forecast_why.empty())
      ctx.forecast_acted();
    return out;
  }

private:
  /// Where the knob goes from `current`: Little's law in model mode (work in
  /// progress = arrivals x time per arrival, kept at `utilization` of the
  /// knob, plus the workers that work off the `backlog` within `drain`;
  /// models.hpp), else `scale`, else `step`.
  std::optional<double> target(const rule_context& ctx, const snapshot_view& view, double current,
                               std::string& why) const {
    // The step, scale and utilization as set now (`set_rule`, a reload).
    auto& rc = ctx.settings();
    if (rc.model == "littles_law" && ctx.model() && arrivals_ && service_) {
      auto lambda = view.read(*arrivals_);
      auto s = view.read(*service_);
      // No backlog sensor, or no value for it yet: the queue is not known,
      // and the model sizes for the arrivals alone.
      auto queued = backlog_ ? view.read(*backlog_).value_or(0) : 0.0;
      auto drain = std::chrono::duration<double>(rc.drain).count();
      auto law = lambda && s ? littles_law(*lambda, *s, rc.utilization, queued, drain)
                             : std::nullopt;
      if (law) {
        auto next = law->workers;
        why = "Little's law: " + rules::fmt(*lambda, 2) + "/s x " + rules::fmt(*s, 4) + " s = " +
              rules::fmt(law->busy, 2) + " busy, at " + rules::fmt(100 * rc.utilization, 0) +
              " % utilization";
        if (law->for_backlog > 0)
          why += ", + " + rules::fmt(law->for_backlog, 2) + " for " + rules::fmt(queued, 0) +
                 " queued (done within " +
                 (drain > *s ? format_duration(rc.drain) : std::string{"one job's time"}) + ")";
        // The sensor says it is not enough yet while the inputs say it is:
        // at least a step past where it is.
        if (next == current && rc.step != 0)
          next = current + rc.step;
        // The step's sign says which way relieves the sensor: while it
        // fires, the model never moves the knob the other way (a lagging
        // input would undo the last action).
        if (rc.step > 0)
          next = std::max(next, current);
        else if (rc.step < 0)
          next = std::min(next, current);
        return next;
      }
    }
    if (rc.scale > 0)
      return current * rc.scale;
    if (rc.step != 0)
      return current + rc.step;
    return std::nullopt;
  }

  void warn_missing(const snapshot_view& view) {
    if (view.has_family(sensor_.family))
      return; // there, only no value yet (no traffic, first interval)
    warn_once(sensor_warned_,
              "optimizer: rule " + name() + ": sensor family '" + sensor_.family +
                  "' is not exported by this node" + did_you_mean(sensor_.family, view.families()) +
                  "; the rule waits for it");
  }

  static void warn_once(bool& done, const std::string& text) {
    if (!done)
      spdlog::warn("{}", text);
    done = true;
  }

  rule_config rc_;
  sensor sensor_;
  std::optional<sensor> arrivals_;
  std::optional<sensor> service_;
  std::optional<sensor> backlog_;
  bool sensor_warned_ = false;
  bool knob_warned_ = false;
};

} // namespace

std::unique_ptr<engine_rule> make_declared_rule(const std::string& name, const rule_config& rc) {
  return std::make_unique<declared_rule>(name, rc);
}

} // namespace p21
