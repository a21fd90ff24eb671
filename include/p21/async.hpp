#pragma once

// Non-blocking calls from any thread: `p21::async_call` (the form of
// `rt.call`) and the machinery behind the handles' `async_*` forms. A call
// returns a `p21::future` at once; a few caller actors of the runtime send
// the requests and receive the replies (CAF `request(...).then(...)`), so
// no thread is parked per pending call. Retries (`call_options::retry`)
// wait as delayed messages to those actors, never as sleeping threads.

#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>

#include "p21/call_options.hpp"
#include "p21/cancel_token.hpp"
#include "p21/error.hpp"
#include "p21/future.hpp"
#include "p21/runtime.hpp"

namespace p21 {

namespace detail {

/// Work for a caller actor; local only, it never crosses a node.
struct async_job {
  std::function<void(caf::event_based_actor*)> run;
};

} // namespace detail
} // namespace p21

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(p21::detail::async_job)

namespace p21 {

/// The metric of retries (`p21_call_retries_total{component}`).
inline constexpr metric_def call_retries_metric{
    "call_retries", "Retries of non-blocking calls whose target was unavailable.",
    metric_kind::counter};

namespace detail {

using steady_clock = std::chrono::steady_clock;

/// Hands `job` to one of the runtime's caller actors; false (and `job`
/// dropped) when the runtime is shutting down.
bool post(runtime& rt, async_job job);

/// The counter of retries of calls to `component`.
counter& call_retries(runtime& rt, const std::string& component);

/// Logs an exception a future's callback threw (the caller actor goes on).
void report_callback_exception(const char* what) noexcept;

/// Sends one attempt's request to `target` within `timeout`; calls `done`
/// with the reply or the error and whether the request was sent (the
/// target may have acted on it before it failed). A component that can
/// drop work gets `token` with the request (the caller may cancel).
template <class R>
using asker = std::function<void(caf::event_based_actor* self, const caf::actor& target,
                                 caf::timespan timeout, const cancel_token& token,
                                 std::function<void(caf::expected<R>, bool)> done)>;

/// One non-blocking call in flight.
template <class R>
struct call_state {
  promise<R> done;
  runtime* rt = nullptr;
  std::string component;
  asker<R> ask;
  steady_clock::time_point deadline;
  retry_policy retry;
  /// Whether a request that was sent may be sent again (reads); writes
  /// retry only while the target cannot be reached.
  bool idempotent = false;
  /// Whether a retry starts a lazy component that is not running (never
  /// started, or unloaded by rule 4), as `runtime::actor_of` does.
  bool may_start = true;
  uint32_t attempts = 0;
  /// The first attempt's target, resolved on the caller's thread.
  caf::actor first;
  caf::error first_error;
  std::minstd_rand rng{std::random_device{}()};

  void deliver(caf::expected<R> x) noexcept {
    try {
      done.set(std::move(x));
    } catch (const std::exception& e) {
      report_callback_exception(e.what());
    } catch (...) {
      report_callback_exception("unknown exception");
    }
  }
};

template <class R>
void attempt(caf::event_based_actor* self, std::shared_ptr<call_state<R>> st);

template <class R>
void retry_or_fail(caf::event_based_actor* self, std::shared_ptr<call_state<R>> st,
                   caf::error e, bool sent) {
  auto& p = st->retry;
  bool may = retryable(e) && (!sent || st->idempotent || p.resend) &&
             (p.max_attempts == 0 || st->attempts < p.max_attempts) && !st->done.cancelled();
  if (may) {
    auto unit = std::uniform_real_distribution<double>{0.0, 1.0}(st->rng);
    auto wait = p.backoff(st->attempts, unit);
    if (steady_clock::now() + wait < st->deadline) {
      call_retries(*st->rt, st->component).inc();
      self->delayed_send(self, wait, async_job{[st](caf::event_based_actor* s) { attempt(s, st); }});
      return;
    }
  }
  st->deliver(std::move(e));
}

/// Sends the attempt's request to `target` (or retries its error).
template <class R>
void send_to(caf::event_based_actor* self, std::shared_ptr<call_state<R>> st,
             caf::expected<caf::actor> target) {
  if (st->done.cancelled())
    return; // the caller gave up while a lazy component started
  if (!target) {
    retry_or_fail(self, st, std::move(target.error()), false);
    return;
  }
  auto left = st->deadline - steady_clock::now();
  if (left <= caf::timespan{0}) {
    st->deliver(make_error(errc::timeout, "the call's deadline passed"));
    return;
  }
  st->ask(self, *target, std::chrono::duration_cast<caf::timespan>(left), st->done.token(),
          [self, st](caf::expected<R> r, bool sent) {
            if (r)
              st->deliver(std::move(r));
            else
              retry_or_fail(self, st, std::move(r.error()), sent);
          });
}

template <class R>
void attempt(caf::event_based_actor* self, std::shared_ptr<call_state<R>> st) {
  if (st->done.cancelled())
    return; // the caller gave up: nothing is sent
  ++st->attempts;
  if (st->attempts == 1) {
    if (st->first)
      send_to(self, st, std::move(st->first));
    else
      send_to<R>(self, st, std::move(st->first_error));
    return;
  }
  if (!st->may_start) {
    send_to(self, st, st->rt->running_actor_of(st->component));
    return;
  }
  // The current instance, or a lazy component rule 4 unloaded meanwhile
  // started again (as the blocking handles start it on use); the start is
  // a request from this actor, so no CAF thread waits for it.
  auto left = std::max(caf::timespan{0}, std::chrono::duration_cast<caf::timespan>(
                                             st->deadline - steady_clock::now()));
  st->rt->actor_of_async(self, st->component, left, [self, st](caf::expected<caf::actor> target) {
    send_to(self, st, std::move(target));
  });
}

/// Starts a call to component `component` of `rt`: resolves it here (a
/// lazy component starts on first use, on this thread, as with the
/// blocking forms), then hands the request to a caller actor. A retry
/// finds the current instance on the caller actor, starting a lazy
/// component that is not running without blocking it.
/// With `may_start` false (a call made on a CAF thread, e.g. from a
/// callback) the component is never started and nothing waits.
template <class R>
future<R> start_call(runtime& rt, std::string component, const call_options& opts,
                     caf::timespan default_budget, bool idempotent, asker<R> ask,
                     bool may_start = true) {
  auto st = std::make_shared<call_state<R>>();
  future<R> result{st->done};
  st->rt = &rt;
  st->component = std::move(component);
  st->ask = std::move(ask);
  st->retry = opts.retry;
  st->idempotent = idempotent;
  st->may_start = may_start;
  auto budget = opts.deadline > caf::timespan{0} ? opts.deadline : default_budget;
  st->deadline = steady_clock::now() + budget;
  if (!rt.accepting()) {
    st->deliver(make_error(errc::unavailable, "the runtime is shutting down"));
    return result;
  }
  auto first = may_start ? rt.actor_of(st->component) : rt.running_actor_of(st->component);
  if (first)
    st->first = std::move(*first);
  else if (retryable(first.error()))
    st->first_error = std::move(first.error());
  else {
    st->deliver(std::move(first.error()));
    return result;
  }
  // Dropped (the runtime stopping): `st` goes and completes the future.
  post(rt, async_job{[st](caf::event_based_actor* self) { attempt(self, st); }});
  return result;
}

/// The asker of a request `xs...` to a `Handle` replying `R`.
template <class R, class Handle, class... Ts>
asker<R> make_asker(Ts... xs) {
  return [args = std::make_tuple(std::move(xs)...)](
             caf::event_based_actor* self, const caf::actor& target, caf::timespan timeout,
             const cancel_token&, std::function<void(caf::expected<R>, bool)> done) {
    auto h = caf::actor_cast<Handle>(target);
    std::apply(
        [&](const auto&... ys) {
          self->request(h, timeout, ys...)
              .then([done](R& r) { done(caf::expected<R>{std::move(r)}, false); },
                    [done](caf::error& e) {
                      done(caf::expected<R>{normalize(std::move(e))}, true);
                    });
        },
        args);
  };
}

} // namespace detail

/// The non-blocking form of `rt.call<R>(name, xs...)`: returns at once.
/// Retries while `name` is unavailable (restarting) until the deadline;
/// a request that was sent is sent again only with `opts.retry.resend`
/// (the target may have acted on it). Default deadline: `[runtime]
/// request_timeout`.
template <class R, class... Ts>
future<R> async_call(runtime& rt, const std::string& name, const call_options& opts, Ts... xs) {
  return detail::start_call<R>(rt, name, opts, rt.settings().runtime.request_timeout, false,
                               detail::make_asker<R, caf::actor>(std::move(xs)...));
}

} // namespace p21
