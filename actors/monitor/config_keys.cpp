// `[monitor]` and `[monitor.alerts.NAME]`: the keys of the monitor's alerts
// and sampling.

#include <algorithm>
#include <limits>

#include "p21/config_schema.hpp"
#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
#include "pressure_watcher.hpp"
#include "p21/series_selector.hpp"

namespace p21 {

using namespace std::chrono_literals;

namespace {

struct alert_default {
  const char* name;
  const char* metric;
  bool above;
  double threshold;
  double clear;
};

// The report's five targets, each with a clear band (hysteresis).
constexpr alert_default alert_defaults[] = {
    {"high_cpu", "cpu_percent", true, 70, 60},
    {"high_memory", "memory_percent", true, 80, 75},
    {"low_cache_hit_rate", "cache_hit_rate", false, 0.75, 0.80},
    {"slow_responses", "p95_seconds", true, 0.200, 0.150},
    {"high_error_rate", "error_rate", true, 0.01, 0.005},
};

const std::vector<std::string>& default_alert_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (auto& a : alert_defaults)
      out.emplace_back(a.name);
    return out;
  }();
  return names;
}

std::string metric_problem(const key_value& v) {
  auto& text = std::get<std::string>(v);
  if (text.empty())
    return "an alert needs a metric: a target (cpu_percent, memory_percent, cache_hit_rate, "
           "p95_seconds, error_rate) or an exported series such as "
           "p21_cache_hit_ratio{cache=\"shared\"}";
  std::string problem;
  if (!parse_series_selector(text, problem))
    return problem;
  return {};
}

std::string psi_problem(const key_value& v) {
  auto& text = std::get<std::string>(v);
  std::string problem;
  if (!text.empty() && !parse_psi_trigger(text, problem))
    return problem;
  return {};
}

std::string command_problem(const key_value& v) {
  auto& argv = std::get<std::vector<std::string>>(v);
  if (!argv.empty() && argv.front().empty())
    return "the command's first element (the program) is empty";
  return {};
}

/// `above = true` and `below = true` are one member seen from two sides;
/// the writer prints whichever holds.
key_spec side_key(const char* name, bool above) {
  key_spec k;
  k.name = name;
  k.kind = key_kind::boolean;
  k.help = above ? "fire when the value is above `threshold` (the default)"
                 : "fire when the value is below `threshold` instead";
  k.default_doc = above ? "`true`" : "`false`";
  k.get = [above](const void* p) {
    return key_value{static_cast<const alert_config*>(p)->above == above};
  };
  k.set = [above](void* p, const key_value& v) {
    static_cast<alert_config*>(p)->above = std::get<bool>(v) == above;
  };
  k.present = [above](const void* p) {
    return static_cast<const alert_config*>(p)->above == above;
  };
  return k;
}

key_spec clear_key() {
  key_spec k;
  k.name = "clear";
  k.kind = key_kind::real;
  k.min_real = -std::numeric_limits<double>::infinity();
  k.max_real = std::numeric_limits<double>::infinity();
  k.help = "value at which a firing alert resolves (hysteresis); on the far side of `threshold`";
  k.default_doc = "`threshold`";
  k.get = [](const void* p) {
    auto& a = *static_cast<const alert_config*>(p);
    return key_value{a.clear.value_or(a.threshold)};
  };
  k.set = [](void* p, const key_value& v) {
    static_cast<alert_config*>(p)->clear = std::get<double>(v);
  };
  k.present = [](const void* p) {
    return static_cast<const alert_config*>(p)->clear.has_value();
  };
  return k;
}

key_spec for_key() {
  key_spec k;
  k.name = "for";
  k.kind = key_kind::duration;
  k.help = "how long the condition must hold before the alert fires";
  k.default_doc = "`monitor.alert_for`";
  k.get = [](const void* p) {
    auto& a = *static_cast<const alert_config*>(p);
    return key_value{a.for_duration.value_or(timespan{0})};
  };
  k.set = [](void* p, const key_value& v) {
    static_cast<alert_config*>(p)->for_duration = std::get<timespan>(v);
  };
  k.present = [](const void* p) {
    return static_cast<const alert_config*>(p)->for_duration.has_value();
  };
  return k;
}

void check_alerts(const config& cfg, const config_checker& ck) {
  auto& defaults = default_alert_names();
  for (auto& [name, a] : cfg.get<monitor_config>().alerts) {
    auto key = "monitor.alerts." + name + ".";
    if (a.metric.empty())
      ck.fail(key + "metric", metric_problem(key_value{std::string{}}));
    if (ck.has(key + "above") && ck.has(key + "below"))
      ck.fail(key + "below", "set one of `above` and `below`, not both");
    bool is_default = std::find(defaults.begin(), defaults.end(), name) != defaults.end();
    if (!is_default && ck.has(key + "metric") && !ck.has(key + "threshold"))
      ck.fail(key + "threshold", "an alert needs a threshold");
    if (a.clear && (a.above ? *a.clear > a.threshold : *a.clear < a.threshold)) {
      auto culprit = ck.has(key + "clear") || !ck.has(key + "threshold") ? "clear" : "threshold";
      ck.fail(key + culprit,
              std::string{"clear must be "} + (a.above ? "at or below" : "at or above") +
                  " threshold (this alert fires " + (a.above ? "above" : "below") + " it)");
    }
  }
}

std::string alert_table() {
  std::string out = "Default alerts (the report's targets; override a key, or `enabled = false`):"
                    "\n\n| alert | metric | fires | threshold | clear |\n|---|---|---|---|---|\n";
  auto num = [](double x) {
    auto s = std::to_string(x);
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.')
      s.pop_back();
    return s;
  };
  for (auto& a : alert_defaults)
    out += "| `" + std::string{a.name} + "` | `" + a.metric + "` | " +
           (a.above ? "above" : "below") + " | " + num(a.threshold) + " | " + num(a.clear) + " |\n";
  return out + "\nA command in `on_fire`/`on_resolve` runs through the subprocess pool with "
               "`P21_ALERT_NAME`, `P21_ALERT_VALUE`, `P21_ALERT_STATE` (`firing` or `resolved`), "
               "`P21_ALERT_METRIC`, `P21_ALERT_THRESHOLD` and `P21_ALERT_SEVERITY` in its "
               "environment; the monitor does not wait for it, and a failure is logged and "
               "recorded as an `alert_command_failed` event.\n\nThe table is live: a reload "
               "adds, changes and removes alerts on the running monitor; an alert that stayed "
               "keeps its state, and a firing one that is removed resolves.";
}

} // namespace

std::map<std::string, alert_config> default_alerts() {
  std::map<std::string, alert_config> out;
  for (auto& d : alert_defaults) {
    auto& a = out[d.name];
    a.metric = d.metric;
    a.above = d.above;
    a.threshold = d.threshold;
    a.clear = d.clear;
  }
  return out;
}

void declare_monitor_keys(config_schema& schema) {
  constexpr auto inf = std::numeric_limits<double>::infinity();
  using M = monitor_config;
  schema
      .section<M>("monitor", "Alerts and sampling details (the interval is `performance.monitor_interval`).")
      .duration("alert_for", &M::alert_for, 0s,
                "how long an alert's condition must hold before it fires (alerts without `for`)")
      .live()
      .paths("watch_paths", &M::watch_paths,
             "file systems whose use is sampled (disk %); empty: the database's directory")
      .count("events_max", &M::events_max, 1, 1'000'000,
             "alert and optimizer events kept for `/events`")
      .count("alert_commands_max", &M::alert_commands_max, 1, 1000,
             "alert commands (`on_fire`, `on_resolve`) running at once; more are skipped and "
             "logged")
      .string("psi_trigger", &M::psi_trigger,
              "Linux PSI trigger on memory stalls, `some` or `full`, then STALL_US and WINDOW_US: when tasks "
              "stall that long within the window, caches shrink and pressure handlers run at "
              "once (the cgroup's `memory.pressure`, else `/proc/pressure/memory`; without "
              "CAP_SYS_RESOURCE the window is rounded up to 2 s); empty: no PSI")
      .refine(psi_problem)
      .duration("pressure_check", &M::pressure_check, 0s,
                "how often RSS is compared with `performance.memory_budget` (a read of "
                "/proc/self/statm); above it, caches shrink and pressure handlers run at once; "
                "0s: only at the optimizer's rounds")
      .refine([](const key_value& v) -> std::string {
        auto d = std::get<timespan>(v);
        if (d > 0s && d < 1ms)
          return "pressure_check is 0s (off) or at least 1ms (each check wakes a thread)";
        return {};
      })
      .real("pressure_release", &M::pressure_release, 0.01, 1,
            "share of each cache and of the pressure handlers' holdings given back at once on "
            "memory pressure");
  auto init = [](const config&, const std::string& name, alert_config& a) {
    auto defaults = default_alerts();
    if (auto i = defaults.find(name); i != defaults.end())
      a = i->second;
  };
  using A = alert_config;
  schema
      .named_tables<A>(
          "monitor.alerts", [](config & c) -> auto& { return c.get<monitor_config>().alerts; },
          "One alert on a target or on any exported series (`/metrics` names, label matchers "
          "allowed).",
          init)
      .flag("enabled", &A::enabled, "whether the alert is evaluated")
      .string(
          "metric", &A::metric,
          "a target (`cpu_percent`, `memory_percent`, `cache_hit_rate`, `p95_seconds`, "
          "`error_rate`) or a series as `/metrics` names it, e.g. "
          "`p21_cache_hit_ratio{cache=\"shared\"}`; several matches are summed (`*_ratio` gauges "
          "averaged)")
      .refine(metric_problem)
      .default_doc("per alert; required")
      .custom(side_key("above", true))
      .custom(side_key("below", false))
      .real("threshold", &A::threshold, -inf, inf, "value past which the alert fires")
      .default_doc("per alert; required")
      .custom(clear_key())
      .custom(for_key())
      .choice("severity", &A::severity, {"info", "warning", "critical"},
              "carried into the event, the log and the commands' environment")
      .strings("on_fire", &A::on_fire, "command (argv, no shell) run when the alert fires")
      .refine(command_problem)
      .strings("on_resolve", &A::on_resolve, "command run when it resolves")
      .refine(command_problem)
      .live_set()
      .default_names(default_alert_names())
      .doc_note(alert_table());
  schema.add_check(check_alerts);
}

} // namespace p21
