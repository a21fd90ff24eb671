#pragma once

// p21::future<T>: the result of a non-blocking call (`db::async_query`,
// `p21::async_call`, ...), for code that is not a CAF actor. It holds a
// `caf::expected<T>` once the call completes; no thread waits for it
// unless the caller chooses to (`get`, `get_for`).

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "p21/cancel_token.hpp"
#include "p21/error.hpp"

namespace p21 {

namespace detail {

/// What a future and its completer share. Completes once: with a result,
/// or with `cancelled` by `cancel`.
template <class T>
class future_state {
public:
  using callback = std::function<void(caf::expected<T>)>;

  /// Stores `x` and runs the callback, if one is set, on this thread. False
  /// when the state had completed (or was cancelled) already.
  bool complete(caf::expected<T> x) {
    std::unique_lock<std::mutex> guard{mtx_};
    if (result_)
      return false;
    result_ = std::move(x);
    if (!callback_) {
      cv_.notify_all();
      return true;
    }
    run_callback(guard);
    return true;
  }

  /// Sets the callback; runs it at once (here) when the result is there.
  void then(callback f) {
    std::unique_lock<std::mutex> guard{mtx_};
    if (cancelled_ || callback_ || consumed_ || closed_)
      return;
    callback_ = std::move(f);
    if (result_)
      run_callback(guard);
  }

  caf::expected<T> get_for(caf::timespan t) {
    std::unique_lock<std::mutex> guard{mtx_};
    if (!cv_.wait_for(guard, t, [&] { return result_.has_value(); }))
      return make_error(errc::timeout, "the call did not complete within the wait");
    return copy_result();
  }

  caf::expected<T> get() {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait(guard, [&] { return result_.has_value(); });
    return copy_result();
  }

  bool ready() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return result_.has_value();
  }

  bool cancelled() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return cancelled_;
  }

  /// After it returns the callback is not running (unless on this very
  /// thread, from inside it) and never will. True when the call had not
  /// completed yet.
  bool cancel() {
    callback doomed;
    std::unique_lock<std::mutex> guard{mtx_};
    if (running_ && runner_ != std::this_thread::get_id())
      cv_.wait(guard, [&] { return !running_; });
    doomed = std::move(callback_);
    callback_ = nullptr;
    if (result_) {
      closed_ = true; // a callback set later must not run either
      return false;
    }
    cancelled_ = true;
    consumed_ = true;
    result_ = caf::expected<T>{make_error(errc::cancelled, "the caller cancelled the call")};
    cv_.notify_all();
    guard.unlock();
    // Outside the lock: the components' hooks send their withdrawals.
    token_.cancel();
    return true;
  }

  /// What the call's requests carry, so components can drop its work.
  const cancel_token& token() const noexcept { return token_; }

private:
  caf::expected<T> copy_result() {
    if (consumed_ && !cancelled_)
      return make_error(errc::invalid_argument, "the result went to the future's callback");
    return *result_;
  }

  /// Hands the result to the callback outside the lock.
  void run_callback(std::unique_lock<std::mutex>& guard) {
    auto f = std::move(callback_);
    callback_ = nullptr;
    consumed_ = true;
    running_ = true;
    runner_ = std::this_thread::get_id();
    auto x = std::move(*result_);
    *result_ = caf::expected<T>{make_error(errc::invalid_argument, "consumed")};
    guard.unlock();
    f(std::move(x));
    guard.lock();
    running_ = false;
    cv_.notify_all();
  }

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::optional<caf::expected<T>> result_;
  callback callback_;
  bool cancelled_ = false;
  /// The result went to a callback (or the future was cancelled).
  bool consumed_ = false;
  /// Cancelled after completion: `get` still answers, no callback runs.
  bool closed_ = false;
  bool running_ = false;
  std::thread::id runner_;
  const cancel_token token_ = cancel_token::make();
};

} // namespace detail

/// The producing side of a future: `set` completes it. Destroyed without a
/// result (its request dropped because the runtime stopped), it completes
/// the future with `unavailable`, so no caller waits forever.
template <class T>
class promise {
public:
  promise()
    : state_(std::make_shared<detail::future_state<T>>()) {}

  promise(const promise&) = delete;
  promise& operator=(const promise&) = delete;
  promise(promise&&) noexcept = default;

  promise& operator=(promise&& other) noexcept {
    if (this != &other) {
      abandon();
      state_ = std::move(other.state_);
    }
    return *this;
  }

  ~promise() { abandon(); }

  /// Completes the future (the first `set` wins).
  void set(caf::expected<T> x) {
    if (state_)
      state_->complete(std::move(x));
  }

  /// Whether the caller cancelled: work for it can be dropped.
  bool cancelled() const { return state_ && state_->cancelled(); }

  /// The call's cancel token, for the requests that do its work.
  cancel_token token() const { return state_ ? state_->token() : cancel_token{}; }

  const std::shared_ptr<detail::future_state<T>>& state() const noexcept { return state_; }

private:
  void abandon() noexcept {
    if (!state_)
      return;
    try {
      state_->complete(make_error(errc::unavailable, "the runtime stopped before the call completed"));
    } catch (...) {
      // A callback that throws here has nobody left to tell.
    }
  }

  std::shared_ptr<detail::future_state<T>> state_;
};

/// The result of a non-blocking call. Cheap to copy (copies share the call).
///
/// `then(f)` runs `f(caf::expected<T>)` once: on the runtime's thread that
/// completes the call (a CAF scheduler thread: keep `f` short and never
/// block in it; post to your own loop), or at once on the calling thread
/// when the call has completed already. The result goes to either the
/// callback or `get`, not both. Every call has a deadline, so a future
/// always completes: with the result, an error (`timeout`, `unavailable`
/// when the runtime stopped first, ...) or `cancelled`. No callback runs
/// after `runtime::stop()` has returned.
template <class T>
class future {
public:
  using value_type = T;

  future() = default;
  explicit future(std::shared_ptr<detail::future_state<T>> state)
    : state_(std::move(state)) {}
  explicit future(const promise<T>& p)
    : state_(p.state()) {}

  /// False for a default-constructed future.
  bool valid() const noexcept { return static_cast<bool>(state_); }

  /// Whether the call has completed (or was cancelled).
  bool ready() const { return state_ && state_->ready(); }

  /// Runs `f(caf::expected<T>)` when the call completes (see the class).
  template <class F>
  void then(F&& f) {
    if (state_)
      state_->then(typename detail::future_state<T>::callback{std::forward<F>(f)});
  }

  /// Waits for the result.
  caf::expected<T> get() {
    if (!state_)
      return make_error(errc::invalid_argument, "an empty future");
    return state_->get();
  }

  /// Waits at most `t`; `timeout` when the call has not completed by then
  /// (the call goes on: `cancel` it to drop it).
  caf::expected<T> get_for(caf::timespan t) {
    if (!state_)
      return make_error(errc::invalid_argument, "an empty future");
    return state_->get_for(t);
  }

  /// Drops the call: the callback will not run (cancel waits for one that
  /// is running on another thread), `get` returns `cancelled`, and no
  /// retry is sent. Best effort for a request already sent: the db pool
  /// drops a statement still queued and interrupts one running, the
  /// subprocess pool drops a queued command and kills a running one; other
  /// components finish it. Nothing done is undone (a committed write stays
  /// committed). False when it had completed already.
  bool cancel() { return state_ && state_->cancel(); }

private:
  std::shared_ptr<detail::future_state<T>> state_;
};

/// A future that has its result already (a cache hit, a refused argument).
template <class T>
future<T> make_ready_future(caf::expected<T> x) {
  promise<T> p;
  p.set(std::move(x));
  return future<T>{p};
}

} // namespace p21
