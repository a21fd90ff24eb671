// The monitor's handle (`p21::monitor`) and the metric definitions every
// exporter reads: no actor state here.

#include "p21/cluster.hpp"
#include "p21/monitor.hpp"
#include "p21/profiling.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/optimizer.hpp"
#include "p21/protocol/subprocess.hpp"
#include "p21/runtime.hpp"

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


// -- handle -------------------------------------------------------------------------

caf::expected<monitor> monitor::open(runtime& rt, const std::string& name) {
  if (!rt.component(name))
    return make_error(errc::not_found, "no monitor named '" + name + "'");
  return monitor{rt, name};
}

caf::expected<monitor_actor> monitor::actor() {
  return rt_->actor_of<monitor_actor>(name_);
}

caf::expected<performance_summary> monitor::summary() {
  auto h = actor();
  if (!h)
    return h.error();
  return rt_->request<performance_summary>(*h, rt_->settings().runtime.request_timeout,
                                           summary_atom::value);
}

caf::expected<performance_summary> monitor::sample() {
  auto h = actor();
  if (!h)
    return h.error();
  return rt_->request<performance_summary>(*h, rt_->settings().runtime.request_timeout,
                                           sample_atom::value);
}

caf::expected<std::vector<event>> monitor::events(uint64_t since) {
  auto h = actor();
  if (!h)
    return h.error();
  return rt_->request<std::vector<event>>(*h, rt_->settings().runtime.request_timeout,
                                          events_atom::value, since);
}

caf::expected<metric_set> monitor::metrics() {
  auto h = actor();
  if (!h)
    return h.error();
  return rt_->request<metric_set>(*h, rt_->settings().runtime.request_timeout, metrics_atom::value);
}

caf::expected<std::string> monitor::prometheus_text() {
  auto m = metrics();
  if (!m)
    return m.error();
  auto help = metric_help();
  for (auto& [k, v] : rt_->metrics().help())
    help.emplace(k, v);
  return render_prometheus({*m}, help);
}

} // namespace p21
