// The node actor owns the log file, the memory-pressure handlers with the
// heap, and the state directory: the optimizer's rules 1, 4 and 7 reach them
// only through its messages.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "framework/detail/logging.hpp"
#include "framework/detail/node_actor.hpp"
#include "p21/error.hpp"
#include "p21/runtime.hpp"
#include "p21/types.hpp"
#include "support/files.hpp"
#include "support/temp_dir.hpp"

using namespace p21;
using namespace std::chrono_literals;

namespace {

/// A temporary directory; `dir / "name"` is a path inside it.
struct scratch_dir : p21::test::temp_dir {
  scratch_dir()
    : temp_dir("unit") {}
  std::string operator/(const std::string& name) const { return file(name); }
};

using p21::test::read_file;

/// An actor system with one node actor, stopped at the end of the test.
struct node_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  resource_manager resources;
  node_actor node;

  explicit node_fixture(std::string state_dir) {
    add_message_types(cfg, {}); // the framework's own types only
    sys = std::make_unique<caf::actor_system>(cfg);
    node = detail::spawn_node_actor(*sys, std::move(state_dir), resources);
  }

  ~node_fixture() {
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    node = nullptr;
    sys.reset(); // waits for the node actor
    release_thread();
  }

  /// Sends `xs...` and waits for a reply of type `R`.
  template <class R, class... Ts>
  caf::expected<R> ask(Ts&&... xs) {
    caf::scoped_actor self{*sys};
    caf::expected<R> result{make_error(errc::timeout)};
    self->request(node, 10s, std::forward<Ts>(xs)...)
        .receive([&](R& x) { result = std::move(x); }, [&](caf::error& e) { result = e; });
    return result;
  }
};

} // namespace

TEST_CASE("memory_pressure runs every pressure handler with the fraction, then trims the heap") {
  node_fixture f{""};
  std::vector<double> seen;
  f.resources.on_pressure("pool a", [&](double x) { seen.push_back(x); });
  f.resources.on_pressure("pool b", [&](double x) { seen.push_back(x); });
  auto r = f.ask<pressure_relief>(memory_pressure_atom::value, 0.25);
  REQUIRE(r);
  CHECK(r->handlers == 2);
  CHECK(seen == std::vector<double>{0.25, 0.25});
  CHECK(r->took >= caf::timespan{0});
  SECTION("a fraction outside (0, 1] is refused and calls nothing") {
    for (double bad : {0.0, -0.5, 1.5}) {
      auto refused = f.ask<pressure_relief>(memory_pressure_atom::value, bad);
      REQUIRE_FALSE(refused);
      CHECK(is(refused.error(), errc::invalid_argument));
    }
    CHECK(seen.size() == 2);
  }
}

TEST_CASE("preload saves the list in the state directory and replies with its file") {
  scratch_dir dir;
  node_fixture f{dir.path};
  auto path =
      f.ask<std::string>(preload_atom::value, std::vector<std::string>{"db_pool", "subprocess"});
  REQUIRE(path);
  CHECK(*path == dir.path + "/preload.list");
  CHECK(read_file(*path) == "db_pool\nsubprocess\n");
  // A failed write is an error value; the previous list stays whole.
  auto bad = f.ask<std::string>(preload_atom::value, std::vector<std::string>{"a\nb"});
  CHECK_FALSE(bad);
  CHECK(read_file(*path) == "db_pool\nsubprocess\n");
}

TEST_CASE("preload without a state directory writes nothing") {
  node_fixture f{""};
  auto path = f.ask<std::string>(preload_atom::value, std::vector<std::string>{"db_pool"});
  REQUIRE(path);
  CHECK(path->empty());
}

TEST_CASE("rotate_logs moves the log file aside and logging goes on") {
  scratch_dir dir;
  logging_config lc;
  lc.console = false;
  lc.file = dir.path + "/node.log";
  auto logger = detail::make_logger(lc);
  logger->info("before rotation");
  {
    node_fixture f{""};
    auto rotated = f.ask<bool>(rotate_logs_atom::value);
    REQUIRE(rotated);
    CHECK(*rotated);
  }
  logger->info("after rotation");
  logger->flush();
  CHECK_THAT(read_file(dir.path + "/node.1.log"), Catch::Contains("before rotation"));
  auto now = read_file(dir.path + "/node.log");
  CHECK_THAT(now, Catch::Contains("after rotation"));
  CHECK(now.find("before rotation") == std::string::npos);
}
