#pragma once

// Knobs: the values a component lets the optimizer (or anyone) tune while it
// runs. A component declares its knobs in its `child_spec`; the owner
// answers two messages for each, and the supervisor routes both messages to
// the owner at any depth, so a tuner needs only the knob's name.
//
// The protocol (plain types, so nothing needs registering):
//   (get_knob_atom, std::string knob)               -> double  the value now
//   (set_knob_atom, std::string knob, double value) -> double  the value the
//        owner applied (clamped into the knob's bounds, rounded for an
//        integer knob)
// Sent to the owner, it answers; sent to a supervisor, the supervisor
// forwards it to the child that declared the knob (or to the nested
// supervisor that holds that child), so the owner's reply goes straight back
// to the sender. The supervisor never waits on it. An unknown knob is
// answered with `errc::not_found`, an owner that is down (restarting, lazy
// and not started, stopped) with `errc::unavailable`; never dropped.

#include <string>
#include <vector>

#include <caf/atom.hpp>

namespace p21 {

using get_knob_atom = caf::atom_constant<caf::atom("getknob")>;
using set_knob_atom = caf::atom_constant<caf::atom("setknob")>;

/// What a component declares about one knob. The value itself lives only in
/// its owner (read with `get_knob_atom`), never in a copy.
struct knob_spec {
  /// `SECTION.KEY` as in the config: "db_pool.pool_size",
  /// "cache.NAME.max_entries", "subprocess.max_processes", "myapp.workers".
  std::string name;
  /// Inclusive bounds; a set outside them is clamped.
  double min = 0;
  double max = 0;
  /// A count (rounded on set) or a real value.
  bool integer = true;
  /// What the number counts: "connections", "entries", "seconds" ...
  std::string unit = {};
  std::string help = {};
};

using knob_specs = std::vector<knob_spec>;

} // namespace p21
