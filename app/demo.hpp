#pragma once

// The built-in demo workload of `p21 run` (`[demo] enabled = true`): plain
// client threads that use the node the way an application would, through
// its handles, in four phases that give the monitor and the optimizer
// something real to act on.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/scratch_dir.hpp"
#include "p21/demo_config.hpp"
#include "p21/p21.hpp"

namespace p21::app {

/// What the workload did, counted by its clients.
struct demo_counts {
  std::atomic<uint64_t> lookups{0};
  std::atomic<uint64_t> loads{0};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> git_checks{0};
  std::atomic<uint64_t> repo_edits{0};
  std::atomic<uint64_t> commands{0};
  std::atomic<uint64_t> errors{0};
};

class demo {
public:
  /// The four phases, in order; each lasts `[demo] phase`, then they repeat.
  static const std::vector<std::string>& phases();

  /// Creates the demo table (and the scratch repository when `[demo] repo`
  /// is empty), then starts the clients. Throws std::runtime_error when the
  /// database cannot be prepared. Without git the workload runs without its
  /// git part and `git_note()` says why.
  demo(runtime& rt, const demo_config& cfg);
  ~demo();

  demo(const demo&) = delete;
  demo& operator=(const demo&) = delete;

  /// Stops and joins the clients and removes the scratch repository.
  void stop();

  /// The phase running now.
  std::string phase() const;

  /// Phases entered so far, the first included.
  uint64_t phases_run() const;

  const demo_counts& counts() const noexcept { return counts_; }

  /// Why the git part is off, or empty.
  const std::string& git_note() const noexcept { return git_note_; }

private:
  void client(size_t index);
  size_t phase_index() const;
  void prepare_database();
  void prepare_repository();
  bool wait_until(std::chrono::steady_clock::time_point t);

  runtime& rt_;
  demo_config cfg_;
  std::chrono::steady_clock::time_point start_;
  std::string repo_;
  std::optional<scratch_dir> scratch_repo_;
  std::string git_note_;
  demo_counts counts_;
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<std::thread> clients_;
};

} // namespace p21::app
