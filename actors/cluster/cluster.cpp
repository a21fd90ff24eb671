// The cluster: a gateway actor a node publishes through CAF's middleman
// (plain or TLS), kept alive by its keeper, and the subsystem that puts it
// and the peers' stubs (stubs.cpp) into a node.

#include "p21/cluster.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <spdlog/spdlog.h>

#include "descriptors.hpp"
#include "frame_guard.hpp"
#include "p21/cache.hpp"
#include "p21/cluster_config.hpp"
#include "p21/config_schema.hpp"
#include "p21/db.hpp"
#include "p21/log_limits.hpp"
#include "p21/metrics.hpp"
#include "p21/request.hpp"
#include "p21/subsystems.hpp"
#include "public_interface.hpp"
#include "stubs.hpp"
#include "tls_records.hpp"
#include "tls_transport.hpp"

namespace p21 {

namespace {

using clock = std::chrono::steady_clock;
using cluster_detail::guard_limits_of;
using cluster_detail::stub_component;
using cluster_detail::tls_module_missing;

// -- gateway ------------------------------------------------------------------

/// The local component behind a published name: a cache's one shard, or the
/// db pool itself.
std::string component_of(const std::string& published) {
  return published.rfind("cache.", 0) == 0 ? published + "/0" : published;
}

/// The public proxies the gateway hands out, by published name. The keeper
/// replaces one that a peer ended; the gateway reads the table per lookup.
class proxy_table {
public:
  caf::actor get(const std::string& name) const {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = proxies_.find(name);
    return i == proxies_.end() ? caf::actor{} : i->second;
  }

  void set(const std::string& name, caf::actor proxy) {
    std::lock_guard<std::mutex> guard{mu_};
    proxies_[name] = std::move(proxy);
  }

  std::map<std::string, caf::actor> all() const {
    std::lock_guard<std::mutex> guard{mu_};
    return proxies_;
  }

  /// The gateway now published, and the port of the middleman's listener
  /// behind it (the guard's backend, or the TLS port).
  void set_gateway(caf::actor gateway, uint16_t listener_port) {
    std::lock_guard<std::mutex> guard{mu_};
    gateway_ = std::move(gateway);
    listener_port_ = listener_port;
  }

  std::pair<caf::actor, uint16_t> gateway() const {
    std::lock_guard<std::mutex> guard{mu_};
    return {gateway_, listener_port_};
  }

private:
  mutable std::mutex mu_;
  std::map<std::string, caf::actor> proxies_;
  caf::actor gateway_;
  uint16_t listener_port_ = 0;
};

/// Ends what peers can reach: unpublishes the gateway (its listener would
/// stay open otherwise) and kills it and the proxies. They drop every exit
/// but `kill`, since peers can send exits. Runs however the keeper ends,
/// killed included, so a restarted cluster component can listen again.
void end_published(caf::actor_system& sys, const proxy_table& t, bool tls) {
  auto [gateway, port] = t.gateway();
  if (gateway) {
    auto mm = tls ? cluster_detail::tls_middleman(sys) : sys.middleman().actor_handle();
    if (mm)
      caf::anon_send(mm, caf::unpublish_atom::value, gateway.address(), port);
    caf::anon_send_exit(gateway, caf::exit_reason::kill);
  }
  for (auto& [n, p] : t.all())
    caf::anon_send_exit(p, caf::exit_reason::kill);
}

caf::behavior gateway(caf::event_based_actor* self, std::set<std::string> published,
                      std::shared_ptr<const node_view> view, std::shared_ptr<proxy_table> proxies) {
  // Peers reach this actor from outside: anything it does not understand is
  // logged and answered with an error, never printed and never fatal. Exits
  // a peer sends are dropped; a `kill` ends the gateway, and the keeper
  // publishes a new one.
  self->set_exit_handler([](caf::exit_msg&) {});
  self->set_down_handler([](caf::down_msg&) {});
  self->set_default_handler(
      [](caf::scheduled_actor* me, caf::message_view& x) -> caf::result<caf::message> {
        // A peer chooses how often and how large: a few short lines a second.
        static log_rate_limiter limit;
        log_limited(limit, log_level::warn, [&] {
          return "cluster: gateway dropped an unexpected message from " +
                 (me->current_sender() ? std::to_string(me->current_sender()->id()) : "?") +
                 ": " + peer_text(caf::to_string(x.content()));
        });
        return caf::sec::unexpected_message;
      });
  return {
      [](metrics_atom) { return metric_set{}; },
      [=](lookup_atom, const std::string& name) -> caf::result<caf::actor> {
        if (!published.count(name) ||
            (view && std::find(view->publishable.begin(), view->publishable.end(), name) ==
                         view->publishable.end()))
          return make_error(errc::not_found, "'" + name + "' is not published by this node");
        bool running = !view || !view->running;
        if (!running)
          for (auto& [n, h] : view->running())
            running = running || n == component_of(name);
        auto proxy = proxies->get(name);
        if (!running || !proxy)
          return make_error(errc::unavailable, "'" + name + "' is not running");
        return proxy;
      },
  };
}

/// What the keeper needs to publish a gateway and make proxies.
struct keeper_settings {
  std::set<std::string> published;
  std::shared_ptr<const node_view> view;
  std::string host;
  bool tls = false;
  bool allow_writes = false;
  cluster_detail::request_bounds bounds;
};

/// The public proxy of `name`: it finds the component by name per request,
/// so it outlives the component's restarts.
caf::actor spawn_proxy(caf::actor_system& sys, const keeper_settings& ks, const std::string& name) {
  auto view = ks.view;
  auto component = component_of(name);
  cluster_detail::component_finder find = [view, component]() -> caf::actor {
    if (view && view->running)
      for (auto& [n, h] : view->running())
        if (n == component)
          return h;
    return {};
  };
  if (name == "db_pool")
    return sys.spawn(cluster_detail::public_db_pool, find, ks.allow_writes, ks.bounds);
  return sys.spawn(cluster_detail::public_cache, name, find, ks.bounds);
}

struct keeper_state {
  keeper_settings cfg;
  std::shared_ptr<proxy_table> proxies;
  caf::actor gateway;
  /// The guard in front, and CAF's listener (plain or TLS) behind it.
  std::shared_ptr<cluster_detail::frame_guard> guard;
  uint16_t backend_port = 0;
  /// The port peers connect to.
  uint16_t port = 0;
  uint64_t replaced = 0;

  static inline const char* name = "p21.cluster_gateway";
};

using keeper_actor = caf::stateful_actor<keeper_state>;

void publish_anew(keeper_actor* self);

/// `cluster_frames_refused` of this process's guards, both directions.
metric_set frames_refused_metrics() {
  using cluster_detail::frame_refusal;
  metric_set result;
  for (bool outbound : {false, true})
    for (size_t i = 0; i < cluster_detail::frame_refusal_count; ++i) {
      auto reason = static_cast<frame_refusal>(i);
      result.counters.push_back(cluster_metrics::frames_refused(
          static_cast<double>(cluster_detail::frames_refused(outbound, reason)),
          {{"direction", outbound ? "out" : "in"}, {"reason", to_label(reason)}}));
    }
  return result;
}

/// The cluster component: it owns the gateway and the proxies, which peers
/// can reach, and replaces whichever of them a peer ends. It is not
/// reachable itself, so what peers do never reaches the supervisor.
caf::behavior gateway_keeper(keeper_actor* self, keeper_state init) {
  self->state = std::move(init);
  auto& st = self->state;
  self->monitor(st.gateway);
  for (auto& [n, p] : st.proxies->all())
    self->monitor(p);
  auto guard = st.guard;
  auto proxies = st.proxies;
  auto& sys = self->system();
  auto tls = st.cfg.tls;
  self->attach_functor([guard, proxies, &sys, tls]() mutable {
    end_published(sys, *proxies, tls);
    guard.reset(); // joins its thread
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.gateway.address()) {
      ++st.replaced;
      spdlog::warn("cluster: the gateway was ended from outside ({}); publishing a new one on "
                   "{}:{}",
                   render(dm.reason), st.cfg.host, st.port);
      publish_anew(self);
      return;
    }
    for (auto& [n, p] : st.proxies->all())
      if (dm.source == p.address()) {
        ++st.replaced;
        spdlog::warn("cluster: the public proxy of {} was ended from outside ({}); replaced", n,
                     render(dm.reason));
        auto fresh = spawn_proxy(self->system(), st.cfg, n);
        self->monitor(fresh);
        st.proxies->set(n, fresh);
        return;
      }
  });
  // The attached functor above ends the gateway and the proxies.
  self->set_exit_handler([=](caf::exit_msg& em) { self->quit(em.reason); });
  return {
      [](metrics_atom) { return frames_refused_metrics(); },
  };
}

/// Publishes a fresh gateway where the ended one was. Peers connected to the
/// old one see it go down and connect again (the stubs do so by themselves).
void publish_anew(keeper_actor* self) {
  auto& st = self->state;
  auto& sys = self->system();
  auto old = st.gateway.address();
  st.gateway = sys.spawn(gateway, st.cfg.published, st.cfg.view, st.proxies);
  self->monitor(st.gateway);
  // Until it is published, ending the keeper ends it without unpublishing.
  st.proxies->set_gateway(st.gateway, 0);
  auto gw = caf::actor_cast<caf::strong_actor_ptr>(st.gateway);
  auto sigs = sys.message_types(st.gateway);
  auto failed = [=](caf::error& e) {
    spdlog::error("cluster: cannot publish a new gateway: {}", render(e));
    self->quit(std::move(e));
  };
  auto mm = st.cfg.tls ? cluster_detail::tls_middleman(sys) : sys.middleman().actor_handle();
  auto old_backend = st.backend_port;
  self->request(mm, caf::infinite, caf::publish_atom::value, uint16_t{0}, gw, sigs,
                std::string{"127.0.0.1"}, true)
      .then(
          [=](uint16_t backend) {
            auto& st = self->state;
            st.backend_port = backend;
            st.proxies->set_gateway(st.gateway, backend);
            st.guard->retarget(backend);
            // The old listener stays open otherwise.
            self->request(mm, caf::infinite, caf::unpublish_atom::value, old, old_backend)
                .then([]() {}, [](caf::error&) {});
          },
          failed);
}

child_spec gateway_component(const config& cfg, std::shared_ptr<const node_view> view) {
  auto& cl = cfg.get<cluster_config>();
  child_spec spec;
  spec.name = "cluster";
  spec.prio = priority::critical;
  keeper_settings ks;
  for (auto& a : cl.publish_actors) {
    ks.published.insert(a);
    spec.depends_on.push_back(component_of(a));
  }
  ks.view = view;
  ks.host = cl.publish_host;
  ks.tls = cl.tls();
  ks.allow_writes = cl.allow_writes;
  // What a peer may write it may read back: a value is at most a reply.
  ks.bounds.max_value_bytes = std::min<uint64_t>(cl.max_frame, cl.max_reply_bytes);
  ks.bounds.max_reply_bytes = cl.max_reply_bytes;
  ks.bounds.component_timeout = cfg.runtime.request_timeout;
  ks.bounds.remote_load_timeout = cl.remote_load_timeout;
  auto port = cl.publish_port;
  auto max_frame = cl.max_frame;
  auto configured = guard_limits_of(cl);
  spec.start = [=](caf::actor_system& sys) -> caf::expected<caf::actor> {
    // The guard's connections must leave the node descriptors of its own
    // (CAF's TLS listener opens the certificate files per connection and
    // ends the process when it cannot).
    auto limits = configured;
    auto nofile = cluster_detail::raise_descriptor_limit();
    limits.max_connections = cluster_detail::connections_within(configured.max_connections, nofile);
    limits.max_connections_per_address =
        std::min(limits.max_connections, configured.max_connections_per_address);
    if (limits.max_connections < configured.max_connections)
      spdlog::warn("cluster: relaying at most {} connections, not max_connections = {}: the "
                   "node may open {} files (RLIMIT_NOFILE), {} per connection and {} kept for "
                   "itself",
                   limits.max_connections, configured.max_connections, nofile,
                   cluster_detail::descriptors_per_connection,
                   cluster_detail::reserved_descriptors);
    keeper_state st;
    st.cfg = ks;
    st.proxies = std::make_shared<proxy_table>();
    for (auto& name : ks.published)
      st.proxies->set(name, spawn_proxy(sys, ks, name));
    st.gateway = sys.spawn(gateway, ks.published, view, st.proxies);
    auto fail = [&](const std::string& why) {
      caf::anon_send_exit(st.gateway, caf::exit_reason::kill); // see the keeper's exit handler
      for (auto& [n, p] : st.proxies->all())
        caf::anon_send_exit(p, caf::exit_reason::kill);
      return make_error(errc::unavailable,
                        "cannot publish on " + ks.host + ":" + std::to_string(port) + ": " + why);
    };
    // CAF listens on a loopback port of its own; the frame guard listens on
    // the configured address and relays. On a plain port it follows BASP
    // frames (refusing oversized ones); on a TLS port, TLS records. Either
    // way it bounds connections, the handshake and idle time. The
    // middleman actor is detached, so these blocking calls do not need a
    // free scheduler thread. reuse_addr: a restarted gateway rebinds.
    auto mm = ks.tls ? cluster_detail::tls_middleman(sys) : sys.middleman().actor_handle();
    if (!mm)
      return fail(tls_module_missing);
    auto p = cluster_detail::publish_through(mm, st.gateway, 0, "127.0.0.1",
                                             ks.bounds.component_timeout);
    if (!p)
      return fail(render(p.error()));
    st.backend_port = *p;
    cluster_detail::follower_factory follow;
    if (ks.tls)
      follow = [](const std::string&, cluster_detail::inflight_budget&) {
        return std::make_unique<cluster_detail::tls_record_follower>();
      };
    try {
      st.guard = std::make_shared<cluster_detail::frame_guard>(ks.host, port, *p, limits, follow);
    } catch (const std::exception& e) { // the guard throws when it cannot bind
      return fail(e.what());
    }
    st.port = st.guard->port();
    st.proxies->set_gateway(st.gateway, st.backend_port);
    std::string names;
    for (auto& n : ks.published)
      names += (names.empty() ? "" : ", ") + n;
    spdlog::info("cluster: publishing {} on {}:{}{}", names, ks.host, st.port,
                 ks.tls ? " (TLS, peer certificates checked)"
                        : " (frames above " + format_size(max_frame) + " refused)");
    return caf::actor_cast<caf::actor>(sys.spawn(gateway_keeper, std::move(st)));
  };
  return spec;
}

} // namespace

void declare_cluster_keys(config_schema& schema);

namespace cluster_detail {

const char* const tls_module_missing =
    "[cluster.tls] needs the TLS module: link Perfect21::cluster_tls and start the runtime "
    "with cluster_tls_subsystem()";

/// The guard's bounds from [cluster]; inbound and outbound share them, but an
/// outbound connection is never closed for being quiet (heartbeats watch it).
guard_limits guard_limits_of(const cluster_config& cl) {
  guard_limits limits;
  limits.max_payload = cl.max_frame;
  limits.max_connections = cl.max_connections;
  limits.max_connections_per_address = cl.max_connections_per_address;
  limits.max_inflight = cl.max_inflight;
  limits.max_inflight_per_address = cl.max_inflight_per_address;
  limits.handshake_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(cl.handshake_timeout);
  limits.idle_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(cl.idle_timeout);
  return limits;
}

caf::expected<uint16_t> publish_through(const caf::io::middleman_actor& mm, const caf::actor& gw,
                                        uint16_t port, const std::string& host, timespan timeout) {
  auto& sys = gw.home_system();
  // reuse_addr: a restarted gateway rebinds.
  return blocking_request<uint16_t>(sys, mm, timeout, caf::publish_atom::value, port,
                                    caf::actor_cast<caf::strong_actor_ptr>(gw),
                                    sys.message_types(gw), host, true);
}

namespace {

std::atomic<tls_middleman_fn> the_tls_middleman{nullptr};

} // namespace

void set_tls_middleman(tls_middleman_fn fn) {
  the_tls_middleman = fn;
}

caf::io::middleman_actor tls_middleman(caf::actor_system& sys) {
  auto fn = the_tls_middleman.load();
  if (!fn || !sys.has_openssl_manager())
    return {};
  return fn(sys);
}

} // namespace cluster_detail

subsystem cluster_subsystem() {
  subsystem s;
  s.name = "cluster";
  s.declare_config = declare_cluster_keys;
  s.configure_system = [](const config& cfg, caf::actor_system_config& caf_cfg) {
    auto& cl = cfg.get<cluster_config>();
    if (!cl.enabled())
      return;
    caf_cfg.load<caf::io::middleman>();
    // Heartbeats make a half-open connection (a peer frozen or cut off
    // without a FIN) count as gone after `peer_timeout`, so its callers get
    // `unavailable` instead of waiting out their request timeouts.
    caf_cfg.set("middleman.heartbeat-interval", caf::timespan{cl.heartbeat_interval});
    caf_cfg.set("middleman.connection-timeout", caf::timespan{cl.peer_timeout});
    // Before CAF opens anything: see descriptors.hpp.
    cluster_detail::raise_descriptor_limit();
    if (cl.tls()) {
      // The TLS module itself is loaded by cluster_tls_subsystem(), so that
      // only nodes that use TLS link CAF's OpenSSL library.
      caf_cfg.openssl_certificate = cl.tls_certificate;
      caf_cfg.openssl_key = cl.tls_key;
      caf_cfg.openssl_cafile = cl.tls_ca;
    }
  };
  s.components = [](const config& cfg, std::shared_ptr<const node_view> view) {
    std::vector<child_spec> out;
    if (!cfg.get<cluster_config>().publish_actors.empty())
      out.push_back(gateway_component(cfg, view));
    for (auto& peer : cfg.get<cluster_config>().peers)
      for (auto& actor : peer.actors)
        out.push_back(stub_component(cfg, peer, actor, view));
    return out;
  };
  // A published component runs from the start: peers look it up.
  s.adjust_components = [](const config& cfg, std::vector<child_spec>& specs) {
    for (auto& published : cfg.get<cluster_config>().publish_actors)
      for (auto& spec : specs)
        if (spec.name == component_of(published))
          spec.prio = priority::critical;
  };
  return s;
}

namespace {

/// Asks `gw` for `name` once, and answers `unavailable` as soon as `gw` is
/// down (its connection closed) instead of when the request times out.
caf::behavior ask_watching(caf::event_based_actor* self, caf::actor gw, std::string name,
                           timespan timeout) {
  return {
      [=](lookup_atom) -> caf::result<caf::actor> {
        auto rp = std::make_shared<caf::typed_response_promise<caf::actor>>(
            self->make_response_promise<caf::actor>());
        auto answer = [rp](auto&& x) {
          if (rp->pending())
            rp->deliver(std::forward<decltype(x)>(x));
        };
        self->monitor(gw);
        self->set_down_handler(
            [answer](caf::down_msg&) { answer(caf::error{make_error(errc::unavailable)}); });
        self->request(gw, timeout, lookup_atom::value, name)
            .then([answer](caf::actor& a) { answer(std::move(a)); },
                  [answer](caf::error& e) { answer(std::move(e)); });
        return *rp;
      },
  };
}

} // namespace

caf::expected<caf::actor> lookup_remote(caf::actor_system& sys, const gateway_address& addr,
                                        const std::string& name, timespan timeout) {
  bool tls = !addr.certificate.empty();
  auto mm = tls ? cluster_detail::tls_middleman(sys) : sys.middleman().actor_handle();
  if (!mm)
    return make_error(errc::unavailable, tls_module_missing);
  auto host = addr.host;
  auto port = addr.port;
  if (!tls) {
    // Outside a node there is no [cluster]: the defaults bound the frames.
    cluster_detail::guard_limits limits;
    limits.max_payload = cluster_config{}.max_frame;
    limits.handshake_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    try {
      port = cluster_detail::outbound_port(host, port, limits);
      host = "127.0.0.1";
    } catch (const std::exception& e) {
      return make_error(errc::unavailable, e.what());
    }
  }
  caf::expected<caf::actor> result{make_error(errc::timeout)};
  {
    caf::scoped_actor self{sys};
    self->request(mm, timeout, caf::connect_atom::value, host, port)
        .receive(
            [&](const caf::node_id&, caf::strong_actor_ptr& gw, const std::set<std::string>&) {
              if (!gw) {
                result = make_error(errc::not_found, "nothing is published at " + addr.host + ":" +
                                                         std::to_string(addr.port));
                return;
              }
              // A guard (or the peer) may close the connection while the
              // lookup is in flight, and CAF 0.17 never fails a request that
              // was on its way: a monitor makes that `unavailable` at once.
              auto asker = sys.spawn(ask_watching, caf::actor_cast<caf::actor>(gw), name, timeout);
              self->request(asker, caf::infinite, lookup_atom::value)
                  .receive([&](caf::actor& a) { result = std::move(a); },
                           [&](caf::error& e) {
                             result = e == errc::unavailable
                                          ? make_error(errc::unavailable,
                                                       "the connection to " + addr.host + ":" +
                                                           std::to_string(addr.port) +
                                                           " closed during the lookup")
                                          : normalize(e);
                           });
              caf::anon_send_exit(asker, caf::exit_reason::user_shutdown);
            },
            [&](caf::error& e) {
              result = e == caf::sec::request_timeout
                           ? make_error(errc::timeout, "no answer from " + addr.host + ":" +
                                                           std::to_string(addr.port) + " within " +
                                                           format_duration(timeout))
                           : make_error(errc::unavailable, "cannot reach " + addr.host + ":" +
                                                               std::to_string(addr.port) + ": " +
                                                               render(e));
            });
  }
  return result;
}

} // namespace p21
