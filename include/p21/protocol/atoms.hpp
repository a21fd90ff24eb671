#pragma once

// The message tags of the Perfect21 protocol. CAF 0.17 atoms hold at most ten
// characters; each constant is named for what it asks, the atom text is the
// same word where it fits.

#include <caf/atom.hpp>

namespace p21 {

using caf::get_atom;
using caf::put_atom;

// -- shared by every subsystem --
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using metrics_atom = caf::atom_constant<caf::atom("metrics")>;

// -- cache --
using erase_atom = caf::atom_constant<caf::atom("erase")>;
using clear_atom = caf::atom_constant<caf::atom("clear")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using load_failed_atom = caf::atom_constant<caf::atom("loadfailed")>;
using shrink_atom = caf::atom_constant<caf::atom("shrink")>;
using resize_atom = caf::atom_constant<caf::atom("resize")>;
using set_ttl_atom = caf::atom_constant<caf::atom("setttl")>;

// -- db pool --
using query_atom = caf::atom_constant<caf::atom("query")>;
using execute_atom = caf::atom_constant<caf::atom("execute")>;
using transaction_atom = caf::atom_constant<caf::atom("txn")>;
using checkpoint_atom = caf::atom_constant<caf::atom("checkpoint")>;
using vacuum_atom = caf::atom_constant<caf::atom("vacuum")>;
using release_memory_atom = caf::atom_constant<caf::atom("releasemem")>;
using set_pool_size_atom = caf::atom_constant<caf::atom("setpool")>;
using set_pool_timeout_atom = caf::atom_constant<caf::atom("setpooltmo")>;

// -- subprocess pool --
using run_atom = caf::atom_constant<caf::atom("run")>;
using git_atom = caf::atom_constant<caf::atom("git")>;
using set_max_processes_atom = caf::atom_constant<caf::atom("setmaxproc")>;
using set_limits_atom = caf::atom_constant<caf::atom("setlimits")>;

// -- monitor --
using summary_atom = caf::atom_constant<caf::atom("summary")>;
using events_atom = caf::atom_constant<caf::atom("events")>;
using health_atom = caf::atom_constant<caf::atom("health")>;
using sample_atom = caf::atom_constant<caf::atom("sample")>;
using set_interval_atom = caf::atom_constant<caf::atom("setintvl")>;
using set_alert_for_atom = caf::atom_constant<caf::atom("alertfor")>;
using set_alerts_atom = caf::atom_constant<caf::atom("setalerts")>;
using history_atom = caf::atom_constant<caf::atom("history")>;

// -- optimizer --
using evaluate_atom = caf::atom_constant<caf::atom("evaluate")>;
using set_rule_atom = caf::atom_constant<caf::atom("setrule")>;
using dry_run_atom = caf::atom_constant<caf::atom("dryrun")>;

// -- supervisor (internal) --
using start_atom = caf::atom_constant<caf::atom("start")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using add_child_atom = caf::atom_constant<caf::atom("addchild")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using kill_atom = caf::atom_constant<caf::atom("kill")>;
using unload_atom = caf::atom_constant<caf::atom("unload")>;

// -- cluster ------------------------------------------------------------------
/// Asks a node's published gateway for one of its published actors.
using lookup_atom = caf::atom_constant<caf::atom("lookup")>;

} // namespace p21
