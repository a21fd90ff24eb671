#include "detail/node_actor.hpp"

#include <chrono>

#include <caf/all.hpp>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include "detail/logging.hpp"
#include "detail/state_dir.hpp"
#include "p21/error.hpp"

namespace p21::detail {

namespace {

struct node_state {
  std::string state_dir;
  resource_manager* resources = nullptr;

  static inline const char* name = "p21.node";
};

node_actor::behavior_type node_fun(node_actor::stateful_pointer<node_state> self,
                                   std::string state_dir, resource_manager* resources) {
  self->state.state_dir = std::move(state_dir);
  self->state.resources = resources;
  return {
      [](rotate_logs_atom) { return rotate_logs(); },
      [=](memory_pressure_atom, double fraction) -> caf::result<pressure_relief> {
        if (!(fraction > 0 && fraction <= 1))
          return make_error(errc::invalid_argument,
                            "memory_pressure: fraction must be in (0, 1], got " +
                                std::to_string(fraction));
        auto start = std::chrono::steady_clock::now();
        pressure_relief r;
        r.handlers = self->state.resources->signal_pressure(fraction);
        // What the handlers freed stays in the process (RSS) until the heap
        // gives it back.
        r.heap_trimmed = ::malloc_trim(0) == 1;
        r.took =
            std::chrono::duration_cast<caf::timespan>(std::chrono::steady_clock::now() - start);
        return r;
      },
      [=](preload_atom, const std::vector<std::string>& names) -> caf::result<std::string> {
        auto& dir = self->state.state_dir;
        if (dir.empty())
          return std::string{};
        if (auto err = save_preload_list(dir, names))
          return err;
        return preload_file(dir);
      },
  };
}

} // namespace

node_actor spawn_node_actor(caf::actor_system& sys, std::string state_dir,
                            resource_manager& resources) {
  return sys.spawn<caf::detached>(node_fun, std::move(state_dir), &resources);
}

} // namespace p21::detail
