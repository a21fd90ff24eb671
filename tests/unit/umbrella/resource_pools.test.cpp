// The resource manager covers the built-in pools: db connections,
// subprocess processes and cache bytes are listed with `rt.resources()`,
// summed per kind, shown by `/summary`, and in the leak report when a pool
// still holds what it should have given back.

#include <catch2/catch.hpp>

#include <future>
#include <set>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "p21/cache.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/http_config.hpp"
#include "p21/p21.hpp"
#include "p21/resources.hpp"
#include "p21/subprocess.hpp"
#include "support/test_support.hpp"
#include "support/wait.hpp"

namespace {

/// The amount listed for `name`, or -1 when it is not listed.
int64_t listed(p21::runtime& rt, const std::string& name) {
  for (auto& r : rt.resources().live())
    if (r.name == name)
      return static_cast<int64_t>(r.amount);
  return -1;
}

} // namespace

TEST_CASE("a tracked pool is measured when listed, and leaks what it did not give back") {
  p21::resource_manager rm;
  std::atomic<uint64_t> held{3};
  std::atomic<uint64_t> stranded{0};
  auto id = rm.track("conns", "connection", [&] { return held.load(); }, "pool",
                     [&] { return stranded.load(); });
  rm.acquire("buffer", "memory", 100);
  CHECK(rm.total("connection") == 3);
  held = 5;
  auto live = rm.live();
  REQUIRE(live.size() == 2);
  auto pool = std::find_if(live.begin(), live.end(), [](auto& r) { return r.pool; });
  REQUIRE(pool != live.end());
  CHECK(pool->name == "conns");
  CHECK(pool->amount == 5);
  CHECK(rm.total("connection") == 5);
  CHECK(rm.total("memory") == 100);
  // Held but kept for its next use: not a leak; stranded: a leak.
  CHECK(rm.leak_report().size() == 1); // the buffer
  stranded = 2;
  auto leaks = rm.leak_report();
  REQUIRE(leaks.size() == 2);
  CHECK_THAT(leaks[0], Catch::Contains("'conns' (connection, 2) still held by pool"));
  CHECK(rm.untrack(id));
  CHECK_FALSE(rm.untrack(id));
  CHECK(rm.total("connection") == 0);
}

TEST_CASE("the built-in pools list their connections, processes and cache bytes in "
          "rt.resources() and /summary") {
  p21::test::temp_dir dir{"resource-pools"};
  auto cfg = p21::test::test_config();
  cfg.get<p21::database_config>().path = dir.file("r.db");
  cfg.get<p21::database_config>().pool_size = 2;
  cfg.get<p21::http_config>().listen = "127.0.0.1:0";
  p21::runtime rt{cfg};
  // Registered from the start, holding nothing yet.
  CHECK(listed(rt, "db_pool connections") == 0);
  CHECK(listed(rt, "subprocess processes") == 0);
  CHECK(listed(rt, "cache.async") == 0);
  // The db pool: its writer's connection and pool_size reader connections.
  auto db = p21::db::open(rt).value();
  REQUIRE(db.execute("CREATE TABLE t(x)"));
  REQUIRE(db.query("SELECT count(*) FROM t"));
  // (A read may open an overflow reader before the pool is warm: at most
  // max_overflow more.)
  auto most = 1 + 2 + cfg.get<p21::database_config>().max_overflow;
  CHECK(p21::test::eventually([&] { return listed(rt, "db_pool connections") >= 3; }));
  CHECK(listed(rt, "db_pool connections") <= static_cast<int64_t>(most));
  CHECK(rt.resources().total("connection") >= 3);
  // A cache: the bytes its entries take.
  auto cache = p21::cache::open(rt, "async").value();
  REQUIRE_FALSE(cache.put("key", std::string(1000, 'x')));
  REQUIRE(cache.stats());
  CHECK(p21::test::eventually([&] { return listed(rt, "cache.async") >= 1000; }));
  // A subprocess: one process while the command runs, none once reaped.
  auto pool = p21::subprocess::open(rt).value();
  p21::command_request req;
  req.argv = {"sleep", "30"};
  req.timeout = std::chrono::seconds{3};
  auto running = std::async(std::launch::async, [&] {
    auto r = pool.run(req);
    p21::release_thread();
    return r;
  });
  CHECK(p21::test::eventually([&] { return listed(rt, "subprocess processes") == 1; }));
  CHECK(rt.resources().total("process") == 1);
  // /summary shows them, with a total per kind.
  auto port = rt.call<int>("http", p21::get_atom::value).value();
  httplib::Client cli{"127.0.0.1", port};
  cli.set_read_timeout(10, 0);
  auto summary = cli.Get("/summary");
  REQUIRE(summary);
  REQUIRE(summary->status == 200);
  auto s = nlohmann::json::parse(summary->body);
  REQUIRE(s.contains("resources"));
  CHECK(s["resources"]["totals"]["connection"].get<uint64_t>() >= 3);
  CHECK(s["resources"]["totals"]["process"] == 1);
  CHECK(s["resources"]["totals"]["memory"].get<uint64_t>() >= 1000);
  std::set<std::string> names;
  for (auto& r : s["resources"]["held"])
    names.insert(r["name"].get<std::string>());
  for (auto name : {"db_pool connections", "subprocess processes", "cache.async"})
    CHECK(names.count(name) == 1);
  auto r = running.get();
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(p21::test::eventually([&] { return listed(rt, "subprocess processes") == 0; }));
  // Once every component stopped, the pools gave back what they held: no
  // leak (the db pool's idle reader connections are kept, not leaked).
  REQUIRE_FALSE(rt.stop());
  CHECK(rt.resources().leak_report().empty());
  CHECK(rt.resources().total("process") == 0);
  CHECK(rt.resources().total("memory") == 0);
}
