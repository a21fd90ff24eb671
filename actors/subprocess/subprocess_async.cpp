// The `subprocess` handle's non-blocking forms: requests from the
// runtime's caller actors to the pool, whose reactor waits for the
// commands (no thread per pending call).

#include <caf/all.hpp>

#include "p21/async.hpp"
#include "p21/subprocess.hpp"

namespace p21 {

future<command_result> subprocess::async_run(command_request req, call_options opts) {
  auto t = run_timeout(req);
  return detail::start_call<command_result>(
      *rt_, name_, opts, t, false,
      detail::make_asker<command_result, subprocess_actor>(run_atom::value, std::move(req)));
}

future<command_result> subprocess::async_git(std::string repo, std::vector<std::string> args,
                                             call_options opts) {
  if (auto hit = git_cached(repo, args))
    return make_ready_future<command_result>(std::move(*hit));
  return detail::start_call<command_result>(
      *rt_, name_, opts, git_timeout(), false,
      detail::make_asker<command_result, subprocess_actor>(
          git_atom::value, git_request{std::move(repo), std::move(args)}));
}

} // namespace p21
