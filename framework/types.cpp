#include "p21/types.hpp"

#include <caf/actor_system_config.hpp>

#include "p21/error.hpp"
#include "p21/protocol/metrics.hpp"
#include "p21/protocol/node.hpp"
#include "p21/subsystem.hpp"

namespace p21 {

void add_message_types(caf::actor_system_config& cfg, const std::vector<subsystem>& subsystems) {
  add_error_category(cfg);
  // Each call also registers std::vector<T> of the type.
  cfg.add_message_type<metric_sample>("p21.metric_sample");
  cfg.add_message_type<histogram_summary>("p21.histogram_summary");
  cfg.add_message_type<metric_set>("p21.metric_set");
  cfg.add_message_type<pressure_relief>("p21.pressure_relief");
  for (auto& sub : subsystems)
    if (sub.add_message_types)
      sub.add_message_types(cfg);
}

} // namespace p21
