// The cache's lock-free table alone (actors/cache/table.*, rcu.*), no CAF,
// under ThreadSanitizer (its own target, tests/table/CMakeLists.txt):
// readers that take no lock race writers that replace values, insert and
// unchain nodes (rehashing segments as they grow) and clear the table.
// Checks, besides TSan's own reports:
// - a reader never sees a torn value: every value is one byte repeated,
//   with its key's tag first;
// - a key that stays in the table is always found, however many rehashes
//   run meanwhile (no false miss from a reader walking moved chains);
// - a writer reads its own write at once (read-your-writes);
// - the read buffer (read_buffer.*) hands its drainer each reader's records
//   in order, once, never a cell before its write, both on a stripe of the
//   reader's own (a plain store) and on a shared one (a CAS).
// Exit status 0 when all held; prints what failed otherwise.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "actors/cache/read_buffer.hpp"
#include "actors/cache/table.hpp"
#include "stress_values.hpp"

using namespace p21::cache_detail;

namespace {

using namespace p21::cache_detail::stress;

void put(rcu_table& t, const std::string& key, std::string_view value) {
  auto hash = key_hash(key);
  auto w = t.write(hash);
  if (auto* n = w.find(key, hash)) {
    w.set_value(n, stored_value::make(value, time_point::max()));
    return;
  }
  w.insert(table_node::make(hash, key, value, time_point::max()));
}

bool remove(rcu_table& t, const std::string& key) {
  auto hash = key_hash(key);
  auto w = t.write(hash);
  auto* n = w.find(key, hash);
  if (n == nullptr)
    return false;
  w.unchain(n);
  w.retire(n);
  return true;
}

/// Reads `key`: -1 absent, 0 torn, 1 intact.
int read(const rcu_table& t, const std::string& key) {
  read_guard guard;
  auto* n = t.find(key, key_hash(key));
  if (n == nullptr)
    return -1;
  auto* v = n->value.load(std::memory_order_acquire);
  if (v == nullptr)
    return -1;
  return intact(key, v->view()) ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
  using namespace std::chrono;
  auto seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
  auto deadline = steady_clock::now() + duration_cast<steady_clock::duration>(duration<double>(seconds));
  constexpr size_t stable_keys = 512;
  constexpr size_t churn_keys = 20'000;
  rcu_table stable;  // stable keys stay; churn keys come and go (rehashes)
  rcu_table cleared; // cleared now and then
  std::vector<std::string> keys;
  for (size_t i = 0; i < stable_keys; ++i) {
    keys.push_back("stable-" + std::to_string(i));
    put(stable, keys.back(), value_of(keys.back(), 'a', 40));
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, writes{0}, clears{0}, records{0};
  // Read records: (tag << 40) | sequence, tag r for reader r's own stripe,
  // 8 + r for the shared one.
  read_buffer buffer{4};
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      uint64_t n = 0;
      for (size_t i = static_cast<size_t>(r); !stop.load(std::memory_order_relaxed); ++i, ++n) {
        auto& k = keys[i % stable_keys];
        switch (read(stable, k)) {
        case -1:
          fail("a stable key was missed", k);
          break;
        case 0:
          fail("a torn value", k);
          break;
        default:
          break;
        }
        auto c = "clear-" + std::to_string(i % 1000);
        if (read(cleared, c) == 0)
          fail("a torn value in the cleared table", c);
        auto tag = static_cast<uint64_t>(r);
        buffer.push(tag, (tag << 40) | (n + 1));
        buffer.push(buffer.stripe_count(), ((tag + 8) << 40) | (n + 1));
      }
      reads += n;
    });
  threads.emplace_back([&] {
    std::vector<uint64_t> last(16, 0);
    auto check = [&](uint64_t h) {
      auto tag = h >> 40;
      auto seq = h & ((uint64_t{1} << 40) - 1);
      if (tag >= 16 || seq <= last[tag])
        fail("a read record out of order, repeated or read before its write",
             std::to_string(h));
      else
        last[tag] = seq;
      ++records;
    };
    while (!stop.load(std::memory_order_relaxed))
      buffer.drain(check);
    buffer.drain(check);
  });
  // Writers: replace stable values (sizes vary, so allocations move),
  // insert and remove churn keys (the table grows, segments rehash), and
  // read their own writes.
  for (int w = 0; w < 2; ++w)
    threads.emplace_back([&, w] {
      uint64_t n = 0;
      for (size_t i = 0; !stop.load(std::memory_order_relaxed); ++i, ++n) {
        auto& k = keys[(i * 7 + static_cast<size_t>(w)) % stable_keys];
        put(stable, k, value_of(k, static_cast<char>('a' + i % 26), 16 + i % 200));
        auto churn = "churn-" + std::to_string(w) + "-" + std::to_string(i % churn_keys);
        if ((i / churn_keys) % 2 == 0) {
          put(stable, churn, value_of(churn, 'c', 24));
          if (read(stable, churn) != 1)
            fail("a writer missed its own write", churn);
        } else if (!remove(stable, churn)) {
          fail("a churn key was gone before its removal", churn);
        }
        auto c = "clear-" + std::to_string(i % 1000);
        put(cleared, c, value_of(c, 'z', 64));
      }
      writes += n;
    });
  threads.emplace_back([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      std::this_thread::sleep_for(milliseconds{2});
      cleared.clear([](table_node*) {});
      stable.flush_retired();
      ++clears;
    }
  });
  while (steady_clock::now() < deadline && failures.load() == 0)
    std::this_thread::sleep_for(milliseconds{20});
  stop = true;
  for (auto& t : threads)
    t.join();
  // No wait_for_deferred_frees() (rcu_barrier): liburcu hands its barrier's
  // record to the call_rcu thread through its own queue, which TSan, not
  // seeing liburcu's atomics, reports as a race inside liburcu. Frees still
  // pending at exit are no concern here.
  std::printf("table stress: %llu reads (%llu records drained), %llu writes, %llu clears, "
              "%llu failures\n",
              static_cast<unsigned long long>(reads.load()),
              static_cast<unsigned long long>(records.load()),
              static_cast<unsigned long long>(writes.load()),
              static_cast<unsigned long long>(clears.load()),
              static_cast<unsigned long long>(failures.load()));
  if (reads.load() == 0 || writes.load() == 0 || clears.load() == 0 || records.load() == 0) {
    std::fprintf(stderr, "FAIL: a thread did nothing\n");
    return 1;
  }
  return failures.load() == 0 ? 0 : 1;
}
