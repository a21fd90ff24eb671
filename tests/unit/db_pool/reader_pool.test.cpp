#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

#include <unistd.h>

#include "actors/db_pool/reader_pool.hpp"
#include "support/temp_dir.hpp"
#include "p21/error.hpp"

using namespace p21;
using namespace p21::db_detail;
using namespace std::chrono_literals;

namespace {

/// Waits (bounded) until `pred` holds.
template <class Predicate>
bool eventually(Predicate pred, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::yield();
  }
  return true;
}

/// A grant callback that records its ticket.
struct grants {
  std::mutex mtx;
  std::vector<uint64_t> tickets;
  reader_slots::grant_fn fn() {
    return [this](uint64_t t) {
      std::lock_guard<std::mutex> guard{mtx};
      tickets.push_back(t);
    };
  }
  std::vector<uint64_t> seen() {
    std::lock_guard<std::mutex> guard{mtx};
    return tickets;
  }
};

using p21::test::temp_dir;

reader_settings settings_in(const temp_dir& dir, size_t pool_size, size_t max_overflow,
                            timespan pool_timeout) {
  reader_settings s;
  s.conn.path = dir.path + "/r.db";
  s.pool_size = pool_size;
  s.max_overflow = max_overflow;
  s.pool_timeout = pool_timeout;
  s.idle_timeout = 1h;
  s.health_check_after = 1h;
  s.max_lifetime = 1h;
  return s;
}

/// Creates the database file with one table (readers are query_only).
void create_table(const temp_dir& dir) {
  connection_settings cs;
  cs.path = dir.path + "/r.db";
  auto c = connection::open(cs);
  REQUIRE(c);
  REQUIRE((*c)->run("CREATE TABLE t(x)", {}));
  REQUIRE((*c)->run("INSERT INTO t VALUES (1)", {}));
}

} // namespace

// -- the slot policy ----------------------------------------------------------------

TEST_CASE("a waiter past pool_timeout gets pool_timeout") {
  reader_slots slots{1, 0, 50ms};
  REQUIRE_FALSE(slots.acquire());
  auto t0 = std::chrono::steady_clock::now();
  auto late = slots.acquire();
  CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);
  REQUIRE(late);
  CHECK(is(late, errc::pool_timeout));
  auto s = slots.stats();
  CHECK(s.timeouts == 1);
  CHECK(s.waiting == 0);
  CHECK(s.in_use == 1);
  slots.release();
  CHECK_FALSE(slots.acquire()); // free again
}

TEST_CASE("slots are granted up to pool_size + max_overflow and no further") {
  reader_slots slots{2, 1, 1h};
  grants g;
  CHECK(slots.limit() == 3);
  for (int i = 0; i < 3; ++i)
    CHECK(slots.acquire_async(g.fn()) == 0);
  auto queued = slots.acquire_async(g.fn());
  CHECK(queued != 0);
  CHECK(slots.stats().in_use == 3);
  CHECK(slots.stats().waiting == 1);
  CHECK(g.seen().empty());
  slots.release();
  CHECK(g.seen() == std::vector<uint64_t>{queued}); // granted on release
  CHECK(slots.stats().in_use == 3);
  CHECK(slots.stats().waiting == 0);
}

TEST_CASE("the calling-thread path and the actor path share one limit and one queue") {
  reader_slots slots{1, 1, 1h};
  grants g;
  REQUIRE_FALSE(slots.acquire());                  // a calling thread
  REQUIRE(slots.acquire_async(g.fn()) == 0);       // an actor: the second and last slot
  auto actor_ticket = slots.acquire_async(g.fn()); // the actor waits first
  REQUIRE(actor_ticket != 0);
  std::atomic<bool> thread_got{false};
  auto thread = std::async(std::launch::async, [&] {
    auto err = slots.acquire(); // then a thread waits behind it
    thread_got = true;
    return err;
  });
  REQUIRE(eventually([&] { return slots.stats().waiting == 2; }));
  slots.release(); // the thread's slot goes to the oldest waiter: the actor
  CHECK(g.seen() == std::vector<uint64_t>{actor_ticket});
  CHECK_FALSE(thread_got);
  slots.release(); // the actor's first slot goes to the thread
  CHECK_FALSE(thread.get());
  CHECK(slots.stats().in_use == 2);
  CHECK(slots.stats().timeouts == 0);
}

TEST_CASE("a waiter that gives up counts a timeout and one granted meanwhile holds its slot") {
  reader_slots slots{1, 0, 1h};
  grants g;
  REQUIRE(slots.acquire_async(g.fn()) == 0);
  auto a = slots.acquire_async(g.fn());
  auto b = slots.acquire_async(g.fn());
  CHECK(slots.cancel(a)); // still waiting: gone, a timeout
  CHECK(slots.stats().timeouts == 1);
  slots.release(); // goes to b
  CHECK(g.seen() == std::vector<uint64_t>{b});
  CHECK_FALSE(slots.cancel(b)); // granted: b holds the slot
  CHECK(slots.stats().in_use == 1);
  CHECK(slots.stats().timeouts == 1);
  CHECK(is(slots.timeout_error(), errc::pool_timeout));
}

TEST_CASE("a larger pool_size grants waiters at once") {
  reader_slots slots{1, 0, 1h};
  grants g;
  REQUIRE(slots.acquire_async(g.fn()) == 0);
  auto a = slots.acquire_async(g.fn());
  auto b = slots.acquire_async(g.fn());
  slots.set_pool_size(3);
  CHECK(g.seen() == std::vector<uint64_t>{a, b});
  CHECK(slots.stats().in_use == 3);
}

TEST_CASE("the peak in use holds until a new window starts") {
  reader_slots slots{3, 0, 1h};
  for (int i = 0; i < 3; ++i)
    REQUIRE_FALSE(slots.acquire());
  slots.release(2);
  CHECK(slots.stats().peak_in_use == 3);
  CHECK(slots.stats(true).peak_in_use == 3);
  CHECK(slots.stats().peak_in_use == 1);
  histogram acquire;
  slots.add_acquire_times(acquire);
  CHECK(acquire.summary("a", 1e-9).count == 3); // every grant
}

// -- the connections behind the slots ----------------------------------------------

TEST_CASE("reads on the calling thread run on pool_size kept connections and cannot write") {
  temp_dir dir;
  create_table(dir);
  reader_pool pool{settings_in(dir, 2, 1, 1s)};
  REQUIRE(pool.enabled());
  pool.warm();
  db_pool_stats s;
  histogram acquire;
  histogram query;
  pool.add_stats(s, acquire, query, false);
  CHECK(s.size == 2);
  CHECK(s.idle == 2);
  auto r = pool.run("SELECT x FROM t", {});
  REQUIRE(r);
  CHECK(r->result.rows.at(0).at(0).i == 1);
  CHECK(r->access.reads.count("t") == 1);
  auto refused = pool.run("DELETE FROM t", {});
  REQUIRE_FALSE(refused);
  CHECK_THAT(render(refused.error()), Catch::Contains("readonly"));
  s = db_pool_stats{};
  pool.add_stats(s, acquire, query, false);
  CHECK(s.size == 2); // reused, none opened
  CHECK(s.queries == 2);
  CHECK(s.errors == 1);
  CHECK(s.in_use == 0);
}

TEST_CASE("a slot held for the actor path leaves the calling-thread path waiting") {
  temp_dir dir;
  create_table(dir);
  reader_pool pool{settings_in(dir, 1, 0, 50ms)};
  REQUIRE(pool.slots().acquire_async([](uint64_t) {}) == 0); // the pool actor's read
  auto late = pool.run("SELECT x FROM t", {});
  REQUIRE_FALSE(late);
  CHECK(is(late.error(), errc::pool_timeout));
  // The actor's reader thread runs its read on the slot it holds.
  REQUIRE(pool.run_granted("SELECT x FROM t", {}));
  pool.slots().release();
  CHECK(pool.run("SELECT x FROM t", {}));
  db_pool_stats s;
  histogram acquire;
  histogram query;
  pool.add_stats(s, acquire, query, false);
  CHECK(s.timeouts == 1);
  CHECK(s.size == 1); // one connection served both paths
}

TEST_CASE("under memory pressure idle connections beyond pool_size close") {
  temp_dir dir;
  create_table(dir);
  reader_pool pool{settings_in(dir, 3, 0, 1s)};
  pool.warm();
  pool.set_pool_size(1); // the optimizer shrank the pool
  auto size = [&] {
    db_pool_stats s;
    histogram a;
    histogram q;
    pool.add_stats(s, a, q, false);
    return s.size;
  };
  CHECK(size() == 3);
  pool.close_idle(false); // not idle past idle_timeout (1h) yet
  CHECK(size() == 3);
  pool.close_idle(true);
  CHECK(size() == 1);
  CHECK(pool.release_memory() >= 0);
}

TEST_CASE("a pool of no readers (an in-memory database) is disabled") {
  reader_settings s;
  s.conn.path = ":memory:";
  s.pool_size = 0;
  s.max_overflow = 0;
  reader_pool pool{s};
  CHECK_FALSE(pool.enabled());
}
