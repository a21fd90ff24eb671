// The umbrella library: the standard subsystems, and the runtime
// constructor that starts them. The framework itself knows none of them.

#include "p21/subsystems.hpp"

#include "p21/config_schema.hpp"
#include "p21/runtime.hpp"
#include "p21/types.hpp"

namespace p21 {

void declare_demo_keys(config_schema& schema);

namespace {

/// `[demo]`: the workload is `p21 run`'s (app/demo.cpp), but its keys are
/// part of every node's schema so that one file serves both.
subsystem demo_keys() {
  subsystem s;
  s.name = "demo";
  s.declare_config = declare_demo_keys;
  return s;
}

} // namespace

std::vector<subsystem> standard_subsystems() {
  std::vector<subsystem> out{cache_subsystem(),   db_pool_subsystem(),   subprocess_subsystem(),
                             monitor_subsystem(), optimizer_subsystem(), http_subsystem()};
#ifdef P21_WITH_CLUSTER
  out.push_back(cluster_subsystem());
#endif
  out.push_back(demo_keys());
  return out;
}

std::vector<child_spec> resolve_components(const config& cfg, std::vector<child_spec> extra) {
  return resolve_components(cfg, standard_subsystems(), std::move(extra), nullptr);
}

void add_message_types(caf::actor_system_config& cfg) {
  add_message_types(cfg, standard_subsystems());
}

} // namespace p21
