#include "worker_pool.hpp"

#include <chrono>
#include <deque>

#include <caf/all.hpp>

namespace myapp {

namespace {

using clock = std::chrono::steady_clock;
using done_atom = caf::atom_constant<caf::atom("jobdone")>;

struct queued_job {
  caf::timespan work;
  clock::time_point enqueued;
  caf::typed_response_promise<caf::timespan> reply;
};

struct pool_state {
  uint64_t workers = 1;
  uint64_t busy = 0;
  std::deque<queued_job> queue;
  p21::histogram* wait = nullptr;
  p21::counter* jobs = nullptr;
  p21::histogram* job_time = nullptr;
  p21::gauge* queued = nullptr;

  static inline const char* name = "myapp.worker_pool";
};

using pool_self = caf::stateful_actor<pool_state>*;

/// Gives free workers the oldest queued jobs.
void start_queued(pool_self self) {
  auto& st = self->state;
  while (st.busy < st.workers && !st.queue.empty()) {
    auto job = std::move(st.queue.front());
    st.queue.pop_front();
    auto waited = std::chrono::duration_cast<caf::timespan>(clock::now() - job.enqueued);
    st.wait->record(uint64_t(waited.count()));
    st.job_time->record(uint64_t(job.work.count()));
    ++st.busy;
    // The work itself: a timer here; a real pool hands it to a thread.
    self->delayed_send(self, job.work, done_atom::value);
    job.reply.deliver(waited);
  }
  st.queued->set(double(st.queue.size()));
}

/// Where the pool records what it does (the node's registry owns them).
struct pool_metrics {
  p21::histogram* wait;
  p21::counter* jobs;
  p21::histogram* job_time;
  p21::gauge* queued;
};

caf::behavior worker_pool(pool_self self, p21::knob_spec knob, double workers, pool_metrics m) {
  auto start = p21::knob_target(knob, workers);
  self->state.workers = uint64_t(start ? *start : knob.min);
  self->state.wait = m.wait;
  self->state.jobs = m.jobs;
  self->state.job_time = m.job_time;
  self->state.queued = m.queued;
  return {
      [=](job_atom, caf::timespan work) {
        auto rp = self->make_response_promise<caf::timespan>();
        self->state.jobs->inc();
        self->state.queue.push_back({work, clock::now(), rp});
        start_queued(self);
        return rp;
      },
      [=](done_atom) {
        --self->state.busy;
        start_queued(self);
      },
      [=](p21::get_knob_atom, const std::string& name) -> caf::result<double> {
        if (name != knob.name)
          return p21::unknown_knob(name);
        return double(self->state.workers);
      },
      [=](p21::set_knob_atom, const std::string& name, double v) -> caf::result<double> {
        if (name != knob.name)
          return p21::unknown_knob(name);
        auto n = p21::knob_target(knob, v);
        if (!n)
          return n.error();
        self->state.workers = uint64_t(*n);
        start_queued(self); // more workers take queued jobs at once
        return *n;
      },
  };
}

} // namespace

p21::knob_spec workers_knob() {
  return {"myapp.workers", 1, 64, true, "workers", "jobs running at once"};
}

p21::child_spec worker_pool_spec(p21::runtime& rt, const std::string& name, double workers) {
  pool_metrics m{&rt.metrics().make_histogram(queue_wait, {{"pool", name}}),
                 &rt.metrics().make_counter(jobs, {{"pool", name}}),
                 &rt.metrics().make_histogram(job_time, {{"pool", name}}),
                 &rt.metrics().make_gauge(queue_length, {{"pool", name}})};
  p21::child_spec spec;
  spec.name = name;
  spec.knobs = {workers_knob()};
  spec.start = [m, workers](caf::actor_system& sys) -> caf::expected<caf::actor> {
    return sys.spawn(worker_pool, workers_knob(), workers, m);
  };
  return spec;
}

} // namespace myapp
