// The `subprocess` handle's non-blocking forms: requests from the
// runtime's caller actors to the pool, whose reactor waits for the
// commands (no thread per pending call).

#include <caf/all.hpp>

#include "cancellable_run.hpp"
#include "process_count.hpp"
#include "p21/async.hpp"
#include "p21/subprocess.hpp"

namespace p21 {

namespace {

/// A run that carries the caller's cancel token to a pool of this node
/// (a peer's proxy knows only the public protocol): the pool drops the
/// command while it is queued, or ends it, when the caller cancels.
detail::asker<command_result> run_asker(bool local, command_request req) {
  if (!local)
    return detail::make_asker<command_result, subprocess_actor>(run_atom::value, std::move(req));
  return [req = std::move(req)](caf::event_based_actor* self, const caf::actor& target,
                                caf::timespan timeout, const cancel_token& token,
                                std::function<void(caf::expected<command_result>, bool)> done) {
    auto h = caf::actor_cast<subprocess_detail::cancellable_run_actor>(target);
    self->request(h, timeout, run_atom::value, req, token)
        .then([done](command_result& r) { done(std::move(r), false); },
              [done](caf::error& e) { done(normalize(std::move(e)), true); });
  };
}

} // namespace

future<command_result> subprocess::async_run(command_request req, call_options opts) {
  auto t = run_timeout(req);
  bool local = rt_->shared_object<subprocess_detail::process_count>(name_) != nullptr;
  return detail::start_call<command_result>(*rt_, name_, opts, t, false,
                                            run_asker(local, std::move(req)));
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
