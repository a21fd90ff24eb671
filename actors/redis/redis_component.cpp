#include "redis_component.hpp"

#include <caf/all.hpp>

#include "p21/protocol/atoms.hpp"
#include "redis_tier.hpp"

namespace p21::redis_detail {

child_spec redis_component(std::shared_ptr<redis_tier> tier) {
  child_spec spec;
  spec.name = "redis";
  spec.prio = priority::critical;
  spec.shared.put(tier);
  spec.start = [tier](caf::actor_system& sys) -> caf::expected<caf::actor> {
    // A refused login is the node's start error; an absent server is
    // retried in the background.
    if (auto err = tier->start())
      return err;
    return sys.spawn([tier](caf::event_based_actor* self) -> caf::behavior {
      self->attach_functor([tier](const caf::error&) { tier->stop(); });
      return {
          [tier](metrics_atom) { return tier->metrics(); },
      };
    });
  };
  return spec;
}

} // namespace p21::redis_detail
