// Memory pressure as it happens: the PSI trigger's parser and set-up on
// fixture files, the budget's edge, the watcher's thread, and a node whose
// caches shrink and whose pressure handlers run long before the optimizer's
// interval.

#include <catch2/catch.hpp>

#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sys/mman.h>
#include <thread>

#include "actors/monitor/pressure_watcher.hpp"
#include "p21/cache.hpp"
#include "p21/config_schema.hpp"
#include "p21/monitor.hpp"
#include "p21/monitor_config.hpp"
#include "p21/optimizer.hpp"
#include "p21/resources.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// A fresh directory under the temp dir, removed at the end.
struct temp_tree {
  fs::path root;
  temp_tree() {
    root = fs::temp_directory_path() /
           ("p21-pressure-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(root);
  }
  ~temp_tree() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  void write(const std::string& rel, const std::string& text) {
    auto p = root / rel;
    fs::create_directories(p.parent_path());
    std::ofstream{p} << text;
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// Set once, waited for with a bound.
struct flag {
  std::mutex mtx;
  std::condition_variable cv;
  int count = 0;
  std::thread::id thread;

  void raise() {
    std::lock_guard<std::mutex> guard{mtx};
    ++count;
    thread = std::this_thread::get_id();
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds bound) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, bound, [&] { return count > 0; });
  }
};

} // namespace

TEST_CASE("a PSI trigger parses as the kernel reads it and refuses what it would refuse") {
  std::string problem;
  auto t = parse_psi_trigger("some 100000 1000000", problem);
  REQUIRE(t);
  CHECK_FALSE(t->full);
  CHECK(t->stall_us == 100000);
  CHECK(t->window_us == 1000000);
  CHECK(t->text() == "some 100000 1000000");
  CHECK(parse_psi_trigger("full 500000 2000000", problem)->full);
  for (auto bad : {"", "some", "some 1 2 3 4", "half 100000 1000000", "some 100000 100000",
                   "some 100000 20000000", "some 0 1000000", "some 2000000 1000000",
                   "some x 1000000", "some -5 1000000"}) {
    problem.clear();
    CHECK_FALSE(parse_psi_trigger(bad, problem));
    CHECK_FALSE(problem.empty());
  }
  // Without CAP_SYS_RESOURCE: whole 2 s windows, the same share stalled.
  CHECK(unprivileged(*t).text() == "some 200000 2000000");
  CHECK(unprivileged(*parse_psi_trigger("full 500000 2000000", problem)).text() ==
        "full 500000 2000000");
  CHECK(unprivileged(*parse_psi_trigger("some 9000000 9000000", problem)).window_us == 10000000);
}

TEST_CASE("the PSI file is the cgroup's memory.pressure, else the system's") {
  temp_tree t;
  auto proc = (t.root / "proc").string();
  auto cg = (t.root / "cgroup").string();
  CHECK(psi_memory_file(proc, cg).empty());
  t.write("proc/pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  CHECK(psi_memory_file(proc, cg) == proc + "/pressure/memory");
  t.write("proc/self/cgroup", "4:memory:/legacy\n0::/app.slice/p21\n");
  t.write("cgroup/app.slice/p21/memory.pressure", "");
  CHECK(psi_memory_file(proc, cg) == cg + "/app.slice/p21/memory.pressure");
  // A hybrid hierarchy mounts v2 under "unified".
  fs::remove_all(t.root / "cgroup");
  t.write("cgroup/unified/app.slice/p21/memory.pressure", "");
  CHECK(psi_memory_file(proc, cg) == cg + "/unified/app.slice/p21/memory.pressure");
}

TEST_CASE("a PSI trigger is written to its file, and a missing file says why") {
  temp_tree t;
  t.write("memory", "");
  std::string problem;
  auto trig = *parse_psi_trigger("some 100000 1000000", problem);
  auto w = open_psi_trigger((t.root / "memory").string(), trig);
  REQUIRE(w.fd >= 0);
  CHECK(w.problem.empty());
  ::close(w.fd);
  // The kernel wants the NUL counted.
  CHECK(slurp(t.root / "memory") == std::string{"some 100000 1000000", 20});
  auto missing = open_psi_trigger((t.root / "nope").string(), trig);
  CHECK(missing.fd < 0);
  CHECK_THAT(missing.problem, Catch::Contains("nope") && Catch::Contains("some 100000 1000000"));
}

TEST_CASE("RSS crossing the budget is one event per crossing") {
  budget_edge e{1000};
  CHECK_FALSE(e.observe(500));
  CHECK(e.observe(1001));
  CHECK_FALSE(e.observe(1200)); // still above: no new event
  CHECK_FALSE(e.observe(950));  // under the budget, not under 90 % of it
  CHECK_FALSE(e.observe(1100));
  CHECK_FALSE(e.observe(899)); // armed again
  CHECK(e.observe(1001));
  budget_edge none{0};
  CHECK_FALSE(none.observe(uint64_t(1) << 40));
}

TEST_CASE("the pressure watcher calls back from its own thread when RSS crosses the budget") {
  std::atomic<uint64_t> rss{100};
  pressure_settings s;
  s.psi_trigger = "";
  s.memory_budget = 1000;
  s.check_interval = 1ms;
  s.read_rss = [&] { return rss.load(); };
  flag seen;
  pressure_event got;
  {
    pressure_watcher w{s, [&](const pressure_event& e) {
                         got = e;
                         seen.raise();
                       }};
    CHECK(w.watching());
    CHECK_THAT(w.sources(), Catch::Contains("no PSI trigger") &&
                                Catch::Contains("RSS against a 0 MiB budget every 1ms"));
    rss = 5000;
    REQUIRE(seen.wait(10s));
  } // joins
  CHECK(got.source == "budget");
  CHECK(got.rss_bytes == 5000);
  CHECK(got.budget == 1000);
  CHECK(seen.thread != std::this_thread::get_id());
}

TEST_CASE("the pressure watcher with nothing to watch starts no thread and says why") {
  pressure_settings s;
  s.psi_trigger = "";
  pressure_watcher none{s, [](const pressure_event&) {}};
  CHECK_FALSE(none.watching());
  CHECK_THAT(none.sources(), Catch::Contains("no RSS check (no performance.memory_budget)"));
  temp_tree t;
  s.psi_trigger = "some 100000 1000000";
  s.proc_root = (t.root / "proc").string();
  s.cgroup_root = (t.root / "cgroup").string();
  pressure_watcher no_psi{s, [](const pressure_event&) {}};
  CHECK_FALSE(no_psi.watching());
  CHECK_THAT(no_psi.sources(), Catch::Contains("has no") && Catch::Contains("pressure/memory"));
}

TEST_CASE("memory over the budget shrinks caches and calls pressure handlers long before the "
          "optimizer's interval") {
  auto cfg = test::test_config();
  cfg.performance.optimization_interval = std::chrono::hours{1};
  cfg.performance.monitor_interval = std::chrono::hours{1};
  cfg.get<monitor_config>().psi_trigger = ""; // the budget alone, on any kernel
  cfg.get<monitor_config>().pressure_release = 0.5;
  // The budget sits well above the node's RSS; the block below crosses it
  // (sized once the node runs, whatever it took to start).
  cfg.performance.memory_budget = current_rss() + (256 << 20);
  runtime rt{cfg};
  auto c = cache::open(rt, "async").value();
  for (int i = 0; i < 200; ++i)
    REQUIRE_FALSE(c.put("k" + std::to_string(i), std::string(100, 'x')));
  REQUIRE(c.stats().value().entries == 200);
  // One round: the monitor learns which components are caches.
  REQUIRE(monitor::open(rt).value().sample());
  flag called;
  rt.resources().on_pressure("test pool", [&](double) { called.raise(); });
  auto rss = current_rss();
  REQUIRE(rss < cfg.performance.memory_budget);
  // Fresh pages (the heap could reuse resident ones): RSS grows by all.
  auto size = cfg.performance.memory_budget - rss + (16 << 20);
  auto hog = static_cast<char*>(
      ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(hog != MAP_FAILED);
  std::memset(hog, 1, size);
  auto unmap = std::unique_ptr<char, std::function<void(char*)>>{
      hog, [size](char* p) { ::munmap(p, size); }};
  REQUIRE(called.wait(10s));
  CHECK(c.stats().value().entries <= 100);
  // The handlers run before the monitor hears back and records the event.
  auto mon = monitor::open(rt).value();
  std::vector<event> events;
  auto pressure = [](auto& x) { return x.kind == "memory_pressure"; };
  REQUIRE(test::eventually([&] {
    events = mon.events(0).value();
    return std::any_of(events.begin(), events.end(), pressure);
  }));
  auto e = std::find_if(events.begin(), events.end(), pressure);
  CHECK(e->name == "budget");
  CHECK_THAT(e->message, Catch::Contains("above the budget") &&
                             Catch::Contains("1 cache(s) gave back"));
  auto text = monitor::open(rt).value().prometheus_text().value();
  CHECK_THAT(text, Catch::Contains("p21_memory_pressure_events_total{source=\"budget\"}") &&
                       Catch::Contains("p21_memory_pressure_reaction_seconds "));
}

TEST_CASE("a bad psi_trigger or pressure_check is refused with its line") {
  auto refusal = [](const std::string& text) -> std::optional<config_error> {
    try {
      static_cast<void>(load_config_string(text, "node.toml"));
    } catch (const config_error& e) {
      return e;
    }
    return std::nullopt;
  };
  auto e = refusal("[monitor]\nevents_max = 10\npsi_trigger = \"some 100000 100\"\n");
  REQUIRE(e);
  CHECK(e->line() == 3);
  CHECK(e->key() == "monitor.psi_trigger");
  CHECK_THAT(e->message(), Catch::Contains("window is 500000 to 10000000 us"));
  e = refusal("[monitor]\npressure_check = \"10us\"\n");
  REQUIRE(e);
  CHECK(e->key() == "monitor.pressure_check");
  CHECK_THAT(e->message(), Catch::Contains("at least 1ms"));
  CHECK_FALSE(refusal("[monitor]\npsi_trigger = \"\"\npressure_check = \"0s\"\n"));
  auto ok = load_config_string("[monitor]\npsi_trigger = \"full 50000 2000000\"\n", "node.toml");
  CHECK(ok.get<monitor_config>().psi_trigger == "full 50000 2000000");
  CHECK(ok.get<monitor_config>().pressure_check == 5ms); // the default
}
