// The subprocess pool: a scheduled actor that admits commands (at most
// `max_processes` at once, a bounded queue beyond) and hands them to its
// reactor thread, which spawns, reads, times out and reaps them. Git requests
// go to a detached git worker that answers from the git cache or runs git
// through the pool. The handle is in subprocess_handle.cpp.

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <deque>
#include <map>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "cancellable_run.hpp"
#include "git_cache.hpp"
#include "p21/cache_config.hpp"
#include "p21/histogram.hpp"
#include "p21/knob.hpp"
#include "p21/profiling.hpp"
#include "p21/subprocess.hpp"
#include "p21/subprocess_config.hpp"
#include "process_count.hpp"
#include "reactor.hpp"

namespace p21 {

namespace {

using namespace subprocess_detail;

using clock = std::chrono::steady_clock;
using done_atom = caf::atom_constant<caf::atom("procdone")>;
/// A caller cancelled job ID (its `cancel_token` fired).
using withdraw_atom = caf::atom_constant<caf::atom("withdraw")>;

using pool_actor =
    subprocess_actor::extend_with<knob_owner_actor>::extend_with<cancellable_run_actor>::extend<
        caf::reacts_to<done_atom, uint64_t, command_result, caf::error>,
        caf::reacts_to<withdraw_atom, uint64_t>>;

using git_worker_actor =
    caf::typed_actor<caf::replies_to<git_atom, git_request>::with<command_result>>;

struct pool_settings {
  size_t max_processes = 32;
  size_t queue_limit = 1024;
  timespan timeout{0};
  uint64_t output_cap = 0;
  timespan kill_grace{0};
  timespan git_timeout{0};
  /// Processes started and not reaped, for `runtime::resources()`; shared
  /// by the component's instances.
  std::shared_ptr<std::atomic<uint64_t>> processes;
  /// `NAME.max_processes`, as `set_max_processes_atom` sets it.
  knob_spec max_processes_knob{"subprocess.max_processes", 1, 4096, true, "processes",
                               "commands running at once", {"subprocess.max_processes"}};
};

// -- git worker -------------------------------------------------------------------

struct git_worker_state {
  static inline const char* name = "p21.git_worker";
};

/// The canonical path of a repository, or why there is none.
command_request git_command(const std::string& root, const std::vector<std::string>& args,
                            timespan timeout) {
  command_request cmd;
  cmd.argv = {"git"};
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.cwd = root;
  cmd.env_mode = command_request::add;
  // Reads must not write the index behind the cache's back (`git status`
  // refreshes it otherwise), and nothing may wait for a password.
  cmd.env = {{"GIT_OPTIONAL_LOCKS", "0"}, {"GIT_TERMINAL_PROMPT", "0"}};
  cmd.timeout = timeout;
  return cmd;
}

git_worker_actor::behavior_type
git_worker(git_worker_actor::stateful_pointer<git_worker_state> self, subprocess_actor pool,
           std::shared_ptr<git_cache> cache, timespan git_timeout) {
  return {
      [=](git_atom, git_request& req) -> caf::result<command_result> {
        auto root = canonical_repo(req.repo);
        if (!root)
          return root.error();
        auto kind = classify(req.args);
        std::string key;
        uint64_t gen = 0;
        if (kind != git_kind::write) {
          key = git_cache::key(*root, req.args);
          if (auto hit = cache->lookup(*root, key))
            return std::move(*hit);
          gen = cache->begin(*root);
        }
        auto promise = self->make_response_promise<command_result>();
        auto repo = *root;
        self->request(pool, caf::infinite, run_atom::value,
                      git_command(repo, req.args, git_timeout))
            .then(
                [=](command_result& r) mutable {
                  if (kind == git_kind::write)
                    cache->invalidate(repo);
                  else
                    cache->store(repo, key, kind, r, gen);
                  promise.deliver(std::move(r));
                },
                [=](caf::error& e) mutable {
                  if (kind == git_kind::write)
                    cache->invalidate(repo);
                  promise.deliver(std::move(e));
                });
        return promise;
      },
  };
}

// -- the pool ---------------------------------------------------------------------

struct queued_job {
  uint64_t id;
  command_request request;
  caf::typed_response_promise<command_result> promise;
  clock::time_point since;
  cancel_token token;
};

struct pool_state {
  pool_settings cfg;
  std::unique_ptr<reactor> io;
  std::shared_ptr<git_cache> git;
  git_worker_actor git_worker;
  std::deque<queued_job> queue;
  std::map<uint64_t, caf::typed_response_promise<command_result>> running;
  uint64_t next_id = 0;
  subprocess_stats stats;
  histogram duration_ns;
  /// Waits for a slot, zero for commands that started at once (rule 9
  /// tells a slow pool from slow commands by it).
  histogram queue_ns;
  clock::time_point slots_since = clock::now();

  static inline const char* name = "p21.subprocess_pool";

  /// Callers of unfinished commands hear back; the reactor kills and reaps
  /// every process group before the pool is gone.
  ~pool_state() {
    auto gone = [] {
      return make_error(errc::unavailable, "the subprocess pool stopped");
    };
    for (auto& [id, promise] : running)
      promise.deliver(gone());
    for (auto& job : queue)
      job.promise.deliver(gone());
    io.reset();
  }

  void account_slots() {
    auto now = clock::now();
    stats.slot_time += (now - slots_since) * static_cast<int64_t>(cfg.max_processes);
    slots_since = now;
  }
};

using pool_self = pool_actor::stateful_pointer<pool_state>;

caf::error cancelled_before_start() {
  return make_error(errc::cancelled, "the caller cancelled before the command started; "
                                     "dropped, not run");
}

void start(pool_self self, uint64_t id, command_request req,
           caf::typed_response_promise<command_result> promise) {
  auto& st = self->state;
  launch what;
  what.timeout = req.timeout > timespan{0} ? req.timeout : st.cfg.timeout;
  what.output_cap = req.output_cap > 0 ? req.output_cap : st.cfg.output_cap;
  what.request = std::move(req);
  what.job = id;
  st.running.emplace(id, std::move(promise));
  auto me = caf::actor_cast<pool_actor>(self);
  st.io->submit(std::move(what), [me, id](caf::expected<command_result> r) {
    if (r)
      caf::anon_send(me, done_atom::value, id, std::move(*r), caf::error{});
    else
      caf::anon_send(me, done_atom::value, id, command_result{}, std::move(r.error()));
  });
}

void start_queued(pool_self self) {
  auto& st = self->state;
  while (!st.queue.empty() && st.running.size() < st.cfg.max_processes) {
    auto job = std::move(st.queue.front());
    st.queue.pop_front();
    if (job.token.cancelled()) { // its withdrawal is on the way
      job.promise.deliver(cancelled_before_start());
      continue;
    }
    st.queue_ns.record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - job.since).count()));
    start(self, job.id, std::move(job.request), std::move(job.promise));
  }
}

/// Admits a command: runs it now, queues it for a slot, or refuses it. A
/// caller that cancels (`token`) withdraws it: dropped while queued,
/// ended while running.
caf::result<command_result> admit(pool_self self, command_request& req, cancel_token token) {
  auto& st = self->state;
  if (req.argv.empty() || req.argv[0].empty())
    return make_error(errc::invalid_argument, "empty argv: nothing to run");
  if (token.cancelled())
    return cancelled_before_start();
  if (st.running.size() >= st.cfg.max_processes && st.queue.size() >= st.cfg.queue_limit) {
    ++st.stats.refused;
    return make_error(errc::overloaded, std::to_string(st.running.size()) +
                                            " commands running and " +
                                            std::to_string(st.queue.size()) +
                                            " queued (queue_limit); refused: " + describe(req.argv));
  }
  // Made only now: a promise takes over the reply to this request.
  auto promise = self->make_response_promise<command_result>();
  auto id = ++st.next_id;
  auto addr = caf::actor_cast<caf::actor_addr>(self);
  token.on_cancel([addr, id] {
    if (auto pool = caf::actor_cast<caf::actor>(addr))
      caf::anon_send(pool, withdraw_atom::value, id);
  });
  if (st.running.size() < st.cfg.max_processes) {
    st.queue_ns.record(0);
    start(self, id, std::move(req), promise);
  } else {
    st.queue.push_back({id, std::move(req), promise, clock::now(), std::move(token)});
  }
  return promise;
}

/// What `withdraw_atom` does: a queued job goes, a running one is ended.
void withdraw(pool_self self, uint64_t id) {
  auto& st = self->state;
  auto i = std::find_if(st.queue.begin(), st.queue.end(),
                        [id](const queued_job& j) { return j.id == id; });
  if (i != st.queue.end()) {
    i->promise.deliver(cancelled_before_start());
    st.queue.erase(i);
    return;
  }
  if (st.running.count(id) > 0)
    st.io->stop(id); // its `done` follows, with the result of the killed group
}

subprocess_stats current_stats(pool_self self) {
  auto& st = self->state;
  st.account_slots();
  auto s = st.stats;
  s.running = st.running.size();
  s.queued = st.queue.size();
  s.max_processes = st.cfg.max_processes;
  auto g = st.git->stats();
  s.git_hits = g.hits;
  s.git_misses = g.misses;
  s.git_invalidations = g.invalidations;
  s.git_watches = g.watches;
  s.duration = st.duration_ns.summary(subprocess_metrics::duration_seconds, 1e-9);
  s.queue_time = st.queue_ns.summary(subprocess_metrics::queue_seconds, 1e-9);
  s.git_capacity = st.git->capacity();
  s.git_ghost_hit_depths = g.ghost_hit_depths;
  return s;
}

/// What `set_max_processes_atom` and the `max_processes` knob do.
caf::expected<uint64_t> set_max_processes(pool_self self, uint64_t n) {
  if (n == 0 || n > 4096)
    return make_error(errc::invalid_argument, "max_processes must be within 1..4096");
  auto& st = self->state;
  st.account_slots();
  if (n != st.cfg.max_processes)
    spdlog::info("subprocess pool: max_processes {} -> {}", st.cfg.max_processes, n);
  st.cfg.max_processes = n;
  start_queued(self);
  return n;
}

pool_actor::behavior_type subprocess_pool(pool_self self, pool_settings cfg,
                                          std::shared_ptr<git_cache> git) {
  auto& st = self->state;
  st.cfg = cfg;
  st.git = std::move(git);
  st.git->flush(); // after a restart, nothing cached before is trusted
  st.io = std::make_unique<reactor>(cfg.kill_grace, cfg.processes);
  st.git_worker = self->spawn<caf::detached + caf::linked>(
      git_worker, caf::actor_cast<subprocess_actor>(self), st.git, cfg.git_timeout);
  return {
      [=](run_atom, command_request& req) { return admit(self, req, cancel_token{}); },
      [=](run_atom, command_request& req, cancel_token& token) {
        return admit(self, req, std::move(token));
      },
      [=](withdraw_atom, uint64_t id) { withdraw(self, id); },
      [=](git_atom, git_request& req) {
        return self->delegate(self->state.git_worker, git_atom::value, std::move(req));
      },
      [=](set_max_processes_atom, uint64_t n) { return set_max_processes(self, n); },
      [=](get_knob_atom, const std::string& name) -> caf::result<double> {
        if (name != self->state.cfg.max_processes_knob.name)
          return unknown_knob(name);
        return double(self->state.cfg.max_processes);
      },
      [=](set_knob_atom, const std::string& name, double v) -> caf::result<double> {
        auto& knob = self->state.cfg.max_processes_knob;
        if (name != knob.name)
          return unknown_knob(name);
        auto n = knob_target(knob, v);
        if (!n)
          return n.error();
        if (auto r = set_max_processes(self, uint64_t(*n)); !r)
          return r.error();
        return double(self->state.cfg.max_processes);
      },
      [=](set_limits_atom, const subprocess_limits& limits) {
        // Requests from now on: running commands keep the limits they had.
        auto& c = self->state.cfg;
        c.queue_limit = limits.queue_limit;
        c.timeout = limits.timeout;
        c.output_cap = limits.output_cap;
        return true;
      },
      [=](resize_atom, uint64_t entries) -> uint64_t {
        auto n = self->state.git->resize(entries);
        spdlog::info("git cache capacity set to {} entries", n);
        return n;
      },
      [=](stats_atom) { return current_stats(self); },
      [=](metrics_atom) {
        auto s = current_stats(self);
        auto secs = [](timespan t) {
          return std::chrono::duration<double>(t).count();
        };
        namespace d = subprocess_metrics;
        metric_set m;
        m.counters = {
            d::started(double(s.started)),       d::finished(double(s.finished)),
            d::failed(double(s.failed)),         d::timed_out(double(s.timed_out)),
            d::refused(double(s.refused)),       d::busy_seconds(secs(s.busy_time)),
            d::slot_seconds(secs(s.slot_time)),  d::git_hits(double(s.git_hits)),
            d::git_misses(double(s.git_misses)), d::git_invalidations(double(s.git_invalidations))};
        m.gauges = {d::running(double(s.running)), d::queued(double(s.queued)),
                    d::max_processes(double(s.max_processes)),
                    d::git_max_entries(double(s.git_capacity)),
                    d::git_watches(double(s.git_watches))};
        m.histograms = {s.duration, s.queue_time};
        m.stats[""] = caf::make_message(std::move(s));
        return m;
      },
      [=](done_atom, uint64_t id, command_result& r, caf::error& err) {
        auto& st = self->state;
        auto i = st.running.find(id);
        if (i == st.running.end())
          return;
        auto promise = std::move(i->second);
        st.running.erase(i);
        if (err) {
          ++st.stats.failed;
          promise.deliver(std::move(err));
        } else {
          ++st.stats.started;
          ++st.stats.finished;
          if (r.timed_out)
            ++st.stats.timed_out;
          else if (r.exit_code != 0)
            ++st.stats.failed;
          st.stats.busy_time += r.duration;
          st.duration_ns.record(static_cast<uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(r.duration).count()));
          promise.deliver(std::move(r));
        }
        start_queued(self);
      },
  };
}

} // namespace

// -- component --------------------------------------------------------------------

child_spec subprocess_component(const std::string& name, const config& cfg,
                                profile_factory profile, config_source current) {
  pool_settings ps;
  auto& s = cfg.get<subprocess_config>();
  ps.max_processes = s.max_processes;
  ps.queue_limit = s.queue_limit;
  ps.timeout = s.timeout;
  ps.output_cap = s.output_cap;
  ps.kill_grace = s.kill_grace;
  ps.git_timeout = cfg.get<cache_config>().git_timeout;
  auto processes = std::make_shared<subprocess_detail::process_count>();
  ps.processes = std::shared_ptr<std::atomic<uint64_t>>(processes, &processes->value);
  // Owned by the component, not the actor: it outlives restarts (a
  // restarted pool flushes it), and handles reach it through the runtime
  // without a message.
  auto git = std::make_shared<git_cache>(cfg.get<cache_config>().git_maxsize, cfg.get<cache_config>().git_ttl, s.git_watch);
  ps.max_processes_knob.name = name + ".max_processes";
  child_spec spec;
  spec.name = name;
  spec.prio = priority::normal;
  spec.knobs = {ps.max_processes_knob};
  auto prof = profile ? profile(name) : nullptr;
  spec.start = [ps, git, prof, current](caf::actor_system& sys) {
    // The live keys as the latest reload left them.
    auto now = ps;
    if (auto c = current ? current() : nullptr) {
      auto& s = c->get<subprocess_config>();
      now.max_processes = s.max_processes;
      now.queue_limit = s.queue_limit;
      now.timeout = s.timeout;
      now.output_cap = s.output_cap;
      git->resize(c->get<cache_config>().git_maxsize);
    }
    return caf::actor_cast<caf::actor>(spawn_profiled(sys, prof, subprocess_pool, now, git));
  };
  spec.shared.put(git);
  spec.shared.put(processes);
  return spec;
}

} // namespace p21
