#pragma once

// Helpers for the tests that run an actor system on the framework alone: a
// child actor that can be told to crash, a child spec that logs its starts,
// a quiet config. No subsystem: the framework's test binary links only
// the framework. test_support.hpp adds the standard subsystems.

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "p21/runtime.hpp"
#include "p21/subsystem.hpp"
#include "support/files.hpp"
#include "support/net.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

namespace p21::test {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using finish_atom = caf::atom_constant<caf::atom("finish")>;

/// A child that answers `ping` with its generation, throws on `crash` and
/// quits normally on `finish`.
inline caf::behavior worker(caf::event_based_actor* self, int generation) {
  return {
      [](ping_atom) { return 0; },
      [=](ping_atom, int) { return generation; },
      [](crash_atom) -> int { throw std::runtime_error("crash requested by the test"); },
      [=](finish_atom) { self->quit(); },
  };
}

/// A child spec whose every start is recorded in `log` as "start:NAME".
inline child_spec logged_child(const std::string& name, event_log& log,
                               priority prio = priority::critical,
                               std::vector<std::string> deps = {},
                               restart policy = restart::permanent) {
  child_spec spec;
  spec.name = name;
  spec.prio = prio;
  spec.depends_on = std::move(deps);
  spec.policy = policy;
  spec.start = [name, &log](caf::actor_system& sys) {
    log.record("start:" + name);
    auto generation = static_cast<int>(log.count("start:" + name));
    return sys.spawn(worker, generation);
  };
  return spec;
}

/// A framework test's runtime holds only the components the test passes:
/// `runtime rt{quiet_config(), no_subsystems, {children...}}`.
inline const std::vector<subsystem> no_subsystems{};

/// A quiet config for tests: errors only, fast restarts, no components
/// beyond what a test passes (the framework alone).
inline config quiet_config() {
  config cfg;
  cfg.logging.level = p21::log_level::error;
  cfg.supervisor.backoff_initial = std::chrono::milliseconds{1};
  cfg.supervisor.backoff_max = std::chrono::milliseconds{5};
  cfg.runtime.request_timeout = std::chrono::seconds{10};
  return cfg;
}

} // namespace p21::test
