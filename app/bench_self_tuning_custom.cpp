// `p21 bench --only self_tuning`'s phase for an application's actor: the
// worker pool of examples/worker_pool (its `myapp.workers` knob, its queue
// wait, arrivals and job time metrics) spawned two supervisors deep and
// tuned by a rule declared in TOML, the way a user writes it.

#include <memory>
#include <stdexcept>
#include <thread>

#include <caf/send.hpp>

#include "app/bench_self_tuning.hpp"
#include "examples/worker_pool/worker_pool.hpp"
#include "p21/histogram.hpp"
#include "p21/optimizer_config.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/subsystems.hpp"

namespace p21::app {

namespace {

// The rule under test. `step` is what the fixed run moves by; the model
// run sizes the pool by Little's law from the pool's own metrics, with a
// worker for each job queued when it acts (`backlog`, no `drain`).
constexpr const char* queue_wait_rule = R"(
[optimizer.rules.queue_wait]
sensor = 'myapp_queue_wait_seconds{quantile="0.95"}'
above = "50ms"
for = "0s"
cooldown = "0s"
knob = "myapp.workers"
model = "littles_law"
arrivals = 'rate(myapp_jobs_total)'
service = 'mean(myapp_job_seconds)'
backlog = 'myapp_queue_length'
utilization = 0.6
step = "+2"
)";

/// The pool, once spawned in a phase run's runtime.
struct custom_pool {
  caf::actor pool;
  histogram_summary wait_before;
};

histogram_summary wait_histogram(runtime& rt) {
  for (auto& h : rt.metrics().collect().histograms)
    if (myapp::queue_wait.names(h.name))
      return h;
  return {};
}

} // namespace

phase custom_actor_phase() {
  phase p;
  p.name = "custom_actor";
  p.metric = "queue wait p95 ms";
  p.target = 50;
  p.at_most = true;
  p.pace = std::chrono::milliseconds{200};
  p.configure = [](config& cfg) {
    auto declared = load_config_string(queue_wait_rule, "self_tuning custom_actor rule");
    cfg.get<optimizer_config>().rules["queue_wait"] =
        declared.get<optimizer_config>().rules.at("queue_wait");
    // Rule 9 reads every subsystem's p95, not this pool's: out of its way.
    rule(cfg, "response_time").enabled = false;
  };
  auto state = std::make_shared<custom_pool>();
  p.interval = [state](runtime& rt, size_t i) {
    if (i == 0) {
      // Two workers under two supervisors, and one evaluation of the idle
      // pool: a running node has seen it before its load changes.
      auto app = rt.spawn_supervisor("app", {});
      if (!app)
        throw std::runtime_error("self_tuning: " + render(app.error()));
      auto jobs = app->spawn_supervisor("jobs");
      if (!jobs)
        throw std::runtime_error("self_tuning: " + render(jobs.error()));
      auto pool = jobs->spawn(myapp::worker_pool_spec(rt, "worker_pool", 2));
      auto handle = pool ? pool->actor() : caf::expected<caf::actor>{pool.error()};
      if (!handle)
        throw std::runtime_error("self_tuning: the worker pool: " + render(handle.error()));
      state->pool = *handle;
      auto opt = rt.actor_of<optimizer_actor>("optimizer");
      if (!opt || !rt.request<std::vector<optimizer_action>>(*opt, std::chrono::seconds{60},
                                                             evaluate_atom::value))
        throw std::runtime_error("self_tuning: the optimizer did not evaluate");
    }
    // Open loop: a 20 ms job every 5 ms (200/s, four workers' worth) for
    // the interval, whatever the pool keeps up with.
    state->wait_before = wait_histogram(rt);
    auto start = std::chrono::steady_clock::now();
    for (int k = 0; k < 38; ++k) {
      std::this_thread::sleep_until(start + k * std::chrono::milliseconds{5});
      caf::anon_send(state->pool, myapp::job_atom::value,
                     caf::timespan{std::chrono::milliseconds{20}});
    }
    std::this_thread::sleep_until(start + std::chrono::milliseconds{195});
    auto wait = window_quantile(wait_histogram(rt), state->wait_before, 0.95).value_or(0);
    auto workers = rt.knob("myapp.workers");
    return std::make_pair(1000 * wait, workers ? *workers : 0.0);
  };
  return p;
}

} // namespace p21::app
