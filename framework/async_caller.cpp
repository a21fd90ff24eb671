// The caller actors behind `p21/async.hpp`: event-based, so a pending call
// costs a response handler, not a thread.

#include "detail/async_caller.hpp"

#include <functional>
#include <thread>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "p21/async.hpp"

namespace p21::detail {

caf::behavior async_caller_actor(caf::event_based_actor* self) {
  return {
      [self](async_job& job) {
        try {
          job.run(self);
        } catch (const std::exception& e) {
          report_callback_exception(e.what());
        }
      },
  };
}

caf::actor async_callers::next(size_t n, const std::function<caf::actor()>& spawn) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (closed_)
    return {};
  if (actors_.empty())
    for (size_t i = 0; i < std::max<size_t>(n, 1); ++i)
      actors_.push_back(spawn());
  // Round robin would let two writes of one thread overtake each other.
  return actors_[std::hash<std::thread::id>{}(std::this_thread::get_id()) % actors_.size()];
}

void async_callers::close() {
  std::lock_guard<std::mutex> guard{mtx_};
  closed_ = true;
  actors_.clear();
}

bool post(runtime& rt, async_job job) {
  auto caller = rt.async_caller();
  if (!caller)
    return false;
  caf::anon_send(caller, std::move(job));
  return true;
}

counter& call_retries(runtime& rt, const std::string& component) {
  return rt.metrics().make_counter(call_retries_metric, {{"component", component}});
}

void report_callback_exception(const char* what) noexcept {
  try {
    spdlog::error("a non-blocking call's callback threw: {}", what);
  } catch (...) {
    // nothing left to report with
  }
}

} // namespace p21::detail
