#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "p21/runtime.hpp"
#include "support/actor_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

child_spec spec(const std::string& name, priority prio, std::vector<std::string> deps = {}) {
  child_spec s;
  s.name = name;
  s.prio = prio;
  s.depends_on = std::move(deps);
  return s;
}

std::vector<std::string> names(const std::vector<child_spec>& specs,
                               const std::vector<size_t>& order) {
  std::vector<std::string> out;
  for (auto i : order)
    out.push_back(specs[i].name);
  return out;
}

size_t position(const std::vector<std::string>& xs, const std::string& x) {
  return static_cast<size_t>(std::find(xs.begin(), xs.end(), x) - xs.begin());
}

} // namespace

TEST_CASE("start order puts dependencies first, then higher priorities") {
  std::vector<child_spec> specs = {spec("reports", priority::low, {"db"}),
                                   spec("db", priority::normal),
                                   spec("monitor", priority::critical, {"cache"}),
                                   spec("cache", priority::high), spec("api", priority::high)};
  auto order = names(specs, start_order(specs));
  REQUIRE(order.size() == 5);
  CHECK(position(order, "cache") < position(order, "monitor"));
  CHECK(position(order, "db") < position(order, "reports"));
  CHECK(order.front() == "cache"); // needed by the critical monitor
  CHECK(order[1] == "monitor");
  CHECK(position(order, "api") < position(order, "db"));
  CHECK(order.back() == "reports");
}

TEST_CASE("a dependency cycle is refused naming the cycle") {
  std::vector<child_spec> specs = {spec("a", priority::normal, {"b"}),
                                   spec("b", priority::normal, {"c"}),
                                   spec("c", priority::normal, {"a"})};
  try {
    static_cast<void>(start_order(specs, "node.toml"));
    FAIL("accepted a cycle");
  } catch (const config_error& e) {
    CHECK_THAT(e.message(), Catch::Contains("dependency cycle: a -> b -> c -> a"));
  }
}

TEST_CASE("a missing dependency is refused") {
  std::vector<child_spec> specs = {spec("a", priority::normal, {"ghost"})};
  CHECK_THROWS_WITH(start_order(specs), Catch::Contains("depends on 'ghost'"));
}

TEST_CASE("the runtime refuses a cycle before starting anything") {
  event_log log;
  CHECK_THROWS_AS((runtime{quiet_config(), no_subsystems,
                           {logged_child("a", log, priority::critical, {"b"}),
                            logged_child("b", log, priority::normal, {"a"})}}),
                  config_error);
  CHECK(log.count("start:a") == 0);
}

TEST_CASE("critical components start with the runtime, the others on first use") {
  event_log log;
  runtime rt{quiet_config(), no_subsystems,
             {logged_child("core", log, priority::critical),
              logged_child("store", log, priority::low),
              logged_child("reports", log, priority::normal, {"store"})}};
  CHECK(log.count("start:core") == 1);
  CHECK(log.count("start:store") == 0);
  CHECK(log.count("start:reports") == 0);
  CHECK_FALSE(rt.component("reports")->start_time);
  // First use of reports starts store first, then reports.
  CHECK(rt.call<int>("reports", ping_atom::value, 0).value() == 1);
  CHECK(log.order() == std::vector<std::string>{"start:core", "start:store", "start:reports"});
  auto stats = rt.component("reports");
  REQUIRE(stats);
  CHECK(stats->running);
  CHECK(stats->starts == 1);
  CHECK(stats->use_count == 1);
  CHECK(stats->start_time);
  CHECK(stats->first_use);
  CHECK(rt.component("store")->use_count == 0); // started as a dependency, not used
}

TEST_CASE("config [components] priorities override the code's") {
  event_log log;
  auto cfg = quiet_config();
  cfg.components["lazy"].prio = priority::critical;
  runtime rt{cfg, no_subsystems, {logged_child("lazy", log, priority::low)}};
  CHECK(log.count("start:lazy") == 1);
}

TEST_CASE("concurrent first use starts a lazy component exactly once") {
  event_log log;
  runtime rt{quiet_config(), no_subsystems, {logged_child("lazy", log, priority::normal)}};
  constexpr size_t n = 16;
  std::atomic<size_t> ready{0};
  std::atomic<size_t> ok{0};
  std::mutex errors_mtx;
  std::vector<std::string> errors; // said when the check fails (seen once under ASan and load)
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; ++i)
    threads.emplace_back([&] {
      ++ready;
      while (ready < n)
        std::this_thread::yield();
      if (auto r = rt.call<int>("lazy", ping_atom::value, 0)) {
        ++ok;
      } else {
        std::lock_guard<std::mutex> guard{errors_mtx};
        errors.push_back(render(r.error()));
      }
      release_thread();
    });
  for (auto& t : threads)
    t.join();
  CAPTURE(errors);
  CHECK(ok == n);
  CHECK(log.count("start:lazy") == 1);
  auto stats = rt.component("lazy");
  CHECK(stats->starts == 1);
  CHECK(stats->use_count == n);
}

TEST_CASE("components added at run time: lazy, critical, duplicates and missing dependencies") {
  event_log log;
  runtime rt{quiet_config(), no_subsystems};
  CHECK(!rt.add_component(logged_child("later", log, priority::normal)));
  CHECK(log.count("start:later") == 0);
  CHECK(rt.call<int>("later", ping_atom::value, 0).value() == 1);
  CHECK(!rt.add_component(logged_child("now", log, priority::critical, {"later"})));
  CHECK(log.count("start:now") == 1);
  CHECK(is(rt.add_component(logged_child("now", log)), errc::invalid_argument));
  CHECK(is(rt.add_component(logged_child("x", log, priority::normal, {"ghost"})), errc::not_found));
  CHECK(is(rt.actor_of("nothing").error(), errc::not_found));
}

TEST_CASE("a component whose start function fails is an error, not a crash") {
  runtime rt{quiet_config(), no_subsystems};
  child_spec bad;
  bad.name = "bad";
  bad.prio = priority::normal;
  bad.start = [](caf::actor_system&) -> caf::expected<caf::actor> {
    return make_error(errc::command_failed, "no disk");
  };
  CHECK(!rt.add_component(bad));
  auto r = rt.actor_of("bad");
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::unavailable));
  CHECK_THAT(render(r.error()), Catch::Contains("no disk"));
}

TEST_CASE("a start function that throws anyway is contained and named as a contract breach") {
  runtime rt{quiet_config(), no_subsystems};
  child_spec bad;
  bad.name = "bad";
  bad.prio = priority::normal;
  bad.start = [](caf::actor_system&) -> caf::expected<caf::actor> {
    throw std::runtime_error("no disk");
  };
  CHECK(!rt.add_component(bad));
  auto r = rt.actor_of("bad");
  REQUIRE_FALSE(r);
  CHECK_THAT(render(r.error()), Catch::Contains("threw") && Catch::Contains("no disk"));
  // The supervisor outlived it: another component still starts.
  event_log log;
  CHECK(!rt.add_component(logged_child("good", log, priority::normal)));
  CHECK(rt.actor_of("good"));
}
