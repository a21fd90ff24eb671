// The monitor's registration: it samples the machine and every running
// component through the node view.

#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "alerts.hpp"
#include "p21/config_schema.hpp"
#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
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
    cfg.add_message_type<history_point>("p21.history_point");
    cfg.add_message_type<alert_rule>("p21.alert_rule");
  };
  s.components = [](const config& cfg, std::shared_ptr<const node_view> view) {
    return std::vector<child_spec>{monitor_component("monitor", cfg, std::move(view))};
  };
  s.reload = [](const config&, const config& now, const reload_context& ctx,
                reload_report& report) {
    report.apply<timespan>("performance.monitor_interval", ctx, "monitor", [&](caf::actor a) {
      return ctx.request<timespan>(caf::actor_cast<monitor_actor>(a), set_interval_atom::value,
                                   now.performance.monitor_interval);
    });
    report.apply<timespan>("monitor.alert_for", ctx, "monitor", [&](caf::actor a) {
      return ctx.request<timespan>(caf::actor_cast<monitor_actor>(a), set_alert_for_atom::value,
                                   now.get<monitor_config>().alert_for);
    });
    // `[monitor.alerts]` is one live set: any change sends the whole set,
    // and the monitor keeps the state of the alerts that stayed.
    std::vector<std::string> alert_keys;
    for (auto& k : report.applied)
      if (k.compare(0, 15, "monitor.alerts.") == 0)
        alert_keys.push_back(k);
    if (!alert_keys.empty()) {
      // A monitor that is not running starts with them (monitor_component
      // reads the current config): they count as applied.
      if (auto a = ctx.running("monitor")) {
        auto r = ctx.request<std::vector<std::string>>(
            caf::actor_cast<monitor_actor>(a), set_alerts_atom::value,
            alert_rules(now.get<monitor_config>().alerts, now.get<monitor_config>().alert_for));
        if (!r)
          for (auto& k : alert_keys)
            report.fail(k, caf::to_string(r.error()));
      }
    }
  };
  // Every reload is an event of `/events`, even one that changed nothing.
  s.reloaded = [](const reload_report& report, const reload_context& ctx) {
    if (auto a = ctx.running("monitor")) {
      event e;
      e.kind = "config_reload";
      e.name = "reload";
      e.message = report.describe();
      e.value = static_cast<double>(report.applied.size());
      caf::anon_send(caf::actor_cast<monitor_actor>(a), put_atom::value, std::move(e));
    }
  };
  return s;
}

} // namespace p21
