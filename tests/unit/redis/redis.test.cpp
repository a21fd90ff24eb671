// The Redis tier with a real redis-server of the test's own: two runtimes
// in this process are two nodes on one Redis (each its own tier, its own
// connections, its own near tier).

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <thread>

#include "actors/redis/redis_tier.hpp"
#include "p21/cache_config.hpp"
#include "p21/p21.hpp"
#include "p21/redis_config.hpp"
#include "support/redis.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace std::chrono_literals;
using namespace p21::test;
using redis_detail::redis_tier;

namespace {

config redis_node(const std::string& url, timespan command_timeout = 1s) {
  auto cfg = test_config();
  named_cache_config nc;
  nc.max_entries = 10'000;
  nc.backend = cache_backend::redis;
  cfg.get<cache_config>().caches["shared"] = nc;
  cfg.get<redis_config>().url = url;
  cfg.get<redis_config>().command_timeout = command_timeout;
  cfg.get<redis_config>().connect_timeout = 1s;
  cfg.get<redis_config>().key_prefix = "t:";
  return cfg;
}

std::shared_ptr<redis_tier> tier_of(runtime& rt) {
  return rt.shared_object<redis_tier>("redis");
}

bool coherent(runtime& rt) {
  return eventually([&] { return tier_of(rt)->coherent(); }, 10s);
}

bool unavailable(const caf::error& e) {
  return e == errc::unavailable;
}

} // namespace

TEST_CASE("redis urls: the documented forms parse, others are refused with the reason", "[redis]") {
  using redis_detail::parse_redis_url;
  auto a = parse_redis_url("redis://127.0.0.1:6380/2");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 6380);
  CHECK(a->db == 2);
  auto b = parse_redis_url("redis://app:s3cret@cache.internal:6379/0");
  REQUIRE(b);
  CHECK(b->user == "app");
  CHECK(b->password == "s3cret");
  CHECK(b->host == "cache.internal");
  auto c = parse_redis_url("unix:///run/redis/redis.sock");
  REQUIRE(c);
  CHECK(c->socket == "/run/redis/redis.sock");
  std::string why;
  CHECK_FALSE(parse_redis_url("http://127.0.0.1:6379", &why));
  CHECK_THAT(why, Catch::Contains("neither redis:// nor unix://"));
  CHECK_FALSE(parse_redis_url("redis://127.0.0.1:99999/0", &why));
  CHECK_THAT(why, Catch::Contains("port"));
  CHECK_FALSE(parse_redis_url("redis://127.0.0.1:6379/x", &why));
  CHECK_THAT(why, Catch::Contains("database"));
}

TEST_CASE("a put on node A is seen by node B's next get once B's invalidation has arrived",
          "[redis]") {
  temp_dir s{"redis"};
  redis_server srv{s};
  REQUIRE(srv.start());
  runtime a{redis_node(srv.url())}, b{redis_node(srv.url())};
  auto ca = cache::open(a, "shared").value();
  auto cb = cache::open(b, "shared").value();
  REQUIRE(coherent(a));
  REQUIRE(coherent(b));
  auto tb = tier_of(b);
  REQUIRE_FALSE(ca.put("k", "v1"));
  CHECK(cb.get("k").value() == std::optional<std::string>{"v1"}); // from Redis
  auto trips = tb->counters().round_trips;
  CHECK(cb.get("k").value() == std::optional<std::string>{"v1"}); // near tier
  CHECK(tb->counters().round_trips == trips);
  auto seen = tb->counters().invalidations;
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE_FALSE(ca.put("k", "v2"));
  REQUIRE(eventually([&] { return tb->counters().invalidations > seen; }, 5s));
  auto took = std::chrono::steady_clock::now() - t0;
  auto ms = std::chrono::duration_cast<std::chrono::microseconds>(took).count() / 1000.0;
  INFO("invalidation after " << ms << " ms");
  CHECK(cb.get("k").value() == std::optional<std::string>{"v2"});
  // An erase on B reaches A's near tier the same way.
  auto ta = tier_of(a);
  CHECK(ca.get("k").value() == std::optional<std::string>{"v2"});
  auto seen_a = ta->counters().invalidations;
  CHECK(cb.erase("k").value());
  REQUIRE(eventually([&] { return ta->counters().invalidations > seen_a; }, 5s));
  CHECK(ca.get("k").value() == std::nullopt);
  // get_many: one MGET for what the near tier lacks.
  REQUIRE_FALSE(ca.put("m1", "1"));
  REQUIRE_FALSE(ca.put("m2", "2"));
  auto many = cb.get_many({"m1", "absent", "m2"}).value();
  CHECK(many[0] == std::optional<std::string>{"1"});
  CHECK(many[1] == std::nullopt);
  CHECK(many[2] == std::optional<std::string>{"2"});
  CHECK(tb->metrics().gauges.size() == 2);
}

TEST_CASE("get_or_load runs one loader across two nodes, the other node waiting for its value",
          "[redis]") {
  temp_dir s{"redis"};
  redis_server srv{s};
  REQUIRE(srv.start());
  runtime a{redis_node(srv.url())}, b{redis_node(srv.url())};
  auto ca = cache::open(a, "shared").value();
  auto cb = cache::open(b, "shared").value();
  REQUIRE(coherent(a));
  REQUIRE(coherent(b));
  auto tb = tier_of(b);
  std::atomic<int> calls{0};
  caf::expected<std::string> from_a{std::string{}};
  std::thread loader_a{[&] {
    from_a = ca.get_or_load("slow", [&]() -> caf::expected<std::string> {
      ++calls;
      // Finish only once B is waiting for this very load.
      eventually([&] { return tb->counters().lock_waits > 0; }, 10s);
      return std::string{"computed on A"};
    });
  }};
  REQUIRE(eventually([&] { return calls.load() == 1; }, 10s));
  auto from_b = cb.get_or_load("slow", [&]() -> caf::expected<std::string> {
    ++calls;
    return std::string{"computed on B"};
  });
  loader_a.join();
  CHECK(calls.load() == 1);
  CHECK(from_a.value() == "computed on A");
  CHECK(from_b.value() == "computed on A");
  CHECK(tb->counters().lock_waits >= 1);
}

TEST_CASE("Redis killed with SIGKILL under load: unavailable, loaders run alone, and after the "
          "restart no node serves a value overwritten while it was away",
          "[redis]") {
  temp_dir s{"redis"};
  redis_server srv{s};
  REQUIRE(srv.start());
  runtime a{redis_node(srv.url())}, b{redis_node(srv.url())};
  auto ca = cache::open(a, "shared").value();
  auto cb = cache::open(b, "shared").value();
  REQUIRE(coherent(a));
  REQUIRE(coherent(b));
  REQUIRE_FALSE(ca.put("k", "before"));
  REQUIRE(cb.get("k").value() == std::optional<std::string>{"before"}); // in B's near tier
  // Load: A writes numbered values and reads its own keys back; B reads them.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok{0}, down{0}, other{0}, stale{0};
  auto count = [&](const caf::error& e) {
    if (!e)
      ++ok;
    else if (unavailable(e))
      ++down;
    else
      ++other;
  };
  std::thread writer{[&] {
    auto c = cache::open(a, "shared").value();
    std::vector<uint64_t> acked(20, 0);
    for (uint64_t i = 1; !stop; ++i) {
      auto slot = i % acked.size();
      auto key = "load" + std::to_string(slot);
      auto err = c.put(key, std::to_string(i));
      count(err);
      if (!err)
        acked[slot] = i;
      auto r = c.get(key);
      count(r ? caf::error{} : r.error());
      if (r && *r && std::stoull(**r) < acked[slot])
        ++stale;
    }
  }};
  std::thread reader{[&] {
    auto c = cache::open(b, "shared").value();
    for (uint64_t i = 0; !stop; ++i) {
      auto r = c.get("load" + std::to_string(i % 20));
      count(r ? caf::error{} : r.error());
    }
  }};
  // A failed REQUIRE must not leave the threads joinable.
  struct joiner {
    std::atomic<bool>& stop;
    std::thread& a;
    std::thread& b;
    ~joiner() {
      stop = true;
      if (a.joinable())
        a.join();
      if (b.joinable())
        b.join();
    }
  } join_at_exit{stop, writer, reader};
  REQUIRE(eventually([&] { return ok.load() > 200; }, 20s));
  srv.stop(SIGKILL);
  REQUIRE(eventually([&] { return down.load() > 20; }, 10s));
  // Once B has noticed (its invalidation connection read the close), plain
  // gets fail at once, near tier or not; a loader answers alone (a bypass).
  REQUIRE(eventually([&] { return !tier_of(b)->connected(); }, 10s));
  auto r = cb.get("k");
  REQUIRE_FALSE(r);
  CHECK(unavailable(r.error()));
  CHECK(unavailable(ca.put("k", "lost")));
  auto bypasses = cb.stats().value().bypasses;
  CHECK(cb.get_or_load("k", [] { return caf::expected<std::string>{"loaded alone"}; }).value() ==
        "loaded alone");
  CHECK(cb.stats().value().bypasses == bypasses + 1);
  REQUIRE(srv.start()); // empty: nothing was saved
  auto ok_before = ok.load();
  REQUIRE(eventually([&] { return ok.load() > ok_before + 200; }, 20s));
  stop = true;
  writer.join();
  reader.join();
  CHECK(other.load() == 0);
  CHECK(stale.load() == 0);
  // B held "before" in its near tier; A overwrites the key after the restart.
  REQUIRE(eventually([&] { return !ca.put("k", "after"); }, 10s));
  std::optional<std::string> seen;
  REQUIRE(eventually(
      [&] {
        auto v = cb.get("k");
        if (v)
          seen = *v;
        return static_cast<bool>(v);
      },
      10s));
  CHECK(seen == std::optional<std::string>{"after"});
  auto c = tier_of(b)->counters();
  CHECK(c.flushes >= 1);
  CHECK(c.reconnects >= 1);
  CHECK(c.errors >= 1);
}

TEST_CASE("a wrong Redis password is a start error that names the refused login", "[redis]") {
  temp_dir s{"redis"};
  redis_server srv{s, {"--requirepass", "right"}};
  REQUIRE(srv.start());
  auto url = "redis://:wrong@127.0.0.1:" + std::to_string(srv.port()) + "/0";
  std::string what;
  try {
    runtime rt{redis_node(url)};
  } catch (const std::exception& e) {
    what = e.what();
  }
  CHECK_THAT(what, Catch::Contains("login (AUTH) refused") && Catch::Contains("WRONGPASS"));
  // The right one starts.
  runtime ok{redis_node("redis://:right@127.0.0.1:" + std::to_string(srv.port()) + "/0")};
  CHECK(coherent(ok));
}

TEST_CASE("a Redis that is not there at start is retried until it is", "[redis]") {
  temp_dir s{"redis"};
  redis_server srv{s};
  runtime a{redis_node(srv.url())};
  auto ca = cache::open(a, "shared").value();
  auto r = ca.get("k");
  REQUIRE_FALSE(r);
  CHECK(unavailable(r.error()));
  REQUIRE(srv.start());
  REQUIRE(eventually([&] { return !ca.put("k", "v"); }, 10s));
  CHECK(ca.get("k").value() == std::optional<std::string>{"v"});
  CHECK(coherent(a));
}

TEST_CASE("shrink and resize (the optimizer's rules 1 and 2) act on the near tier while Redis "
          "keeps every value",
          "[redis]") {
  temp_dir s{"redis"};
  redis_server srv{s};
  REQUIRE(srv.start());
  runtime a{redis_node(srv.url())};
  auto ca = cache::open(a, "shared").value();
  REQUIRE(coherent(a));
  for (int i = 0; i < 100; ++i)
    REQUIRE_FALSE(ca.put("k" + std::to_string(i), std::to_string(i)));
  CHECK(ca.stats().value().entries == 100);
  auto freed = ca.shrink(0.5).value();
  CHECK(freed.entries == 50);
  CHECK(ca.stats().value().entries == 50);
  REQUIRE_FALSE(ca.resize(10, 1 << 20));
  CHECK(ca.stats().value().entries <= 10);
  // Every value is still there, from Redis where the near tier let it go.
  auto trips = tier_of(a)->counters().round_trips;
  for (int i = 0; i < 100; ++i)
    CHECK(ca.get("k" + std::to_string(i)).value() == std::optional<std::string>{std::to_string(i)});
  CHECK(tier_of(a)->counters().round_trips >= trips + 90);
}

TEST_CASE("actors reach a Redis-backed cache through its shard: get, put and the asynchronous "
          "get_or_load run on the shard's workers",
          "[redis]") {
  temp_dir s{"redis"};
  redis_server srv{s};
  REQUIRE(srv.start());
  runtime a{redis_node(srv.url())}, b{redis_node(srv.url())};
  auto ca = cache::open(a, "shared").value();
  auto cb = cache::open(b, "shared").value();
  REQUIRE(coherent(a));
  REQUIRE(coherent(b));
  auto shard = ca.shard_for("x").value();
  CHECK(a.request<bool>(shard, 5s, put_atom::value, std::string{"x"}, std::string{"1"},
                        caf::timespan{0})
            .value());
  CHECK(cb.get("x").value() == std::optional<std::string>{"1"});
  auto got = a.request<caf::optional<std::string>>(shard, 5s, get_atom::value, std::string{"x"});
  REQUIRE(got);
  CHECK(*got == caf::optional<std::string>{"1"});
  // get_or_load as actors do it: `load` gives this caller the turn (the
  // lock), `loaded` stores the value for every node.
  auto turn = a.request<load_reply>(shard, 5s, load_atom::value, std::string{"y"}).value();
  CHECK_FALSE(turn.hit);
  CHECK(a.request<bool>(shard, 5s, loaded_atom::value, std::string{"y"}, std::string{"42"},
                        caf::timespan{0})
            .value());
  CHECK(cb.get("y").value() == std::optional<std::string>{"42"});
  auto again = a.request<load_reply>(shard, 5s, load_atom::value, std::string{"y"}).value();
  CHECK(again.hit);
  CHECK(again.value == "42");
}
