#pragma once

// What a supervisor remembers of one child's knobs across the child's
// restarts: the value each knob was last set to at run time (what the owner
// held right after a set routed through the supervisor), so that a
// restarted owner is given it again instead of going back to its
// configured value. Plain logic, thread-safe: the slot
// that holds it outlives every instance of the child (and of a nested
// supervisor above it), and a reload clears it from the runtime's thread.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "p21/knob.hpp"

namespace p21::detail {

class kept_knobs {
public:
  /// A set of `knob` went to the owner: the ticket of the read that
  /// follows it.
  /// Only the reply to the latest ticket is kept, so replies that cross
  /// (a re-apply and a fresh set, a set and a reload) cannot bring back an
  /// older value.
  uint64_t begin_set(const std::string& knob);

  /// The owner held `value` after set `ticket`; kept unless a later set or
  /// a reload came since. Returns whether it was kept.
  bool accepted(const std::string& knob, uint64_t ticket, double value);

  /// The owner refused set `ticket` (or did not answer): unless a later set
  /// or a reload came since, the value is no longer kept (what the owner
  /// runs is the truth).
  void refused(const std::string& knob, uint64_t ticket);

  /// Forgets `knob`'s value; replies to sets sent before are ignored.
  void forget(const std::string& knob);

  /// Forgets every knob in `knobs` whose value starts from one of
  /// `changed_keys` (`knob_spec::config_keys`): the reloaded config is the
  /// truth. Returns the names forgotten.
  std::vector<std::string> forget_reloaded(const knob_specs& knobs,
                                           const std::vector<std::string>& changed_keys);

  /// The kept values, by knob name.
  std::vector<std::pair<std::string, double>> values() const;

private:
  struct entry {
    uint64_t ticket = 0;
    bool has_value = false;
    double value = 0;
  };
  mutable std::mutex mtx_;
  std::map<std::string, entry> entries_;
};

} // namespace p21::detail
