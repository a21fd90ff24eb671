// The HTTP endpoint: a bounded libmicrohttpd server on its own threads
// (never CAF's), asking the monitor for what each GET returns. Off unless
// `[http] listen` is set.

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "dashboard.hpp"
#include "http_server.hpp"
#include "knobs_view.hpp"
#include "p21/http_config.hpp"
#include "p21/monitor.hpp"
#include "p21/request.hpp"
#include "resources_json.hpp"

namespace p21 {

namespace {

using json = nlohmann::json;

constexpr auto monitor_timeout = std::chrono::seconds{3};

struct http_state {
  std::shared_ptr<http_detail::server> server;
  int port = 0;

  static inline const char* name = "p21.http";

  ~http_state() {
    // Bounded by the slowest running handler (a monitor request, at most
    // monitor_timeout), never by a client.
    if (server)
      server->stop();
  }
};

json to_json(const performance_summary& s) {
  return {{"health_score", s.health_score},
          {"status", s.status},
          {"system", s.system},
          {"subsystems", s.subsystems},
          {"active_alerts", s.active_alerts},
          {"baselines", s.baselines},
          {"targets", s.targets},
          {"trends", s.trends},
          {"samples", s.samples}};
}

json to_json(const event& e) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(e.time.time_since_epoch()).count();
  return {{"seq", e.seq},   {"time", double(ns) / 1e9}, {"kind", e.kind},
          {"name", e.name}, {"message", e.message},     {"value", e.value}};
}

/// Asks the monitor from a server thread; an error text on failure.
template <class R, class... Ts>
caf::expected<R> ask_monitor(caf::actor_system& sys, const node_view& view, Ts... xs) {
  caf::actor monitor;
  if (view.running)
    for (auto& [name, handle] : view.running())
      if (name == "monitor")
        monitor = handle;
  if (!monitor)
    return make_error(errc::unavailable, "the monitor is not running");
  return blocking_request<R>(sys, monitor, monitor_timeout, xs...);
}

using http_detail::request;
using http_detail::response;

response send_json(int status, const json& body) {
  response r;
  r.status = status;
  r.body = body.dump(2) + "\n";
  return r;
}

response unavailable(const caf::error& e) {
  return send_json(503, {{"error", render(e)}});
}

/// The route table: one `srv.get(PATH, HANDLER)` line per route. A GET to
/// another path is 404, another method on a known path 405.
void routes(http_detail::server& srv, caf::actor_system& sys, std::shared_ptr<const node_view> view,
            std::map<std::string, std::string> help) {
  srv.get("/metrics", [&sys, view, help](const request& req) {
    auto m = ask_monitor<metric_set>(sys, *view, metrics_atom::value);
    if (!m)
      return unavailable(m.error());
    auto all_help = help;
    if (view->registry)
      for (auto& [k, v] : view->registry->help())
        all_help.emplace(k, v);
    // The `p21_` families, then the standard process collector's.
    auto text = render_prometheus({*m}, all_help) + render_process_metrics(read_process());
    response r;
    if (wants_openmetrics(req.header("Accept").value_or(""))) {
      r.body = to_openmetrics(text);
      r.content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    } else {
      r.body = std::move(text);
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    }
    return r;
  });
  srv.get("/health", [&sys, view](const request&) {
    auto s = ask_monitor<performance_summary>(sys, *view, summary_atom::value);
    if (!s)
      return unavailable(s.error());
    return send_json(
        s->status == "unhealthy" ? 503 : 200,
        {{"status", s->status}, {"health_score", s->health_score}, {"alerts", s->active_alerts}});
  });
  srv.get("/summary", [&sys, view](const request&) {
    auto s = ask_monitor<performance_summary>(sys, *view, summary_atom::value);
    if (!s)
      return unavailable(s.error());
    auto body = to_json(*s);
    if (view->resources)
      body["resources"] = http_detail::resources_json(*view->resources);
    body["knobs"] = all_knobs_json(sys, *view);
    return send_json(200, body);
  });
  srv.get("/events", [&sys, view](const request& req) {
    uint64_t since = 0;
    if (auto text = req.param("since")) {
      auto n = http_detail::parse_sequence_number(*text);
      if (!n)
        return send_json(400, {{"error", "since: expected a sequence number"}});
      since = *n;
    }
    auto evs = ask_monitor<std::vector<event>>(sys, *view, events_atom::value, since);
    if (!evs)
      return unavailable(evs.error());
    json out = json::array();
    for (auto& e : *evs)
      out.push_back(to_json(e));
    return send_json(200, out);
  });
  dashboard_routes(srv, sys, view);
}

/// The limits of `[http]`.
http_detail::limits limits_of(const http_config& c) {
  http_detail::limits lim;
  lim.max_connections = c.max_connections;
  lim.max_connections_per_ip = c.max_connections_per_ip;
  lim.reserved_connections = c.reserved_connections;
  lim.allowed_hosts = c.allowed_hosts;
  lim.idle_timeout = std::max(std::chrono::seconds{1},
                              std::chrono::duration_cast<std::chrono::seconds>(c.idle_timeout));
  lim.request_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(c.request_timeout);
  lim.max_header_bytes = c.max_header_bytes;
  lim.max_headers = c.max_headers;
  lim.threads = c.threads;
  return lim;
}

caf::behavior http_fun(caf::stateful_actor<http_state>* self,
                       std::shared_ptr<http_detail::server> srv, std::string host, int port) {
  auto& st = self->state;
  st.server = std::move(srv);
  st.port = port;
  spdlog::info("HTTP endpoint on http://{}:{} (/metrics /health /summary /events; dashboard at /)",
               host, port);
  return {
      [=](get_atom) { return self->state.port; },
  };
}

} // namespace

child_spec http_component(const std::string& name, const config& cfg,
                          std::shared_ptr<const node_view> view) {
  auto colon = cfg.get<http_config>().listen.rfind(':');
  auto host = cfg.get<http_config>().listen.substr(0, colon);
  auto port = std::stoi(cfg.get<http_config>().listen.substr(colon + 1));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  child_spec spec;
  spec.name = name;
  spec.prio = priority::critical;
  spec.depends_on = {"monitor"};
  auto lim = limits_of(cfg.get<http_config>());
  spec.start = [host, port, view, lim](caf::actor_system& sys) -> caf::expected<caf::actor> {
    auto srv = std::make_shared<http_detail::server>(lim);
    routes(*srv, sys, view, metric_help());
    int bound = 0;
    try { // the server (plain C++, no CAF) throws when it cannot listen
      bound = srv->start(host, port);
    } catch (const std::exception& e) {
      return make_error(errc::unavailable, e.what());
    }
    return sys.spawn<caf::detached>(http_fun, srv, host, bound);
  };
  return spec;
}

} // namespace p21
