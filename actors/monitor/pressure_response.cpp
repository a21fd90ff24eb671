#include "pressure_response.hpp"

#include "p21/protocol/db_pool.hpp"

namespace p21 {

relief_targets relief_targets_of(const std::map<std::string, metric_set>& by_component) {
  relief_targets out;
  for (auto& [name, m] : by_component)
    for (auto& [key, msg] : m.stats) {
      if (msg.match_elements<cache_stats>()) {
        out.caches.push_back(name);
        break;
      }
      if (msg.match_elements<db_pool_stats>()) {
        out.pools.push_back(name);
        break;
      }
    }
  return out;
}

std::string describe(const pressure_event& e, const relief_outcome& r) {
  auto mib = [](uint64_t b) { return std::to_string(b >> 20) + " MiB"; };
  std::string text = e.source == "budget"
                         ? "RSS " + mib(e.rss_bytes) + " above the budget of " + mib(e.budget)
                         : "the kernel's PSI trigger fired (RSS " + mib(e.rss_bytes) + ")";
  text += "; " + std::to_string(r.caches) + " cache(s) gave back " + std::to_string(r.entries) +
          " entries (" + std::to_string(r.bytes) + " bytes), ";
  if (!r.error.empty())
    text += "pressure handlers not called: " + r.error;
  else
    text += std::to_string(r.handlers) + " handler(s) called, heap " +
            (r.heap_trimmed ? "trimmed" : "had nothing to trim");
  text += ", " + std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(r.reaction)
                                    .count()) +
          " us after detection";
  return text;
}

} // namespace p21
