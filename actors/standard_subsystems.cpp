// The umbrella library: the standard subsystems, and the runtime
// constructor that starts them. The framework itself knows none of them.

#include "p21/subsystems.hpp"

#include "p21/runtime.hpp"
#include "p21/types.hpp"

namespace p21 {

std::vector<subsystem> standard_subsystems() {
  std::vector<subsystem> out{cache_subsystem(),   db_pool_subsystem(),   subprocess_subsystem(),
                             monitor_subsystem(), optimizer_subsystem(), http_subsystem()};
#ifdef P21_WITH_CLUSTER
  out.push_back(cluster_subsystem());
#endif
  return out;
}

std::vector<child_spec> resolve_components(const config& cfg, std::vector<child_spec> extra) {
  return resolve_components(cfg, standard_subsystems(), std::move(extra), nullptr);
}

void add_message_types(caf::actor_system_config& cfg) {
  add_message_types(cfg, standard_subsystems());
}

runtime::runtime(config cfg, std::vector<child_spec> components)
  : runtime(std::move(cfg), standard_subsystems(), std::move(components)) {
}

} // namespace p21
