#pragma once

#include <caf/fwd.hpp>

namespace p21::detail {

/// The behavior of a caller actor of the non-blocking calls: it runs the
/// jobs it is sent (each sends a request and handles its reply).
caf::behavior async_caller_actor(caf::event_based_actor* self);

} // namespace p21::detail
