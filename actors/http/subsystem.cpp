// The HTTP endpoint's registration: a component only when `[http] listen`
// is set.

#include "p21/config_schema.hpp"
#include "p21/http_config.hpp"
#include "p21/monitor.hpp"
#include "p21/subsystems.hpp"

namespace p21 {

/// Its config section (http/config_keys.cpp).
void declare_http_keys(config_schema& schema);

subsystem http_subsystem() {
  subsystem s;
  s.name = "http";
  s.declare_config = declare_http_keys;
  s.components = [](const config& cfg, std::shared_ptr<const node_view> view) {
    std::vector<child_spec> out;
    if (!cfg.get<http_config>().listen.empty())
      out.push_back(http_component("http", cfg, std::move(view)));
    return out;
  };
  return s;
}

} // namespace p21
