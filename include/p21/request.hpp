#pragma once

// Asking an actor from a plain thread and waiting for the answer, bounded.
// The one way Perfect21's own code does it (the runtime's pooled calls, a
// reload hook, the HTTP endpoint, the cluster's publish, the cache client);
// never call it from inside an actor, which must not block.

#include <utility>

#include <caf/actor_system.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/timespan.hpp>

namespace p21 {

/// What a failed blocking request reports: CAF's `request_timeout` becomes
/// `errc::timeout` "no reply within TIMEOUT", a receiver that is down
/// `errc::unavailable`; an error the target replied passes as it is.
caf::error request_failure(caf::error e, caf::timespan timeout);

/// Sends `xs...` to `target` through `self` and waits at most `timeout` for
/// one reply of type `R`. Errors are values (`request_failure`).
template <class R, class Handle, class... Ts>
caf::expected<R> blocking_request(caf::blocking_actor& self, const Handle& target,
                                  caf::timespan timeout, Ts&&... xs) {
  caf::expected<R> result{caf::sec::request_timeout};
  self.request(target, timeout, std::forward<Ts>(xs)...)
      .receive([&](R& x) { result = std::move(x); },
               [&](caf::error& e) { result = request_failure(std::move(e), timeout); });
  return result;
}

/// The same through a new (hidden) requester of `sys`.
template <class R, class Handle, class... Ts>
caf::expected<R> blocking_request(caf::actor_system& sys, const Handle& target,
                                  caf::timespan timeout, Ts&&... xs) {
  caf::scoped_actor self{sys, true};
  return blocking_request<R>(*self, target, timeout, std::forward<Ts>(xs)...);
}

} // namespace p21
