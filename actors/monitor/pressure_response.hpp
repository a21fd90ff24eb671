#pragma once

// The monitor's answer to memory pressure, without waiting for the
// optimizer's round: every cache shrinks by a share, the database pool
// closes its idle overflow, then the node actor calls every pressure
// handler and trims the heap. The optimizer is woken next, so that the
// memory_pressure rule judges with fresh numbers.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "p21/protocol/atoms.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/metrics.hpp"
#include "p21/protocol/node.hpp"
#include "p21/subsystem.hpp"
#include "pressure_watcher.hpp"

namespace p21 {

/// Whom memory pressure asks to give memory back, known by the typed stats
/// of their last metrics.
struct relief_targets {
  std::vector<std::string> caches;
  std::vector<std::string> pools;
};

relief_targets relief_targets_of(const std::map<std::string, metric_set>& by_component);

/// What the relief did, for the event and the log.
struct relief_outcome {
  size_t caches = 0;
  uint64_t entries = 0;
  uint64_t bytes = 0;
  size_t handlers = 0;
  bool heap_trimmed = false;
  std::string error;
  /// From the event to the node actor's reply.
  std::chrono::nanoseconds reaction{0};
};

/// "budget: RSS 612 MiB above 512 MiB; 2 cache(s) gave back 1000 entries
/// (1 MiB), 3 handler(s) called, heap trimmed, 840 us after detection".
std::string describe(const pressure_event& e, const relief_outcome& r);

/// Sends the shrinks and the pool's release from `self`, then the node
/// actor's `memory_pressure`; calls `done` once that replied (or failed).
template <class Self>
void relieve_memory(Self self, const node_view& view, const relief_targets& targets,
                    double fraction, pressure_event event,
                    std::function<void(const pressure_event&, const relief_outcome&)> done) {
  constexpr auto timeout = std::chrono::seconds{5};
  auto out = std::make_shared<relief_outcome>();
  auto node = view.node;
  auto finish = [self, node, fraction, event, out, done] {
    auto end = [=] {
      out->reaction = std::chrono::steady_clock::now() - event.seen;
      done(event, *out);
    };
    if (!node) {
      out->error = "no node actor";
      end();
      return;
    }
    self->request(node, timeout, memory_pressure_atom::value, fraction)
        .then(
            [=](pressure_relief& r) {
              out->handlers = r.handlers;
              out->heap_trimmed = r.heap_trimmed;
              end();
            },
            [=](caf::error& e) {
              out->error = caf::to_string(e);
              end();
            });
  };
  std::vector<std::pair<caf::actor, bool>> sends; // handle, is a cache
  if (view.running)
    for (auto& [name, handle] : view.running()) {
      auto in = [&](const std::vector<std::string>& xs) {
        return std::find(xs.begin(), xs.end(), name) != xs.end();
      };
      if (in(targets.caches))
        sends.emplace_back(handle, true);
      else if (in(targets.pools))
        sends.emplace_back(handle, false);
    }
  if (sends.empty()) {
    finish();
    return;
  }
  auto left = std::make_shared<size_t>(sends.size());
  auto one_done = [left, finish] {
    if (--*left == 0)
      finish();
  };
  for (auto& [handle, is_cache] : sends) {
    if (is_cache)
      self->request(handle, timeout, shrink_atom::value, fraction)
          .then(
              [=](shrink_result& r) {
                ++out->caches;
                out->entries += r.entries;
                out->bytes += r.bytes;
                one_done();
              },
              [=](caf::error&) { one_done(); });
    else
      self->request(handle, timeout, release_memory_atom::value)
          .then([=](uint64_t) { one_done(); }, [=](caf::error&) { one_done(); });
  }
}

} // namespace p21
