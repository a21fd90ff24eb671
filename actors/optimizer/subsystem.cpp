// The optimizer's registration: the eight rules, applied by messaging the
// components that own the resources.

#include <caf/actor_system_config.hpp>

#include "p21/optimizer.hpp"
#include "p21/config_schema.hpp"
#include "p21/subsystems.hpp"

namespace p21 {

/// Its config section (optimizer/config_keys.cpp).
void declare_optimizer_keys(config_schema& schema);

subsystem optimizer_subsystem() {
  subsystem s;
  s.name = "optimizer";
  s.declare_config = declare_optimizer_keys;
  s.add_message_types = [](caf::actor_system_config& cfg) {
    cfg.add_message_type<optimizer_action>("p21.optimizer_action");
    cfg.add_message_type<rule_settings>("p21.rule_settings");
  };
  s.components = [](const config& cfg, std::shared_ptr<const node_view> view) {
    return std::vector<child_spec>{optimizer_component("optimizer", cfg, std::move(view))};
  };
  return s;
}

} // namespace p21
