#pragma once

// Helpers shared by the tests: a child actor that can be told to crash, and
// counters a test can wait on (bounded, never a bare sleep).

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "p21/runtime.hpp"

namespace p21::test {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using finish_atom = caf::atom_constant<caf::atom("finish")>;

/// Counts events by name and lets a test wait for a count.
class event_log {
public:
  void record(const std::string& name) {
    std::lock_guard<std::mutex> guard{mtx_};
    ++counts_[name];
    order_.push_back(name);
    cv_.notify_all();
  }

  size_t count(const std::string& name) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = counts_.find(name);
    return i == counts_.end() ? 0 : i->second;
  }

  std::vector<std::string> order() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return order_;
  }

  /// Waits until `name` happened at least `n` times; false after `timeout`.
  bool await(const std::string& name, size_t n,
             std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [&] { return counts_[name] >= n; });
  }

private:
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::map<std::string, size_t> counts_;
  std::vector<std::string> order_;
};

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

/// Re-checks `pred` until it holds or `timeout` passes; for state that
/// settles right after an event the test already waited for.
template <class Predicate>
bool eventually(Predicate pred, std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::yield();
  }
  return true;
}

/// A quiet config for tests: warnings only, fast restarts.
inline config test_config() {
  config cfg;
  cfg.logging.level = "error";
  cfg.database.path = ":memory:";
  cfg.supervisor.backoff_initial = std::chrono::milliseconds{1};
  cfg.supervisor.backoff_max = std::chrono::milliseconds{5};
  cfg.runtime.request_timeout = std::chrono::seconds{10};
  return cfg;
}

} // namespace p21::test
