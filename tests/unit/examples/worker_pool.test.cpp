// examples/worker_pool: an application's actor with a knob, declared in its
// child_spec like the built-in pools, tuned through the supervisor.

#include <catch2/catch.hpp>

#include "examples/worker_pool/worker_pool.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

TEST_CASE("raising myapp.workers starts a queued job at once and records its queue wait") {
  runtime rt{test_config()};
  auto app = rt.spawn_supervisor("app", {});
  REQUIRE(app);
  auto inner = app->spawn_supervisor("jobs");
  REQUIRE(inner);
  auto pool = inner->spawn(myapp::worker_pool_spec(rt, "worker_pool", 1));
  REQUIRE(pool);
  CHECK(rt.knob("myapp.workers").value() == 1);
  auto target = pool->actor();
  REQUIRE(target);
  std::optional<caf::timespan> waited;
  {
    caf::scoped_actor self{rt.system()};
    // One worker, busy for a minute; the next job waits in the queue.
    self->send(*target, myapp::job_atom::value, caf::timespan{60s});
    auto queued = self->request(*target, 20s, myapp::job_atom::value, caf::timespan{1ms});
    // A second worker takes it: its reply comes long before the first
    // job's minute is over (or the 20 s bound fails the test).
    CHECK(rt.set_knob("myapp.workers", 2).value() == 2);
    queued.receive([&](caf::timespan w) { waited = w; },
                   [&](caf::error& e) { FAIL(render(e)); });
  }
  release_thread();
  REQUIRE(waited);
  CHECK(*waited < 20s);
  CHECK(rt.set_knob("myapp.workers", 1000).value() == myapp::workers_knob().max);
  // Both jobs' waits are in the histogram the node exports.
  uint64_t count = 0;
  for (auto& h : rt.metrics().collect().histograms)
    if (myapp::queue_wait.names(h.name))
      count += h.count;
  CHECK(count == 2);
  CHECK(!rt.stop());
}
