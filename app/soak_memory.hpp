#pragma once

// What the fault soak measures of its own process: resources compared
// before and after (RSS, descriptors, threads), and a memory series taken
// while it runs, so that growth can be told from a plateau (RSS against
// calls, with malloc's view beside it: the live heap, and what its arenas
// hold without a use).

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace p21::app {

/// What the soak compares before and after.
struct resources {
  double rss_bytes = 0;
  double fds = 0;
  double threads = 0;
  /// Threads by name, and descriptors by what they point at: what to look
  /// at when a count grew.
  std::map<std::string, int> thread_names;
  std::map<std::string, int> fd_kinds;
};

/// The process's resources now, after giving back what free() kept.
resources measure_resources();

/// `after` is at most `share` above `before`.
inline bool within(double after, double before, double share) {
  return after <= before * (1 + share);
}

/// One point of the memory series.
struct memory_sample {
  uint64_t calls = 0;
  uint64_t rss_bytes = 0;
  /// malloc's bytes in use (`mallinfo2`: uordblks + hblkhd).
  uint64_t heap_in_use_bytes = 0;
  /// malloc's bytes held by its arenas, used or not (arena + hblkhd).
  uint64_t heap_held_bytes = 0;
  /// RSS split as the kernel counts it: anonymous memory (heap, arenas,
  /// thread stacks) and file-backed pages (code, mapped files).
  uint64_t rss_anon_bytes = 0;
  uint64_t rss_file_bytes = 0;
};

/// Samples the process's memory every `period` on a thread of its own while
/// it lives, with the caller's count of calls at each sample.
class memory_sampler {
public:
  memory_sampler(std::function<uint64_t()> calls, std::chrono::milliseconds period);
  ~memory_sampler();

  memory_sampler(const memory_sampler&) = delete;
  memory_sampler& operator=(const memory_sampler&) = delete;

  /// Stops sampling (also done by the destructor).
  void stop();

  /// The samples so far.
  std::vector<memory_sample> samples() const;

  /// `{"calls": [...], "rss_bytes": [...], "rss_anon_bytes": [...],
  /// "rss_file_bytes": [...], "heap_in_use_bytes": [...], "heap_held_bytes": [...]}`.
  nlohmann::json to_json() const;

  /// Up to `points` evenly spaced samples as text lines: calls, RSS, heap.
  std::string chart(size_t points) const;

private:
  std::function<uint64_t()> calls_;
  std::chrono::milliseconds period_;
  mutable std::mutex mtx_;
  std::vector<memory_sample> samples_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace p21::app
