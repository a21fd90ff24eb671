// The metrics every subsystem declares, in one list: the exporter's help
// lines and `p21 check`'s reference read it.

#include "p21/cluster.hpp"
#include "p21/monitor.hpp"
#include "p21/profiling.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/protocol/subprocess.hpp"

namespace p21 {

const std::vector<metric_def>& metric_definitions() {
  static const std::vector<metric_def> defs = [] {
    std::vector<metric_def> out;
    auto add = [&out](const auto& list) {
      out.insert(out.end(), std::begin(list), std::end(list));
    };
    add(cache_metrics::all);
    add(db_pool_metrics::all);
    add(subprocess_metrics::all);
    add(monitor_metrics::all);
    add(optimizer_metrics::all);
    add(profiling_metrics::all);
    add(cluster_metrics::reported);
    return out;
  }();
  return defs;
}

const std::map<std::string, std::string>& metric_help() {
  static const std::map<std::string, std::string> help = [] {
    std::map<std::string, std::string> out;
    for (auto& d : metric_definitions())
      out.emplace(d.name, d.help);
    return out;
  }();
  return help;
}

} // namespace p21
