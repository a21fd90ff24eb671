#pragma once

// Memory pressure as it happens, not at the next sampling round: a Linux PSI
// trigger (the cgroup's `memory.pressure`, else `/proc/pressure/memory`)
// polled for POLLPRI, and the process's RSS compared with
// `[performance] memory_budget` every `[monitor] pressure_check`. Plain
// pieces (the trigger's parser, the file's choice, the budget's edge) and
// one thread of its own that calls back on each event; never a CAF
// scheduler thread (poll blocks). The roots are parameters, so tests use
// fixture files.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace p21 {

/// A PSI trigger: "some 100000 1000000" means an event when tasks stalled on
/// memory for 100 ms (`stall_us`) within any 1 s window (`window_us`);
/// "full" counts only the time every task stalled.
struct psi_trigger {
  bool full = false;
  uint64_t stall_us = 0;
  uint64_t window_us = 0;

  /// As the kernel reads it.
  std::string text() const;
};

/// Parses "some|full STALL_US WINDOW_US" with the kernel's bounds (window
/// 500 ms to 10 s, 0 < stall <= window); nullopt and `problem` otherwise.
std::optional<psi_trigger> parse_psi_trigger(const std::string& text, std::string& problem);

/// The kernel lets a process without CAP_SYS_RESOURCE set a trigger only
/// with a window in whole multiples of 2 s: `t` with its window rounded up
/// and its stall scaled to keep the same share of the window.
psi_trigger unprivileged(psi_trigger t);

/// The memory pressure file to watch: the process's cgroup v2
/// `memory.pressure` (from `proc_root/self/cgroup`'s "0::PATH" line) when it
/// exists, else `proc_root/pressure/memory`; empty when neither exists.
std::string psi_memory_file(const std::string& proc_root = "/proc",
                            const std::string& cgroup_root = "/sys/fs/cgroup");

/// An open PSI trigger (its descriptor polls POLLPRI), or why there is none.
struct psi_watch {
  int fd = -1;
  std::string path;
  psi_trigger trigger;
  std::string problem;
};

/// Opens `path` and writes `t`; when the kernel refuses the window (EINVAL
/// without privileges) retries once with `unprivileged(t)`. The caller
/// closes `fd`.
psi_watch open_psi_trigger(const std::string& path, const psi_trigger& t);

/// RSS against a budget, one event per crossing: fires when RSS goes above
/// the budget, arms again once it is back under `rearm` of it (so that RSS
/// hovering at the budget does not fire on every check).
class budget_edge {
public:
  explicit budget_edge(uint64_t budget, double rearm = 0.9)
    : budget_(budget)
    , rearm_(rearm) {}

  /// True when this reading crosses the budget.
  bool observe(uint64_t rss) noexcept {
    if (budget_ == 0)
      return false;
    if (armed_ && rss > budget_) {
      armed_ = false;
      return true;
    }
    if (!armed_ && double(rss) < rearm_ * double(budget_))
      armed_ = true;
    return false;
  }

  uint64_t budget() const noexcept { return budget_; }

private:
  uint64_t budget_;
  double rearm_;
  bool armed_ = true;
};

/// The resident set of this process from /proc/self/statm (a few µs).
uint64_t current_rss();

/// What the watcher saw.
struct pressure_event {
  /// "psi" (a kernel trigger fired) or "budget" (RSS above memory_budget).
  std::string source;
  uint64_t rss_bytes = 0;
  uint64_t budget = 0;
  std::chrono::steady_clock::time_point seen;
};

/// The watcher's settings.
struct pressure_settings {
  /// "" : no PSI trigger.
  std::string psi_trigger;
  /// 0: no budget check.
  uint64_t memory_budget = 0;
  /// 0: no budget check.
  std::chrono::nanoseconds check_interval{0};
  std::string proc_root = "/proc";
  std::string cgroup_root = "/sys/fs/cgroup";
  /// Reads RSS (tests inject one).
  std::function<uint64_t()> read_rss = current_rss;
};

/// A thread that polls the PSI trigger and checks RSS against the budget,
/// calling `on_event` from that thread on each event. Stops and joins in
/// its destructor (at once: a pipe wakes the poll).
class pressure_watcher {
public:
  pressure_watcher(pressure_settings s, std::function<void(const pressure_event&)> on_event);
  ~pressure_watcher();
  pressure_watcher(const pressure_watcher&) = delete;
  pressure_watcher& operator=(const pressure_watcher&) = delete;

  /// Which sources it watches, for the log: "PSI trigger 'some 100000
  /// 1000000' on /proc/pressure/memory and RSS against a 512 MiB budget
  /// every 5ms", or why one is missing.
  const std::string& sources() const noexcept { return sources_; }
  bool watching() const noexcept { return thread_.joinable(); }

private:
  void run();

  pressure_settings cfg_;
  std::function<void(const pressure_event&)> on_event_;
  psi_watch psi_;
  budget_edge edge_;
  int stop_pipe_[2] = {-1, -1};
  std::string sources_;
  std::thread thread_;
};

} // namespace p21
