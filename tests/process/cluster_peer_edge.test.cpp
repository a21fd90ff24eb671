// What a peer can do to a node through what the node publishes, and what a
// peer's node can do to a node that uses it: node A is a `p21 run` process
// publishing its cache "shared" and its db pool; the peers are bare CAF
// nodes in this process, or a runtime using a hostile gateway.

#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <optional>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "p21/cluster_config.hpp"
#include "p21/p21.hpp"
#include "p21/types.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace std::chrono_literals;
using namespace p21::test;

namespace {

using opt = caf::optional<std::string>;

/// Node A: `p21 run` publishing cache.shared and db_pool on `port`.
class publishing_node {
public:
  publishing_node(const temp_dir& s, uint16_t port, const std::string& publish_extra = "")
    : s_(s)
    , port_(port) {
    s.write("a.toml", "[logging]\nlevel = \"info\"\nstatus_interval = \"0s\"\n"
                      "[database]\npath = \"" + s.file("a.db") + "\"\n"
                      "[caches.shared]\nmax_entries = 10000\n"
                      "[cluster.publish]\nport = " + std::to_string(port) +
                      "\nactors = [\"cache.shared\", \"db_pool\"]\n" + publish_extra);
    proc_.emplace(s_, std::vector<std::string>{"run", "--config", s_.file("a.toml")}, "a");
    REQUIRE(proc_->await_log("publishing cache.shared, db_pool on 127.0.0.1:" +
                                 std::to_string(port_),
                             20s));
  }

  bool running() { return !proc_->wait(0ms); }

  /// Its peak resident memory (VmHWM) in MiB.
  double peak_rss_mib() const {
    std::ifstream in{"/proc/" + std::to_string(proc_->pid()) + "/status"};
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmHWM:", 0) == 0)
        return std::stod(line.substr(6)) / 1024;
    return -1;
  }

  /// `p21 cache get KEY --connect`: stdout.
  std::string get(const std::string& key) {
    return run_p21(s_, {"cache", "get", key, "--connect", "127.0.0.1:" + std::to_string(port_)})
        .second;
  }

private:
  const temp_dir& s_;
  uint16_t port_;
  std::optional<p21_process> proc_;
};

/// A bare CAF node, as any peer could run.
struct bare_peer {
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;

  bare_peer() {
    add_message_types(cfg);
    cfg.load<caf::io::middleman>();
    sys.emplace(cfg);
  }

  /// What node A's gateway hands out for `name`, or an invalid handle.
  caf::actor lookup(uint16_t port, const std::string& name) {
    auto gw = sys->middleman().remote_actor("127.0.0.1", port);
    if (!gw)
      return {};
    caf::actor result;
    caf::scoped_actor self{*sys};
    self->request(*gw, 30s, lookup_atom::value, name)
        .receive([&](caf::actor& a) { result = a; }, [](caf::error&) {});
    return result;
  }

  /// The reply to `xs...` and who sent it, as this peer sees them.
  template <class R, class... Ts>
  std::pair<caf::expected<R>, caf::actor> ask(const caf::actor& dest, caf::timespan timeout,
                                              Ts... xs) {
    std::pair<caf::expected<R>, caf::actor> result{caf::sec::request_timeout, {}};
    caf::scoped_actor self{*sys};
    self->request(dest, timeout, xs...)
        .receive(
            [&](R& r) {
              result.first = std::move(r);
              result.second = caf::actor_cast<caf::actor>(self->current_sender());
            },
            [&](caf::error& e) { result.first = std::move(e); });
    return result;
  }
};

} // namespace

TEST_CASE("a peer's replies come from the public proxy: the handle it is given cannot clear, "
          "resize, vacuum or kill what is behind it",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  publishing_node a{s, port};
  bare_peer peer;
  auto cache = peer.lookup(port, "cache.shared");
  REQUIRE(cache);
  auto pool = peer.lookup(port, "db_pool");
  REQUIRE(pool);
  std::vector<caf::actor> repliers;
  auto put = peer.ask<bool>(cache, 30s, put_atom::value, std::string{"kept"}, std::string{"v"},
                            caf::timespan{0});
  REQUIRE(put.first);
  repliers.push_back(put.second);
  auto get = peer.ask<opt>(cache, 30s, get_atom::value, std::string{"kept"});
  REQUIRE(get.first);
  CHECK(*get.first == opt{"v"});
  repliers.push_back(get.second);
  auto many = peer.ask<std::vector<opt>>(cache, 30s, get_atom::value,
                                         std::vector<std::string>{"kept", "kept"});
  REQUIRE(many.first);
  repliers.push_back(many.second);
  auto query = peer.ask<db_result>(pool, 30s, query_atom::value, std::string{"SELECT 1"},
                                   std::vector<db_value>{});
  REQUIRE(query.first);
  repliers.push_back(query.second);
  // Delegating, the proxies had the shard and the pool's connection answer:
  // the peer got their handles.
  for (size_t i = 0; i < 3; ++i)
    CHECK(repliers[i].address() == cache.address());
  CHECK(repliers[3].address() == pool.address());
  // Whatever it was handed, a peer tries what only node A may do, and kills
  // it more often than node A's supervisor allows restarts (5 in 10s).
  for (auto& h : repliers) {
    peer.ask<uint64_t>(h, 10s, clear_atom::value);
    peer.ask<bool>(h, 10s, resize_atom::value, uint64_t{1}, uint64_t{1});
    peer.ask<bool>(h, 10s, vacuum_atom::value);
    peer.ask<bool>(h, 10s, checkpoint_atom::value);
  }
  for (int i = 0; i < 3; ++i)
    for (auto& h : repliers)
      caf::anon_send_exit(h, caf::exit_reason::kill);
  // Node A runs, its cache was neither cleared nor restarted.
  REQUIRE(eventually([&] { return a.get("kept") == "v\n"; }, 20s));
  CHECK(a.running());
  std::optional<cache_stats> stats;
  REQUIRE(eventually(
      [&] {
        auto fresh = peer.lookup(port, "cache.shared");
        auto r = fresh ? peer.ask<cache_stats>(fresh, 10s, stats_atom::value).first
                       : caf::expected<cache_stats>{caf::sec::request_timeout};
        if (r)
          stats = *r;
        return static_cast<bool>(r);
      },
      20s));
  CHECK(stats->restarts == 0);
  CHECK(stats->entries == 1);
}

TEST_CASE("a get of 1 000 copies of a 1 MiB value's key is refused, not built: node A's peak "
          "memory stays far below the gigabyte it asked for",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  publishing_node a{s, port};
  bare_peer peer;
  auto cache = peer.lookup(port, "cache.shared");
  REQUIRE(cache);
  REQUIRE(peer.ask<bool>(cache, 30s, put_atom::value, std::string{"big"},
                         std::string(1 << 20, 'x'), caf::timespan{0})
              .first);
  // Growth, not the peak itself: under AddressSanitizer a node starts far
  // larger (shadow memory, the quarantine).
  auto peak_before = a.peak_rss_mib();
  auto many = peer.ask<std::vector<opt>>(cache, 60s, get_atom::value,
                                         std::vector<std::string>(1000, "big"));
  REQUIRE_FALSE(many.first);
  CHECK(many.first.error() == errc::invalid_argument);
  CHECK_THAT(render(many.first.error()), Catch::Contains("max_reply_bytes"));
  // It took node A to 2.1 GB; the value itself, a few times, is what is left.
  CHECK(a.peak_rss_mib() - peak_before < 128);
  // Within the bound, repeats are answered.
  auto some = peer.ask<std::vector<opt>>(cache, 30s, get_atom::value,
                                         std::vector<std::string>(8, "big"));
  REQUIRE(some.first);
  CHECK(some.first->size() == 8);
  // A query's rows are bounded the same way (about 32 MB of text here).
  auto rows = peer.ask<db_result>(
      peer.lookup(port, "db_pool"), 60s, query_atom::value,
      std::string{"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 300000) "
                  "SELECT printf('%0100d', x) FROM c"},
      std::vector<db_value>{});
  REQUIRE_FALSE(rows.first);
  CHECK(a.running());
}

TEST_CASE("a peer that takes a key's loader turn and never reports holds it for "
          "remote_load_timeout, not load_timeout",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  publishing_node a{s, port, "remote_load_timeout = \"300ms\"\n"};
  bare_peer peer;
  auto cache = peer.lookup(port, "cache.shared");
  REQUIRE(cache);
  auto turn = peer.ask<load_reply>(cache, 30s, load_atom::value, std::string{"slow"});
  REQUIRE(turn.first);
  CHECK_FALSE(turn.first->hit); // the peer is the loader now, and goes silent
  // A second caller waits for that loader: until the turn lapses, not the
  // minute of load_timeout (a request_timeout here would be that wait).
  auto waiter = peer.ask<load_reply>(cache, 20s, load_atom::value, std::string{"slow"});
  REQUIRE_FALSE(waiter.first);
  CHECK(waiter.first.error() == errc::timeout);
  CHECK_THAT(render(waiter.first.error()), Catch::Contains("300ms"));
  // The key is free again: the next caller gets the turn.
  auto next = peer.ask<load_reply>(cache, 30s, load_atom::value, std::string{"slow"});
  REQUIRE(next.first);
  CHECK_FALSE(next.first->hit);
}

namespace {

/// A gateway that kills whatever looks it up (and first tries an exit it
/// could trap), as a hostile node may.
caf::behavior stub_killer(caf::event_based_actor* self, std::shared_ptr<std::atomic<int>> kills) {
  return {
      [=](lookup_atom, const std::string&) -> caf::result<caf::actor> {
        if (auto sender = caf::actor_cast<caf::actor>(self->current_sender())) {
          caf::anon_send_exit(sender, caf::exit_reason::user_shutdown);
          caf::anon_send_exit(sender, caf::exit_reason::kill);
          ++*kills;
        }
        return make_error(errc::unavailable, "never");
      },
  };
}

} // namespace

TEST_CASE("a peer that kills every stub looking it up does not stop node B nor count toward its "
          "restart intensity",
          "[cluster]") {
  bare_peer hostile;
  auto kills = std::make_shared<std::atomic<int>>(0);
  auto gw = hostile.sys->spawn(stub_killer, kills);
  auto port = hostile.sys->middleman().publish(gw, 0, "127.0.0.1");
  REQUIRE(port);
  auto cfg = test_config();
  cluster_peer peer;
  peer.name = "evil";
  peer.port = *port;
  peer.actors = {"cache.shared", "db_pool"};
  cfg.get<cluster_config>().peers.push_back(peer);
  cfg.get<cluster_config>().retry_initial = 10ms;
  cfg.get<cluster_config>().retry_max = 100ms;
  runtime rt{cfg};
  // Node B's supervisor allows 5 restarts in 10s: it gave up after the 6th
  // kill and the node stopped with `escalated`.
  REQUIRE(eventually([&] { return *kills >= 20; }, 30s));
  CHECK_FALSE(rt.wait_for(0s));
  CHECK(rt.healthy(10s));
  CHECK(rt.component("cache.shared/0")->restarts == 0);
  CHECK(rt.component("evil.db_pool")->restarts == 0);
  // Its callers get `unavailable` at once, as from any unreachable peer.
  auto shared = cache::open(rt, "shared").value();
  auto r = shared.get("x");
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::unavailable);
  CHECK(rt.stop() == caf::error{});
  caf::anon_send_exit(gw, caf::exit_reason::kill);
}
