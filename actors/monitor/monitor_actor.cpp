// The monitor: a detached actor (it reads /proc and statvfs, so it keeps off
// CAF's scheduler threads) that samples the node every `monitor_interval`.

#include <algorithm>
#include <cmath>
#include <deque>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "alerts.hpp"
#include "health_round.hpp"
#include "knob_values.hpp"
#include "monitor_settings.hpp"
#include "p21/cluster.hpp"
#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
#include "p21/profiling.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/protocol/subprocess.hpp"
#include "pressure_response.hpp"
#include "p21/series_selector.hpp"
#include "system_metrics.hpp"

namespace p21 {

namespace {

using clock = std::chrono::steady_clock;
using tick_atom = caf::atom_constant<caf::atom("montick")>;
/// From the pressure watcher's thread: source, RSS, budget, and when it was
/// seen (steady clock, ns).
using pressure_atom = caf::atom_constant<caf::atom("monpress")>;

using monitor_impl = monitor_actor::extend_with<knob_owner_actor>::extend<
    caf::reacts_to<tick_atom>,
    caf::reacts_to<pressure_atom, std::string, uint64_t, uint64_t, int64_t>>;

/// Rounds kept for `history_atom`.
constexpr size_t history_max = 360;

/// The longest gap between ticks. A pending delayed message holds its
/// receiver, and a killed detached actor keeps its thread until nothing
/// holds it: with one tick per interval (60 s by default) every kill left a
/// thread behind for up to a minute (the fault soak found it). A round
/// still starts once per interval.
constexpr timespan max_tick_gap = std::chrono::seconds{1};

/// The subprocess pool's component, which runs alert commands.
constexpr const char* subprocess_component_name = "subprocess";

/// Bound of one alert command's run.
constexpr auto alert_command_timeout = std::chrono::seconds{30};

struct monitor_state {
  monitor_settings cfg;
  /// When the next sampling round is due.
  clock::time_point next_round;
  std::shared_ptr<const node_view> view;
  std::unique_ptr<system_sampler> sampler;
  std::vector<alert> alerts;
  /// The rates and summary of each round (health_round.hpp).
  health_round round;
  std::map<std::string, metric_set> component_metrics;
  std::deque<event> events;
  /// Parsed `metric` of alerts that watch an exported series.
  std::map<std::string, series_selector> selectors;
  /// Alert commands started and not yet answered.
  size_t commands_in_flight = 0;
  /// The last rounds, for the dashboard (at 5 s a round: half an hour).
  std::deque<history_point> history;
  uint64_t next_seq = 0;
  performance_summary summary;
  system_sample system;
  // -- the round in progress --
  bool in_round = false;
  size_t outstanding = 0;
  std::map<std::string, metric_set> collecting;
  /// `knob_value` of each knob: the last round's, and this round's so far.
  std::vector<metric_sample> knob_values;
  std::vector<metric_sample> knob_collecting;
  std::vector<caf::typed_response_promise<performance_summary>> waiting;
  // -- memory pressure --
  std::unique_ptr<pressure_watcher> watcher;
  bool relieving = false;
  std::map<std::string, uint64_t> pressure_events;
  double pressure_reaction = 0;

  static inline const char* name = "p21.monitor";

  void add_event(event e) {
    e.seq = ++next_seq;
    if (e.time == caf::timestamp{})
      e.time = caf::make_timestamp();
    events.push_back(std::move(e));
    while (events.size() > cfg.events_max)
      events.pop_front();
  }
};

using monitor_self = monitor_impl::stateful_pointer<monitor_state>;

void finish_round(monitor_self self);

void start_round(monitor_self self) {
  auto& st = self->state;
  if (st.in_round)
    return;
  st.in_round = true;
  st.collecting.clear();
  std::vector<std::pair<std::string, caf::actor>> running;
  if (st.view && st.view->running)
    running = st.view->running();
  running.erase(std::remove_if(running.begin(), running.end(),
                               [&](auto& x) {
                                 return x.second.address() == self->address() || x.first == "http";
                               }),
                running.end());
  auto knobs = knobs_of(st.view.get());
  st.knob_collecting.clear();
  st.outstanding = running.size() + knobs.size();
  if (st.outstanding == 0) {
    finish_round(self);
    return;
  }
  // Each knob's value from its owner, through the supervisor (which
  // forwards, so this waits on the owner only): `p21_knob_value`.
  for (auto& [component, knob] : knobs) {
    auto labels = std::map<std::string, std::string>{{"knob", knob}, {"component", component}};
    self->request(st.view->supervisor, std::chrono::seconds{2}, get_knob_atom::value, knob)
        .then(
            [=](double v) {
              self->state.knob_collecting.push_back(monitor_metrics::knob_value(v, labels));
              if (--self->state.outstanding == 0)
                finish_round(self);
            },
            [=](caf::error&) {
              if (--self->state.outstanding == 0)
                finish_round(self);
            });
  }
  for (auto& [name, handle] : running) {
    auto n = name;
    self->request(handle, std::chrono::seconds{2}, metrics_atom::value)
        .then(
            [=](metric_set& m) {
              self->state.collecting[n] = std::move(m);
              if (--self->state.outstanding == 0)
                finish_round(self);
            },
            [=](caf::error&) {
              // A component that does not answer (down, restarting, or not
              // a metrics source) is left out of this round.
              if (--self->state.outstanding == 0)
                finish_round(self);
            });
  }
}

metric_set exported(monitor_self self);

/// What `set_interval_atom` and the `interval` knob do.
caf::expected<timespan> set_interval(monitor_self self, timespan interval) {
  if (interval < std::chrono::milliseconds{100})
    return make_error(errc::invalid_argument, "monitor interval must be at least 100ms");
  if (interval != self->state.cfg.interval)
    spdlog::info("monitor interval {} -> {}", format_duration(self->state.cfg.interval),
                 format_duration(interval));
  self->state.cfg.interval = interval;
  self->state.next_round = std::min(self->state.next_round, clock::now() + interval);
  return interval;
}

void command_failed(monitor_self self, const std::string& alert, const std::string& why) {
  spdlog::warn("alert {}: its command failed: {}", alert, why);
  event e;
  e.kind = "alert_command_failed";
  e.name = alert;
  e.message = why;
  self->state.add_event(std::move(e));
}

/// Runs an alert's command through the subprocess pool without waiting for
/// it: the reply arrives as a message. At most `alert_commands_max` run at
/// once; the rest are skipped (logged), so a hung command never piles up.
void run_alert_command(monitor_self self, const alert_rule& rule,
                       const std::vector<std::string>& argv, bool fired, double value) {
  auto& st = self->state;
  auto name = rule.name;
  if (st.commands_in_flight >= st.cfg.alert_commands_max) {
    command_failed(self, name,
                   "skipped: " + std::to_string(st.commands_in_flight) +
                       " alert command(s) still running (monitor.alert_commands_max)");
    return;
  }
  command_request req;
  req.argv = argv;
  req.env_mode = command_request::add;
  req.env = {{"P21_ALERT_NAME", rule.name},
             {"P21_ALERT_VALUE", std::to_string(value)},
             {"P21_ALERT_STATE", fired ? "firing" : "resolved"},
             {"P21_ALERT_METRIC", rule.metric},
             {"P21_ALERT_THRESHOLD", std::to_string(rule.threshold)},
             {"P21_ALERT_SEVERITY", rule.severity}};
  req.timeout = alert_command_timeout;
  ++st.commands_in_flight;
  auto done = [self] {
    --self->state.commands_in_flight;
  };
  auto send = [=](caf::actor pool) {
    self->request(caf::actor_cast<subprocess_actor>(pool), alert_command_timeout * 2,
                  run_atom::value, req)
        .then(
            [=](command_result& r) {
              done();
              if (r.exit_code != 0 || r.timed_out) {
                auto why = r.timed_out ? std::string{"timed out"}
                           : r.signal  ? "killed by signal " + std::to_string(r.signal)
                                       : "exit code " + std::to_string(r.exit_code);
                if (!r.stderr_data.empty())
                  why += ": " + r.stderr_data.substr(0, 200);
                command_failed(self, name, argv.front() + " " + why);
              } else {
                spdlog::info("alert {}: {} ran ({})", name, argv.front(),
                             fired ? "firing" : "resolved");
              }
            },
            [=](caf::error& err) {
              done();
              command_failed(self, name, argv.front() + ": " + render(err));
            });
  };
  // The pool may not have started yet (it is lazy): the supervisor starts it.
  if (st.view && st.view->running)
    for (auto& [n, handle] : st.view->running())
      if (n == subprocess_component_name) {
        send(handle);
        return;
      }
  if (!st.view || !st.view->supervisor) {
    done();
    command_failed(self, name, "no subprocess pool");
    return;
  }
  self->request(st.view->supervisor, std::chrono::seconds{10}, start_atom::value,
                std::string{subprocess_component_name})
      .then([=](caf::actor& pool) { send(pool); },
            [=](caf::error& err) {
              done();
              command_failed(self, name, "no subprocess pool: " + render(err));
            });
}

/// The optimizer's rules read what the monitor saw: an alert's change or
/// memory pressure wakes them now, not at the next `optimization_interval`
/// (the optimizer rate-limits these).
/// `families`: the metric families the change concerns, so that only the
/// rules reading them run; none: every rule.
void wake_optimizer(monitor_self self, std::string reason,
                    std::optional<std::vector<std::string>> families) {
  auto& st = self->state;
  if (st.view && st.view->running)
    for (auto& [n, handle] : st.view->running())
      if (n == "optimizer") {
        auto opt = caf::actor_cast<optimizer_actor>(handle);
        if (families)
          self->send(opt, evaluate_now_atom::value, std::move(reason), std::move(*families));
        else
          self->send(opt, evaluate_now_atom::value, std::move(reason));
        return;
      }
}

/// Memory pressure the watcher saw: caches shrink and pressure handlers run
/// now (pressure_response.hpp), then the optimizer wakes. One at a time.
void on_pressure(monitor_self self, pressure_event e) {
  auto& st = self->state;
  ++st.pressure_events[e.source];
  if (st.relieving || !st.view)
    return;
  st.relieving = true;
  relieve_memory(self, *st.view, relief_targets_of(st.component_metrics), st.cfg.pressure_release,
                 std::move(e), [self](const pressure_event& ev, const relief_outcome& r) {
                   auto& st = self->state;
                   st.relieving = false;
                   st.pressure_reaction = std::chrono::duration<double>(r.reaction).count();
                   auto text = describe(ev, r);
                   spdlog::warn("memory pressure ({}): {}", ev.source, text);
                   event x;
                   x.kind = "memory_pressure";
                   x.name = ev.source;
                   x.value = double(ev.rss_bytes);
                   x.message = text;
                   st.add_event(std::move(x));
                   // The woken optimizer reads the latest summary: RSS as now.
                   st.system.rss_bytes = current_rss();
                   st.summary.system["rss_bytes"] = double(st.system.rss_bytes);
                   wake_optimizer(self, "memory pressure (" + ev.source + ")", memory_families());
                 });
}

/// An alert that fired or resolved: its event, its log line and its command.
void announce(monitor_self self, const alert_rule& r, bool fired, double value,
              std::string message) {
  event e;
  e.kind = fired ? "alert_firing" : "alert_resolved";
  e.name = r.name;
  e.value = value;
  e.message = std::move(message);
  if (fired)
    spdlog::warn("alert {} ({}) firing: {} = {}", r.name, r.severity, r.metric, value);
  else
    spdlog::info("alert {} resolved: {} = {} ({})", r.name, r.metric, value, e.message);
  self->state.add_event(std::move(e));
  wake_optimizer(self, "alert " + r.name + (fired ? " firing" : " resolved"),
                 alert_families(r.metric));
  auto& argv = fired ? r.on_fire : r.on_resolve;
  if (!argv.empty())
    run_alert_command(self, r, argv, fired, value);
}

/// The parsed series of every alert that watches one (not a target).
void parse_selectors(monitor_state& st) {
  static const std::set<std::string> target_names = {"cpu_percent", "memory_percent",
                                                     "cache_hit_rate", "p95_seconds", "error_rate"};
  st.selectors.clear();
  for (auto& a : st.alerts) {
    auto& r = a.rule();
    if (target_names.count(r.metric))
      continue;
    std::string problem;
    if (auto sel = parse_series_selector(r.metric, problem))
      st.selectors.emplace(r.name, std::move(*sel));
    else
      spdlog::error("alert {}: {}", r.name, problem); // validation refuses this first
  }
}

void finish_round(monitor_self self) {
  auto& st = self->state;
  auto now = clock::now();
  st.component_metrics = health_round::by_component(std::move(st.collecting));
  st.collecting.clear();
  st.knob_values = std::move(st.knob_collecting);
  st.knob_collecting.clear();
  std::vector<const metric_set*> sources;
  for (auto& [name, m] : st.component_metrics)
    sources.push_back(&m);
  metric_set user;
  if (st.view && st.view->registry) {
    user = st.view->registry->collect();
    sources.push_back(&user);
  }
  // -- system --
  st.system = st.sampler->sample(read_system(), now);
  for (auto& path : st.cfg.watch_paths)
    if (auto d = disk_percent(path))
      st.system.disk_percent[path] = *d;
  // -- derived: rates over this round --
  health_inputs in;
  in.cpu_percent = st.system.cpu_percent;
  in.memory_percent = st.system.memory_percent;
  st.round.measure(sources, in);
  auto targets = health_round::targets_of(in);
  // -- alerts --
  std::optional<metric_set> series; // what /metrics exports, built once if needed
  for (auto& a : st.alerts) {
    std::optional<double> v;
    if (auto i = targets.find(a.rule().metric); i != targets.end()) {
      v = i->second;
    } else if (auto sel = st.selectors.find(a.rule().name); sel != st.selectors.end()) {
      if (!series)
        series = exported(self);
      v = resolve_series(sel->second, *series);
    }
    if (!v)
      continue;
    auto t = a.observe(*v, now);
    if (t == alert::transition::none)
      continue;
    auto& r = a.rule();
    announce(self, r, t == alert::transition::fired, *v,
             r.metric +
                 (t == alert::transition::fired
                      ? (r.above ? " above " : " below ") + std::to_string(r.threshold)
                      : " back past " + std::to_string(r.clear_threshold)) +
                 " (" + r.severity + ")");
  }
  // -- summary --
  auto& s = st.summary;
  st.round.summarize(s, in, targets, st.system, st.component_metrics, user, now);
  s.active_alerts.clear();
  for (auto& a : st.alerts)
    if (a.firing())
      s.active_alerts.push_back(a.rule().name);
  st.history.push_back({caf::make_timestamp(), s.health_score, s.targets});
  while (st.history.size() > history_max)
    st.history.pop_front();
  st.in_round = false;
  for (auto& p : st.waiting)
    p.deliver(s);
  st.waiting.clear();
}

metric_set exported(monitor_self self) {
  auto& st = self->state;
  metric_set out;
  for (auto& [name, m] : st.component_metrics) {
    out.counters.insert(out.counters.end(), m.counters.begin(), m.counters.end());
    out.gauges.insert(out.gauges.end(), m.gauges.begin(), m.gauges.end());
    out.histograms.insert(out.histograms.end(), m.histograms.begin(), m.histograms.end());
    out.stats.insert(m.stats.begin(), m.stats.end());
  }
  if (st.view && st.view->registry) {
    auto user = st.view->registry->collect();
    out.counters.insert(out.counters.end(), user.counters.begin(), user.counters.end());
    out.gauges.insert(out.gauges.end(), user.gauges.begin(), user.gauges.end());
    out.histograms.insert(out.histograms.end(), user.histograms.begin(), user.histograms.end());
  }
  out.gauges.insert(out.gauges.end(), st.knob_values.begin(), st.knob_values.end());
  namespace d = monitor_metrics;
  auto& sys = st.system;
  out.gauges.push_back(d::system_cpu(sys.cpu_percent / 100));
  out.gauges.push_back(d::process_cpu(sys.process_cpu_percent / 100));
  out.gauges.push_back(d::children_cpu(sys.children_cpu_percent / 100));
  out.gauges.push_back(d::system_memory(sys.memory_percent / 100));
  out.gauges.push_back(d::resident_memory(double(sys.rss_bytes)));
  out.gauges.push_back(d::threads(double(sys.threads)));
  out.gauges.push_back(d::open_fds(double(sys.open_fds)));
  out.gauges.push_back(d::load1(sys.load1));
  out.gauges.push_back(d::cpus(sys.cpus));
  for (auto& [path, pct] : sys.disk_percent)
    out.gauges.push_back(d::disk_usage(pct / 100, {{"path", path}}));
  out.gauges.push_back(d::health_score(st.summary.health_score));
  for (auto& a : st.alerts)
    out.gauges.push_back(d::alert_firing(a.firing() ? 1.0 : 0.0, {{"alert", a.rule().name}}));
  for (auto& [k, v] : st.summary.targets)
    out.gauges.push_back(d::target_value(v, {{"target", k}}));
  out.counters.push_back(d::samples(double(st.summary.samples)));
  out.counters.push_back(d::events(double(st.next_seq)));
  for (auto& [source, n] : st.pressure_events)
    out.counters.push_back(d::memory_pressure_events(double(n), {{"source", source}}));
  if (!st.pressure_events.empty())
    out.gauges.push_back(d::memory_pressure_reaction(st.pressure_reaction));
  return out;
}

monitor_impl::behavior_type monitor_fun(monitor_self self, monitor_settings cfg,
                                        std::shared_ptr<const node_view> view) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.view = std::move(view);
  st.sampler = std::make_unique<system_sampler>(static_cast<double>(available_cpus()),
                                                ::sysconf(_SC_CLK_TCK));
  for (auto& r : st.cfg.alerts)
    st.alerts.emplace_back(r);
  parse_selectors(st);
  // A first reading now: CPU % needs two.
  st.system = st.sampler->sample(read_system(), clock::now());
  fill_system(st.summary, st.system);
  st.summary.health_score = 100;
  st.next_round = clock::now() + st.cfg.interval;
  self->delayed_send(self, std::min(st.cfg.interval, max_tick_gap), tick_atom::value);
  // Its thread holds the monitor weakly: the monitor's exit joins it.
  caf::weak_actor_ptr weak = self->ctrl();
  st.watcher = std::make_unique<pressure_watcher>(st.cfg.pressure, [weak](const pressure_event& e) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<monitor_impl>(strong), pressure_atom::value, e.source,
                     e.rss_bytes, e.budget, int64_t(e.seen.time_since_epoch().count()));
  });
  spdlog::info("memory pressure: watching {}", st.watcher->sources());
  return {
      [=](summary_atom) { return self->state.summary; },
      [=](sample_atom) -> caf::result<performance_summary> {
        auto promise = self->make_response_promise<performance_summary>();
        self->state.waiting.push_back(promise);
        start_round(self);
        return promise;
      },
      [=](events_atom, uint64_t since) {
        std::vector<event> out;
        auto& evs = self->state.events;
        for (auto i = evs.rbegin(); i != evs.rend() && i->seq > since; ++i)
          out.push_back(*i);
        return out;
      },
      [=](metrics_atom) { return exported(self); },
      [=](put_atom, event& e) { self->state.add_event(std::move(e)); },
      [=](history_atom) {
        auto& h = self->state.history;
        return std::vector<history_point>(h.begin(), h.end());
      },
      [=](set_interval_atom, caf::timespan interval) { return set_interval(self, interval); },
      [=](get_knob_atom, const std::string& name) -> caf::result<double> {
        if (name != self->state.cfg.interval_knob.name)
          return unknown_knob(name);
        return seconds_of(self->state.cfg.interval);
      },
      [=](set_knob_atom, const std::string& name, double v) -> caf::result<double> {
        auto& knob = self->state.cfg.interval_knob;
        if (name != knob.name)
          return unknown_knob(name);
        auto s = knob_target(knob, v);
        if (!s)
          return s.error();
        auto r = set_interval(self, std::chrono::duration_cast<timespan>(
                                        std::chrono::duration<double>(*s)));
        if (!r)
          return r.error();
        return seconds_of(*r);
      },
      [=](set_alert_for_atom, caf::timespan d) {
        auto& st = self->state;
        st.cfg.alert_for = d;
        for (auto& a : st.alerts)
          a.set_for_duration(d);
        return d;
      },
      [=](set_alerts_atom, std::vector<alert_rule>& rules) {
        auto& st = self->state;
        auto change = replace_alerts(st.alerts, rules);
        st.cfg.alerts = std::move(rules);
        parse_selectors(st);
        // A firing alert that is gone (or now asks another question) would
        // otherwise stay firing forever for whoever its on_fire paged.
        for (auto& a : change.resolved) {
          bool gone = std::find(change.removed.begin(), change.removed.end(), a.rule().name) !=
                      change.removed.end();
          announce(self, a.rule(), false, a.last_value(),
                   gone ? "removed by a reload" : "redefined by a reload");
        }
        std::vector<std::string> out;
        for (auto& n : change.added)
          out.push_back("added " + n);
        for (auto& n : change.changed)
          out.push_back("changed " + n);
        for (auto& n : change.removed)
          out.push_back("removed " + n);
        if (!out.empty())
          spdlog::info("alerts reloaded: {} running", st.alerts.size());
        return out;
      },
      [=](pressure_atom, std::string& source, uint64_t rss, uint64_t budget, int64_t seen) {
        on_pressure(self, {std::move(source), rss, budget,
                           clock::time_point{clock::duration{seen}}});
      },
      [=](tick_atom) {
        auto& st = self->state;
        if (auto now = clock::now(); now >= st.next_round) {
          st.next_round = now + st.cfg.interval;
          start_round(self);
        }
        self->delayed_send(self, std::min(st.cfg.interval, max_tick_gap), tick_atom::value);
      },
  };
}

} // namespace

child_spec monitor_component(const std::string& name, const config& cfg,
                             std::shared_ptr<const node_view> view) {
  auto ms = settings_of(cfg);
  ms.interval_knob.name = name + ".interval";
  child_spec spec;
  spec.name = name;
  spec.prio = priority::critical; // sampling starts with the node
  spec.knobs = {ms.interval_knob};
  auto prof = view && view->profile ? view->profile(name) : nullptr;
  spec.start = [ms, view, prof](caf::actor_system& sys) {
    // A restart after a reload keeps the reloaded interval and alerts.
    auto now = view && view->settings ? view->settings() : nullptr;
    auto current = now ? settings_of(*now) : ms;
    current.interval_knob = ms.interval_knob;
    return caf::actor_cast<caf::actor>(
        spawn_profiled<caf::detached>(sys, prof, monitor_fun, std::move(current), view));
  };
  return spec;
}

} // namespace p21
