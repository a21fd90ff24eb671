// get_or_load and memoize: one loader per key however many callers wait,
// its result or error for every waiter, a bound on a loader that never
// reports, and the same from inside an actor.

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

config cache_test_config() {
  auto cfg = test_config();
  cfg.get<cache_config>().load_timeout = 5s;
  return cfg;
}

} // namespace

TEST_CASE("get_or_load runs one loader for 100 concurrent callers of one key") {
  runtime rt{cache_test_config()};
  auto c = cache::open(rt, "async");
  REQUIRE(c);
  std::atomic<int> loads{0};
  std::vector<std::thread> threads;
  std::vector<std::string> results(100);
  for (int i = 0; i < 100; ++i)
    threads.emplace_back([&, i] {
      auto r = c->get_or_load("key", [&]() -> caf::expected<std::string> {
        ++loads;
        return std::string{"loaded"};
      });
      results[i] = r ? *r : render(r.error());
      release_thread();
    });
  for (auto& t : threads)
    t.join();
  CHECK(loads == 1);
  for (auto& r : results)
    CHECK(r == "loaded");
  auto st = c->stats();
  CHECK(st->load_successes == 1);
  CHECK(st->loads_in_flight == 0);
}

namespace {

/// Makes `key` loading on behalf of a manual loader, starts 99 callers that
/// must wait for it, and returns once all 99 are queued at the cache.
struct waiting_callers {
  std::vector<std::thread> threads;
  std::vector<caf::expected<std::string>> results;
  std::atomic<int> own_loads{0};

  waiting_callers(cache& c, runtime& rt, const std::string& key)
    : results(99, std::string{}) {
    auto shard = c.shard_for(key);
    REQUIRE(shard);
    auto first = rt.request<load_reply>(*shard, 5s, load_atom::value, key);
    REQUIRE(first);
    REQUIRE_FALSE(first->hit); // we are the loader
    for (size_t i = 0; i < results.size(); ++i)
      threads.emplace_back([&, i] {
        results[i] = c.get_or_load(key, [&]() -> caf::expected<std::string> {
          ++own_loads;
          return std::string{"theirs"};
        });
        release_thread();
      });
    REQUIRE(eventually([&] { return c.stats().value().load_waiters == 99; }));
  }

  void join() {
    for (auto& t : threads)
      t.join();
  }
};

} // namespace

TEST_CASE("get_or_load hands the one loader's result to every waiter") {
  runtime rt{cache_test_config()};
  auto c = cache::open(rt, "async").value();
  waiting_callers callers{c, rt, "key"};
  auto shard = c.shard_for("key").value();
  REQUIRE(rt.request<bool>(shard, 5s, loaded_atom::value, std::string{"key"}, std::string{"mine"},
                           timespan{0}));
  callers.join();
  CHECK(callers.own_loads == 0);
  for (auto& r : callers.results)
    CHECK(r.value() == "mine");
}

TEST_CASE("a failing loader's error reaches every waiter and nothing is cached") {
  runtime rt{cache_test_config()};
  auto c = cache::open(rt, "async").value();
  waiting_callers callers{c, rt, "key"};
  auto shard = c.shard_for("key").value();
  REQUIRE(rt.request<bool>(shard, 5s, load_failed_atom::value, std::string{"key"},
                           make_error(errc::bad_query, "no such table")));
  callers.join();
  CHECK(callers.own_loads == 0);
  for (auto& r : callers.results) {
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), errc::bad_query));
  }
  CHECK(c.get("key").value() == std::nullopt);
  CHECK(c.stats().value().load_failures == 1);
}

TEST_CASE("waiters of a loader that never reports get timeout after load_timeout") {
  auto cfg = cache_test_config();
  cfg.get<cache_config>().load_timeout = 200ms;
  runtime rt{cfg};
  auto c = cache::open(rt, "async").value();
  auto shard = c.shard_for("key").value();
  REQUIRE_FALSE(rt.request<load_reply>(shard, 5s, load_atom::value, std::string{"key"})->hit);
  // We never report; a second caller waits, then hears timeout.
  auto r = c.get_or_load("key", [] { return caf::expected<std::string>{"x"}; });
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::timeout));
}

TEST_CASE("a loader that runs long does not block other keys") {
  runtime rt{cache_test_config()};
  auto c = cache::open(rt, "async").value();
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> loading{false};
  std::thread slow{[&] {
    auto r = c.get_or_load("slow", [&]() -> caf::expected<std::string> {
      loading = true;
      released.wait();
      return std::string{"done"};
    });
    CHECK(r.value() == "done");
    release_thread();
  }};
  REQUIRE(eventually([&] { return loading.load(); }));
  CHECK(!c.put("other", "v")); // served while the loader runs
  CHECK(c.get("other").value() == std::optional<std::string>{"v"});
  release.set_value();
  slow.join();
}

TEST_CASE("memoize returns the cached result") {
  runtime rt{cache_test_config()};
  std::atomic<int> calls{0};
  std::function<int(int, std::string)> fn = [&](int x, std::string s) {
    ++calls;
    return x * 2 + static_cast<int>(s.size());
  };
  auto f = memoize(rt, "double_plus_len", fn, 10min);
  REQUIRE(f);
  CHECK((*f)(20, "ab").value() == 42);
  CHECK((*f)(20, "ab").value() == 42);
  CHECK(calls == 1);
  CHECK((*f)(1, "").value() == 2);
  CHECK(calls == 2);
}

TEST_CASE("get_or_load and memoize work asynchronously inside an actor") {
  runtime rt{cache_test_config()};
  auto c = cache::open(rt, "async").value();
  std::atomic<int> calls{0};
  std::function<int(int)> square = [&](int x) {
    ++calls;
    return x * x;
  };
  auto f = memoize(rt, "square", square, 10min).value();
  auto shard = c.shard_for("async-key").value();
  std::promise<std::vector<std::string>> done;
  auto result = done.get_future();
  rt.spawn([&, shard](caf::event_based_actor* self) {
    auto out = std::make_shared<std::vector<std::string>>();
    auto finish = [&done, out] {
      if (out->size() == 3)
        done.set_value(*out);
    };
    get_or_load(
        self, shard, "async-key", [] { return caf::expected<std::string>{"computed"}; },
        timespan{0},
        [out, finish](caf::expected<std::string> v) {
          out->push_back(v ? *v : render(v.error()));
          finish();
        });
    f.async(
        self,
        [out, finish, &f, self](caf::expected<int> first) {
          out->push_back(first ? std::to_string(*first) : render(first.error()));
          f.async(
              self,
              [out, finish](caf::expected<int> second) {
                out->push_back(second ? std::to_string(*second) : render(second.error()));
                finish();
              },
              12);
        },
        12);
  });
  REQUIRE(result.wait_for(10s) == std::future_status::ready);
  auto out = result.get();
  std::sort(out.begin(), out.end());
  CHECK(out == std::vector<std::string>{"144", "144", "computed"});
  CHECK(calls == 1);
  CHECK(c.get("async-key").value() == std::optional<std::string>{"computed"});
}
