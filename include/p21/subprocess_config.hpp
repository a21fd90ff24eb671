#pragma once

// `[subprocess]`, owned by the subprocess pool
// (actors/subprocess/config_keys.cpp declares its keys).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include "p21/config.hpp"

namespace p21 {

/// `[subprocess] git_watch`: `auto` (inotify, with the fingerprint check
/// where inotify is unavailable or out of watches), `inotify` or
/// `fingerprint`.
enum class git_watch_mode { automatic, inotify, fingerprint };

inline std::string to_string(git_watch_mode x) {
  switch (x) {
  case git_watch_mode::automatic:
    return "auto";
  case git_watch_mode::inotify:
    return "inotify";
  case git_watch_mode::fingerprint:
    return "fingerprint";
  }
  return "?";
}

/// `[subprocess]`: the subprocess pool.
struct subprocess_config {
  /// Commands running at once; the rest wait in the queue.
  size_t max_processes = 32;
  /// Commands waiting beyond `max_processes`; one more is refused with
  /// `overloaded` at once.
  size_t queue_limit = 1024;
  /// Run time of a command whose request sets none.
  timespan timeout = std::chrono::seconds{60};
  /// Bytes kept of stdout and of stderr each, unless a request sets its own.
  uint64_t output_cap = 16ull << 20;
  /// After a timeout's SIGTERM, how long the process group has before SIGKILL.
  timespan kill_grace = std::chrono::seconds{2};
  /// How the git cache notices repository changes.
  git_watch_mode git_watch = git_watch_mode::automatic;
};

} // namespace p21
