#pragma once

// p21::cancel_token: what a component sees of a non-blocking call whose
// caller cancelled it (`future::cancel`). The components that can withdraw
// work look at it where queued work is taken up (the db pool, the
// subprocess pool), so work for a caller who gave up is dropped, not done.
// Local only: it never crosses a node.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

namespace p21 {

/// Shared by a future and the requests of its call; cheap to copy.
class cancel_token {
public:
  /// A token that is never cancelled (a call without a future).
  cancel_token() = default;

  /// A fresh token, which `cancel` cancels.
  static cancel_token make() {
    cancel_token t;
    t.st_ = std::make_shared<state>();
    return t;
  }

  /// Whether the caller cancelled.
  bool cancelled() const noexcept { return st_ && st_->flag.load(std::memory_order_acquire); }

  /// Runs `f` once, on the thread that cancels (at once, here, when the
  /// token is cancelled already); never for a token that is not cancelled.
  /// Keep `f` short and non-blocking: send a message.
  void on_cancel(std::function<void()> f) const {
    if (!st_)
      return;
    {
      std::lock_guard<std::mutex> guard{st_->mtx};
      if (!st_->flag.load(std::memory_order_relaxed)) {
        st_->hooks.push_back(std::move(f));
        return;
      }
    }
    run(f);
  }

  /// Cancels and runs the `on_cancel` functions here. False when it was
  /// cancelled already, or is a token that never cancels.
  bool cancel() const {
    if (!st_)
      return false;
    std::vector<std::function<void()>> hooks;
    {
      std::lock_guard<std::mutex> guard{st_->mtx};
      if (st_->flag.exchange(true, std::memory_order_acq_rel))
        return false;
      hooks.swap(st_->hooks);
    }
    for (auto& f : hooks)
      run(f);
    return true;
  }

private:
  struct state {
    std::atomic<bool> flag{false};
    std::mutex mtx;
    std::vector<std::function<void()>> hooks;
  };

  static void run(const std::function<void()>& f) noexcept {
    try {
      f();
    } catch (...) {
      // A hook only sends a message; the flag stays set for the checks.
    }
  }

  std::shared_ptr<state> st_;
};

} // namespace p21

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(p21::cancel_token)
