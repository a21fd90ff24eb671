// A cache store (actors/cache/cache_store.*, owner_drain.cpp) under
// ThreadSanitizer, without CAF's runtime: writers that drain the buffers
// themselves under the owner lock's try-lock (`settle`) race an owner
// thread that drains as the shard actor does (a blocking `drain` for its
// messages, `try_drain` for its ticks) and resizes, sets the TTL and reads
// the stats, while readers visit without a lock. Checks, besides TSan's
// own reports (a writer's drain and the owner touching the policy state at
// once would be one):
// - a writer reads its own write at once (read-your-writes), intact, unless
//   a drain evicted the key meanwhile (never an older value);
// - a reader never sees a torn value;
// - writers did drain in place, and a queue past its limit was drained by
//   its writer (no `wait_for_owner` while an owner runs);
// - once everyone stopped and the owner drained, the store holds no more
//   than its capacity in entries and bytes.
// Exit status 0 when all held; prints what failed otherwise.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <caf/sec.hpp>

#include "actors/cache/cache_store.hpp"
#include "stress_values.hpp"

namespace p21 {

// The store reports errors with the framework's `make_error`; this binary
// links no framework (its errors are not exercised here, only returned).
caf::error make_error(errc) {
  return caf::make_error(caf::sec::runtime_error);
}

caf::error make_error(errc x, std::string) {
  return make_error(x);
}

} // namespace p21

using namespace p21;
using namespace p21::cache_detail;

namespace {

using namespace p21::cache_detail::stress;

struct counts {
  std::atomic<uint64_t> reads{0}, writes{0}, writer_drains{0}, full_drains{0}, asked{0},
      owner_drains{0}, owner_tries_busy{0}, own_write_evicted{0};
};

/// One policy's run: `seconds` of the threads above.
bool run(eviction policy, double seconds) {
  using namespace std::chrono;
  constexpr uint64_t capacity = 2'000;
  constexpr size_t keys_per_writer = 3'000;
  store_config cfg;
  cfg.max_entries = capacity;
  cfg.max_bytes = 1ull << 30;
  cfg.policy = policy;
  cache_store store{cfg};
  store.keep_draining(); // as a ticking owner: writers drain at a quarter of the limit
  counts n;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < 3; ++w)
    threads.emplace_back([&, w] {
      std::minstd_rand rng{static_cast<unsigned>(w + 1)};
      for (size_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        auto key = "w" + std::to_string(w) + "-" + std::to_string(rng() % keys_per_writer);
        auto fill = static_cast<char>('a' + i % 26);
        auto q = store.write(key, key_hash(key), value_of(key, fill, 16 + i % 100), timespan{0});
        if (!q) {
          fail("a write was refused", key);
          continue;
        }
        // Read-your-writes, whoever drains meanwhile: this write's value
        // or, if another thread's drain evicted the key since (a cold key
        // written again stays where it was in the order until its write
        // is applied), a miss; never an older value.
        std::string out;
        bool drain = false;
        if (store.lookup(key, key_hash(key), out, drain) == lookup_result::hit) {
          if (!intact(key, out) || out[1] != fill)
            fail("a writer read an older value than its own write", key);
        } else {
          ++n.own_write_evicted;
        }
        switch (store.settle(*q)) {
        case cache_store::next_step::drained:
          ++(q->full ? n.full_drains : n.writer_drains);
          break;
        case cache_store::next_step::ask_owner:
          ++n.asked; // the owner stopped ticking: its next drain takes it
          break;
        case cache_store::next_step::wait_for_owner:
          fail("a writer was told to wait for an owner that runs", key);
          break;
        case cache_store::next_step::nothing:
          break;
        }
        ++n.writes;
      }
    });
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      std::minstd_rand rng{static_cast<unsigned>(r + 11)};
      while (!stop.load(std::memory_order_relaxed)) {
        auto key = "w" + std::to_string(rng() % 3) + "-" + std::to_string(rng() % keys_per_writer);
        bool drain = false;
        store.visit(
            key, key_hash(key),
            [&](std::string_view v) {
              if (!intact(key, v))
                fail("a torn value", key);
            },
            drain);
        ++n.reads;
      }
    });
  // The owner, as the shard actor: ticks that only try the lock, messages
  // that wait for it, and the optimizer's commands.
  threads.emplace_back([&] {
    for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      if (auto found = store.try_drain())
        ++n.owner_drains;
      else
        ++n.owner_tries_busy;
      if (i % 8 == 0) {
        store.drain();
        ++n.owner_drains;
      }
      if (i % 64 == 0)
        static_cast<void>(store.resize(capacity - (i / 64) % 4 * 100, cfg.max_bytes));
      if (i % 64 == 32)
        store.set_ttl(i % 128 == 32 ? timespan{std::chrono::seconds{60}} : timespan{0});
      if (i % 16 == 0 && store.stats().max_entries > capacity)
        fail("the stats show a capacity never set", "-");
      // Now and then it stops ticking (if no write waits): writers ask it
      // instead of draining, until it ticks again.
      if (i % 32 == 0)
        static_cast<void>(store.stop_draining_if_idle());
      else
        store.keep_draining();
      std::this_thread::sleep_for(microseconds{200});
    }
  });
  auto deadline = steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(seconds));
  while (steady_clock::now() < deadline && failures.load() == 0)
    std::this_thread::sleep_for(milliseconds{20});
  stop = true;
  for (auto& t : threads)
    t.join();
  static_cast<void>(store.resize(capacity, cfg.max_bytes));
  store.drain();
  if (store.size() > capacity)
    fail("more entries than the capacity after the last drain", std::to_string(store.size()));
  if (store.pending_writes() != 0)
    fail("writes left queued after the last drain", std::to_string(store.pending_writes()));
  std::printf("store stress (%s): %llu reads, %llu writes, %llu drains by writers (%llu of a "
              "full queue), %llu by the owner, %llu owner tries found the lock held, %llu asks, "
              "%llu own writes evicted before their read, %llu failures\n",
              policy == eviction::lru ? "lru" : "tinylfu",
              static_cast<unsigned long long>(n.reads.load()),
              static_cast<unsigned long long>(n.writes.load()),
              static_cast<unsigned long long>(n.writer_drains.load() + n.full_drains.load()),
              static_cast<unsigned long long>(n.full_drains.load()),
              static_cast<unsigned long long>(n.owner_drains.load()),
              static_cast<unsigned long long>(n.owner_tries_busy.load()),
              static_cast<unsigned long long>(n.asked.load()),
              static_cast<unsigned long long>(n.own_write_evicted.load()),
              static_cast<unsigned long long>(failures.load()));
  if (n.reads.load() == 0 || n.writes.load() == 0 || n.owner_drains.load() == 0) {
    std::fprintf(stderr, "FAIL: a thread did nothing\n");
    return false;
  }
  if (n.writer_drains.load() == 0) {
    std::fprintf(stderr, "FAIL: no writer drained the buffers itself\n");
    return false;
  }
  return failures.load() == 0;
}

} // namespace

int main(int argc, char** argv) {
  auto seconds = argc > 1 ? std::atof(argv[1]) : 4.0;
  bool ok = run(eviction::lru, seconds / 2);
  ok = run(eviction::tinylfu, seconds / 2) && ok;
  // No wait_for_deferred_frees(): see table_stress.cpp.
  return ok ? 0 : 1;
}
