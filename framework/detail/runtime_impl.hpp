#pragma once

// What a runtime holds (`runtime::impl`), shared by the files that make the
// runtime: runtime.cpp (construction, components, reload) and
// runtime_lifecycle.cpp (the shutdown phases, stop and wait).

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "async_caller.hpp"
#include "current_config.hpp"
#include "node_actor.hpp"
#include "p21/metrics.hpp"
#include "p21/resources.hpp"
#include "p21/runtime.hpp"
#include "p21/subsystem.hpp"
#include "supervisor_actor.hpp"

namespace p21 {

using clock = std::chrono::steady_clock;

struct runtime::impl {
  config cfg;
  /// `cfg` as start functions read it (`node_view::settings`), from any
  /// thread: replaced whole, under its lock, by a reload.
  std::shared_ptr<detail::current_config> current = std::make_shared<detail::current_config>();
  std::vector<subsystem> subsystems;
  caf::actor_system_config caf_cfg;
  std::unique_ptr<caf::actor_system> sys;
  clock::time_point epoch = clock::now();
  std::shared_ptr<spdlog::logger> logger;

  // -- components --
  mutable std::mutex components_mtx;
  std::vector<detail::slot_ptr> slots;
  /// Nested supervisors' shared state (`spawn_supervisor`).
  std::vector<std::shared_ptr<detail::subtree>> subtrees;
  metrics_registry registry;
  resource_manager resources;
  caf::actor supervisor;
  /// Owns the log file, the pressure handlers and the state directory.
  node_actor node;
  /// What components see of the node (they hold it until the end).
  std::shared_ptr<node_view> view;

  // -- pooled requesters for blocking calls --
  std::mutex pool_mtx;
  std::condition_variable pool_cv;
  std::vector<std::unique_ptr<caf::scoped_actor>> idle;
  size_t in_flight = 0;
  std::atomic<bool> accepting{true};

  /// The caller actors of the non-blocking calls (`p21/async.hpp`).
  detail::async_callers async;

  // -- init (`[performance] auto_init`) --
  std::mutex init_mtx;
  std::atomic<bool> initialized{false};
  std::string state_dir;

  // -- unsupervised user actors, stopped at shutdown --
  std::mutex user_mtx;
  std::vector<caf::actor_addr> user_actors;

  // -- lifecycle --
  std::mutex life_mtx;
  std::condition_variable life_cv;
  bool stop_requested = false;
  bool stopped = false;
  caf::error reason;
  std::thread lifecycle;

  detail::slot_ptr find(const std::string& name) const {
    std::lock_guard<std::mutex> guard{components_mtx};
    for (auto& s : slots)
      if (s->spec().name == name)
        return s;
    return nullptr;
  }

  void request_stop(caf::error why) {
    std::lock_guard<std::mutex> guard{life_mtx};
    if (!stop_requested) {
      stop_requested = true;
      reason = std::move(why);
    }
    life_cv.notify_all();
  }

  /// The lifecycle thread owns the actor system from construction to
  /// destruction: CAF 0.17 hangs in ~actor_system when it runs on another
  /// thread while the creating one is still alive.
  void run_lifecycle(std::promise<void>& ready) {
    try {
      sys = std::make_unique<caf::actor_system>(caf_cfg);
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    ready.set_value();
    {
      std::unique_lock<std::mutex> guard{life_mtx};
      life_cv.wait(guard, [&] { return stop_requested; });
    }
    auto err = shutdown();
    std::lock_guard<std::mutex> guard{life_mtx};
    if (!reason && err)
      reason = std::move(err);
    stopped = true;
    life_cv.notify_all();
  }

  /// Waits until no blocking call is in flight, at most `timeout`.
  bool drain(timespan timeout) {
    std::unique_lock<std::mutex> guard{pool_mtx};
    return pool_cv.wait_for(guard, timeout, [&] { return in_flight == 0; });
  }

  caf::error shutdown();
};

} // namespace p21
