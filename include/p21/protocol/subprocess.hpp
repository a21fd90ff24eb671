#pragma once

// The subprocess pool's typed interface: argv commands, never a shell unless
// a request says `shell = true`.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/timestamp.hpp>
#include <caf/typed_actor.hpp>

#include "p21/protocol/atoms.hpp"
#include "p21/protocol/metrics.hpp"

namespace p21 {

/// One command to run.
struct command_request {
  /// `inherit` and `add`: the parent's environment with `env` over it (a
  /// name in `env` replaces the parent's); `replace`: `env` alone.
  enum env_mode_t : uint8_t { inherit, add, replace };
  std::vector<std::string> argv;
  std::string cwd;
  env_mode_t env_mode = inherit;
  std::map<std::string, std::string> env;
  std::string stdin_data;
  /// Zero means the pool's default.
  caf::timespan timeout{0};
  /// Bytes kept of stdout and of stderr each; zero means the pool's default.
  uint64_t output_cap = 0;
  /// Run `argv[0]` through `/bin/sh -c`; logged.
  bool shell = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_request& x) {
  return f(caf::meta::type_name("p21.command_request"), x.argv, x.cwd, x.env_mode, x.env,
           x.stdin_data, x.timeout, x.output_cap, x.shell);
}

/// How a command ended.
struct command_result {
  /// Exit code, or -1 when a signal ended it.
  int exit_code = -1;
  /// The terminating signal, or 0.
  int signal = 0;
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  caf::timespan duration{0};
  bool timed_out = false;
  /// Whether a git result came from the git cache.
  bool cached = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command_result& x) {
  return f(caf::meta::type_name("p21.command_result"), x.exit_code, x.signal, x.stdout_data,
           x.stderr_data, x.stdout_truncated, x.stderr_truncated, x.duration, x.timed_out,
           x.cached);
}

/// A git command in a repository.
struct git_request {
  std::string repo;
  std::vector<std::string> args;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, git_request& x) {
  return f(caf::meta::type_name("p21.git_request"), x.repo, x.args);
}

/// The pool's limits that change at run time (`[subprocess]` queue_limit,
/// timeout, output_cap): a reload sends them.
struct subprocess_limits {
  uint64_t queue_limit = 0;
  caf::timespan timeout{0};
  uint64_t output_cap = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subprocess_limits& x) {
  return f(caf::meta::type_name("p21.subprocess_limits"), x.queue_limit, x.timeout, x.output_cap);
}

/// Counters of the pool.
struct subprocess_stats {
  /// Commands started (a process was spawned).
  uint64_t started = 0;
  /// Commands that ended, however they ended.
  uint64_t finished = 0;
  /// Commands that could not start, or ended non-zero or by a signal.
  uint64_t failed = 0;
  uint64_t timed_out = 0;
  uint64_t running = 0;
  uint64_t queued = 0;
  /// Requests refused with `overloaded` (queue full).
  uint64_t refused = 0;
  uint64_t max_processes = 0;
  /// Sum of the wall time of every finished command.
  caf::timespan busy_time{0};
  /// Integral of `max_processes` over time: parallel efficiency (rule 8) is
  /// the growth of `busy_time` over the growth of `slot_time`.
  caf::timespan slot_time{0};
  uint64_t git_hits = 0;
  uint64_t git_misses = 0;
  uint64_t git_invalidations = 0;
  /// Directories the git cache watches with inotify.
  uint64_t git_watches = 0;
  /// The git cache's capacity in entries (rule 5 tunes it).
  uint64_t git_capacity = 0;
  histogram_summary duration;
  /// Time from a request to its process starting (waiting for a slot).
  histogram_summary queue_time;
  /// The git cache's ghost hits by depth (as `cache_stats::ghost_hit_depths`).
  std::vector<uint64_t> git_ghost_hit_depths;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subprocess_stats& x) {
  return f(caf::meta::type_name("p21.subprocess_stats"), x.started, x.finished, x.failed,
           x.timed_out, x.running, x.queued, x.refused, x.max_processes, x.busy_time, x.slot_time,
           x.git_hits, x.git_misses, x.git_invalidations, x.git_watches, x.git_capacity, x.duration,
           x.queue_time, x.git_ghost_hit_depths);
}

/// The metrics the subprocess pool and its git cache report.
namespace subprocess_metrics {

inline constexpr metric_def started{"subprocess_started", "Commands started.",
                                    metric_kind::counter};
inline constexpr metric_def finished =
    metric_def{"subprocess_finished", "Commands that ended.", metric_kind::counter}.with(
        metric_role::request);
inline constexpr metric_def failed{"subprocess_failed",
                                   "Commands that could not start or ended unsuccessfully.",
                                   metric_kind::counter};
inline constexpr metric_def timed_out =
    metric_def{"subprocess_timed_out", "Commands killed at their timeout.", metric_kind::counter}
        .with(metric_role::error);
inline constexpr metric_def refused =
    metric_def{"subprocess_refused", "Commands refused because the queue was full.",
               metric_kind::counter}
        .with(metric_role::request)
        .with(metric_role::error);
inline constexpr metric_def busy_seconds{"subprocess_busy_seconds",
                                         "Wall time of finished commands, summed.",
                                         metric_kind::counter, "seconds"};
inline constexpr metric_def slot_seconds{"subprocess_slot_seconds",
                                         "max_processes integrated over time.",
                                         metric_kind::counter, "seconds"};
inline constexpr metric_def git_hits{"git_cache_hits", "Git commands answered from the git cache.",
                                     metric_kind::counter};
inline constexpr metric_def git_misses{"git_cache_misses", "Cacheable git commands that ran.",
                                       metric_kind::counter};
inline constexpr metric_def git_invalidations{
    "git_cache_invalidations", "Times a repository change dropped cached git results.",
    metric_kind::counter};
inline constexpr metric_def running{"subprocess_running", "Commands running.", metric_kind::gauge};
inline constexpr metric_def queued{"subprocess_queued", "Commands waiting for a slot.",
                                   metric_kind::gauge};
inline constexpr metric_def max_processes{"subprocess_max_processes",
                                          "Commands allowed to run at once.", metric_kind::gauge};
inline constexpr metric_def git_max_entries{"git_cache_max_entries",
                                            "Entry capacity of the git cache.", metric_kind::gauge};
inline constexpr metric_def git_watches{
    "git_cache_watches", "Directories the git cache watches with inotify.", metric_kind::gauge};
inline constexpr metric_def duration_seconds{
    "subprocess_duration_seconds", "Wall time of a command.", metric_kind::histogram, "seconds"};
inline constexpr metric_def queue_seconds =
    metric_def{"subprocess_queue_seconds", "Time a command waited for a process slot.",
               metric_kind::histogram, "seconds"}
        .with(metric_role::wait);

/// Every metric above, for the exporter's help lines.
inline constexpr metric_def all[] = {
    started,       finished,        failed,      timed_out,         refused,      busy_seconds,
    slot_seconds,  git_hits,        git_misses,  git_invalidations, running,      queued,
    max_processes, git_max_entries, git_watches, duration_seconds,  queue_seconds};

} // namespace subprocess_metrics

/// The subprocess pool actor.
using subprocess_actor =
    caf::typed_actor<caf::replies_to<run_atom, command_request>::with<command_result>,
                     caf::replies_to<git_atom, git_request>::with<command_result>,
                     caf::replies_to<set_max_processes_atom, uint64_t>::with<uint64_t>,
                     caf::replies_to<set_limits_atom, subprocess_limits>::with<bool>,
                     // Sets the git cache's capacity in entries (rule 5).
                     caf::replies_to<resize_atom, uint64_t>::with<uint64_t>,
                     caf::replies_to<stats_atom>::with<subprocess_stats>,
                     caf::replies_to<metrics_atom>::with<metric_set>>;

} // namespace p21
