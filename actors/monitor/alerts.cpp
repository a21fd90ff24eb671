#include "alerts.hpp"

#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/sensor.hpp"
#include "p21/series_selector.hpp"

#include <algorithm>

namespace p21 {

std::vector<alert_rule> alert_rules(const std::map<std::string, alert_config>& alerts,
                                    std::chrono::nanoseconds alert_for) {
  std::vector<alert_rule> out;
  for (auto& [name, a] : alerts) {
    if (!a.enabled)
      continue;
    alert_rule r;
    r.name = name;
    r.metric = a.metric;
    r.above = a.above;
    r.threshold = a.threshold;
    r.clear_threshold = a.clear.value_or(a.threshold);
    r.own_for = a.for_duration.has_value();
    r.for_duration = a.for_duration.value_or(alert_for);
    r.severity = a.severity;
    r.on_fire = a.on_fire;
    r.on_resolve = a.on_resolve;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<alert_rule> default_alert_rules(std::chrono::nanoseconds for_duration) {
  return alert_rules(default_alerts(), for_duration);
}

namespace {

bool same_rule(const alert_rule& x, const alert_rule& y) {
  return x.name == y.name && x.metric == y.metric && x.above == y.above &&
         x.threshold == y.threshold && x.clear_threshold == y.clear_threshold &&
         x.for_duration == y.for_duration && x.own_for == y.own_for && x.severity == y.severity &&
         x.on_fire == y.on_fire && x.on_resolve == y.on_resolve;
}

} // namespace

alert_set_change replace_alerts(std::vector<alert>& alerts, const std::vector<alert_rule>& rules) {
  alert_set_change out;
  std::vector<alert> next;
  next.reserve(rules.size());
  for (auto& r : rules) {
    auto i = std::find_if(alerts.begin(), alerts.end(),
                          [&](const alert& a) { return a.rule().name == r.name; });
    if (i == alerts.end()) {
      out.added.push_back(r.name);
      next.emplace_back(r);
      continue;
    }
    if (!same_rule(i->rule(), r)) {
      out.changed.push_back(r.name);
      // Another metric or side is another question: the old answer (and
      // the firing it caused) no longer holds.
      if (i->rule().metric != r.metric || i->rule().above != r.above) {
        if (i->firing())
          out.resolved.push_back(*i);
        *i = alert{r};
      } else {
        i->redefine(r);
      }
    }
    next.push_back(std::move(*i));
    alerts.erase(i);
  }
  for (auto& a : alerts) {
    out.removed.push_back(a.rule().name);
    if (a.firing())
      out.resolved.push_back(std::move(a));
  }
  alerts = std::move(next);
  return out;
}

alert::transition alert::observe(double value, clock::time_point now) {
  last_ = value;
  auto past = [&](double limit) {
    return rule_.above ? value > limit : value < limit;
  };
  if (firing_) {
    // Clears only once back past the lower clear threshold.
    auto cleared = rule_.above ? value < rule_.clear_threshold : value > rule_.clear_threshold;
    if (cleared) {
      firing_ = false;
      pending_since_.reset();
      return transition::resolved;
    }
    return transition::none;
  }
  if (!past(rule_.threshold)) {
    pending_since_.reset();
    return transition::none;
  }
  if (!pending_since_)
    pending_since_ = now;
  if (now - *pending_since_ >= rule_.for_duration) {
    firing_ = true;
    return transition::fired;
  }
  return transition::none;
}

void trend::observe(double value, clock::time_point now) {
  baseline_ = baseline_ ? alpha_ * value + (1 - alpha_) * *baseline_ : value;
  points_.emplace_back(now, value);
  while (!points_.empty() && now - points_.front().first > window_)
    points_.pop_front();
}

double trend::slope_per_minute() const {
  if (points_.size() < 2)
    return 0;
  auto t0 = points_.front().first;
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (auto& [t, y] : points_) {
    double x = std::chrono::duration<double>(t - t0).count() / 60.0;
    n += 1;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  auto denom = n * sxx - sx * sx;
  return denom > 0 ? (n * sxy - sx * sy) / denom : 0;
}

double trend::percent_per_minute() const {
  if (!baseline_ || *baseline_ == 0)
    return 0;
  return 100.0 * slope_per_minute() / *baseline_;
}

namespace {

/// 1 at or better than `target`, 0 at or worse than `worst`, linear between.
double closeness(double value, double target, double worst) {
  if (target == worst)
    return 1;
  return std::clamp((worst - value) / (worst - target), 0.0, 1.0);
}

} // namespace

double health_score(const health_inputs& in) {
  double score = 0;
  score += 20 * (in.cpu_percent ? closeness(*in.cpu_percent, 70, 100) : 1);
  score += 20 * (in.memory_percent ? closeness(*in.memory_percent, 80, 100) : 1);
  score += 20 * (in.cache_hit_rate ? closeness(*in.cache_hit_rate, 0.75, 0.375) : 1);
  score += 20 * (in.p95_seconds ? closeness(*in.p95_seconds, 0.2, 0.4) : 1);
  score += 20 * (in.error_rate ? closeness(*in.error_rate, 0.01, 0.02) : 1);
  return score;
}

std::string health_status(double score) {
  if (score >= 80)
    return "healthy";
  if (score >= 50)
    return "degraded";
  return "unhealthy";
}

std::vector<std::string> memory_families() {
  return {monitor_metrics::system_memory.name, monitor_metrics::resident_memory.name};
}

std::optional<std::vector<std::string>> alert_families(const std::string& metric) {
  if (metric == "cpu_percent")
    return std::vector<std::string>{monitor_metrics::system_cpu.name,
                                    monitor_metrics::process_cpu.name};
  if (metric == "memory_percent")
    return memory_families();
  if (metric == "cache_hit_rate")
    return std::vector<std::string>{cache_metrics::hits.name, cache_metrics::misses.name,
                                    cache_metrics::hit_ratio.name};
  if (metric == "p95_seconds" || metric == "error_rate")
    return std::nullopt;
  std::string problem;
  if (auto sel = parse_series_selector(metric, problem))
    return std::vector<std::string>{metric_family_key(sel->name)};
  return std::nullopt;
}

} // namespace p21
