// The cache's concurrent read path: the striped read buffer as plain logic,
// then the handle from many threads against the shard actor that owns the
// policy, with the optimizer's messages arriving meanwhile, and the
// loader-only answers while a shard is down.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <time.h>
#include <random>
#include <set>
#include <thread>

#include <caf/all.hpp>

#include "actors/cache/cache_store.hpp"
#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::cache_detail;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

named_cache_config sized(uint64_t entries) {
  named_cache_config nc;
  nc.max_entries = entries;
  nc.max_bytes = 1ull << 32;
  return nc;
}

std::string value_for(const std::string& key, uint64_t version) {
  return key + "=" + std::to_string(version);
}

/// Whether `value` was written for `key` (by `value_for`).
bool belongs_to(const std::string& value, const std::string& key) {
  return value.size() > key.size() && value.compare(0, key.size(), key) == 0 &&
         value[key.size()] == '=';
}

} // namespace

// -- the read buffer ----------------------------------------------------------------------

TEST_CASE("the read buffer keeps records in order, drops them when a stripe is full and asks "
          "for a drain before that") {
  read_buffer b;
  bool asked = false;
  size_t pushed = 0;
  for (uint64_t h = 1; h <= read_buffer::slots; ++h) {
    auto ask = b.push(3, h) != read_buffer::pushed::kept;
    asked = asked || ask;
    ++pushed;
  }
  CHECK(asked);          // asked before the stripe filled up
  CHECK(b.push(3, 999) == read_buffer::pushed::dropped); // full
  std::vector<uint64_t> seen;
  b.drain([&](uint64_t h) { seen.push_back(h); });
  REQUIRE(seen.size() == pushed);
  for (size_t i = 0; i < seen.size(); ++i)
    CHECK(seen[i] == i + 1);
  CHECK(b.push(3, 5) == read_buffer::pushed::kept); // room again
  b.count(3, true);
  b.count(4, false);
  b.count_put(5);
  CHECK(b.counts().hits == 1);
  CHECK(b.counts().misses == 1);
  CHECK(b.counts().puts == 1);
  // Stripes follow the machine: a power of two from 4 to 16.
  auto n = b.stripe_count();
  CHECK(n >= 4);
  CHECK(n <= 16);
  CHECK((n & (n - 1)) == 0);
  CHECK(read_buffer{8}.stripe_count() == 8);
}

TEST_CASE("records pushed from many threads while the owner drains are drained at most once "
          "and never half-written") {
  read_buffer b;
  std::atomic<bool> done{false};
  std::vector<uint64_t> drained;
  std::thread owner{[&] {
    while (!done.load())
      b.drain([&](uint64_t h) { drained.push_back(h); });
    b.drain([&](uint64_t h) { drained.push_back(h); });
  }};
  std::vector<std::thread> readers;
  for (uint64_t t = 0; t < 4; ++t)
    readers.emplace_back([&, t] {
      // All four on one shared stripe (thread indices beyond those with a
      // stripe of their own): the most contended case.
      for (uint64_t i = 1; i <= 20'000; ++i)
        b.push(b.stripe_count(), (t << 32) | i); // unique: the thread in the high bits
    });
  for (auto& r : readers)
    r.join();
  done = true;
  owner.join();
  std::set<uint64_t> unique(drained.begin(), drained.end());
  CHECK(unique.size() == drained.size()); // none twice
  CHECK(unique.count(0) == 0);            // no slot read before its write
  CHECK(drained.size() > 0);
  for (auto h : unique) {
    CHECK((h >> 32) < 4);
    CHECK((h & 0xffffffff) >= 1);
    CHECK((h & 0xffffffff) <= 20'000);
  }
}

TEST_CASE("records of threads on stripes of their own reach the owner in each thread's order, "
          "once each, while it drains") {
  read_buffer b{4};
  std::atomic<bool> done{false};
  std::vector<uint64_t> drained;
  std::thread owner{[&] {
    while (!done.load())
      b.drain([&](uint64_t h) { drained.push_back(h); });
    b.drain([&](uint64_t h) { drained.push_back(h); });
  }};
  std::vector<std::thread> readers;
  for (uint64_t t = 0; t < 4; ++t)
    readers.emplace_back([&, t] {
      // Index t: a stripe no other thread writes (a plain store per record).
      for (uint64_t i = 1; i <= 50'000; ++i)
        b.push(t, (t << 32) | i);
    });
  for (auto& r : readers)
    r.join();
  done = true;
  owner.join();
  // Per thread: increasing (a full stripe drops records, never reorders or
  // repeats them) and never a cell read before its write.
  std::array<uint64_t, 4> last{};
  size_t seen = 0;
  for (auto h : drained) {
    auto t = h >> 32;
    REQUIRE(t < 4);
    auto i = h & 0xffffffff;
    CHECK(i > last[t]);
    CHECK(i <= 50'000);
    last[t] = i;
    ++seen;
  }
  CHECK(seen > 0);
}

// -- the segment lock ----------------------------------------------------------------------

TEST_CASE("the segment lock gives one holder at a time, spinning or asleep") {
  segment_lock lock;
  // Two plain counters every holder moves together: a holder that ever
  // sees them apart overlapped another.
  uint64_t first = 0;
  uint64_t second = 0;
  std::atomic<int> inside{0};
  std::atomic<uint64_t> overlapped{0};
  std::atomic<uint64_t> torn{0};
  // More threads than this machine's two cores, and some long holds, so
  // that waiters also get past their spin and sleep (a lost wake-up would
  // hang here, and ctest's timeout would say so).
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20'000; ++i) {
        std::lock_guard<segment_lock> guard{lock};
        if (inside.fetch_add(1) != 0)
          overlapped.fetch_add(1);
        if (first != second)
          torn.fetch_add(1);
        ++first;
        if (t == 0 && i % 1000 == 0)
          std::this_thread::yield(); // a holder that loses its CPU
        ++second;
        inside.fetch_sub(1);
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(first == 120'000);
  CHECK(second == 120'000);
  CHECK(overlapped.load() == 0);
  CHECK(torn.load() == 0);
  CHECK(lock.try_lock());
  CHECK_FALSE(lock.try_lock());
  lock.unlock();
}

namespace {

/// CPU time of the calling thread.
std::chrono::nanoseconds thread_cpu_time() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds{ts.tv_sec} + std::chrono::nanoseconds{ts.tv_nsec};
}

} // namespace

TEST_CASE("a writer waiting on a held segment lock sleeps instead of keeping its CPU busy") {
  // A holder preempted for milliseconds is what made waiters yield in a
  // loop (segment_lock.hpp); here the holder keeps the lock for 200 ms of
  // wall time while the waiter measures its own CPU time.
  segment_lock lock;
  lock.lock();
  std::promise<void> waiting;
  std::promise<std::chrono::nanoseconds> waiter_cpu;
  std::thread waiter{[&] {
    auto cpu0 = thread_cpu_time();
    waiting.set_value();
    lock.lock();
    waiter_cpu.set_value(thread_cpu_time() - cpu0);
    lock.unlock();
  }};
  waiting.get_future().wait();
  auto held = std::chrono::milliseconds{200};
  std::this_thread::sleep_for(held);
  auto cpu = waiter_cpu.get_future();
  CHECK(cpu.wait_for(0s) == std::future_status::timeout); // still waiting
  lock.unlock();
  REQUIRE(cpu.wait_for(10s) == std::future_status::ready);
  waiter.join();
  // Asleep, the waiter spent its spin and two system calls; one that
  // yielded in a loop spent most of the 200 ms (it has a core to itself).
  CHECK(cpu.get() < held / 4);
}

// -- the handle from many threads -----------------------------------------------------------

TEST_CASE("every thread reads its own writes at once, never another key's value, never an "
          "expired entry, and sees an erase at once") {
  runtime rt{test_config()};
  auto c = cache::create(rt, "ryw", sized(1'000'000)).value();
  std::atomic<bool> stop{false};
  // The optimizer's messages meanwhile: longer TTLs and larger capacities
  // change nothing a reader may observe here.
  std::thread tuner{[&] {
    uint64_t n = 0;
    while (!stop.load()) {
      REQUIRE(!c.set_ttl(n % 2 ? 1h : 0s));
      REQUIRE(!c.resize(1'000'000 + n, 1ull << 32));
      REQUIRE(c.stats());
      ++n;
    }
  }};
  std::vector<std::thread> workers;
  std::atomic<uint64_t> failures{0};
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&, t] {
      std::mt19937_64 rng{static_cast<uint64_t>(t)};
      for (uint64_t i = 0; i < 20'000; ++i) {
        auto key = "t" + std::to_string(t) + "-" + std::to_string(rng() % 500);
        auto shared = "shared-" + std::to_string(rng() % 50);
        auto v = value_for(key, i);
        if (c.put(key, v) || c.get(key).value() != std::optional<std::string>{v})
          ++failures;
        // Keys every thread writes: whatever is there belongs to the key.
        static_cast<void>(c.put(shared, value_for(shared, i)));
        if (auto got = c.get(shared).value(); got && !belongs_to(*got, shared))
          ++failures;
        if (i % 10 == 0) {
          if (!c.erase(key).value() || c.get(key).value())
            ++failures;
        }
        if (i % 1000 == 0) {
          // A 1 ms entry, read once its time has passed: never returned.
          REQUIRE(!c.put(key, v, 1ms));
          auto written = std::chrono::steady_clock::now();
          while (std::chrono::steady_clock::now() < written + 2ms)
            std::this_thread::yield();
          if (c.get(key).value())
            ++failures;
        }
      }
    });
  for (auto& w : workers)
    w.join();
  stop = true;
  tuner.join();
  CHECK(failures == 0);
}

TEST_CASE("stress: 8 threads of mixed operations while resize, shrink, clear and set_ttl "
          "arrive: no crash, no lost acknowledged put, bytes back to 0 after clear") {
  runtime rt{test_config()};
  auto c = cache::create(rt, "stress", sized(4096)).value();
  constexpr int threads = 8;
  constexpr uint64_t ops = 1'000'000 / threads;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0};
  std::thread optimizer{[&] {
    std::mt19937_64 rng{99};
    while (!stop.load()) {
      switch (rng() % 4) {
      case 0:
        REQUIRE(!c.resize(1000 + rng() % 8000, 1ull << 32));
        break;
      case 1:
        REQUIRE(c.shrink(0.1 + double(rng() % 40) / 100));
        break;
      case 2:
        REQUIRE(c.clear());
        break;
      default:
        REQUIRE(!c.set_ttl(rng() % 2 ? 0s : 50ms));
      }
      std::this_thread::yield();
    }
  }};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      std::mt19937_64 rng{static_cast<uint64_t>(t) + 1};
      for (uint64_t i = 0; i < ops; ++i) {
        auto key = "k" + std::to_string(rng() % 20'000);
        switch (rng() % 10) {
        case 0:
        case 1:
        case 2:
          static_cast<void>(c.put(key, value_for(key, i)));
          break;
        case 3:
          static_cast<void>(c.erase(key));
          break;
        case 4: {
          auto v =
              c.get_or_load(key, [&] { return caf::expected<std::string>{value_for(key, i)}; });
          if (!v || !belongs_to(*v, key))
            ++wrong;
          break;
        }
        case 5: {
          auto many = c.get_many({key, "k1", "k2"});
          if (many && (*many)[0] && !belongs_to(*(*many)[0], key))
            ++wrong;
          break;
        }
        default:
          if (auto v = c.get(key); v && *v && !belongs_to(**v, key))
            ++wrong;
        }
      }
    });
  for (auto& w : workers)
    w.join();
  stop = true;
  optimizer.join();
  CHECK(wrong == 0);
  // With room for every key and nothing clearing, every acknowledged put is
  // readable, whichever thread wrote it and whichever reads.
  REQUIRE(!c.set_ttl(0s));
  REQUIRE(!c.resize(100'000, 1ull << 32));
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        auto key = "final-" + std::to_string(t) + "-" + std::to_string(i);
        REQUIRE(!c.put(key, value_for(key, 1)));
      }
    });
  for (auto& w : writers)
    w.join();
  for (int t = 0; t < threads; ++t)
    for (int i = 0; i < 1000; ++i) {
      auto key = "final-" + std::to_string(t) + "-" + std::to_string(i);
      REQUIRE(c.get(key).value() == std::optional<std::string>{value_for(key, 1)});
    }
  auto before = c.stats().value();
  CHECK(before.entries >= threads * 1000);
  CHECK(before.bytes > 0);
  REQUIRE(c.clear());
  auto after = c.stats().value();
  CHECK(after.entries == 0);
  CHECK(after.bytes == 0);
}

// -- graceful degradation -----------------------------------------------------------------

TEST_CASE("while a shard is down, get_or_load and memoize answer from the loader, counted as "
          "bypasses") {
  auto cfg = test_config();
  cfg.supervisor.backoff_initial = 3s; // a restart that takes a while
  cfg.supervisor.backoff_max = 3s;
  runtime rt{cfg};
  auto c = cache::open(rt, "async").value();
  REQUIRE(!c.put("warm", "1"));
  auto shard = c.shard_for("warm").value();
  caf::anon_send_exit(shard, caf::exit_reason::kill);
  REQUIRE(eventually([&] { return !rt.component("cache.async/0")->running; }));
  int loads = 0;
  auto v = c.get_or_load("key", [&] {
    ++loads;
    return caf::expected<std::string>{"fresh"};
  });
  REQUIRE(v);
  CHECK(*v == "fresh");
  CHECK(loads == 1);
  auto square = memoize<int, int>(rt, "square", std::function<int(int)>{[](int x) {
                                    return x * x;
                                  }},
                                  1h)
                    .value();
  CHECK(square(7).value() == 49);
  // Once the shard is back, its stats show both.
  REQUIRE(eventually([&] { return rt.component("cache.async/0")->running; }, 10s));
  CHECK(c.stats().value().bypasses == 2);
  CHECK(c.get_or_load("key", [] { return caf::expected<std::string>{"again"}; }).value() ==
        "again"); // restarted empty: a regular load now
  CHECK(c.stats().value().bypasses == 2);
}
