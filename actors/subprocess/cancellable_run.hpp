#pragma once

// The subprocess pool's run with the caller's cancel token
// (`subprocess::async_run`), outside the public protocol, so a published
// pool's proxy never forwards it: a command still queued for a slot when
// the caller cancels is dropped, one running is ended as a timeout ends it.

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "p21/cancel_token.hpp"
#include "p21/protocol/subprocess.hpp"

namespace p21::subprocess_detail {

using cancellable_run_actor = caf::typed_actor<
    caf::replies_to<run_atom, command_request, cancel_token>::with<command_result>>;

} // namespace p21::subprocess_detail
