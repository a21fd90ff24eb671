// The monitor's handle (`p21::monitor`): no actor state here.

#include "p21/monitor.hpp"
#include "p21/runtime.hpp"

namespace p21 {

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
