#pragma once

// The node actor's typed interface. The node actor owns what belongs to the
// node as a whole rather than to one subsystem: the log file, the memory
// pressure handlers of `runtime::resources()` with the process heap, and the
// state directory (`[runtime] state_dir`). The optimizer's rules 1, 4 and 7
// reach those resources only through these messages.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

namespace p21 {

/// Rotates the log file: FILE becomes FILE.1; replies false when the node
/// logs to no file.
using rotate_logs_atom = caf::atom_constant<caf::atom("rotatelogs")>;
/// Gives back a fraction of memory: every pressure handler, then the heap.
using memory_pressure_atom = caf::atom_constant<caf::atom("mempress")>;
/// Saves the components to start with the node next time (rule 4).
using preload_atom = caf::atom_constant<caf::atom("preload")>;

/// What a `memory_pressure` message did.
struct pressure_relief {
  /// Pressure handlers called (object pools, user handlers).
  uint64_t handlers = 0;
  /// Whether `malloc_trim` returned memory to the system.
  bool heap_trimmed = false;
  /// How long the handlers and the trim took.
  caf::timespan took{0};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pressure_relief& x) {
  return f(caf::meta::type_name("p21.pressure_relief"), x.handlers, x.heap_trimmed, x.took);
}

/// The node actor. `preload` replies with the file it wrote, or an empty
/// string when the node has no state directory (an in-memory database and no
/// `state_dir`); a write that fails is an error and leaves the previous list
/// whole. `memory_pressure` refuses a fraction outside (0, 1].
using node_actor =
    caf::typed_actor<caf::replies_to<rotate_logs_atom>::with<bool>,
                     caf::replies_to<memory_pressure_atom, double>::with<pressure_relief>,
                     caf::replies_to<preload_atom, std::vector<std::string>>::with<std::string>>;

} // namespace p21
