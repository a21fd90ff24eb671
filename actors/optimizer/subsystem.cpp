// The optimizer's registration: the nine rules, applied by messaging the
// components that own the resources.

#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "engine.hpp"
#include "p21/config_schema.hpp"
#include "p21/optimizer.hpp"
#include "p21/optimizer_config.hpp"
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
  s.reload = [](const config&, const config& now, const reload_context& ctx,
                reload_report& report) {
    auto opt = [](caf::actor a) {
      return caf::actor_cast<optimizer_actor>(a);
    };
    report.apply<timespan>("performance.optimization_interval", ctx, "optimizer",
                           [&](caf::actor a) {
                             return ctx.request<timespan>(opt(a), set_interval_atom::value,
                                                          now.performance.optimization_interval);
                           });
    report.apply<bool>("performance.auto_optimization", ctx, "optimizer", [&](caf::actor a) {
      return ctx.request<bool>(opt(a), dry_run_atom::value, !now.performance.auto_optimization);
    });
    for (auto& [name, rc] : now.get<optimizer_config>().rules) {
      auto prefix = "optimizer.rules." + name;
      if (!report.touches(prefix))
        continue;
      rule_settings rs;
      rs.name = name;
      rs.enabled = rc.enabled;
      rs.threshold = rc.threshold;
      rs.clear_threshold = rc.clear_threshold;
      rs.for_duration = rc.for_duration;
      rs.cooldown = rc.cooldown;
      rs.step = rc.step;
      rs.predict = rc.predict;
      for (auto key :
           {"enabled", "threshold", "clear_threshold", "for", "cooldown", "step", "predict"})
        report.apply<bool>(prefix + "." + key, ctx, "optimizer", [&](caf::actor a) {
          return ctx.request<bool>(opt(a), set_rule_atom::value, rs);
        });
    }
    // The bounds and current values the rules reason from follow the
    // reload (a reloaded pool_size is not undone by the next step). On
    // every reload: the keys that matter are other subsystems'.
    if (auto a = ctx.running("optimizer"))
      send_reloaded_config(ctx, a, now);
  };
  // The optimizer's log lists reloads with its actions: what changed the
  // node's settings, by rule or by hand.
  s.reloaded = [](const reload_report& report, const reload_context& ctx) {
    if (auto a = ctx.running("optimizer")) {
      optimizer_action entry;
      entry.time = caf::make_timestamp();
      entry.rule = "reload";
      entry.target = "config";
      entry.action = report.describe();
      entry.applied = true; // a record of what was done, never a dry run
      caf::anon_send(caf::actor_cast<optimizer_actor>(a), put_atom::value, std::move(entry));
    }
  };
  return s;
}

} // namespace p21
