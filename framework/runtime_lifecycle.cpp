// The runtime's lifecycle: the shutdown phases (`runtime::impl::shutdown`),
// `request_stop`, `stop` and `wait`.

#include "p21/runtime.hpp"

#include "detail/async_caller.hpp"
#include "detail/logging.hpp"
#include "detail/node_actor.hpp"
#include "detail/runtime_impl.hpp"
#include "detail/supervisor_actor.hpp"
#include "p21/protocol/atoms.hpp"

namespace p21 {

caf::error runtime::impl::shutdown() {
  auto phase_timeout = cfg.runtime.shutdown_timeout;
  caf::error result;
  spdlog::info("shutting down");
  // Phase 1: stop accepting work.
  {
    std::lock_guard<std::mutex> guard{pool_mtx};
    accepting = false;
  }
  // Phase 2: let in-flight calls finish.
  if (!drain(phase_timeout))
    spdlog::warn("{} call(s) still in flight after {}; stopping anyway", in_flight,
                 format_duration(phase_timeout));
  // Phase 3: components in reverse dependency order, each bounded by its own
  // shutdown timeout (then killed), the whole phase by their sum.
  {
    timespan budget{std::chrono::seconds{2}};
    {
      std::lock_guard<std::mutex> guard{components_mtx};
      for (auto& s : slots)
        budget += s->spec().shutdown_timeout + std::chrono::seconds{1};
    }
    caf::scoped_actor self{*sys, true};
    self->request(supervisor, budget, stop_atom::value)
        .receive([](bool) {},
                 [&](caf::error& e) {
                   spdlog::error("components did not stop in time: {}", render(e));
                   result = make_error(errc::shutdown_timeout, "components did not stop in time");
                 });
    self->send_exit(supervisor, caf::exit_reason::user_shutdown);
    // After the components: none of them can message it any more.
    if (node)
      self->send_exit(node, caf::exit_reason::user_shutdown);
    // A detached actor's thread ends only with its last reference, and the
    // components' view outlives the system: drop both.
    node = nullptr;
    if (view)
      view->node = nullptr;
  }
  // Phase 4: unsupervised user actors: ask, then kill. The caller actors
  // of the non-blocking calls are among them: their pending calls complete
  // with `unavailable` as they go, before the system does.
  {
    async.close();
    std::vector<caf::actor> alive;
    {
      std::lock_guard<std::mutex> guard{user_mtx};
      for (auto& addr : user_actors)
        if (auto h = caf::actor_cast<caf::actor>(addr))
          alive.push_back(std::move(h));
      user_actors.clear();
    }
    if (!alive.empty()) {
      caf::scoped_actor self{*sys, true};
      for (auto& h : alive) {
        self->monitor(h);
        self->send_exit(h, caf::exit_reason::user_shutdown);
      }
      auto await_down = [&](timespan timeout) {
        auto deadline = clock::now() + timeout;
        while (!alive.empty() && clock::now() < deadline) {
          self->receive(
              [&](caf::down_msg& dm) {
                alive.erase(std::remove_if(alive.begin(), alive.end(),
                                           [&](auto& h) { return h.address() == dm.source; }),
                            alive.end());
              },
              caf::after(deadline - clock::now()) >> [] {});
        }
      };
      await_down(phase_timeout);
      for (auto& h : alive) {
        spdlog::warn("actor {} did not stop within {}; killing it", h.id(),
                     format_duration(phase_timeout));
        self->send_exit(h, caf::exit_reason::kill);
      }
      await_down(std::chrono::seconds{1});
    }
  }
  // Every component has stopped: what is still registered leaked.
  for (auto& line : resources.leak_report())
    spdlog::warn("resource leak: {}", line);
  // Phase 5: the actor system. Blocking calls racing the shutdown now fail
  // fast (their receivers are gone); wait for them before the requesters go.
  if (!drain(cfg.runtime.request_timeout))
    spdlog::error("blocking calls still in flight at shutdown");
  {
    std::lock_guard<std::mutex> guard{pool_mtx};
    idle.clear();
  }
  auto deadline = clock::now() + phase_timeout;
  while (sys->registry().running() > 0 && clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  if (sys->registry().running() > 0 || in_flight > 0) {
    // An actor stuck inside a handler cannot be preempted, and destroying the
    // system would wait for it forever: leave the system behind instead of
    // hanging the caller.
    spdlog::critical("{} actor(s) did not terminate; abandoning the actor system",
                     sys->registry().running());
    static_cast<void>(sys.release());
    return make_error(errc::shutdown_timeout, "actors did not terminate");
  }
  sys.reset();
  spdlog::info("stopped");
  if (logger)
    logger->flush();
  return result;
}

// -- lifecycle ----------------------------------------------------------------

void runtime::request_stop(caf::error reason) {
  impl_->request_stop(std::move(reason));
}

caf::error runtime::stop() {
  auto& d = *impl_;
  release_thread();
  d.request_stop(caf::error{});
  if (d.lifecycle.joinable() && d.lifecycle.get_id() != std::this_thread::get_id())
    d.lifecycle.join();
  std::lock_guard<std::mutex> guard{d.life_mtx};
  return d.reason;
}

caf::error runtime::wait() {
  auto& d = *impl_;
  std::unique_lock<std::mutex> guard{d.life_mtx};
  d.life_cv.wait(guard, [&] { return d.stopped; });
  return d.reason;
}

bool runtime::wait_for(timespan timeout) {
  auto& d = *impl_;
  std::unique_lock<std::mutex> guard{d.life_mtx};
  return d.life_cv.wait_for(guard, timeout, [&] { return d.stopped; });
}

} // namespace p21
