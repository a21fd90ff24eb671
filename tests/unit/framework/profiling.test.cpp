// Actor profiling and the exposition conventions: a profiled actor's
// messages, handler time and mailbox depth land in the registry; the
// process collector reads this process; OpenMetrics names counter families
// without `_total` and ends with `# EOF`.

#include <catch2/catch.hpp>

#include <ctime>

#include <caf/all.hpp>

#include "p21/metrics.hpp"
#include "framework/detail/type_names.hpp"
#include "p21/profiling.hpp"
#include "support/wait.hpp"

using namespace p21;

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;

caf::behavior echo(caf::event_based_actor*) {
  return {
      [](ping_atom, int x) { return x; },
      [](int x) { return x + 1; },
  };
}

double counter_value(const metric_set& m, const metric_def& def,
                     const std::map<std::string, std::string>& labels) {
  for (auto& c : m.counters)
    if (def.names(c.name) && c.labels == labels)
      return c.value;
  return -1;
}

} // namespace

TEST_CASE("a profiled actor counts its messages by type and times its handlers and its mailbox "
          "drains to 0") {
  // The registry outlives the actor system: an actor records its last
  // messages (the exit) while the system shuts down.
  metrics_registry registry;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto profile = std::make_shared<actor_profile>(registry, "echo");
  auto a = spawn_profiled(sys, profile, echo);
  {
    caf::scoped_actor self{sys};
    for (int i = 0; i < 10; ++i)
      self->request(a, caf::infinite, ping_atom::value, i).receive([](int) {}, [](caf::error&) {});
    for (int i = 0; i < 5; ++i)
      self->request(a, caf::infinite, i).receive([](int) {}, [](caf::error&) {});
  }
  // The actor records a message once its handler returned, just after the
  // reply left: wait (bounded) for the last one.
  auto handled = [&] {
    for (auto& h : registry.collect().histograms)
      if (profiling_metrics::handler_seconds.names(h.name))
        return h.count;
    return uint64_t{0};
  };
  REQUIRE(p21::test::eventually([&] { return handled() == 15; }));
  auto m = registry.collect();
  CHECK(counter_value(m, profiling_metrics::messages, {{"component", "echo"}, {"type", "ping"}}) ==
        10);
  CHECK(counter_value(m, profiling_metrics::messages, {{"component", "echo"}, {"type", "int32"}}) ==
        5);
  bool found_histogram = false;
  for (auto& h : m.histograms)
    if (profiling_metrics::handler_seconds.names(h.name)) {
      found_histogram = true;
      CHECK(h.count == 15);
      CHECK(h.labels.at("component") == "echo");
    }
  CHECK(found_histogram);
  for (auto& g : m.gauges)
    if (profiling_metrics::mailbox_depth.names(g.name))
      CHECK(g.value == 0);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("without a profile, spawn_profiled spawns the plain actor and records nothing") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto a = spawn_profiled(sys, nullptr, echo);
  caf::scoped_actor self{sys};
  int got = 0;
  self->request(a, caf::infinite, 41).receive([&](int x) { got = x; }, [](caf::error&) {});
  CHECK(got == 42);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("the process collector reads this process from /proc") {
  auto r = read_process();
  CHECK(r.resident_memory_bytes > 0);
  CHECK(r.virtual_memory_bytes >= r.resident_memory_bytes);
  CHECK(r.open_fds >= 3);
  CHECK(r.max_fds >= r.open_fds);
  CHECK(r.cpu_seconds >= 0);
  auto now = static_cast<double>(std::time(nullptr));
  CHECK(r.start_time_seconds <= now + 1);
  CHECK(r.start_time_seconds > now - 24 * 3600);
  auto text = render_process_metrics(r);
  for (auto name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                    "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                    "process_start_time_seconds"})
    CHECK(text.find(std::string{"\n"} + name + " ") != std::string::npos);
}

TEST_CASE("OpenMetrics names a counter family without _total and ends with # EOF") {
  auto text = "# HELP p21_x_total Things.\n# TYPE p21_x_total counter\np21_x_total 3\n"
              "# HELP p21_y A level.\n# TYPE p21_y gauge\np21_y 1\n";
  CHECK(to_openmetrics(text) == "# HELP p21_x Things.\n# TYPE p21_x counter\np21_x_total 3\n"
                                "# HELP p21_y A level.\n# TYPE p21_y gauge\np21_y 1\n# EOF\n");
}

TEST_CASE("the Accept header chooses OpenMetrics only when it asks for it") {
  CHECK(wants_openmetrics("application/openmetrics-text;version=1.0.0,application/"
                          "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/"
                          "*;q=0.1"));
  CHECK(wants_openmetrics("application/openmetrics-text"));
  CHECK_FALSE(wants_openmetrics("text/plain;version=0.0.4"));
  CHECK_FALSE(wants_openmetrics(""));
  CHECK_FALSE(wants_openmetrics("application/openmetrics-text;q=0,text/plain"));
}

TEST_CASE("message types are named as C++ names them, not by CAF's portable names") {
  CHECK(p21::detail::readable_type_name("@i64") == "int64");
  CHECK(p21::detail::readable_type_name("@error") == "error");
  CHECK(p21::detail::readable_type_name("@down") == "down_msg");
  CHECK(p21::detail::readable_type_name("@strvec") == "std::vector<string>");
  CHECK(p21::detail::readable_type_name("???") == "unannounced");
  CHECK(p21::detail::readable_type_name("p21.cache_stats") == "p21.cache_stats");
}
