// The caller actors behind `p21/async.hpp`: event-based, so a pending call
// costs a response handler, not a thread.

#include "detail/async_caller.hpp"

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
