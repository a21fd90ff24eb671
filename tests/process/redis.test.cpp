// Two real `p21 run` nodes on one redis-server of the test's own, as
// config/redis/a.toml and b.toml run them: each publishes its cache
// "shared" (backend = "redis") so that `p21 cache --connect` reaches it; B
// serves /metrics, which shows when its invalidation arrived.

#include <catch2/catch.hpp>

#include <csignal>
#include <optional>
#include <regex>

#include <httplib.h>

#include "support/redis.hpp"
#include "support/test_support.hpp"

using namespace std::chrono_literals;
using namespace p21::test;

namespace {

/// Two free ports, neither of them `avoid` (the port of a Redis that is not
/// started yet is free too: the kernel could hand it out again).
struct node_ports {
  explicit node_ports(uint16_t avoid) {
    do {
      publish = free_port();
      http = free_port();
    } while (publish == http || publish == avoid || http == avoid);
  }
  uint16_t publish;
  uint16_t http;
};

std::string node_toml(const temp_dir& s, const std::string& name, const std::string& url,
                      const node_ports& ports) {
  return "[logging]\nlevel = \"info\"\nstatus_interval = \"0s\"\n"
         "[performance]\nmonitor_interval = \"100ms\"\n"
         "[database]\npath = \"" +
         s.file(name + ".db") +
         "\"\n"
         "[caches.shared]\nbackend = \"redis\"\nmax_entries = 10000\n"
         "[redis]\nurl = \"" +
         url +
         "\"\ncommand_timeout = \"1s\"\nconnect_timeout = \"1s\"\n"
         "[http]\nlisten = \"127.0.0.1:" +
         std::to_string(ports.http) +
         "\"\n"
         "[cluster.publish]\nport = " +
         std::to_string(ports.publish) + "\nactors = [\"cache.shared\"]\n";
}

class node {
public:
  node(const temp_dir& s, const std::string& name, const redis_server& srv,
       const std::string& url = {})
    : s_(s)
    , name_(name)
    , ports_(srv.port()) {
    if (url.empty())
      url_ = srv.url();
    else
      url_ = url;
    s.write(name + ".toml", node_toml(s, name, url_, ports_));
  }

  void start() {
    proc_.emplace(s_, std::vector<std::string>{"run", "--config", s_.file(name_ + ".toml")}, name_);
    REQUIRE(proc_->await_log("publishing cache.shared", 30s));
  }

  p21_process& process() { return *proc_; }

  /// `p21 cache ARGS... --connect` this node: exit code and stdout.
  std::pair<int, std::string> cache(std::vector<std::string> args) {
    args.insert(args.begin(), "cache");
    args.push_back("--connect");
    args.push_back("127.0.0.1:" + std::to_string(ports_.publish));
    return run_p21(s_, std::move(args));
  }

  /// Its /summary (JSON), empty when it does not answer.
  std::string summary() {
    httplib::Client http{"127.0.0.1", ports_.http};
    auto res = http.Get("/summary");
    return res && res->status == 200 ? res->body : std::string{};
  }

  /// A counter of its /metrics (summed over labels), or -1.
  double metric(const std::string& name) {
    httplib::Client http{"127.0.0.1", ports_.http};
    auto res = http.Get("/metrics");
    if (!res || res->status != 200)
      return -1;
    std::regex line{"(^|\n)" + name + "(\\{[^}]*\\})? ([0-9.e+]+)"};
    double sum = 0;
    bool found = false;
    for (std::sregex_iterator i{res->body.begin(), res->body.end(), line}, end; i != end; ++i) {
      sum += std::stod((*i)[3]);
      found = true;
    }
    return found ? sum : -1;
  }

private:
  const temp_dir& s_;
  std::string name_;
  node_ports ports_;
  std::string url_;
  std::optional<p21_process> proc_;
};

} // namespace

TEST_CASE("two p21 run nodes on one Redis: A's put is seen by B's next get once B's "
          "invalidation arrived, and after a SIGKILL and restart of Redis B serves no stale value",
          "[redis]") {
  temp_dir s{"redis-nodes"};
  redis_server srv{s};
  REQUIRE(srv.start());
  // B picks its ports once A listens on its own.
  node a{s, "a", srv};
  a.start();
  node b{s, "b", srv};
  b.start();
  REQUIRE(a.cache({"put", "greeting", "v1"}).first == 0);
  CHECK(b.cache({"get", "greeting"}).second == "v1\n"); // now in B's near tier
  CHECK(b.cache({"get", "greeting"}).second == "v1\n");
  REQUIRE(eventually([&] { return b.metric("p21_redis_invalidations_total") >= 0; }, 10s));
  auto seen = b.metric("p21_redis_invalidations_total");
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(a.cache({"put", "greeting", "v2"}).first == 0);
  REQUIRE(eventually([&] { return b.metric("p21_redis_invalidations_total") > seen; }, 10s));
  auto ms =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
          .count() /
      1000.0;
  INFO("B reported the invalidation " << ms
                                      << " ms after A's put returned (a /metrics sample every "
                                         "100 ms)");
  CHECK(b.cache({"get", "greeting"}).second == "v2\n");
  // /summary lists the tier's figures under its component.
  CHECK_THAT(b.summary(), Catch::Contains("\"redis\"") && Catch::Contains("redis_invalidations") &&
                              Catch::Contains("redis_near_hit_ratio"));

  // Redis goes away: B answers `unavailable` rather than its near tier.
  srv.stop(SIGKILL);
  REQUIRE(b.process().await_log("invalidation connection lost", 10s));
  auto down = b.cache({"get", "greeting"});
  CHECK(down.first != 0);
  // Back, empty; A writes a new value: B must never answer v2 again.
  REQUIRE(srv.start());
  REQUIRE(eventually([&] { return a.cache({"put", "greeting", "v3"}).first == 0; }, 20s));
  std::pair<int, std::string> after;
  REQUIRE(eventually(
      [&] {
        after = b.cache({"get", "greeting"});
        return after.first == 0;
      },
      20s));
  CHECK(after.second == "v3\n");
  // /metrics is the monitor's latest sample (every 100 ms here).
  CHECK(eventually([&] { return b.metric("p21_redis_reconnects_total") >= 1; }, 5s));
  CHECK(eventually([&] { return b.metric("p21_redis_flushes_total") >= 1; }, 5s));
}

TEST_CASE("p21 run with a wrong Redis password fails to start and says why", "[redis]") {
  temp_dir s{"redis-nodes"};
  redis_server srv{s, {"--requirepass", "right"}};
  REQUIRE(srv.start());
  node a{s, "a", srv, "redis://:wrong@127.0.0.1:" + std::to_string(srv.port()) + "/0"};
  p21_process p{s, {"run", "--config", s.file("a.toml")}, "wrong"};
  auto code = p.wait(30s);
  REQUIRE(code);
  CHECK(*code != 0);
  CHECK_THAT(p.err(), Catch::Contains("failed to start") && Catch::Contains("WRONGPASS"));
}

TEST_CASE("p21 run started before its Redis retries until Redis is there", "[redis]") {
  temp_dir s{"redis-nodes"};
  redis_server srv{s};
  node a{s, "a", srv};
  a.start();
  REQUIRE(a.process().await_log("not reachable", 10s));
  CHECK(a.cache({"get", "k"}).first != 0);
  REQUIRE(srv.start());
  REQUIRE(eventually([&] { return a.cache({"put", "k", "v"}).first == 0; }, 20s));
  CHECK(a.cache({"get", "k"}).second == "v\n");
}
