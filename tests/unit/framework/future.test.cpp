// p21::future and the non-blocking calls behind it: then, get_for, cancel,
// what becomes of a call when the runtime stops, retry and deadlines.

#include <atomic>
#include <memory>
#include <thread>

#include <catch2/catch.hpp>

#include "p21/async.hpp"
#include "p21/runtime.hpp"
#include "support/actor_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

using hold_atom = caf::atom_constant<caf::atom("hold")>;
using count_atom = caf::atom_constant<caf::atom("count")>;

/// A component that keeps every `hold` request unanswered (as a component
/// busy for longer than anyone waits), replies `bad_query` to `bad`, and
/// `unavailable` to its first `fails` pings after which it answers 7.
struct stubborn_state {
  std::vector<caf::response_promise> held;
  int pings = 0;
};

using bad_atom = caf::atom_constant<caf::atom("bad")>;
using release_atom = caf::atom_constant<caf::atom("release")>;

caf::behavior stubborn(caf::stateful_actor<stubborn_state>* self, int fails,
                       std::shared_ptr<std::atomic<int>> seen) {
  return {
      [=](hold_atom) {
        ++*seen;
        auto rp = self->make_response_promise();
        self->state.held.push_back(rp);
        return rp;
      },
      [=](release_atom, int x) {
        for (auto& rp : self->state.held)
          rp.deliver(x);
        self->state.held.clear();
      },
      [=](bad_atom) -> caf::result<int> {
        ++*seen;
        return make_error(errc::bad_query, "no such table: nope");
      },
      [=](ping_atom) -> caf::result<int> {
        ++*seen;
        if (self->state.pings++ < fails)
          return make_error(errc::unavailable, "restarting");
        return 7;
      },
  };
}

child_spec stubborn_child(const std::string& name, int fails,
                          std::shared_ptr<std::atomic<int>> seen) {
  child_spec spec;
  spec.name = name;
  spec.prio = priority::critical;
  spec.start = [fails, seen](caf::actor_system& sys) { return sys.spawn(stubborn, fails, seen); };
  return spec;
}

uint64_t retries_of(runtime& rt, const std::string& component) {
  return p21::detail::call_retries(rt, component).value();
}

} // namespace

// -- the future type, without a runtime --------------------------------------------

TEST_CASE("a future's callback runs once with the result, set before or after then") {
  promise<int> early;
  future<int> f1{early};
  early.set(41);
  int got = 0;
  f1.then([&](caf::expected<int> x) { got = x.value(); });
  CHECK(got == 41); // completed already: runs at once, here

  promise<int> late;
  future<int> f2{late};
  std::atomic<int> calls{0};
  std::thread::id ran_on;
  f2.then([&](caf::expected<int> x) {
    CHECK(x.value() == 42);
    ran_on = std::this_thread::get_id();
    ++calls;
  });
  std::thread producer{[&] { late.set(42); }};
  auto producer_id = producer.get_id();
  producer.join();
  late.set(43); // the first set wins
  CHECK(calls == 1);
  CHECK(ran_on == producer_id); // on the completing thread
  // The result went to the callback.
  CHECK(is(f2.get().error(), errc::invalid_argument));
}

TEST_CASE("get_for gives timeout while the call runs and the value once it completes") {
  promise<std::string> p;
  future<std::string> f{p};
  auto early = f.get_for(20ms);
  REQUIRE_FALSE(early);
  CHECK(is(early.error(), errc::timeout));
  CHECK_FALSE(f.ready());
  std::thread producer{[&] { p.set(std::string{"done"}); }};
  CHECK(f.get_for(10s).value() == "done");
  CHECK(f.get().value() == "done"); // get may be asked again
  producer.join();
}

TEST_CASE("a cancelled future never runs its callback and get says cancelled") {
  promise<int> p;
  future<int> f{p};
  bool ran = false;
  f.then([&](caf::expected<int>) { ran = true; });
  CHECK(f.cancel());
  CHECK(p.cancelled());
  p.set(1);
  CHECK_FALSE(ran);
  CHECK(is(f.get().error(), errc::cancelled));
  CHECK_FALSE(f.cancel()); // done already
}

TEST_CASE("cancel waits for a callback running on another thread") {
  promise<int> p;
  future<int> f{p};
  std::promise<void> entered;
  std::promise<void> release;
  auto release_f = release.get_future().share();
  f.then([&, release_f](caf::expected<int>) {
    entered.set_value();
    release_f.wait();
  });
  std::thread producer{[&] { p.set(1); }};
  entered.get_future().wait();
  auto cancelled = std::async(std::launch::async, [&] { return f.cancel(); });
  // While the callback runs, cancel does not return.
  CHECK(cancelled.wait_for(100ms) == std::future_status::timeout);
  release.set_value();
  auto r = get_within(cancelled, 10s);
  REQUIRE(r);
  CHECK_FALSE(*r); // it had completed
  producer.join();
}

TEST_CASE("a promise dropped without a result completes its future with unavailable") {
  future<int> f;
  {
    promise<int> p;
    f = future<int>{p};
  }
  CHECK(is(f.get_for(1s).error(), errc::unavailable));
}

TEST_CASE("retry backoff grows by the multiplier up to its cap with jitter below it") {
  retry_policy p;
  p.initial_backoff = 10ms;
  p.max_backoff = 80ms;
  p.multiplier = 2;
  p.jitter = 0.5;
  CHECK(p.backoff(1, 0.0) == caf::timespan{10ms});
  CHECK(p.backoff(2, 0.0) == caf::timespan{20ms});
  CHECK(p.backoff(4, 0.0) == caf::timespan{80ms});
  CHECK(p.backoff(60, 0.0) == caf::timespan{80ms});
  CHECK(p.backoff(1000, 0.0) == caf::timespan{80ms});
  CHECK(p.backoff(2, 0.999) > caf::timespan{10ms});
  CHECK(p.backoff(2, 0.999) < caf::timespan{20ms});
  CHECK(retryable(make_error(errc::unavailable)));
  CHECK_FALSE(retryable(make_error(errc::bad_query)));
  CHECK_FALSE(retryable(make_error(errc::invalid_argument)));
  CHECK_FALSE(retryable(caf::error{}));
}

// -- non-blocking calls on a runtime ----------------------------------------------

TEST_CASE("async_call returns at once and its callback runs on a runtime thread") {
  auto seen = std::make_shared<std::atomic<int>>(0);
  runtime rt{quiet_config(), no_subsystems, {stubborn_child("s", 0, seen)}};
  auto f = async_call<int>(rt, "s", {10s}, hold_atom::value);
  CHECK_FALSE(f.ready()); // the component holds it
  std::promise<std::pair<int, std::thread::id>> got;
  f.then([&](caf::expected<int> x) {
    got.set_value(std::make_pair(x ? *x : -1, std::this_thread::get_id()));
  });
  REQUIRE(eventually([&] { return *seen == 1; }));
  caf::anon_send(rt.actor_of("s").value(), release_atom::value, 5);
  auto fut = got.get_future();
  auto r = get_within(fut, 10s);
  REQUIRE(r);
  CHECK(r->first == 5);
  CHECK(r->second != std::this_thread::get_id());
  CHECK(is(async_call<int>(rt, "nope", {}, ping_atom::value).get().error(), errc::not_found));
}

TEST_CASE("a call across a component restart succeeds within its deadline") {
  event_log log;
  auto cfg = quiet_config();
  // A restart that takes long enough for calls to land in it.
  cfg.supervisor.backoff_initial = 300ms;
  cfg.supervisor.backoff_max = 300ms;
  runtime rt{cfg, no_subsystems, {logged_child("w", log)}};
  REQUIRE(rt.call<int>("w", ping_atom::value, 1).value() == 1);
  CHECK_FALSE(rt.call<int>("w", crash_atom::value));
  REQUIRE(eventually([&] { return !rt.running_actor_of("w"); }));
  // Without retry, the restart is what the caller sees.
  auto no_retry = async_call<int>(rt, "w", {2s, retry_policy::none()}, ping_atom::value, 1);
  auto e = no_retry.get_for(10s);
  REQUIRE_FALSE(e);
  CHECK(is(e.error(), errc::unavailable));
  auto before = retries_of(rt, "w");
  auto t0 = std::chrono::steady_clock::now();
  auto f = async_call<int>(rt, "w", {5s}, ping_atom::value, 1);
  auto r = f.get_for(10s);
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(r);
  CHECK(*r == 2); // the second generation answered
  CHECK(took < 5s);
  CHECK(retries_of(rt, "w") > before);
}

TEST_CASE("a bad_query is not retried, an unavailable reply is retried only with resend") {
  auto seen = std::make_shared<std::atomic<int>>(0);
  runtime rt{quiet_config(), no_subsystems, {stubborn_child("s", 2, seen)}};
  call_options resend{2s};
  resend.retry.resend = true;
  // Not even a call that may be resent retries an error a retry cannot fix.
  auto bad = async_call<int>(rt, "s", resend, bad_atom::value).get_for(10s);
  REQUIRE_FALSE(bad);
  CHECK(is(bad.error(), errc::bad_query));
  CHECK(*seen == 1);
  CHECK(retries_of(rt, "s") == 0);
  // An `unavailable` reply: the component got the request and may have
  // acted on it, so only a call that says it is idempotent resends.
  *seen = 0;
  auto once = async_call<int>(rt, "s", {2s}, ping_atom::value).get_for(10s);
  REQUIRE_FALSE(once);
  CHECK(is(once.error(), errc::unavailable));
  CHECK(*seen == 1);
  auto ok = async_call<int>(rt, "s", resend, ping_atom::value).get_for(10s);
  REQUIRE(ok);
  CHECK(*ok == 7);
  CHECK(*seen == 3); // the failed ping above, one more failure, then 7
  CHECK(retries_of(rt, "s") == 1);
}

TEST_CASE("a call past its deadline completes with timeout and a cancelled one with cancelled") {
  auto seen = std::make_shared<std::atomic<int>>(0);
  runtime rt{quiet_config(), no_subsystems, {stubborn_child("s", 0, seen)}};
  auto late = async_call<int>(rt, "s", {100ms}, hold_atom::value).get_for(10s);
  REQUIRE_FALSE(late);
  CHECK(is(late.error(), errc::timeout));
  auto f = async_call<int>(rt, "s", {10s}, hold_atom::value);
  std::atomic<bool> ran{false};
  f.then([&](caf::expected<int>) { ran = true; });
  REQUIRE(eventually([&] { return *seen == 2; }));
  CHECK(f.cancel());
  CHECK(is(f.get().error(), errc::cancelled));
  CHECK_FALSE(ran);
}

TEST_CASE("a callback pending when the runtime stops runs before stop returns, never after") {
  // The object the callback uses dies right after stop(): a callback run
  // later would touch a dead object (ASan sees it; `alive` says it here).
  struct session {
    std::atomic<bool> alive{true};
    std::atomic<int> calls{0};
    std::atomic<bool> saw_dead{false};
    caf::error last;
  };
  auto seen = std::make_shared<std::atomic<int>>(0);
  auto s = std::make_unique<session>();
  std::atomic<bool> stop_returned{false};
  std::atomic<bool> ran_after_stop{false};
  future<int> f;
  {
    runtime rt{quiet_config(), no_subsystems, {stubborn_child("s", 0, seen)}};
    f = async_call<int>(rt, "s", {60s}, hold_atom::value);
    auto* raw = s.get();
    f.then([raw, &stop_returned, &ran_after_stop](caf::expected<int> x) {
      if (stop_returned)
        ran_after_stop = true;
      if (!raw->alive)
        raw->saw_dead = true;
      ++raw->calls;
      raw->last = x ? caf::error{} : x.error();
    });
    REQUIRE(eventually([&] { return *seen == 1; }));
    rt.stop();
    stop_returned = true;
    CHECK(s->calls == 1);
    CHECK(is(s->last, errc::unavailable));
    // A call made after the stop completes at once, on this thread.
    CHECK(is(async_call<int>(rt, "s", {}, hold_atom::value).get_for(1s).error(),
             errc::unavailable));
  }
  s->alive = false;
  s.reset();
  CHECK_FALSE(ran_after_stop);
  CHECK(f.ready());
}

// -- cancel and lazy components ---------------------------------------------------

TEST_CASE("a cancel during retry backoff stops further attempts") {
  auto seen = std::make_shared<std::atomic<int>>(0);
  runtime rt{quiet_config(), no_subsystems, {stubborn_child("s", 1'000'000, seen)}};
  call_options opts{30s};
  opts.retry.resend = true;
  opts.retry.initial_backoff = 20ms;
  opts.retry.max_backoff = 20ms;
  opts.retry.jitter = 0;
  auto f = async_call<int>(rt, "s", opts, ping_atom::value);
  REQUIRE(eventually([&] { return *seen >= 3; }));
  CHECK(f.cancel());
  // At most the attempt in flight when it was cancelled still arrives.
  auto at_cancel = *seen + 1;
  auto retries_at_cancel = retries_of(rt, "s");
  // Proving that nothing more happens needs a wait: 25 backoffs' worth.
  std::this_thread::sleep_for(500ms);
  CHECK(*seen <= at_cancel);
  CHECK(retries_of(rt, "s") <= retries_at_cancel + 1);
  CHECK(is(f.get().error(), errc::cancelled));
}

namespace {

/// A lazy component whose first instance holds every `hold` request (and
/// answers them `unavailable` when it stops, as the pools do) and whose
/// later instances answer at once with their generation.
struct lazy_state {
  std::vector<caf::typed_response_promise<int>> held;
  ~lazy_state() {
    for (auto& rp : held)
      rp.deliver(make_error(errc::unavailable, "stopped before the reply"));
  }
};

child_spec lazy_child(const std::string& name, std::shared_ptr<std::atomic<int>> starts,
                      std::shared_ptr<std::atomic<int>> held) {
  child_spec spec;
  spec.name = name;
  spec.prio = priority::normal; // lazy: started on first use
  spec.start = [starts, held](caf::actor_system& sys) {
    int generation = ++*starts;
    return sys.spawn([generation, held](caf::stateful_actor<lazy_state>* self) -> caf::behavior {
      return {
          [=](hold_atom) -> caf::result<int> {
            if (generation > 1)
              return generation;
            auto rp = self->make_response_promise<int>();
            self->state.held.push_back(rp);
            ++*held;
            return rp;
          },
      };
    });
  };
  return spec;
}

} // namespace

TEST_CASE("a retried call starts a lazy component that rule 4 unloaded meanwhile") {
  auto starts = std::make_shared<std::atomic<int>>(0);
  auto held = std::make_shared<std::atomic<int>>(0);
  runtime rt{quiet_config(), no_subsystems, {lazy_child("lz", starts, held)}};
  call_options opts{10s};
  opts.retry.resend = true; // the held request reached it
  auto f = async_call<int>(rt, "lz", opts, hold_atom::value);
  REQUIRE(eventually([&] { return *held == 1; }));
  // Unloaded while the call waits: its reply is `unavailable`, and the
  // retry must start the component again, as the blocking handles do.
  REQUIRE(rt.unload("lz").value());
  auto r = f.get_for(20s);
  REQUIRE(r);
  CHECK(*r == 2);
  CHECK(rt.component("lz")->running);
  CHECK(retries_of(rt, "lz") >= 1);
}
