// The monitor's registration: it samples the machine and every running
// component through the node view.

#include <caf/actor_system_config.hpp>

#include "p21/monitor.hpp"
#include "p21/config_schema.hpp"
#include "p21/subsystems.hpp"

namespace p21 {

/// Its config section (monitor/config_keys.cpp).
void declare_monitor_keys(config_schema& schema);

subsystem monitor_subsystem() {
  subsystem s;
  s.name = "monitor";
  s.declare_config = declare_monitor_keys;
  s.add_message_types = [](caf::actor_system_config& cfg) {
    cfg.add_message_type<event>("p21.event");
    cfg.add_message_type<performance_summary>("p21.performance_summary");
  };
  s.components = [](const config& cfg, std::shared_ptr<const node_view> view) {
    return std::vector<child_spec>{monitor_component("monitor", cfg, std::move(view))};
  };
  return s;
}

} // namespace p21
