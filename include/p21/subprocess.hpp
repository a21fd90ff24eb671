#pragma once

// The subprocess pool handle: blocking calls from plain threads to the
// node's subprocess pool. A command is an argv vector, never a shell line
// (unless a request sets `shell = true`).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "p21/cache_config.hpp"
#include "p21/call_options.hpp"
#include "p21/future.hpp"
#include "p21/protocol/subprocess.hpp"
#include "p21/runtime.hpp"
#include "p21/subprocess_config.hpp"

namespace p21 {

namespace subprocess_detail {
class git_cache;
} // namespace subprocess_detail

/// A handle to a subprocess pool component (the node's `subprocess` by
/// default). Cheap to copy.
class subprocess {
public:
  /// A handle to the pool component `name`; `not_found` when there is none.
  static caf::expected<subprocess> open(runtime& rt, const std::string& name = "subprocess");

  /// Runs `req` once a slot is free. A non-zero exit is a result, not an
  /// error; errors are: `invalid_argument` (empty argv), `command_failed`
  /// (no such program or cwd, not executable: errno text), `overloaded`
  /// (queue full), `unavailable` (pool down).
  caf::expected<command_result> run(command_request req);

  /// Runs `argv` with the pool's defaults.
  caf::expected<command_result> run(std::vector<std::string> argv);

  /// `git ARGS` in `repo`. Read-only subcommands (status, diff, ls-files,
  /// log, show, rev-parse, branch listing) are answered from the git cache
  /// while the repository is unchanged, here without a message to the pool;
  /// anything else runs and drops the repository's cached results.
  caf::expected<command_result> git(const std::string& repo, std::vector<std::string> args);

  // -- non-blocking forms: return at once, from any thread (p21/future.hpp) --

  /// `run` without waiting; no thread waits for the command (the pool's
  /// reactor does). Retried only while the pool cannot be reached: a
  /// command the pool received is never started twice. Cancelling the
  /// future drops the command while it waits for a slot, and ends it
  /// (SIGTERM, SIGKILL after `kill_grace`) while it runs.
  future<command_result> async_run(command_request req, call_options opts = {});

  /// `git` without waiting: a git-cache hit completes at once.
  future<command_result> async_git(std::string repo, std::vector<std::string> args,
                                   call_options opts = {});

  /// Changes how many commands run at once; returns the new limit.
  caf::expected<uint64_t> set_max_processes(uint64_t n);

  caf::expected<subprocess_stats> stats();

  /// The pool's typed handle, for `self->request(...)` inside actors.
  caf::expected<subprocess_actor> actor();

  /// Per-call timeout (default: the pool's command timeout, its kill grace
  /// and the runtime's request timeout).
  void timeout(timespan t) noexcept { timeout_ = t; }

private:
  subprocess(runtime& rt, std::string name, timespan timeout);

  /// The git cache's answer to a read-only `git ARGS`, if it has one.
  std::optional<command_result> git_cached(const std::string& repo,
                                           const std::vector<std::string>& args);
  timespan run_timeout(const command_request& req) const;
  timespan git_timeout() const;

  template <class R, class... Ts>
  caf::expected<R> ask(timespan t, Ts&&... xs) {
    auto h = actor();
    if (!h)
      return h.error();
    return rt_->request<R>(*h, t, std::forward<Ts>(xs)...);
  }

  runtime* rt_;
  std::string name_;
  timespan timeout_;
  std::shared_ptr<subprocess_detail::git_cache> git_cache_;
  bool git_cache_checked_ = false;
  /// When this handle last told the runtime it used the pool (a git cache
  /// hit answered here sends no message).
  std::chrono::steady_clock::time_point noted_{};
};

/// The component spec of a subprocess pool for `cfg.get<subprocess_config>()` (its git
/// cache from `cfg.get<cache_config>()`: `git_maxsize`, `git_ttl`, `git_timeout`).
/// With `current` (`node_view::settings`), each start takes the live keys
/// (`max_processes`, `queue_limit`, `timeout`, `output_cap`, `git_maxsize`)
/// from the config it returns then, so a pool started or restarted after a
/// reload runs with the reloaded values.
child_spec subprocess_component(const std::string& name, const config& cfg,
                                profile_factory profile = {}, config_source current = {});

} // namespace p21
