// The engine: the rules in priority order, their gates and forecasts, and
// what they share. Each rule's logic is in rules/.

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine.hpp"
#include "p21/db_config.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/rule.hpp"
#include "p21/subprocess_config.hpp"
#include "rules/rule.hpp"

namespace p21 {

optimizer_engine::optimizer_engine(const config& cfg)
  : cfg_(cfg) {
  auto& oc = cfg_.get<optimizer_config>();
  // A rule the config does not set runs with its defaults.
  for (auto& [name, rc] : default_rules())
    oc.rules.emplace(name, rc);
  for (auto make : {make_memory_pressure_rule, make_cache_hit_rate_rule, make_connection_pool_rule,
                    make_lazy_loading_rule, make_git_cache_rule, make_cpu_usage_rule,
                    make_disk_usage_rule, make_parallel_efficiency_rule, make_response_time_rule})
    rules_.push_back(make());
  // The config check refuses these before a runtime starts.
  if (auto problem = custom_rules_problem(oc); !problem.empty())
    throw std::invalid_argument("optimizer: " + problem);
  for (auto& r : oc.custom_rules) {
    rules_.push_back(make_custom_rule(r));
    oc.rules.emplace(r->name(), r->settings());
  }
  auto declared = oc.rules;
  adopt_declared_rules(declared);
  state_.pool_size = cfg_.get<database_config>().pool_size;
  state_.max_processes = cfg_.get<subprocess_config>().max_processes;
  state_.monitor_interval = cfg_.performance.monitor_interval;
}

optimizer_engine::~optimizer_engine() = default;

rule_gate& optimizer_engine::gate(const engine_rule& rule, const std::string& target) {
  auto key = std::make_pair(rule.name(), target);
  auto i = gates_.find(key);
  if (i == gates_.end())
    i = gates_
            .emplace(key, rule_gate{cfg_.get<optimizer_config>().rules.at(rule.name()),
                                    rule.fires_above()})
            .first;
  return i->second;
}

std::optional<double> optimizer_engine::last_value(const decision& d) const {
  for (auto& r : rules_)
    if (r->name() == d.rule) {
      auto target = r->gate_target(d);
      if (!target)
        return std::nullopt;
      auto i = gates_.find(std::make_pair(d.rule, *target));
      if (i == gates_.end())
        return std::nullopt;
      return i->second.last_value();
    }
  return std::nullopt;
}

namespace {

/// Whether two declared rules read the same sensors and set the same knob
/// (else the rule is rebuilt, its gate and forecast afresh).
bool same_declaration(const rule_config& a, const rule_config& b) {
  return a.sensor == b.sensor && a.fires_above == b.fires_above && a.knob == b.knob &&
         a.model == b.model && a.arrivals == b.arrivals && a.service == b.service &&
         a.backlog == b.backlog;
}

} // namespace

void merge_declared_rules(std::map<std::string, rule_config>& kept,
                          const std::map<std::string, rule_config>& now) {
  for (auto i = kept.begin(); i != kept.end();) {
    auto j = now.find(i->first);
    if (i->second.declared() && (j == now.end() || !j->second.declared()))
      i = kept.erase(i);
    else
      ++i;
  }
  for (auto& [name, rc] : now)
    if (rc.declared())
      kept[name] = rc;
}

void optimizer_engine::adopt_declared_rules(const std::map<std::string, rule_config>& rules) {
  auto& mine = cfg_.get<optimizer_config>().rules;
  auto forget = [&](const std::string& name) {
    rules_.erase(std::remove_if(rules_.begin(), rules_.end(),
                                [&](auto& r) { return r->declared() && r->name() == name; }),
                 rules_.end());
    for (auto i = gates_.begin(); i != gates_.end();)
      i = i->first.first == name ? gates_.erase(i) : std::next(i);
    for (auto i = forecasts_.begin(); i != forecasts_.end();)
      i = i->first.first == name ? forecasts_.erase(i) : std::next(i);
    previous_.erase(name);
  };
  std::vector<std::string> running;
  for (auto& r : rules_)
    if (r->declared())
      running.push_back(r->name());
  for (auto& name : running) {
    auto now = rules.find(name);
    auto before = mine.find(name);
    bool gone = now == rules.end() || !now->second.declared();
    if (gone || before == mine.end() || !same_declaration(now->second, before->second))
      forget(name);
    if (gone)
      mine.erase(name);
  }
  for (auto& [name, rc] : rules) {
    if (!rc.declared())
      continue;
    bool kept = std::any_of(rules_.begin(), rules_.end(),
                            [&](auto& r) { return r->declared() && r->name() == name; });
    if (!kept)
      rules_.push_back(make_declared_rule(name, rc));
    mine[name] = rc;
    for (auto& [key, g] : gates_)
      if (key.first == name)
        g.settings(rc);
  }
}

std::vector<std::string> optimizer_engine::knobs_read() const {
  std::vector<std::string> out;
  for (auto& r : rules_)
    for (auto& k : r->knobs_read())
      if (std::find(out.begin(), out.end(), k) == out.end())
        out.push_back(k);
  return out;
}

bool optimizer_engine::set_rule(const std::string& name, const rule_config& given) {
  auto i = cfg_.get<optimizer_config>().rules.find(name);
  if (i == cfg_.get<optimizer_config>().rules.end())
    return false;
  // `set_rule` carries the gate's settings; a declared rule keeps what it
  // reads and sets.
  auto rc = given;
  if (i->second.declared() && !rc.declared()) {
    auto& d = i->second;
    rc.sensor = d.sensor;
    rc.fires_above = d.fires_above;
    rc.knob = d.knob;
    rc.model = d.model;
    rc.arrivals = d.arrivals;
    rc.service = d.service;
    rc.utilization = d.utilization;
    rc.backlog = d.backlog;
    rc.drain = d.drain;
    rc.scale = d.scale;
  }
  // A new horizon starts its forecasts' caution afresh (the smoothing
  // itself runs with forecasts off too, so it is warm).
  if (i->second.predict != rc.predict)
    for (auto& [key, f] : forecasts_)
      if (key.first == name) {
        f.caution = 1.0;
        f.off_until.reset();
      }
  i->second = rc;
  for (auto& [key, g] : gates_)
    if (key.first == name)
      g.settings(rc);
  return true;
}

void optimizer_engine::reconfigure(const config& now) {
  auto old_pool = cfg_.get<database_config>().pool_size;
  auto old_overflow = cfg_.get<database_config>().max_overflow;
  auto old_procs = cfg_.get<subprocess_config>().max_processes;
  auto old_interval = cfg_.performance.monitor_interval;
  // The rules' settings and the custom rules stay the engine's: set_rule
  // changes the former, the latter are set before start.
  auto rules = std::move(cfg_.get<optimizer_config>().rules);
  auto custom = std::move(cfg_.get<optimizer_config>().custom_rules);
  cfg_ = now;
  cfg_.get<optimizer_config>().rules = std::move(rules);
  cfg_.get<optimizer_config>().custom_rules = std::move(custom);
  adopt_declared_rules(now.get<optimizer_config>().rules);
  auto& db = cfg_.get<database_config>();
  // The reload set the pool to its new size: the rules move from there, and
  // wait a cooldown before shrinking it (as after any change).
  if (db.pool_size != old_pool) {
    state_.pool_size = db.pool_size;
    state_.pool_changed = last_ ? std::optional{last_->now} : std::nullopt;
  } else if (db.max_overflow != old_overflow) {
    state_.pool_size = std::min<uint64_t>(state_.pool_size, db.pool_size + db.max_overflow);
  }
  auto procs = cfg_.get<subprocess_config>().max_processes;
  if (procs != old_procs) {
    // The operator's limit replaces what rules 6 and 8 had chosen.
    state_.max_processes = procs;
    state_.restore_target.reset();
    state_.cpu_ceiling.reset();
    state_.cpu_calm = 0;
  }
  if (cfg_.performance.monitor_interval != old_interval)
    state_.monitor_interval = cfg_.performance.monitor_interval;
}

double optimizer_engine::caution(const std::string& rule, const std::string& target) const {
  auto i = forecasts_.find(std::make_pair(rule, target));
  return i == forecasts_.end() ? 1.0 : i->second.caution;
}

std::optional<double> optimizer_engine::foresee(const engine_rule& rule, const std::string& target,
                                                double value,
                                                std::chrono::steady_clock::time_point now,
                                                forecast_use use) {
  auto& rc = cfg_.get<optimizer_config>().rules.at(rule.name());
  auto& f = forecasts_[std::make_pair(rule.name(), target)];
  bool on = rc.predict > timespan{0};
  // Judge the one-step forecast for now: it did not come true when the value
  // lies outside its band (3 residuals, at least 5 % of the scale).
  if (auto e = f.holt.expected(now); e && on) {
    auto scale = std::max({std::fabs(rc.threshold), std::fabs(value), 1.0});
    auto band = std::max(3 * f.holt.residual(), 0.05 * scale);
    if (std::fabs(value - *e) > band) {
      ++f.misses;
      ++forecast_misses_[rule.name()];
      f.caution *= 2; // a wider margin: the forecast must cross by more
      // And a rest after repeated misses, for triggers only: a capacity
      // sized without its forecast would lag the demand, and its wider
      // margin already errs on the safe side.
      if (f.misses % 3 == 0 && use == forecast_use::trigger)
        f.off_until = now + 10 * rc.predict;
    } else {
      f.caution = std::max(1.0, f.caution * 0.9);
    }
  }
  f.holt.observe(value, now);
  if (!on || (f.off_until && now < *f.off_until))
    return std::nullopt;
  auto p = f.holt.at(rc.predict);
  if (!p)
    return std::nullopt;
  auto margin = f.caution * f.holt.residual();
  bool upward = rule.fires_above() == (use == forecast_use::capacity);
  return upward ? *p + margin : *p - margin;
}

void optimizer_engine::forecast_acted(const std::string& rule, const std::string& target) {
  if (auto i = forecasts_.find(std::make_pair(rule, target)); i != forecasts_.end())
    i->second.holt.rebase();
}

bool engine_rule::woken_by(const std::vector<std::string>& families) const {
  auto reads = [&](const std::string& family) {
    return !family.empty() && std::find(families.begin(), families.end(),
                                        metric_family_key(family)) != families.end();
  };
  for (auto& s : sensors())
    if (reads(s.family) || reads(s.denominator))
      return true;
  return false;
}

std::vector<decision> optimizer_engine::evaluate(
    const node_snapshot& s, const std::optional<std::vector<std::string>>& woken) {
  std::vector<decision> out;
  auto now = std::make_shared<const node_snapshot>(s);
  last_ = now;
  state_.memory_tight = false;
  state_.cpu_moved = false;
  state_.procs_moved = false;
  for (auto& r : rules_) {
    if (woken && !r->woken_by(*woken))
      continue;
    auto& previous = previous_[r->name()];
    rule_context ctx{*this, *r, *now, previous.get()};
    auto ds = r->evaluate(ctx);
    out.insert(out.end(), std::make_move_iterator(ds.begin()), std::make_move_iterator(ds.end()));
    previous = now;
  }
  return out;
}

} // namespace p21
