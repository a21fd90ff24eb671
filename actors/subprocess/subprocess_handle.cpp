// The subprocess handle: runs commands through the pool actor, and answers
// git reads from the git cache the pool shares with it when it can.

#include <caf/all.hpp>

#include "git_cache.hpp"
#include "p21/cache_config.hpp"
#include "p21/subprocess.hpp"
#include "p21/subprocess_config.hpp"

namespace p21 {

using namespace subprocess_detail;

// -- handle -------------------------------------------------------------------------

subprocess::subprocess(runtime& rt, std::string name, timespan timeout)
  : rt_(&rt)
  , name_(std::move(name))
  , timeout_(timeout) {
  // nop
}

caf::expected<subprocess> subprocess::open(runtime& rt, const std::string& name) {
  if (!rt.component(name))
    return make_error(errc::not_found, "no subprocess pool named '" + name + "'");
  auto& s = rt.settings();
  return subprocess{rt, name,
                    s.get<subprocess_config>().timeout + s.get<subprocess_config>().kill_grace + s.runtime.request_timeout};
}

caf::expected<subprocess_actor> subprocess::actor() {
  return rt_->actor_of<subprocess_actor>(name_);
}

timespan subprocess::run_timeout(const command_request& req) const {
  auto t = timeout_;
  if (req.timeout > timespan{0})
    t = std::max(t, req.timeout + rt_->settings().get<subprocess_config>().kill_grace +
                        rt_->settings().runtime.request_timeout);
  return t;
}

timespan subprocess::git_timeout() const {
  return std::max(timeout_, rt_->settings().get<cache_config>().git_timeout +
                                rt_->settings().get<subprocess_config>().kill_grace +
                                rt_->settings().runtime.request_timeout);
}

caf::expected<command_result> subprocess::run(command_request req) {
  auto t = run_timeout(req);
  return ask<command_result>(t, run_atom::value, std::move(req));
}

caf::expected<command_result> subprocess::run(std::vector<std::string> argv) {
  command_request req;
  req.argv = std::move(argv);
  return run(std::move(req));
}

std::optional<command_result> subprocess::git_cached(const std::string& repo,
                                                     const std::vector<std::string>& args) {
  if (!git_cache_checked_) {
    git_cache_checked_ = true;
    // Starts a lazy pool as the first message would (a started pool has
    // flushed the cache, so nothing from before a restart is answered).
    if (rt_->actor_of(name_))
      git_cache_ = rt_->shared_object<git_cache>(name_);
  }
  if (git_cache_ && rt_->accepting() && classify(args) != git_kind::write)
    if (auto root = canonical_repo(repo))
      if (auto hit = git_cache_->lookup(*root, git_cache::key(*root, args), false)) {
        if (auto now = std::chrono::steady_clock::now(); now - noted_ > std::chrono::seconds{1}) {
          noted_ = now;
          rt_->note_use(name_);
        }
        return std::move(*hit);
      }
  return std::nullopt;
}

caf::expected<command_result> subprocess::git(const std::string& repo,
                                              std::vector<std::string> args) {
  if (auto hit = git_cached(repo, args))
    return std::move(*hit);
  return ask<command_result>(git_timeout(), git_atom::value, git_request{repo, std::move(args)});
}

caf::expected<uint64_t> subprocess::set_max_processes(uint64_t n) {
  return ask<uint64_t>(rt_->settings().runtime.request_timeout, set_max_processes_atom::value, n);
}

caf::expected<subprocess_stats> subprocess::stats() {
  return ask<subprocess_stats>(rt_->settings().runtime.request_timeout, stats_atom::value);
}

} // namespace p21
