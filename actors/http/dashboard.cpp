// The dashboard's routes: the page itself (GET /, dashboard.html built into
// the binary) and the two views it needs besides /summary and /events: the
// monitor's recent rounds (/history) and the component tree with each
// component's actor profile (/components).

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "dashboard.hpp"
#include "http_server.hpp"
#include "knobs_view.hpp"
#include "p21/monitor.hpp"
#include "p21/profiling.hpp"
#include "p21/request.hpp"

namespace p21 {

/// The page (generated from dashboard.html; see CMakeLists.txt).
extern const char dashboard_html[];

namespace {

using json = nlohmann::json;

constexpr auto monitor_timeout = std::chrono::seconds{3};

double seconds(timespan x) {
  return std::chrono::duration<double>(x).count();
}

double unix_seconds(caf::timestamp t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

using http_detail::request;
using http_detail::response;

response send_json(int status, const json& body) {
  response r;
  r.status = status;
  r.body = body.dump() + "\n";
  return r;
}

/// The running monitor, or an invalid handle.
caf::actor running_monitor(const node_view& view) {
  if (view.running)
    for (auto& [name, handle] : view.running())
      if (name == "monitor")
        return handle;
  return {};
}

/// Per component, its profile from the registry: mailbox depth, messages by
/// type, handler-time count and p95.
std::map<std::string, json> profiles(const node_view& view) {
  std::map<std::string, json> out;
  if (!view.registry)
    return out;
  auto m = view.registry->collect();
  auto of = [&](const std::map<std::string, std::string>& labels) -> json* {
    auto i = labels.find("component");
    if (i == labels.end())
      return nullptr;
    auto& p = out[i->second];
    if (p.is_null())
      p = {{"mailbox_depth", 0},       {"messages", json::object()},
           {"messages_total", 0},      {"handled", 0},
           {"handler_p50_seconds", 0}, {"handler_p95_seconds", 0},
           {"handler_p99_seconds", 0}};
    return &p;
  };
  for (auto& g : m.gauges)
    if (profiling_metrics::mailbox_depth.names(g.name))
      if (auto* p = of(g.labels))
        (*p)["mailbox_depth"] = std::max(0.0, g.value);
  for (auto& c : m.counters)
    if (profiling_metrics::messages.names(c.name))
      if (auto* p = of(c.labels)) {
        auto type = c.labels.count("type") ? c.labels.at("type") : std::string{"?"};
        (*p)["messages"][type] = c.value;
        (*p)["messages_total"] = (*p)["messages_total"].get<double>() + c.value;
      }
  for (auto& h : m.histograms)
    if (profiling_metrics::handler_seconds.names(h.name))
      if (auto* p = of(h.labels)) {
        (*p)["handled"] = h.count;
        (*p)["handler_p50_seconds"] = h.p50;
        (*p)["handler_p95_seconds"] = h.p95;
        (*p)["handler_p99_seconds"] = h.p99;
      }
  return out;
}

} // namespace

void dashboard_routes(http_detail::server& srv, caf::actor_system& sys,
                      std::shared_ptr<const node_view> view) {
  srv.get("/", [](const request&) {
    // Everything the page needs comes from this node: the policy says so to
    // the browser too.
    response r;
    r.headers["Content-Security-Policy"] =
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src 'self' data:";
    r.headers["Cache-Control"] = "no-store";
    r.body = dashboard_html;
    r.content_type = "text/html; charset=utf-8";
    return r;
  });
  srv.get("/history", [&sys, view](const request&) {
    auto monitor = running_monitor(*view);
    if (!monitor)
      return send_json(503, {{"error", "the monitor is not running"}});
    auto points = blocking_request<std::vector<history_point>>(
        sys, caf::actor_cast<monitor_actor>(monitor), monitor_timeout, history_atom::value);
    if (!points)
      return send_json(503, {{"error", render(points.error())}});
    json out = json::array();
    for (auto& p : *points)
      out.push_back({{"time", unix_seconds(p.time)},
                     {"health_score", p.health_score},
                     {"targets", p.targets}});
    return send_json(200, out);
  });
  srv.get("/components", [&sys, view](const request&) {
    if (!view->stats)
      return send_json(200, json::array());
    auto now = std::chrono::steady_clock::now() - view->epoch;
    auto profs = profiles(*view);
    json out = json::array();
    for (auto& c : view->stats()) {
      json j = {{"name", c.name},
                {"priority", to_string(c.prio)},
                {"running", c.running},
                {"unloaded", c.unloaded},
                {"starts", c.starts},
                {"restarts", c.restarts},
                {"use_count", c.use_count},
                {"uptime_seconds", nullptr},
                {"since_last_use_seconds", nullptr},
                {"profile", nullptr},
                {"knobs", knobs_json(sys, *view, c.knobs)}};
      if (c.running && c.start_time)
        j["uptime_seconds"] = seconds(now - *c.start_time);
      if (c.last_use)
        j["since_last_use_seconds"] = std::max(0.0, seconds(now - *c.last_use));
      if (auto i = profs.find(c.name); i != profs.end())
        j["profile"] = i->second;
      out.push_back(std::move(j));
    }
    return send_json(200, out);
  });
}

} // namespace p21
