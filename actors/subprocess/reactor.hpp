#pragma once

// The subprocess pool's I/O thread: starts commands with posix_spawn, each in
// its own process group, reads stdout and stderr concurrently, feeds stdin,
// enforces timeouts on the whole group and reaps every child. Nothing here
// runs on a CAF scheduler thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/expected.hpp>
#include <sys/types.h>

#include "p21/protocol/subprocess.hpp"

namespace p21::subprocess_detail {

/// A command ready to start: defaults already applied.
struct launch {
  command_request request;
  caf::timespan timeout{0};
  uint64_t output_cap = 0;
  /// The pool's id of the command, for `stop`.
  uint64_t job = 0;
};

/// Runs commands on one thread; `done` callbacks run on that thread.
class reactor {
public:
  using callback = std::function<void(caf::expected<command_result>)>;

  /// `kill_grace`: time between a timeout's SIGTERM and the SIGKILL.
  /// `processes`, if given, follows `live()` for other threads (the
  /// resource manager's count of the pool's processes).
  explicit reactor(caf::timespan kill_grace,
                   std::shared_ptr<std::atomic<uint64_t>> processes = nullptr);

  /// Kills every running process group, reaps them, joins the thread.
  ~reactor();

  reactor(const reactor&) = delete;
  reactor& operator=(const reactor&) = delete;

  /// Starts `what` as soon as the I/O thread gets to it.
  void submit(launch what, callback done);

  /// Ends job `job` early (its caller cancelled): not started yet, it is
  /// dropped and `done` gets `cancelled` here; running, its group gets
  /// SIGTERM, then SIGKILL after `kill_grace`, as at a timeout (`done` gets
  /// the result, ended by the signal). A job that ended already: nothing.
  void stop(uint64_t job);

  /// Process groups started and not yet reaped (for tests).
  size_t live() const;

private:
  void loop();

  using clock = std::chrono::steady_clock;

  caf::timespan kill_grace_;
  int wake_fd_ = -1;
  mutable std::mutex mtx_;
  std::vector<std::pair<launch, callback>> pending_;
  /// Jobs `stop` asked to end, for the I/O thread.
  std::vector<uint64_t> stops_;
  bool stopping_ = false;
  size_t live_ = 0;
  std::shared_ptr<std::atomic<uint64_t>> processes_;
  std::thread thread_;
};

/// The text of `argv` for logs.
std::string describe(const std::vector<std::string>& argv);

} // namespace p21::subprocess_detail
