#include <algorithm>

#include "p21/cache.hpp"
#include "p21/cluster.hpp"
#include "p21/db.hpp"
#include "p21/monitor.hpp"
#include "p21/optimizer.hpp"
#include "p21/runtime.hpp"
#include "p21/subprocess.hpp"

namespace p21 {

// The subsystems a node starts: caches, db pool and subprocess pool start on
// first use; the monitor, the optimizer and (when configured) the HTTP
// endpoint start with the node.
std::vector<child_spec> standard_components(const config& cfg,
                                            std::shared_ptr<const node_view> view) {
  std::vector<child_spec> out;
  // A published actor runs from the start: peers look it up.
  auto& published = cfg.cluster.publish_actors;
  auto is_published = [&](const std::string& name) {
    return std::find(published.begin(), published.end(), name) != published.end();
  };
  for (auto& [name, nc] : cfg.cache.all())
    for (auto& spec : cache_components(name, nc, cfg.cache.load_timeout)) {
      if (is_published("cache." + name))
        spec.prio = priority::critical;
      out.push_back(std::move(spec));
    }
  out.push_back(db_pool_component("db_pool", cfg));
  if (is_published("db_pool"))
    out.back().prio = priority::critical;
  out.push_back(subprocess_component("subprocess", cfg));
  out.push_back(monitor_component("monitor", cfg, view));
  out.push_back(optimizer_component("optimizer", cfg, view));
  if (!cfg.http.listen.empty())
    out.push_back(http_component("http", cfg, view));
  for (auto& spec : cluster_components(cfg, view))
    out.push_back(std::move(spec));
  return out;
}

} // namespace p21
