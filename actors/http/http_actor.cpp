// The HTTP endpoint: cpp-httplib on its own threads (never CAF's), asking
// the monitor for what each GET returns. Off unless `[http] listen` is set.

#include <algorithm>
#include <thread>

#include <caf/all.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "dashboard.hpp"
#include "p21/monitor.hpp"

namespace p21 {

namespace {

using json = nlohmann::json;

constexpr auto monitor_timeout = std::chrono::seconds{3};

struct http_state {
  std::shared_ptr<httplib::Server> server;
  std::thread thread;
  int port = 0;

  static inline const char* name = "p21.http";

  ~http_state() {
    if (server)
      server->stop();
    if (thread.joinable())
      thread.join();
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

/// Asks the monitor from an httplib thread; an error text on failure.
template <class R, class... Ts>
caf::expected<R> ask_monitor(caf::actor_system& sys, const node_view& view, Ts... xs) {
  caf::actor monitor;
  if (view.running)
    for (auto& [name, handle] : view.running())
      if (name == "monitor")
        monitor = handle;
  if (!monitor)
    return make_error(errc::unavailable, "the monitor is not running");
  caf::expected<R> out{make_error(errc::timeout, "the monitor did not answer")};
  {
    caf::scoped_actor self{sys};
    self->request(monitor, monitor_timeout, xs...)
        .receive([&](R& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); });
  }
  return out;
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(2) + "\n", "application/json");
}

void unavailable(httplib::Response& res, const caf::error& e) {
  send_json(res, 503, {{"error", render(e)}});
}

void routes(httplib::Server& srv, caf::actor_system& sys, std::shared_ptr<const node_view> view,
            std::map<std::string, std::string> help) {
  srv.Get("/metrics", [&sys, view, help](const httplib::Request& req, httplib::Response& res) {
    auto m = ask_monitor<metric_set>(sys, *view, metrics_atom::value);
    if (!m)
      return unavailable(res, m.error());
    auto all_help = help;
    if (view->registry)
      for (auto& [k, v] : view->registry->help())
        all_help.emplace(k, v);
    // The `p21_` families, then the standard process collector's.
    auto text = render_prometheus({*m}, all_help) + render_process_metrics(read_process());
    if (wants_openmetrics(req.get_header_value("Accept")))
      res.set_content(to_openmetrics(text),
                      "application/openmetrics-text; version=1.0.0; charset=utf-8");
    else
      res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  });
  srv.Get("/health", [&sys, view](const httplib::Request&, httplib::Response& res) {
    auto s = ask_monitor<performance_summary>(sys, *view, summary_atom::value);
    if (!s)
      return unavailable(res, s.error());
    send_json(
        res, s->status == "unhealthy" ? 503 : 200,
        {{"status", s->status}, {"health_score", s->health_score}, {"alerts", s->active_alerts}});
  });
  srv.Get("/summary", [&sys, view](const httplib::Request&, httplib::Response& res) {
    auto s = ask_monitor<performance_summary>(sys, *view, summary_atom::value);
    if (!s)
      return unavailable(res, s.error());
    send_json(res, 200, to_json(*s));
  });
  srv.Get("/events", [&sys, view](const httplib::Request& req, httplib::Response& res) {
    uint64_t since = 0;
    if (req.has_param("since")) {
      auto text = req.get_param_value("since");
      if (text.empty() || text.size() > 19 ||
          text.find_first_not_of("0123456789") != std::string::npos)
        return send_json(res, 400, {{"error", "since: expected a sequence number"}});
      since = std::stoull(text);
    }
    auto evs = ask_monitor<std::vector<event>>(sys, *view, events_atom::value, since);
    if (!evs)
      return unavailable(res, evs.error());
    json out = json::array();
    for (auto& e : *evs)
      out.push_back(to_json(e));
    send_json(res, 200, out);
  });
  dashboard_routes(srv, sys, view);
  // Known paths with another method: 405; anything else: 404.
  auto other = [](const httplib::Request& req, httplib::Response& res) {
    static const std::set<std::string> known = {"/metrics", "/health", "/summary", "/events"};
    if (known.count(req.path) ||
        std::count(std::begin(dashboard_paths), std::end(dashboard_paths), req.path)) {
      res.set_header("Allow", "GET");
      send_json(res, 405, {{"error", "method not allowed; use GET"}});
    } else {
      send_json(res, 404, {{"error", "not found"}});
    }
  };
  srv.Post(".*", other);
  srv.Put(".*", other);
  srv.Patch(".*", other);
  srv.Delete(".*", other);
  srv.Options(".*", other);
  srv.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404)
      send_json(res, 404, {{"error", "not found"}});
  });
}

/// A server with its routes, bound to `host:port` (0: any free port).
std::pair<std::shared_ptr<httplib::Server>, int>
bind_server(caf::actor_system& sys, const std::string& host, int port,
            std::shared_ptr<const node_view> view) {
  auto srv = std::make_shared<httplib::Server>();
  // A slow or malformed client cannot stall the node: bounded reads and
  // writes, small requests, a small pool of handler threads.
  srv->set_read_timeout(5, 0);
  srv->set_write_timeout(5, 0);
  srv->set_keep_alive_timeout(5);
  srv->set_keep_alive_max_count(100);
  srv->set_payload_max_length(64 * 1024);
  srv->new_task_queue = [] {
    return new httplib::ThreadPool(4);
  };
  // httplib's default adds SO_REUSEPORT, which would let a second node
  // share the port silently; a port in use must be an error.
  srv->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  routes(*srv, sys, std::move(view), metric_help());
  int bound = port == 0 ? srv->bind_to_any_port(host.c_str())
                        : (srv->bind_to_port(host.c_str(), port) ? port : -1);
  if (bound <= 0)
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) +
                             " (address in use or not available)");
  return {srv, bound};
}

caf::behavior http_fun(caf::stateful_actor<http_state>* self, std::shared_ptr<httplib::Server> srv,
                       std::string host, int port) {
  auto& st = self->state;
  st.server = std::move(srv);
  st.port = port;
  auto raw = st.server.get();
  st.thread = std::thread{[raw] {
    raw->listen_after_bind();
  }};
  spdlog::info("HTTP endpoint on http://{}:{} (/metrics /health /summary /events; dashboard at /)",
               host, port);
  return {
      [=](get_atom) { return self->state.port; },
  };
}

} // namespace

child_spec http_component(const std::string& name, const config& cfg,
                          std::shared_ptr<const node_view> view) {
  auto colon = cfg.http.listen.rfind(':');
  auto host = cfg.http.listen.substr(0, colon);
  auto port = std::stoi(cfg.http.listen.substr(colon + 1));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  child_spec spec;
  spec.name = name;
  spec.prio = priority::critical;
  spec.depends_on = {"monitor"};
  spec.start = [host, port, view](caf::actor_system& sys) {
    auto [srv, bound] = bind_server(sys, host, port, view);
    return sys.spawn<caf::detached>(http_fun, srv, host, bound);
  };
  return spec;
}

} // namespace p21
