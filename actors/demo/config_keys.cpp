// `[demo]`: the keys of the built-in workload `p21 run` drives.

#include "p21/config_schema.hpp"
#include "p21/demo_config.hpp"

namespace p21 {

using namespace std::chrono_literals;

void declare_demo_keys(config_schema& schema) {
  using D = demo_config;
  schema
      .section<D>("demo", "The built-in workload `p21 run` drives, so that a new node has something "
          "to cache, query, run, monitor and tune. Off unless enabled.")
      .flag("enabled", &D::enabled, "`p21 run` drives the built-in workload")
      .live()
      .duration("phase", &D::phase, 1s,
                "length of each phase: steady, shift, writes, processes, then again")
      .live()
      .real("rate", &D::rate, 1, 1e6, "operations per second, all clients together",
            "operations per second")
      .live()
      .count("clients", &D::clients, 1, 64, "client threads")
      .live()
      .path("repo", &D::repo,
            "git work tree whose status is checked (never written to); empty: a scratch "
            "repository in `$TMPDIR`, edited in the processes phase and removed at exit")
      .live();
}

} // namespace p21
