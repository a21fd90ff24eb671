// The subprocess pool's registration (its git cache included).

#include <caf/actor_system_config.hpp>

#include "p21/cache_config.hpp"
#include "p21/config_schema.hpp"
#include "p21/subprocess.hpp"
#include "p21/subprocess_config.hpp"
#include "p21/resources.hpp"
#include "p21/subsystems.hpp"
#include "process_count.hpp"

namespace p21 {

/// Its config section (subprocess/config_keys.cpp).
void declare_subprocess_keys(config_schema& schema);

subsystem subprocess_subsystem() {
  subsystem s;
  s.name = "subprocess";
  s.declare_config = declare_subprocess_keys;
  s.add_message_types = [](caf::actor_system_config& cfg) {
    cfg.add_message_type<command_request>("p21.command_request");
    cfg.add_message_type<command_result>("p21.command_result");
    cfg.add_message_type<git_request>("p21.git_request");
    cfg.add_message_type<subprocess_stats>("p21.subprocess_stats");
    cfg.add_message_type<subprocess_limits>("p21.subprocess_limits");
  };
  s.components = [](const config& cfg, std::shared_ptr<const node_view> view) {
    auto spec = subprocess_component("subprocess", cfg, view ? view->profile : nullptr,
                                     view ? view->settings : nullptr);
    // Its processes: a stopped pool has killed and reaped them all, so any
    // left at shutdown is a leak.
    if (auto count = spec.shared.get<subprocess_detail::process_count>();
        count && view && view->resources)
      view->resources->track(spec.name + " processes", "process",
                             [weak = std::weak_ptr<subprocess_detail::process_count>(count)] {
                               auto c = weak.lock();
                               return c ? c->value.load(std::memory_order_relaxed) : uint64_t{0};
                             },
                             spec.name);
    return std::vector<child_spec>{spec};
  };
  // A pool that is not running (lazy, not used yet) starts from the
  // current config (`subprocess_component`'s `current`): its keys count as
  // applied.
  s.reload = [](const config&, const config& now, const reload_context& ctx,
                reload_report& report) {
    report.apply<uint64_t>("subprocess.max_processes", ctx, "subprocess", [&](caf::actor a) {
      return ctx.request<uint64_t>(caf::actor_cast<subprocess_actor>(a),
                                   set_max_processes_atom::value,
                                   uint64_t{now.get<subprocess_config>().max_processes});
    });
    subprocess_limits limits;
    limits.queue_limit = now.get<subprocess_config>().queue_limit;
    limits.timeout = now.get<subprocess_config>().timeout;
    limits.output_cap = now.get<subprocess_config>().output_cap;
    for (auto key : {"subprocess.queue_limit", "subprocess.timeout", "subprocess.output_cap"})
      report.apply<bool>(key, ctx, "subprocess", [&](caf::actor a) {
        return ctx.request<bool>(caf::actor_cast<subprocess_actor>(a), set_limits_atom::value,
                                 limits);
      });
    report.apply<uint64_t>("cache.git_maxsize", ctx, "subprocess", [&](caf::actor a) {
      return ctx.request<uint64_t>(caf::actor_cast<subprocess_actor>(a), resize_atom::value,
                                   uint64_t{now.get<cache_config>().git_maxsize});
    });
  };
  return s;
}

} // namespace p21
