// The component that stands for a peer's cache or db pool. The stub that
// talks to the peer (stubs.cpp) is reachable from it: CAF hands the peer the
// stub's handle with every lookup and request, and an unconditional `kill`
// to it cannot be refused. Watched by the supervisor, six such kills in ten
// seconds made it give up and stopped the node. So the supervisor watches
// this keeper instead, which no peer ever hears from: it passes every
// message to the current stub and replaces a stub that ended, with the
// stubs' reconnection backoff, outside any restart intensity.

#include "stubs.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "p21/config.hpp"
#include "p21/error.hpp"
#include "p21/log_limits.hpp"
#include "p21/metrics.hpp"
#include "p21/protocol/atoms.hpp"

namespace p21::cluster_detail {

namespace {

using clock = std::chrono::steady_clock;

struct stub_keeper_state {
  stub_factory make;
  std::string where;
  timespan retry_initial{0};
  timespan retry_max{0};
  /// Shared with the functor that ends it, which may run after the state is
  /// gone.
  std::shared_ptr<caf::actor> stub = std::make_shared<caf::actor>();
  clock::time_point started;
  /// How long the next replacement waits before it connects.
  timespan backoff{0};
  uint64_t replaced = 0;

  static inline const char* name = "p21.cluster_stub_keeper";
};

using keeper_actor = caf::stateful_actor<stub_keeper_state>;

void start_stub(keeper_actor* self, timespan first_connect_delay) {
  auto& st = self->state;
  *st.stub = st.make(self->system(), first_connect_delay);
  st.started = clock::now();
  self->monitor(*st.stub);
}

caf::behavior stub_keeper(keeper_actor* self, stub_factory make, std::string where,
                          timespan retry_initial, timespan retry_max) {
  auto& st = self->state;
  st.make = std::move(make);
  st.where = std::move(where);
  st.retry_initial = retry_initial;
  st.retry_max = retry_max;
  st.backoff = retry_initial;
  start_stub(self, timespan{0});
  // However the keeper ends (the supervisor's stop, a kill), its stub ends
  // with it; a stub ignores exits from other nodes, not from this one.
  self->attach_functor([stub = st.stub](const caf::error&) {
    if (*stub)
      caf::anon_send_exit(*stub, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (!*st.stub || dm.source != st.stub->address())
      return;
    // A stub that lived a while got a fresh backoff; one ended again at
    // once waits longer each time, so a peer that kills every stub that
    // looks it up sees one lookup per `retry_max` at most.
    if (clock::now() - st.started >= st.retry_max)
      st.backoff = st.retry_initial;
    else
      st.backoff = std::min(st.backoff * 2, st.retry_max);
    ++st.replaced;
    auto level = st.replaced == 1 ? spdlog::level::warn : spdlog::level::debug;
    spdlog::log(level, "cluster: the stub of {} was ended ({}); a new one connects in {}",
                st.where, peer_text(render(dm.reason)), format_duration(st.backoff));
    start_stub(self, st.backoff);
  });
  // Callers are local: delegating hands them the stub, which is this node's.
  self->set_default_handler(
      [self](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
        auto rp = self->make_response_promise();
        rp.delegate(*self->state.stub, x.move_content_to_message());
        return rp;
      });
  return {
      [](metrics_atom) { return metric_set{}; },
  };
}

} // namespace

caf::actor spawn_stub_keeper(caf::actor_system& sys, stub_factory make, std::string where,
                             timespan retry_initial, timespan retry_max) {
  return sys.spawn(stub_keeper, std::move(make), std::move(where), retry_initial, retry_max);
}

} // namespace p21::cluster_detail
