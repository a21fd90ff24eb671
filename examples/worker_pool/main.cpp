// An application's actor tuned like the built-in pools: the worker pool
// declares its `myapp.workers` knob in its child_spec; anyone holding the
// runtime (or the optimizer, through the supervisor) reads and sets it by
// name, wherever the pool sits in the supervision tree.
#include <chrono>
#include <iostream>

#include <p21/p21.hpp>

#include "worker_pool.hpp"

using namespace std::chrono_literals;

int main() {
  p21::config cfg;
  cfg.logging.level = p21::log_level::error;
  p21::runtime rt{cfg};
  auto app = rt.spawn_supervisor("app", {});
  if (!app)
    return 1;
  auto pool = app->spawn(myapp::worker_pool_spec(rt, "worker_pool", 1));
  if (!pool) {
    std::cerr << "spawn failed: " << p21::render(pool.error()) << "\n";
    return 1;
  }
  auto before = rt.knob("myapp.workers");
  auto set = rt.set_knob("myapp.workers", 1000); // clamped to the knob's max
  auto waited = pool->call<caf::timespan>(myapp::job_atom::value, caf::timespan{1ms});
  if (!before || !set || !waited) {
    std::cerr << "worker_pool failed\n";
    return 1;
  }
  std::cout << "myapp.workers " << *before << " -> " << *set << " (max "
            << myapp::workers_knob().max << "); a job waited "
            << std::chrono::duration<double>(*waited).count() << " s\n";
  for (auto& k : rt.knobs())
    std::cout << "knob " << k.name << " [" << k.min << ", " << k.max << "] " << k.unit << "\n";
  return *set == myapp::workers_knob().max ? 0 : 1;
}
