// `[subprocess]`: the keys of the subprocess pool.

#include "p21/config_schema.hpp"
#include "p21/subprocess_config.hpp"

namespace p21 {

using namespace std::chrono_literals;

void declare_subprocess_keys(config_schema& schema) {
  using S = subprocess_config;
  schema
      .section<S>("subprocess", "The subprocess pool.")
      .count("max_processes", &S::max_processes, 1, 4096, "commands running at once")
      .live()
      .count("queue_limit", &S::queue_limit, 0, 1'000'000,
             "commands waiting beyond those; one more is refused with `overloaded`")
      .live()
      .duration("timeout", &S::timeout, 1ms, "run time of a command whose request sets none")
      .live()
      .size("output_cap", &S::output_cap, 1,
            "bytes kept of stdout and of stderr each, unless the request sets its own")
      .live()
      .duration("kill_grace", &S::kill_grace, 0s,
                "after a timeout's SIGTERM to the process group, time before SIGKILL")
      .choice("git_watch", &S::git_watch,
              {git_watch_mode::automatic, git_watch_mode::inotify, git_watch_mode::fingerprint},
              "how the git cache notices changes (`auto`: inotify, fingerprints where it is "
              "unavailable or out of watches)");
}

} // namespace p21
