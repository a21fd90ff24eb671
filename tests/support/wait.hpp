#pragma once

// Bounded waits: a test synchronizes on a condition or a count, never on a
// bare sleep.

#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace p21::test {

/// Re-checks `pred` until it holds or `timeout` passes; for state that
/// settles right after an event the test already waited for.
template <class Predicate>
bool eventually(Predicate pred, std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::yield();
  }
  return true;
}

/// The value of `f`, or nothing when it is not ready within `timeout`.
template <class T>
std::optional<T> get_within(std::future<T>& f, std::chrono::milliseconds timeout) {
  if (f.wait_for(timeout) != std::future_status::ready)
    return std::nullopt;
  return f.get();
}

/// Counts events by name and lets a test wait for a count.
class event_log {
public:
  void record(const std::string& name) {
    std::lock_guard<std::mutex> guard{mtx_};
    ++counts_[name];
    order_.push_back(name);
    cv_.notify_all();
  }

  size_t count(const std::string& name) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = counts_.find(name);
    return i == counts_.end() ? 0 : i->second;
  }

  std::vector<std::string> order() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return order_;
  }

  /// Waits until `name` happened at least `n` times; false after `timeout`.
  bool await(const std::string& name, size_t n,
             std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
    std::unique_lock<std::mutex> guard{mtx_};
    return cv_.wait_for(guard, timeout, [&] { return counts_[name] >= n; });
  }

private:
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::map<std::string, size_t> counts_;
  std::vector<std::string> order_;
};

} // namespace p21::test
