#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace p21::detail {

/// The behavior of a caller actor of the non-blocking calls: it runs the
/// jobs it is sent (each sends a request and handles its reply).
caf::behavior async_caller_actor(caf::event_based_actor* self);

/// A runtime's caller actors, started on first use. A calling thread always
/// gets the same one, so that its calls reach each target in the order it
/// made them (CAF keeps one sender's messages to one receiver in order).
class async_callers {
public:
  /// One of them, starting `n` with `spawn` on first use; null once closed.
  caf::actor next(size_t n, const std::function<caf::actor()>& spawn);

  /// Forgets them (the runtime stops them with its other actors); `next`
  /// gives null from now on.
  void close();

private:
  std::mutex mtx_;
  bool closed_ = false;
  std::vector<caf::actor> actors_;
};

} // namespace p21::detail
