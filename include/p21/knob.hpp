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
// supervisor that holds that child). A get's reply goes from the owner
// straight back to the sender. A set reaches the owner from the supervisor
// whose child owns the knob, which keeps the value the owner applied for
// the owner's next instance (`knob_spec::config_keys`) and then answers the
// sender: once a set's answer is in, a restart keeps that value. No
// supervisor waits on an owner (its requests are multiplexed, with a bound).
// An unknown knob is answered with `errc::not_found`, an owner that is down (restarting, lazy
// and not started, stopped) with `errc::unavailable`; never dropped.

#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace p21 {

using get_knob_atom = caf::atom_constant<caf::atom("getknob")>;
using set_knob_atom = caf::atom_constant<caf::atom("setknob")>;

/// The two messages of an owner, for a typed actor to extend with
/// (`my_actor::extend_with<knob_owner_actor>`).
using knob_owner_actor =
    caf::typed_actor<caf::replies_to<get_knob_atom, std::string>::with<double>,
                     caf::replies_to<set_knob_atom, std::string, double>::with<double>>;

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
  /// The config keys its value starts from ("database.pool_size"). The
  /// supervisor keeps the value a run-time set left across the owner's
  /// restarts (it sets it again on the new instance); a reload that changes
  /// one of these keys drops it, so the reloaded value is what a restart
  /// starts from. Empty: no key (a reload never drops it).
  std::vector<std::string> config_keys = {};
  /// Its value is made of other knobs' values (a sharded cache's whole
  /// `max_entries`, the sum of its shards'): the supervisor keeps those
  /// across restarts, not this one, so that a restart of its owner cannot
  /// undo a later set of one of them.
  bool composite = false;
};

using knob_specs = std::vector<knob_spec>;

/// The spec named `name` in `specs`, or null.
const knob_spec* find_knob(const knob_specs& specs, const std::string& name);

/// What an owner applies for a set to `value`: clamped into the bounds,
/// rounded for an integer knob. Error `invalid_argument` for NaN.
caf::expected<double> knob_target(const knob_spec& spec, double value);

/// What an owner answers for a knob it does not have (a message sent to it
/// directly with another knob's name): `not_found`, naming the knob.
caf::error unknown_knob(const std::string& name);

} // namespace p21
