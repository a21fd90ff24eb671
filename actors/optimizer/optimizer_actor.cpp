// The optimizer actor: every `optimization_interval` it has the monitor take
// a fresh sample, turns the node's metrics into a snapshot for the engine,
// and carries out the engine's decisions by messaging the owning actors (or
// only logs them in dry-run mode). Every action is logged, counted and sent
// to the monitor's event list; the owner's reply lands in the log entry.
// It never touches a resource itself, so it runs on the scheduler.

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "engine.hpp"
#include "knob_route.hpp"
#include "p21/knob.hpp"
#include "p21/monitor.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/profiling.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/subprocess.hpp"
#include "wake_limiter.hpp"

namespace p21 {

namespace {

using clock = std::chrono::steady_clock;
using tick_atom = caf::atom_constant<caf::atom("opttick")>;
using adopt_config_atom = caf::atom_constant<caf::atom("optconfig")>;

/// A reloaded config, for the engine (local only: never crosses the wire).
struct reloaded_config {
  std::shared_ptr<const config> cfg;
};

} // namespace
} // namespace p21

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(p21::reloaded_config)

namespace p21 {
namespace {

/// A rate-limited `evaluate_now` whose time came.
using wake_atom = caf::atom_constant<caf::atom("optwake")>;

using optimizer_impl =
    optimizer_actor::extend<caf::reacts_to<tick_atom>, caf::reacts_to<wake_atom>,
                            caf::replies_to<adopt_config_atom, reloaded_config>::with<bool>>;

/// Early rounds (`evaluate_now`) run at most once per this.
constexpr auto min_wake_gap = std::chrono::seconds{1};

struct optimizer_settings {
  config cfg;
  timespan interval{0};
  bool dry_run = false;
  uint64_t memory_budget = 0;
};

struct optimizer_state {
  optimizer_settings cfg;
  std::shared_ptr<const node_view> view;
  std::unique_ptr<optimizer_engine> engine;
  std::deque<optimizer_action> log;
  /// Sequence number of `log.front()`.
  uint64_t log_base = 0;
  /// Actions of the last round, waiting for their "after" value.
  std::vector<std::pair<uint64_t, decision>> awaiting_after;
  uint64_t evaluations = 0;
  std::map<std::string, uint64_t> applied;
  std::map<std::string, uint64_t> dry;
  /// Forecast misses already counted, by rule.
  std::map<std::string, uint64_t> forecast_misses;
  bool in_round = false;
  std::vector<caf::typed_response_promise<std::vector<optimizer_action>>> waiting;
  wake_limiter wake{min_wake_gap};
  /// Why the scheduled early round runs (the latest reason), and which
  /// rules it runs.
  std::string wake_reason;
  wake_scope woken;

  static inline const char* name = "p21.optimizer";
};

using optimizer_self = optimizer_impl::stateful_pointer<optimizer_state>;

caf::actor running(const node_view& view, const std::string& name) {
  if (view.running)
    for (auto& [n, h] : view.running())
      if (n == name)
        return h;
  return {};
}

/// The engine's view of the node: the monitor's metrics of one sample, the
/// knob values the rules read, and the components' start and use times.
node_snapshot snapshot(const optimizer_state& st, const performance_summary& sum,
                       const metric_set& m) {
  auto s = make_snapshot(sum, m, st.cfg.memory_budget, st.engine->knobs_read());
  s.now = clock::now();
  if (st.view)
    add_components(s, *st.view, s.now);
  return s;
}

/// Adds the engine's new forecast misses to their counter.
void count_forecast_misses(optimizer_state& st) {
  for (auto& [rule, n] : st.engine->forecast_misses()) {
    auto& seen = st.forecast_misses[rule];
    if (n > seen && st.view && st.view->registry)
      st.view->registry->make_counter(optimizer_metrics::forecast_misses, {{"rule", rule}})
          .inc(n - seen);
    seen = n;
  }
}

/// Appends `d` to the log; returns its sequence number.
uint64_t record(optimizer_self self, const decision& d, std::string reply) {
  auto& st = self->state;
  optimizer_action a;
  a.time = caf::make_timestamp();
  a.rule = d.rule;
  a.target = d.target;
  a.action = d.describe();
  a.value_before = d.value;
  a.applied = !st.cfg.dry_run;
  a.reply = std::move(reply);
  if (st.cfg.dry_run)
    spdlog::info("optimizer (dry run): rule {} would {} ({} = {})", d.rule, a.action, d.rule,
                 d.value);
  else
    spdlog::info("optimizer: rule {}: {} ({} = {})", d.rule, a.action, d.rule, d.value);
  (st.cfg.dry_run ? st.dry : st.applied)[d.rule]++;
  if (st.view && st.view->registry)
    st.view->registry
        ->make_counter(st.cfg.dry_run ? optimizer_metrics::dry_run_actions
                                      : optimizer_metrics::actions,
                       {{"rule", d.rule}})
        .inc();
  if (auto mon = running(*st.view, "monitor")) {
    event e;
    e.kind = "optimizer_action";
    e.name = d.rule;
    e.message = a.action + (st.cfg.dry_run ? " (dry run)" : "");
    e.value = d.value;
    caf::anon_send(caf::actor_cast<monitor_actor>(mon), put_atom::value, std::move(e));
  }
  st.log.push_back(std::move(a));
  while (st.log.size() > 1000) {
    st.log.pop_front();
    ++st.log_base;
  }
  return st.log_base + st.log.size() - 1;
}

/// The log entry `seq`, unless it aged out.
optimizer_action* logged(optimizer_state& st, uint64_t seq) {
  if (seq < st.log_base || seq - st.log_base >= st.log.size())
    return nullptr;
  return &st.log[seq - st.log_base];
}

/// Records `text` as the reply of log entry `seq`.
void note_reply(optimizer_self self, uint64_t seq, std::string text) {
  if (auto a = logged(self->state, seq))
    a->reply = std::move(text);
}

/// Records a failed action in log entry `seq`.
void note_failure(optimizer_self self, uint64_t seq, const decision& d, const caf::error& e) {
  spdlog::warn("optimizer: rule {}: '{}' failed: {}", d.rule, d.describe(), render(e));
  note_reply(self, seq, "error: " + render(e));
}

/// Sends `d`'s message to its target; records the reply or the error in
/// log entry `seq`, then calls `answered` (when set), also when nothing was
/// sent. Memory pressure is sent by `relieve_pressure`.
void carry_out(optimizer_self self, const decision& d, uint64_t seq,
               std::function<void()> answered = nullptr) {
  auto& st = self->state;
  auto timeout = std::chrono::seconds{30};
  if (!answered)
    answered = [] {};
  auto failed = [self, seq, d, answered](caf::error& e) {
    note_failure(self, seq, d, e);
    answered();
  };
  auto replied = [self, seq, answered](std::string text) {
    note_reply(self, seq, std::move(text));
    answered();
  };
  // The node actor owns the log file and the state directory.
  if (d.kind == decision::rotate_logs || d.kind == decision::preload) {
    auto node = st.view->node;
    if (!node) {
      replied("skipped: no node actor");
      return;
    }
    if (d.kind == decision::rotate_logs)
      self->request(node, timeout, rotate_logs_atom::value)
          .then(
              [=](bool rotated) {
                if (!rotated)
                  spdlog::info("optimizer: no log file to rotate");
                replied(rotated ? "rotated" : "no log file to rotate");
              },
              failed);
    else
      self->request(node, timeout, preload_atom::value, st.engine->preload())
          .then(
              [=](std::string& path) {
                replied(path.empty() ? "not saved: no state directory" : "saved to " + path);
              },
              failed);
    return;
  }
  // A knob's owner is found by the supervisor, which forwards the request:
  // the owner's reply (the value it applied) or the supervisor's error comes
  // straight back.
  if (d.kind == decision::set_knob) {
    if (!st.view->supervisor) {
      replied("skipped: no supervisor");
      return;
    }
    self->request(st.view->supervisor, timeout, set_knob_atom::value, d.target, d.arg)
        .then([=](double applied) { replied("ok: " + std::to_string(applied)); }, failed);
    return;
  }
  // A typed decision whose target declares the knob for it goes the same
  // way, so that the supervisor keeps the value across the owner's restart.
  std::optional<std::string> knob;
  if (st.view->supervisor && st.view->stats)
    knob = knob_for(d, st.view->stats());
  if (knob) {
    self->request(st.view->supervisor, timeout, set_knob_atom::value, *knob, d.arg)
        .then([=](double applied) { replied("ok: " + applied_text(applied)); }, failed);
    return;
  }
  auto target = running(*st.view, d.target);
  if (!target) {
    spdlog::warn("optimizer: {} is not running; '{}' skipped", d.target, d.describe());
    answered();
    return;
  }
  switch (d.kind) {
  case decision::shrink_cache:
    self->request(target, timeout, shrink_atom::value, d.arg)
        .then(
            [=](shrink_result& r) {
              replied("freed " + std::to_string(r.entries) + " entries, " +
                      std::to_string(r.bytes) + " bytes");
            },
            failed);
    break;
  case decision::resize_cache:
    self->request(target, timeout, resize_atom::value, uint64_t(d.arg),
                  d.bytes > 0 ? d.bytes : uint64_t{64} << 20)
        .then([=](bool) { replied("ok"); }, failed);
    break;
  case decision::release_memory:
    self->request(target, timeout, release_memory_atom::value)
        .then([=](uint64_t x) { replied("ok: " + std::to_string(x)); }, failed);
    break;
  case decision::set_pool_size:
    self->request(target, timeout, set_pool_size_atom::value, uint64_t(d.arg))
        .then([=](uint64_t x) { replied("ok: " + std::to_string(x)); }, failed);
    break;
  case decision::resize_git_cache:
    self->request(target, timeout, resize_atom::value, uint64_t(d.arg))
        .then([=](uint64_t x) { replied("ok: " + std::to_string(x)); }, failed);
    break;
  case decision::set_max_processes:
    self->request(target, timeout, set_max_processes_atom::value, uint64_t(d.arg))
        .then([=](uint64_t x) { replied("ok: " + std::to_string(x)); }, failed);
    break;
  case decision::checkpoint:
    self->request(target, timeout, checkpoint_atom::value)
        .then([=](bool) { replied("ok"); }, failed);
    break;
  case decision::vacuum:
    self->request(target, timeout, vacuum_atom::value).then([=](bool) { replied("ok"); }, failed);
    break;
  case decision::unload:
    self->request(st.view->supervisor, timeout, unload_atom::value, d.target)
        .then([=](bool) { replied("ok"); }, failed);
    break;
  case decision::set_monitor_interval:
    self->request(caf::actor_cast<monitor_actor>(target), timeout, set_interval_atom::value,
                  std::chrono::duration_cast<timespan>(std::chrono::duration<double>(d.arg)))
        .then([=](timespan t) { replied("ok: " + format_duration(t)); }, failed);
    break;
  case decision::preload:
  case decision::signal_pressure:
  case decision::rotate_logs:
  case decision::set_knob:
    answered(); // above, and in relieve_pressure
    break;
  }
}

void finish_round(optimizer_self self, std::vector<optimizer_action> actions) {
  auto& st = self->state;
  st.in_round = false;
  for (auto& p : st.waiting)
    p.deliver(actions);
  st.waiting.clear();
}

/// The actions logged since sequence number `first`.
std::vector<optimizer_action> logged_since(const optimizer_state& st, uint64_t first) {
  std::vector<optimizer_action> out;
  for (auto seq = std::max(first, st.log_base); seq < st.log_base + st.log.size(); ++seq)
    out.push_back(st.log[seq - st.log_base]);
  return out;
}

/// Rule 1's last step: the node actor runs every pressure handler (object
/// pools, user handlers) and trims the heap, after the shrink messages went
/// out. The round ends with its reply: memory pressure is the one action an
/// evaluation waits for, so that the caller sees memory given back.
void relieve_pressure(optimizer_self self, const decision& d, uint64_t seq,
                      clock::time_point detected, std::function<void()> done) {
  auto node = self->state.view->node;
  if (!node) {
    note_reply(self, seq, "skipped: no node actor");
    done();
    return;
  }
  self->request(node, std::chrono::seconds{10}, memory_pressure_atom::value, d.arg)
      .then(
          [=](pressure_relief& r) {
            auto reaction = std::chrono::duration<double>(clock::now() - detected);
            spdlog::info("memory pressure: shrink messages sent and {} handler(s) called {:.0f} us "
                         "after detection",
                         r.handlers, reaction.count() * 1e6);
            note_reply(self, seq,
                       std::to_string(r.handlers) + " handler(s) called, heap " +
                           (r.heap_trimmed ? "trimmed" : "had nothing to trim"));
            if (auto reg = self->state.view->registry)
              reg->make_gauge(optimizer_metrics::pressure_reaction_seconds).set(reaction.count());
            done();
          },
          [=](caf::error& e) {
            note_failure(self, seq, d, e);
            done();
          });
}

/// Evaluates `snap` and carries out the decisions; the round ends when the
/// actions are sent (memory pressure: when the node actor has answered).
void evaluate_round(optimizer_self self, const node_snapshot& snap, clock::time_point detected,
                    const std::optional<std::vector<std::string>>& woken) {
  auto& st = self->state;
  ++st.evaluations;
  auto decisions = st.engine->evaluate(snap, woken);
  count_forecast_misses(st);
  auto first = st.log_base + st.log.size();
  // The previous round's actions: the metric now.
  for (auto& [seq, d] : st.awaiting_after)
    if (auto a = logged(st, seq))
      if (auto v = st.engine->last_value(d))
        a->value_after = *v;
  st.awaiting_after.clear();
  std::optional<decision> pressure;
  for (auto& d : decisions)
    if (!st.cfg.dry_run && d.kind == decision::signal_pressure)
      pressure = d;
  auto done = [self, first] { finish_round(self, logged_since(self->state, first)); };
  // Under pressure, the node actor's handlers and heap trim come once the
  // caches and the pool have answered their shrink and release (a cache
  // answers once what it evicted is freed), as in the monitor's relief:
  // the round's reply then finds the memory given back. Relieved at once,
  // the round ended while the evicted values still waited for their grace
  // period, and self_tuning's memory_pressure phase read RSS as if the
  // shrink had done nothing.
  auto freeing = std::make_shared<size_t>(1); // 1: the loop below
  auto pressure_seq = std::make_shared<uint64_t>(0);
  std::function<void()> freed;
  if (pressure)
    freed = [self, freeing, pressure, pressure_seq, detected, done] {
      if (--*freeing == 0)
        relieve_pressure(self, *pressure, *pressure_seq, detected, done);
    };
  for (auto& d : decisions) {
    auto seq = record(self, d, st.cfg.dry_run ? "dry run" : "sent");
    st.awaiting_after.emplace_back(seq, d);
    if (st.cfg.dry_run)
      continue;
    if (d.kind == decision::signal_pressure) {
      *pressure_seq = seq; // once the shrinks answered, below
    } else if (pressure &&
               (d.kind == decision::shrink_cache || d.kind == decision::release_memory)) {
      ++*freeing;
      carry_out(self, d, seq, freed);
    } else {
      carry_out(self, d, seq);
    }
  }
  if (pressure)
    freed();
  else
    done();
}

/// A round from a fresh sample (`fresh`: the tick, `evaluate`), or from the
/// monitor's latest round (a wake-up: that round is what woke it, and a
/// new one right after it would measure rates over a few milliseconds),
/// which runs the rules `woken` says (none: every rule).
void start_round(optimizer_self self, bool fresh = true,
                 std::optional<std::vector<std::string>> woken = std::nullopt) {
  auto& st = self->state;
  if (st.in_round)
    return;
  st.in_round = true;
  st.wake.ran(clock::now());
  auto mon = running(*st.view, "monitor");
  if (!mon) {
    finish_round(self, {});
    return;
  }
  auto handle = caf::actor_cast<monitor_actor>(mon);
  auto timeout = std::chrono::seconds{10};
  auto sampled = fresh ? self->request(handle, timeout, sample_atom::value)
                       : self->request(handle, timeout, summary_atom::value);
  sampled.then(
      [=](performance_summary& sum) {
        auto detected = clock::now();
        self->request(handle, timeout, metrics_atom::value)
            .then(
                [=](metric_set& m) {
                  evaluate_round(self, snapshot(self->state, sum, m), detected, woken);
                },
                [=](caf::error&) { finish_round(self, {}); });
      },
      [=](caf::error&) { finish_round(self, {}); });
}

/// An early round for `reason` (the rules `st.woken` holds), now or once
/// the rate limit allows.
void wake_up(optimizer_self self, std::string reason) {
  auto& st = self->state;
  auto now = clock::now();
  switch (st.wake.ask(now, st.in_round)) {
  case wake_limiter::verdict::now:
    spdlog::info("optimizer: evaluating now: {}", reason);
    start_round(self, false, st.woken.take());
    break;
  case wake_limiter::verdict::later:
    st.wake_reason = std::move(reason);
    self->delayed_send(self, st.wake.due() - now, wake_atom::value);
    break;
  case wake_limiter::verdict::pending:
    st.wake_reason = std::move(reason);
    break;
  }
}

optimizer_impl::behavior_type optimizer_fun(optimizer_self self, optimizer_settings cfg,
                                            std::shared_ptr<const node_view> view) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.view = std::move(view);
  st.engine = std::make_unique<optimizer_engine>(st.cfg.cfg);
  self->delayed_send(self, st.cfg.interval, tick_atom::value);
  return {
      [=](evaluate_atom) -> caf::result<std::vector<optimizer_action>> {
        auto promise = self->make_response_promise<std::vector<optimizer_action>>();
        self->state.waiting.push_back(promise);
        start_round(self);
        return promise;
      },
      [=](set_rule_atom, rule_settings& rs) {
        rule_config rc;
        rc.enabled = rs.enabled;
        rc.threshold = rs.threshold;
        rc.clear_threshold = rs.clear_threshold;
        rc.for_duration = rs.for_duration;
        rc.cooldown = rs.cooldown;
        auto i = self->state.cfg.cfg.get<optimizer_config>().rules.find(rs.name);
        if (rs.step > 0)
          rc.step = rs.step;
        else if (i != self->state.cfg.cfg.get<optimizer_config>().rules.end())
          rc.step = i->second.step;
        rc.predict = rs.predict;
        bool ok = self->state.engine->set_rule(rs.name, rc);
        if (ok)
          self->state.cfg.cfg.get<optimizer_config>().rules[rs.name] = rc;
        return ok;
      },
      [=](dry_run_atom, bool on) {
        self->state.cfg.dry_run = on;
        return on;
      },
      [=](set_interval_atom, caf::timespan interval) -> caf::result<caf::timespan> {
        if (interval < std::chrono::milliseconds{100})
          return make_error(errc::invalid_argument, "optimization interval must be at least 100ms");
        // The tick already scheduled keeps its time; the ones after it
        // follow the new interval.
        self->state.cfg.interval = interval;
        return interval;
      },
      [=](put_atom, optimizer_action& a) {
        auto& st = self->state;
        st.log.push_back(std::move(a));
        while (st.log.size() > 1000) {
          st.log.pop_front();
          ++st.log_base;
        }
      },
      [=](events_atom, uint64_t since) {
        // Entries with a sequence number of `since` or more, oldest first.
        return logged_since(self->state, since);
      },
      [=](metrics_atom) {
        auto& st = self->state;
        metric_set m;
        m.counters.push_back(optimizer_metrics::evaluations(double(st.evaluations)));
        return m;
      },
      [=](adopt_config_atom, const reloaded_config& rc) {
        auto& st = self->state;
        st.engine->reconfigure(*rc.cfg);
        // The rules' settings stay the actor's (set_rule keeps them).
        auto rules = st.cfg.cfg.get<optimizer_config>().rules;
        merge_declared_rules(rules, rc.cfg->get<optimizer_config>().rules);
        st.cfg.cfg = *rc.cfg;
        st.cfg.cfg.get<optimizer_config>().rules = std::move(rules);
        st.cfg.memory_budget = rc.cfg->performance.memory_budget;
        return true;
      },
      [=](evaluate_now_atom, std::string& reason) {
        self->state.woken.add(std::nullopt);
        wake_up(self, std::move(reason));
      },
      [=](evaluate_now_atom, std::string& reason, std::vector<std::string>& families) {
        self->state.woken.add(families);
        wake_up(self, std::move(reason));
      },
      [=](wake_atom) {
        self->state.wake.fire();
        wake_up(self, self->state.wake_reason);
      },
      [=](tick_atom) {
        start_round(self);
        self->delayed_send(self, self->state.cfg.interval, tick_atom::value);
      },
  };
}

} // namespace

bool send_reloaded_config(const reload_context& ctx, const caf::actor& optimizer,
                          const config& now) {
  auto handle = caf::actor_cast<optimizer_impl>(optimizer);
  auto r = ctx.request<bool>(handle, adopt_config_atom::value,
                             reloaded_config{std::make_shared<const config>(now)});
  if (!r)
    spdlog::warn("optimizer: the reloaded config did not reach its engine: {}", render(r.error()));
  return r && *r;
}

child_spec optimizer_component(const std::string& name, const config& cfg,
                               std::shared_ptr<const node_view> view) {
  optimizer_settings os;
  os.cfg = cfg;
  os.interval = cfg.performance.optimization_interval;
  os.dry_run = !cfg.performance.auto_optimization;
  os.memory_budget = cfg.performance.memory_budget;
  child_spec spec;
  spec.name = name;
  spec.prio = priority::critical;
  spec.depends_on = {"monitor"};
  auto prof = view && view->profile ? view->profile(name) : nullptr;
  spec.start = [os, view, prof](caf::actor_system& sys) mutable {
    // A restart after a reload keeps the reloaded interval, mode and rules.
    if (auto now = view && view->settings ? view->settings() : nullptr) {
      os.cfg = *now;
      os.interval = now->performance.optimization_interval;
      os.dry_run = !now->performance.auto_optimization;
      os.memory_budget = now->performance.memory_budget;
    }
    // On the scheduler: every action is a message; what blocks (files,
    // fsync, malloc_trim) runs in the node actor, on its own thread.
    return caf::actor_cast<caf::actor>(spawn_profiled(sys, prof, optimizer_fun, os, view));
  };
  return spec;
}

} // namespace p21
