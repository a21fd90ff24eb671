// Cancelling `subprocess::async_run`: a command still queued for a slot
// is dropped, never started; a running one is ended (its slot freed).

#include <filesystem>

#include <catch2/catch.hpp>

#include "p21/async.hpp"
#include "p21/subprocess.hpp"
#include "p21/subprocess_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

config one_slot() {
  auto cfg = test_config();
  cfg.get<subprocess_config>().max_processes = 1;
  return cfg;
}

command_request cmd(std::vector<std::string> argv) {
  command_request req;
  req.argv = std::move(argv);
  return req;
}

} // namespace

TEST_CASE("a cancelled command queued behind full slots never runs") {
  temp_dir dir;
  auto marker = dir.file("touched");
  runtime rt{one_slot()};
  auto sp = subprocess::open(rt).value();
  // One thread's calls reach the pool in order: the sleep takes the only
  // slot, the touch waits for it.
  auto busy = sp.async_run(cmd({"sleep", "1"}), {30s});
  auto touch = sp.async_run(cmd({"touch", marker}), {30s});
  // This thread's next call reaches the pool after the touch: it is queued
  // there, sent, and cancel has to withdraw it from the pool's queue.
  auto s = async_call<subprocess_stats>(rt, "subprocess", {10s}, stats_atom::value).get_for(10s);
  REQUIRE(s);
  CHECK(s->running == 1);
  CHECK(s->queued == 1);
  CHECK(touch.cancel());
  REQUIRE(busy.get_for(30s));
  // Queued after the touch: once it has run, the touch would have too.
  auto after = sp.async_run(cmd({"true"}), {30s}).get_for(30s);
  REQUIRE(after);
  CHECK(after->exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(marker));
  CHECK(is(touch.get().error(), errc::cancelled));
}

TEST_CASE("a cancelled running command is ended and frees its slot") {
  runtime rt{one_slot()};
  auto sp = subprocess::open(rt).value();
  auto long_one = sp.async_run(cmd({"sleep", "60"}), {120s});
  REQUIRE(eventually([&] { return sp.stats().value().running == 1; }));
  CHECK(long_one.cancel());
  // The only slot is free again long before the sleep would end.
  auto next = sp.async_run(cmd({"echo", "free"}), {30s}).get_for(30s);
  REQUIRE(next);
  CHECK(next->stdout_data == "free\n");
  CHECK(sp.stats().value().running == 0);
}
