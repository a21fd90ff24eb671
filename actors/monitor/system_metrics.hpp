#pragma once

// System sampling for the monitor: machine and process CPU, memory, disk,
// threads, descriptors and load, from /proc, statvfs and the cgroup (whose
// CPU quota and memory limit count as the machine's size). The roots are
// parameters so that tests read fixture files.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace p21 {

/// Raw readings; every field is optional because a file may be missing.
struct system_reading {
  /// Jiffies since boot: all CPUs, and the idle + iowait part.
  std::optional<uint64_t> cpu_total;
  std::optional<uint64_t> cpu_idle;
  /// This process's user + system time, in clock ticks.
  std::optional<uint64_t> process_ticks;
  /// The same for its child processes that ended and were waited for
  /// (cutime + cstime: the subprocess pool's commands).
  std::optional<uint64_t> children_ticks;
  std::optional<uint64_t> mem_total;
  std::optional<uint64_t> mem_available;
  /// cgroup v2 `memory.max` (unset when "max") and `memory.current`.
  std::optional<uint64_t> cgroup_mem_max;
  std::optional<uint64_t> cgroup_mem_current;
  /// cgroup v2 `cpu.max` as CPUs (quota / period), unset when "max".
  std::optional<double> cgroup_cpus;
  /// cgroup v2 `cpu.stat` usage_usec.
  std::optional<uint64_t> cgroup_cpu_usec;
  std::optional<uint64_t> rss_bytes;
  std::optional<uint64_t> threads;
  std::optional<uint64_t> open_fds;
  std::optional<double> load1;
};

/// The files `read_system` reads, each parsed by `parse_system_file`.
enum class system_file {
  stat,               ///< /proc/stat
  self_stat,          ///< /proc/self/stat
  self_status,        ///< /proc/self/status
  meminfo,            ///< /proc/meminfo
  loadavg,            ///< /proc/loadavg
  cgroup_mem_max,     ///< memory.max
  cgroup_mem_current, ///< memory.current
  cgroup_cpu_max,     ///< cpu.max
  cgroup_cpu_stat,    ///< cpu.stat
};

/// Sets the fields of `r` that `text` (the content of `file`) holds. Text
/// that does not parse leaves them unset; never throws (a fuzz target
/// feeds it anything).
void parse_system_file(system_file file, const std::string& text, system_reading& r) noexcept;

/// Reads `system_reading`s from `proc_root` (normally /proc; the process's
/// own files under `proc_root/self`) and `cgroup_root` (/sys/fs/cgroup).
system_reading read_system(const std::string& proc_root = "/proc",
                           const std::string& cgroup_root = "/sys/fs/cgroup");

/// Used space of the file system holding `path`, 0..100, or none.
std::optional<double> disk_percent(const std::string& path);

/// What the monitor reports, percentages 0..100.
struct system_sample {
  double cpu_percent = 0;
  double process_cpu_percent = 0;
  /// CPU of the child processes that ended in the window (rule 8's CPU per
  /// command), % of the machine.
  double children_cpu_percent = 0;
  double memory_percent = 0;
  uint64_t rss_bytes = 0;
  uint64_t threads = 0;
  uint64_t open_fds = 0;
  double load1 = 0;
  /// CPUs the machine (or cgroup quota) gives us.
  double cpus = 1;
  std::map<std::string, double> disk_percent;
};

/// Turns successive readings into rates. Inside a cgroup with a CPU quota,
/// CPU % is the cgroup's usage over its quota; with a memory limit, memory %
/// is the cgroup's usage over its limit.
class system_sampler {
public:
  using clock = std::chrono::steady_clock;

  /// `ticks_per_second`: the kernel's USER_HZ (sysconf(_SC_CLK_TCK)).
  explicit system_sampler(double cpus_online, long ticks_per_second = 100);

  /// CPU shares need a window: a sample less than `min_cpu_window` after
  /// the last one (the optimizer asking right after the monitor's own tick)
  /// repeats the last CPU figures and keeps the older reading as the base.
  system_sample sample(const system_reading& r, clock::time_point now);

  static constexpr std::chrono::milliseconds min_cpu_window{200};

private:
  double cpus_online_;
  long ticks_per_second_;
  std::optional<system_reading> last_;
  clock::time_point last_time_;
  double last_cpu_percent_ = 0;
  double last_process_cpu_percent_ = 0;
  double last_children_cpu_percent_ = 0;
};

} // namespace p21
