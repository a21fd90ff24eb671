// `[optimizer]` and `[optimizer.rules.NAME]`: the nine rules, their defaults
// and the keys that tune them.

#include "engine.hpp"
#include "p21/config_schema.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/rule.hpp"
#include "p21/sensor.hpp"

#include <algorithm>
#include <iterator>
#include <limits>
#include <stdexcept>

namespace p21 {

namespace {

using namespace std::chrono_literals;

/// Which side of the threshold a rule fires on.
enum class direction { above, below };

struct rule_default {
  rule_id id;
  const char* name;
  direction dir;
  double threshold;
  double clear_threshold;
  int for_seconds;
  int cooldown_seconds;
  double step;
  /// Forecast horizon; off (0) where the action is costly (dropping cached
  /// data, VACUUM, unloading) or the metric has no trend worth following.
  int predict_seconds;
};

// Thresholds are the report's; clear thresholds add a hysteresis band. The
// one place a rule's config name meets its id; in `rule_id` order.
constexpr rule_default rule_defaults[] = {
    {rule_id::memory_pressure, "memory_pressure", direction::above, 85, 75, 0, 30, 0.25, 0},
    {rule_id::cache_hit_rate, "cache_hit_rate", direction::below, 60, 80, 120, 300, 0.25, 0},
    {rule_id::connection_pool, "connection_pool", direction::above, 1, 0, 10, 60, 0.25, 120},
    {rule_id::lazy_loading, "lazy_loading", direction::below, 10, 10, 1800, 300, 1.0, 0},
    {rule_id::git_cache, "git_cache", direction::below, 50, 60, 120, 300, 0.25, 0},
    {rule_id::cpu_usage, "cpu_usage", direction::above, 80, 70, 30, 60, 0.25, 120},
    {rule_id::disk_usage, "disk_usage", direction::above, 90, 85, 0, 600, 1.0, 0},
    {rule_id::parallel_efficiency, "parallel_efficiency", direction::below, 70, 80, 60, 120, 0.5, 0},
    // The report's fifth trigger: p95 response time in milliseconds.
    {rule_id::response_time, "response_time", direction::above, 500, 400, 60, 120, 0.25, 0},
};

constexpr bool in_id_order() {
  for (size_t i = 0; i < std::size(rule_defaults); ++i)
    if (size_t(rule_defaults[i].id) != i)
      return false;
  return true;
}
static_assert(in_id_order(), "rule_defaults must list the rules in rule_id order");

const rule_default* find_rule_default(const std::string& name) {
  for (auto& r : rule_defaults)
    if (name == r.name)
      return &r;
  return nullptr;
}

/// A built-in rule's step is a fraction; a declared rule's is the knob's
/// change per action, in the knob's unit.
void check_steps(const config& cfg, const config_checker& ck) {
  for (auto& [name, rc] : cfg.get<optimizer_config>().rules)
    if (find_rule_default(name) && !(rc.step > 0 && rc.step <= 1))
      ck.fail("optimizer.rules." + name + ".step",
              "must be a fraction above 0 and at most 1, got " + std::to_string(rc.step));
}

/// The clear threshold lies on the side the rule leaves its firing state.
void check_hysteresis(const config& cfg, const config_checker& ck) {
  for (auto& [name, rc] : cfg.get<optimizer_config>().rules) {
    auto def = find_rule_default(name);
    if (!def && !rc.declared())
      continue;
    bool above = def ? def->dir == direction::above : rc.fires_above;
    if (above ? rc.clear_threshold <= rc.threshold : rc.clear_threshold >= rc.threshold)
      continue;
    auto key = "optimizer.rules." + name + ".";
    auto culprit = ck.has(key + "clear_threshold") || !ck.has(key + "threshold") ? "clear_threshold"
                                                                                 : "threshold";
    ck.fail(key + culprit,
            std::string{"clear_threshold must be "} + (above ? "at or below" : "at or above") +
                " threshold (this rule fires " + (above ? "above" : "below") + " it)");
  }
}

/// An application's rules (set in code) have names of their own.
void check_custom_rules(const config& cfg, const config_checker& ck) {
  if (auto problem = custom_rules_problem(cfg.get<optimizer_config>()); !problem.empty())
    ck.fail("optimizer", problem);
}

/// The keys only a declared rule has.
constexpr const char* declared_keys[] = {"sensor",  "above", "below",       "knob",
                                         "model",   "arrivals", "service", "scale",
                                         "utilization", "backlog", "drain"};

/// A name that is not one of the nine is a declared rule: it says what it
/// reads, where it fires and what it sets. One of the nine reads its own
/// sensors.
void check_declared_rules(const config& cfg, const config_checker& ck) {
  for (auto& [name, rc] : cfg.get<optimizer_config>().rules) {
    auto key = "optimizer.rules." + name;
    if (find_rule_default(name)) {
      for (auto k : declared_keys)
        if (ck.has(key + "." + k) || (std::string{k} == "sensor" && rc.declared()))
          ck.fail(key + "." + k, "'" + name +
                                     "' is a built-in rule with sensors of its own; `" + k +
                                     "` is for a rule you declare under a name of your own");
      continue;
    }
    if (!rc.declared())
      ck.fail(key, "unknown rule" + did_you_mean(name, rule_names()) +
                       "; a rule of your own needs `sensor`, `above` or `below`, and `knob`");
    if (rc.knob.empty())
      ck.fail(key + ".knob", "a declared rule needs the `knob` it sets (e.g. \"myapp.workers\")");
    if (ck.has(key + ".above") && ck.has(key + ".below"))
      ck.fail(key + ".below", "a rule fires either `above` or `below` its threshold, not both");
    if (ck.has(key + ".sensor") && !ck.has(key + ".above") && !ck.has(key + ".below") &&
        !ck.has(key + ".threshold"))
      ck.fail(key + ".sensor", "a declared rule needs `above = X` or `below = X`");
    // Set, not only present: a config written back (to_toml) has every key.
    for (auto [k, set] : {std::pair{"backlog", !rc.backlog.empty()},
                          std::pair{"drain", rc.drain > timespan{0}}})
      if (rc.model != "littles_law" && set)
        ck.fail(key + "." + k, std::string{"`"} + k +
                                   "` is an input of model = \"littles_law\", which this rule "
                                   "does not use");
    if (rc.model == "littles_law") {
      if (rc.arrivals.empty() || rc.service.empty())
        ck.fail(key + ".model",
                "littles_law needs `arrivals` (a rate, e.g. 'rate(myapp_jobs_total)') and "
                "`service` (seconds per arrival, e.g. 'mean(myapp_job_seconds)')");
      if (rc.drain > timespan{0} && rc.backlog.empty())
        ck.fail(key + ".drain", "`drain` is how soon littles_law works off the `backlog`; set "
                                "`backlog` (the jobs queued now, e.g. 'myapp_queue_length') too");
    } else if (rc.step == 0 && rc.scale == 0) {
      ck.fail(key, "a declared rule needs `model = \"littles_law\"`, a `step` (\"+2\") or a "
                   "`scale` (1.25)");
    }
  }
}

std::string sensor_problem(const key_value& v) {
  auto& text = std::get<std::string>(v);
  if (text.empty())
    return {};
  try {
    parse_sensor(text);
    return {};
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

std::string model_problem(const key_value& v) {
  auto& m = std::get<std::string>(v);
  if (m.empty() || m == "littles_law")
    return {};
  return "'" + m + "' is not a model; the one there is: littles_law" +
         did_you_mean(m, {"littles_law"});
}

/// The defaults as a Markdown table, for the reference.
std::string rule_table() {
  std::string out = "Rule defaults:\n\n| rule | fires | threshold | clear_threshold | for | "
                    "cooldown | step | predict |\n|---|---|---|---|---|---|---|---|\n";
  auto num = [](double x) {
    auto s = std::to_string(x);
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.')
      s.pop_back();
    return s;
  };
  for (auto& r : rule_defaults)
    out += "| `" + std::string{r.name} + "` | " + (r.dir == direction::above ? "above" : "below") +
           " | " + num(r.threshold) + " | " + num(r.clear_threshold) + " | " +
           format_duration(std::chrono::seconds{r.for_seconds}) + " | " +
           format_duration(std::chrono::seconds{r.cooldown_seconds}) + " | " + num(r.step) + " | " +
           (r.predict_seconds > 0 ? format_duration(std::chrono::seconds{r.predict_seconds})
                                  : std::string{"off"}) +
           " |\n";
  return out + "\n`lazy_loading` measures seconds to a component's first use; its `for` is how "
               "long a component stays unused before it is unloaded. `response_time` measures "
               "the slowest subsystem's p95 in milliseconds and acts on where its time goes "
               "(waiting for a connection: `pool_size`; waiting for a process slot: "
               "`max_processes`; loading on misses: the cache's size).";
}

} // namespace

const std::string& rule_name(rule_id id) {
  return rule_names().at(size_t(id));
}

std::optional<rule_id> find_rule_id(const std::string& name) {
  if (auto def = find_rule_default(name))
    return def->id;
  return std::nullopt;
}

std::string custom_rules_problem(const optimizer_config& oc) {
  std::vector<std::string> seen;
  for (auto& r : oc.custom_rules) {
    if (!r)
      return "a custom rule (optimizer_config::custom_rules) is null";
    if (r->name().empty())
      return "a custom rule (optimizer_config::custom_rules) has no name";
    auto declared = oc.rules.find(r->name());
    if (find_rule_default(r->name()) ||
        (declared != oc.rules.end() && declared->second.declared()) ||
        std::find(seen.begin(), seen.end(), r->name()) != seen.end())
      return "custom rule '" + r->name() + "' is named as another rule";
    seen.push_back(r->name());
  }
  return {};
}

bool rule_fires_above(rule_id id) {
  return rule_defaults[size_t(id)].dir == direction::above;
}

const std::vector<std::string>& rule_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (auto& r : rule_defaults)
      out.emplace_back(r.name);
    return out;
  }();
  return names;
}

std::map<std::string, rule_config> default_rules() {
  std::map<std::string, rule_config> rules;
  for (auto& r : rule_defaults) {
    auto& rc = rules[r.name];
    rc.threshold = r.threshold;
    rc.clear_threshold = r.clear_threshold;
    rc.for_duration = std::chrono::seconds{r.for_seconds};
    rc.cooldown = std::chrono::seconds{r.cooldown_seconds};
    rc.step = r.step;
    rc.predict = std::chrono::seconds{r.predict_seconds};
  }
  return rules;
}

rule_config& rule(config& cfg, const std::string& name) {
  if (auto i = cfg.get<optimizer_config>().rules.find(name); i != cfg.get<optimizer_config>().rules.end())
    return i->second;
  auto defaults = default_rules();
  auto i = defaults.find(name);
  if (i == defaults.end())
    throw std::invalid_argument("'" + name + "' is not an optimization rule" +
                                did_you_mean(name, rule_names()));
  return cfg.get<optimizer_config>().rules.emplace(name, i->second).first->second;
}

namespace {

/// `above = X` / `below = X`: a declared rule's threshold and the side it
/// fires on. Read before `clear_threshold`, which it also sets (no
/// hysteresis unless the file adds one).
key_spec threshold_key(const char* name, bool above) {
  key_spec k;
  k.name = name;
  k.kind = key_kind::real;
  k.help = std::string{"a declared rule fires "} + name +
           " this value (a number, or a duration in seconds: \"50ms\")";
  k.min_real = -std::numeric_limits<double>::infinity();
  k.max_real = std::numeric_limits<double>::infinity();
  k.real_from_text = true;
  k.live = true;
  k.default_doc = "(none)";
  k.get = [](const void* p) { return key_value{static_cast<const rule_config*>(p)->threshold}; };
  k.set = [above](void* p, const key_value& v) {
    auto& rc = *static_cast<rule_config*>(p);
    rc.threshold = rc.clear_threshold = std::get<double>(v);
    rc.fires_above = above;
  };
  k.present = [above](const void* p) {
    auto& rc = *static_cast<const rule_config*>(p);
    return rc.declared() && rc.fires_above == above;
  };
  return k;
}

} // namespace

void declare_optimizer_keys(config_schema& schema) {
  constexpr auto inf = std::numeric_limits<double>::infinity();
  auto init = [](const config&, const std::string& name, rule_config& rc) {
    // A declared rule starts from no step and no cooldown of its own.
    rc = find_rule_default(name) ? default_rules().at(name) : rule_config{};
    if (!find_rule_default(name))
      rc.step = 0;
  };
  auto declared = [](const rule_config& rc) { return rc.declared(); };
  auto built_in = [](const rule_config& rc) { return !rc.declared(); };
  using O = optimizer_config;
  schema
      .section<O>("optimizer", "How the rules size what they move.")
      .choice("mode", &O::mode, {"model", "fixed"},
              "`model`: a rule jumps to what its model computes (miss-ratio curve, Little's law, "
              "CPU per command), bounded by the memory budget; `fixed`: it moves by `step` and "
              "waits an interval to see");
  using R = rule_config;
  schema
      .named_tables<R>(
          "optimizer.rules", [](config & c) -> auto& { return c.get<optimizer_config>().rules; },
          "One of the nine optimization rules (names below), or a rule you declare under a "
          "name of your own: a `sensor`, `above` or `below`, a `knob` and how it moves.",
          init)
      .string("sensor", &R::sensor,
              "a declared rule's value: `family{label=\"v\"}`, `family{quantile=\"0.95\"}`, "
              "`rate(family)`, `mean(family)` or `ratio(a / b)` (docs/optimizer.md)")
      .live()
      .refine(sensor_problem)
      .shown_if(declared)
      .default_doc("(none)")
      .custom(threshold_key("above", true))
      .custom(threshold_key("below", false))
      .flag("enabled", &R::enabled, "whether the rule acts")
      .live()
      .real("threshold", &R::threshold, -inf, inf, "value at which the rule fires")
      .live()
      .shown_if(built_in)
      .default_doc("per rule")
      .real("clear_threshold", &R::clear_threshold, -inf, inf,
            "value at which it clears (hysteresis); must be on the far side of `threshold`")
      .live()
      .default_doc("per rule")
      .duration("for", &R::for_duration, 0s, "how long the condition must hold")
      .live()
      .default_doc("per rule")
      .duration("cooldown", &R::cooldown, 0s, "quiet time after acting")
      .live()
      .default_doc("per rule")
      .real("step", &R::step, -inf, inf,
            "bound of one action, a fraction in (0, 1]: how much a cache shrinks or grows, how "
            "far a pool or worker count moves; a declared rule's: the knob's change per action "
            "(\"+2\", \"-1\")")
      .live()
      .or_text()
      .default_doc("per rule")
      .duration("predict", &R::predict, 0s,
                "act on where the metric is heading this far ahead (Holt's linear smoothing, "
                "residual margin); a forecast that does not come true makes the rule more "
                "cautious; 0: off; `true`: one minute")
      .live()
      .or_flag(std::chrono::minutes{1})
      .default_doc("per rule")
      .string("knob", &R::knob, "a declared rule's knob (`myapp.workers`, `db_pool.pool_size`)")
      .live()
      .shown_if(declared)
      .string("model", &R::model,
              "a declared rule's model: `littles_law` sets the knob to arrivals x service / "
              "utilization; empty: `step` or `scale`")
      .live()
      .refine(model_problem)
      .shown_if(declared)
      .string("arrivals", &R::arrivals, "littles_law: arrivals per second, a sensor")
      .live()
      .refine(sensor_problem)
      .shown_if(declared)
      .string("service", &R::service, "littles_law: seconds of work per arrival, a sensor")
      .live()
      .refine(sensor_problem)
      .shown_if(declared)
      .real("utilization", &R::utilization, 0.05, 1,
            "littles_law: the share of the knob the work should keep busy")
      .live()
      .shown_if(declared)
      .string("backlog", &R::backlog,
              "littles_law, optional: the jobs queued now, a sensor ('myapp_queue_length'); the "
              "knob also gets backlog x service / drain workers, so that the queue already "
              "there is worked off too")
      .live()
      .refine(sensor_problem)
      .shown_if(declared)
      .duration("drain", &R::drain, 0s,
                "littles_law with `backlog`: how soon the queued work is done; 0s, or under one "
                "job's service time: a worker for every queued job, all started at once")
      .live()
      .shown_if(declared)
      .real("scale", &R::scale, 0, 1000, "a declared rule: multiply the knob by this per action")
      .live()
      .shown_if(declared)
      .default_names(rule_names())
      .live_set()
      .doc_note(rule_table());
  schema.add_check(check_hysteresis);
  schema.add_check(check_steps);
  schema.add_check(check_custom_rules);
  schema.add_check(check_declared_rules);
}

} // namespace p21
