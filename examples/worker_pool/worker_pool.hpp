#pragma once

// An application's actor with a knob: a pool of `workers` slots running
// jobs, the rest queued. It declares `myapp.workers` in its child_spec the
// way the built-in pools declare theirs, answers the knob messages from its
// own state, and records each job's queue wait in `myapp_queue_wait_seconds`
// (a histogram in the node's registry), the sensor a tuning rule reads, with
// the jobs that arrive (`myapp_jobs_total`), the work each one is
// (`myapp_job_seconds`) and the jobs queued now (`myapp_queue_length`), the
// inputs of a Little's-law rule.

#include <caf/fwd.hpp>

#include <p21/p21.hpp>

namespace myapp {

using job_atom = caf::atom_constant<caf::atom("job")>;

/// `myapp.workers`: jobs running at once.
p21::knob_spec workers_knob();

/// How long jobs wait in the queue before a worker takes them.
inline constexpr p21::metric_def queue_wait{"myapp_queue_wait_seconds",
                                            "Time a job waited for a free worker.",
                                            p21::metric_kind::histogram, "seconds"};

/// Jobs submitted, and the work each one took (the time a worker holds it).
inline constexpr p21::metric_def jobs{"myapp_jobs", "Jobs submitted to the pool.",
                                      p21::metric_kind::counter};
inline constexpr p21::metric_def job_time{"myapp_job_seconds", "Time a worker spent on a job.",
                                          p21::metric_kind::histogram, "seconds"};

/// Jobs waiting for a worker now: the backlog a Little's-law rule works off
/// (`backlog = 'myapp_queue_length'`).
inline constexpr p21::metric_def queue_length{"myapp_queue_length",
                                              "Jobs waiting for a free worker.",
                                              p21::metric_kind::gauge};

/// The pool's spec, named `name`: `(job_atom, timespan work) -> timespan`
/// runs one job (simulated by a timer, so no scheduler thread blocks) and
/// replies how long it waited. `workers` is the start value; the metrics
/// are registered in `rt.metrics()`, labelled `pool = name`.
p21::child_spec worker_pool_spec(p21::runtime& rt, const std::string& name = "worker_pool",
                                 double workers = 2);

} // namespace myapp
