// The cluster: a gateway actor a node publishes through CAF's middleman
// (plain or TLS), and stubs that stand in for a peer's caches. A stub
// connects in the background with backoff, answers `unavailable` at once
// while its peer is unreachable, fails its in-flight requests the moment the
// peer's actor goes down (CAF would otherwise let them run into the request
// timeout), and reconnects by itself. With `near_ttl` it keeps what it read
// in a small local cache and answers gets from it, also while the peer is
// down.

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

#include "../cache/cache_store.hpp"
#include "frame_guard.hpp"
#include "p21/cache.hpp"
#include "p21/config_schema.hpp"
#include "p21/db.hpp"
#include "p21/metrics.hpp"
#include "p21/subsystems.hpp"
#include "public_interface.hpp"
#include "tls_transport.hpp"

namespace p21 {

namespace {

using clock = std::chrono::steady_clock;
using cache_detail::cache_store;
using cache_detail::store_config;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;

// -- gateway ------------------------------------------------------------------

/// The local component behind a published name: a cache's one shard, or the
/// db pool itself.
std::string component_of(const std::string& published) {
  return published.rfind("cache.", 0) == 0 ? published + "/0" : published;
}

constexpr const char* tls_module_missing =
    "[cluster.tls] needs the TLS module: link Perfect21::cluster_tls and start the runtime "
    "with cluster_tls_subsystem()";

/// Publishes `gw` through a middleman-like actor (CAF's plain middleman or
/// its OpenSSL manager), as `caf::openssl::publish` does, without linking
/// CAF's OpenSSL library into every node.
caf::expected<uint16_t> publish_through(const caf::io::middleman_actor& mm, const caf::actor& gw,
                                        uint16_t port, const std::string& host) {
  auto& sys = gw.home_system();
  caf::expected<uint16_t> result{port};
  caf::scoped_actor self{sys, true};
  // reuse_addr: a restarted gateway rebinds.
  self->request(mm, caf::infinite, caf::publish_atom::value, port,
                caf::actor_cast<caf::strong_actor_ptr>(gw), sys.message_types(gw), host, true)
      .receive([&](uint16_t bound) { result = bound; },
               [&](caf::error& e) { result = std::move(e); });
  return result;
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

private:
  mutable std::mutex mu_;
  std::map<std::string, caf::actor> proxies_;
};

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
        spdlog::warn("cluster: gateway dropped an unexpected message from {}: {}",
                     me->current_sender() ? std::to_string(me->current_sender()->id()) : "?",
                     caf::to_string(x.content()));
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
  /// Plain ports: the guard in front, and CAF's listener behind it.
  std::shared_ptr<cluster_detail::frame_guard> guard;
  uint16_t backend_port = 0;
  /// The port peers connect to.
  uint16_t port = 0;
  uint64_t replaced = 0;

  static inline const char* name = "p21.cluster_gateway";
};

using keeper_actor = caf::stateful_actor<keeper_state>;

void publish_anew(keeper_actor* self);

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
  self->attach_functor([guard]() mutable { guard.reset(); }); // joins its thread
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
  self->set_exit_handler([=](caf::exit_msg& em) {
    auto& st = self->state;
    self->send_exit(st.gateway, caf::exit_reason::user_shutdown);
    for (auto& [n, p] : st.proxies->all())
      self->send_exit(p, caf::exit_reason::user_shutdown);
    self->quit(em.reason);
  });
  return {
      [](metrics_atom) { return metric_set{}; },
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
  auto gw = caf::actor_cast<caf::strong_actor_ptr>(st.gateway);
  auto sigs = sys.message_types(st.gateway);
  auto failed = [=](caf::error& e) {
    spdlog::error("cluster: cannot publish a new gateway: {}", render(e));
    self->quit(std::move(e));
  };
  if (st.cfg.tls) {
    auto mm = cluster_detail::tls_middleman(sys);
    self->request(mm, caf::infinite, caf::unpublish_atom::value, old, st.port)
        .then(
            [=]() {
              auto& st = self->state;
              self->request(mm, caf::infinite, caf::publish_atom::value, st.port, gw, sigs,
                            st.cfg.host, true)
                  .then([](uint16_t) {}, failed);
            },
            [=](caf::error&) {
              auto& st = self->state;
              self->request(mm, caf::infinite, caf::publish_atom::value, st.port, gw, sigs,
                            st.cfg.host, true)
                  .then([](uint16_t) {}, failed);
            });
    return;
  }
  auto mm = sys.middleman().actor_handle();
  auto old_backend = st.backend_port;
  self->request(mm, caf::infinite, caf::publish_atom::value, uint16_t{0}, gw, sigs,
                std::string{"127.0.0.1"}, true)
      .then(
          [=](uint16_t backend) {
            auto& st = self->state;
            st.backend_port = backend;
            st.guard->retarget(backend);
            // The old listener stays open otherwise.
            self->request(mm, caf::infinite, caf::unpublish_atom::value, old, old_backend)
                .then([]() {}, [](caf::error&) {});
          },
          failed);
}

/// The guard's bounds from [cluster]; inbound and outbound share them, but an
/// outbound connection is never closed for being quiet (heartbeats watch it).
cluster_detail::guard_limits guard_limits_of(const cluster_config& cl) {
  cluster_detail::guard_limits limits;
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

child_spec gateway_component(const config& cfg, std::shared_ptr<const node_view> view) {
  auto& cl = cfg.cluster;
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
  ks.bounds.max_value_bytes = cl.max_frame;
  auto port = cl.publish_port;
  auto max_frame = cl.max_frame;
  auto limits = guard_limits_of(cl);
  spec.start = [=](caf::actor_system& sys) {
    keeper_state st;
    st.cfg = ks;
    st.proxies = std::make_shared<proxy_table>();
    for (auto& name : ks.published)
      st.proxies->set(name, spawn_proxy(sys, ks, name));
    st.gateway = sys.spawn(gateway, ks.published, view, st.proxies);
    auto fail = [&](const std::string& why) {
      caf::anon_send_exit(st.gateway, caf::exit_reason::user_shutdown);
      for (auto& [n, p] : st.proxies->all())
        caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
      throw std::runtime_error("cannot publish on " + ks.host + ":" + std::to_string(port) + ": " +
                               why);
    };
    // The middleman actor is detached, so these blocking calls do not need
    // a free scheduler thread. reuse_addr: a restarted gateway rebinds.
    if (ks.tls) {
      // An unauthenticated peer never gets past the TLS handshake.
      auto mm = cluster_detail::tls_middleman(sys);
      if (!mm)
        fail(tls_module_missing);
      auto p = publish_through(mm, st.gateway, port, ks.host);
      if (!p)
        fail(render(p.error()));
      st.port = *p;
    } else {
      // CAF listens on a loopback port of its own; the frame guard listens
      // on the configured address and relays, refusing oversized frames.
      auto p = sys.middleman().publish(st.gateway, 0, "127.0.0.1", true);
      if (!p)
        fail(render(p.error()));
      st.backend_port = *p;
      try {
        st.guard = std::make_shared<cluster_detail::frame_guard>(ks.host, port, *p, limits);
      } catch (const std::exception& e) {
        fail(e.what());
      }
      st.port = st.guard->port();
    }
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

// -- remote cache stub --------------------------------------------------------

struct stub_settings {
  std::string peer;
  std::string host;
  uint16_t port = 0;
  /// The published name, e.g. "cache.shared".
  std::string actor;
  bool tls = false;
  timespan request_timeout{0};
  timespan connect_timeout{0};
  timespan retry_initial{0};
  timespan retry_max{0};
  timespan near_ttl{0};
  size_t near_entries = 0;
  /// Plain connections go through an outbound frame guard with these.
  cluster_detail::guard_limits guard;
};

struct stub_metrics {
  /// Set when the node has no registry of its own (a bare runtime).
  std::shared_ptr<metrics_registry> owner;
  gauge* connected = nullptr;
  counter* reconnects = nullptr;
  counter* errors = nullptr;
  histogram* latency = nullptr;
};

struct stub_state {
  stub_settings cfg;
  stub_metrics m;
  /// The peer's actor (a CAF proxy), or null while disconnected.
  caf::actor remote;
  bool connecting = false;
  bool ever_connected = false;
  timespan backoff{0};
  uint64_t failed_attempts = 0;
  uint64_t next_id = 0;
  /// In-flight requests: how to fail each one.
  std::map<uint64_t, std::function<void(const caf::error&)>> pending;
  std::unique_ptr<cache_store> near;

  std::string where() const {
    return cfg.actor + " of peer '" + cfg.peer + "' (" + cfg.host + ":" + std::to_string(cfg.port) +
           ")";
  }

  /// A stub that ends (killed, or the node stops) answers what it
  /// forwarded: CAF 0.17 drops an undelivered promise silently, and its
  /// caller would wait out the whole timeout.
  ~stub_state() {
    auto unanswered = std::move(pending);
    pending.clear();
    for (auto& [id, fail] : unanswered)
      fail(make_error(errc::unavailable, where() + " stopped during the request"));
  }

  static inline const char* name = "p21.cluster_stub";
};

using stub_actor = caf::stateful_actor<stub_state>;

caf::error unreachable(const stub_state& st) {
  return make_error(errc::unavailable, st.where() + " is not connected");
}

/// What a caller sees of a failed remote request.
caf::error remote_error(const stub_state& st, const caf::error& e) {
  if (e == caf::sec::request_timeout)
    return make_error(errc::timeout, st.where() + " did not answer within " +
                                         format_duration(st.cfg.request_timeout));
  if (e.category() == caf::atom("system"))
    return make_error(errc::unavailable, st.where() + ": " + render(e));
  return e;
}

void connect(stub_actor* self);

void lost(stub_actor* self, const std::string& why) {
  auto& st = self->state;
  if (st.remote) {
    spdlog::warn("cluster: lost {}: {}", st.where(), why);
    self->demonitor(st.remote);
    st.remote = nullptr;
    st.m.connected->set(0);
  }
  auto pending = std::move(st.pending);
  st.pending.clear();
  for (auto& [id, fail] : pending)
    fail(make_error(errc::unavailable, st.where() + " went down during the request"));
  self->delayed_send(self, st.backoff, reconnect_atom::value);
}

void retry_later(stub_actor* self, const caf::error& e) {
  auto& st = self->state;
  st.connecting = false;
  // The first failure is a warning; while the peer stays down, quieter.
  if (st.failed_attempts++ == 0)
    spdlog::warn("cluster: cannot reach {}: {}; retrying every {} at most", st.where(), render(e),
                 format_duration(st.cfg.retry_max));
  else
    spdlog::debug("cluster: still cannot reach {}: {}", st.where(), render(e));
  self->delayed_send(self, st.backoff, reconnect_atom::value);
  st.backoff = std::min(st.backoff * 2, st.cfg.retry_max);
}

void connect(stub_actor* self) {
  auto& st = self->state;
  if (st.connecting || st.remote)
    return;
  st.connecting = true;
  auto& sys = self->system();
  auto mm = st.cfg.tls ? cluster_detail::tls_middleman(sys) : sys.middleman().actor_handle();
  // A TLS peer proved who it is before it sends a frame; a plain one goes
  // through the outbound guard, which checks what it sends.
  auto host = st.cfg.host;
  auto port = st.cfg.port;
  if (!st.cfg.tls) {
    try {
      port = cluster_detail::outbound_port(host, port, st.cfg.guard);
      host = "127.0.0.1";
    } catch (const std::exception& e) {
      retry_later(self, make_error(errc::unavailable, e.what()));
      return;
    }
  }
  self->request(mm, st.cfg.connect_timeout, caf::connect_atom::value, host, port)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& gw, const std::set<std::string>&) {
            auto& st = self->state;
            if (!gw) {
              retry_later(self, make_error(errc::not_found, "nothing is published there"));
              return;
            }
            auto gateway = caf::actor_cast<caf::actor>(gw);
            self->request(gateway, st.cfg.request_timeout, lookup_atom::value, st.cfg.actor)
                .then(
                    [=](caf::actor& a) {
                      auto& st = self->state;
                      st.connecting = false;
                      st.remote = a;
                      self->monitor(a);
                      st.m.connected->set(1);
                      if (st.ever_connected)
                        st.m.reconnects->inc();
                      spdlog::info("cluster: {} {}", st.where(),
                                   st.ever_connected ? "reconnected" : "connected");
                      st.ever_connected = true;
                      st.failed_attempts = 0;
                      st.backoff = st.cfg.retry_initial;
                    },
                    [=](caf::error& e) { retry_later(self, e); });
          },
          [=](caf::error& e) { retry_later(self, e); });
}

uint64_t ns_since(clock::time_point t0) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
}

/// Forwards `xs...` to the remote actor (of interface `Handle`); `on_ok` may
/// post-process the reply (the near cache), `on_fail` may turn an error into
/// a reply.
template <class R, class Handle, class OnOk, class OnFail, class... Ts>
caf::result<R> forward(stub_actor* self, OnOk on_ok, OnFail on_fail, Ts... xs) {
  auto& st = self->state;
  if (!st.remote) {
    st.m.errors->inc();
    caf::expected<R> r = on_fail(unreachable(st));
    if (!r)
      return r.error();
    return std::move(*r);
  }
  auto rp = self->make_response_promise<R>();
  auto id = st.next_id++;
  st.pending.emplace(id, [=](const caf::error& e) mutable {
    self->state.m.errors->inc();
    caf::expected<R> r = on_fail(e);
    if (r)
      rp.deliver(std::move(*r));
    else
      rp.deliver(r.error());
  });
  auto t0 = clock::now();
  self->request(caf::actor_cast<Handle>(st.remote), st.cfg.request_timeout, xs...)
      .then(
          [=](R& r) mutable {
            auto& st = self->state;
            if (st.pending.erase(id) == 0)
              return; // already failed when the peer went down
            st.m.latency->record(ns_since(t0));
            on_ok(r);
            rp.deliver(std::move(r));
          },
          [=](caf::error& e) mutable {
            auto& st = self->state;
            auto i = st.pending.find(id);
            if (i == st.pending.end())
              return;
            auto fail = std::move(i->second);
            st.pending.erase(i);
            fail(remote_error(st, e));
          });
  return rp;
}

/// Plain forwarding: replies pass through, errors stay errors.
template <class R, class Handle = cache_actor, class... Ts>
caf::result<R> pass(stub_actor* self, Ts... xs) {
  return forward<R, Handle>(
      self, [](R&) {}, [](const caf::error& e) -> caf::expected<R> { return e; }, xs...);
}

/// Settings, DOWN handling and the first connection attempt of a stub.
void init_stub(stub_actor* self, stub_settings cfg, stub_metrics m) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.m = std::move(m);
  st.backoff = st.cfg.retry_initial;
  st.m.connected->set(0);
  self->set_down_handler([=](caf::down_msg& dm) {
    if (self->state.remote && dm.source == self->state.remote.address())
      lost(self, render(dm.reason));
  });
  connect(self);
}

/// A peer's db pool, as `PEER.db_pool` here: every statement is forwarded.
caf::behavior db_stub(stub_actor* self, stub_settings cfg, stub_metrics m) {
  init_stub(self, std::move(cfg), std::move(m));
  using pool = db_pool_actor;
  using params = std::vector<db_value>;
  return {
      [=](reconnect_atom) { connect(self); },
      [=](query_atom, const std::string& sql, const params& ps) {
        return pass<db_result, pool>(self, query_atom::value, sql, ps);
      },
      [=](execute_atom, const std::string& sql, const params& ps) {
        return pass<db_result, pool>(self, execute_atom::value, sql, ps);
      },
      [=](transaction_atom, const std::vector<db_statement>& xs) {
        return pass<std::vector<db_result>, pool>(self, transaction_atom::value, xs);
      },
      [=](checkpoint_atom) { return pass<bool, pool>(self, checkpoint_atom::value); },
      [=](vacuum_atom) { return pass<bool, pool>(self, vacuum_atom::value); },
      [=](release_memory_atom) { return pass<uint64_t, pool>(self, release_memory_atom::value); },
      [=](set_pool_size_atom, uint64_t n) {
        return pass<uint64_t, pool>(self, set_pool_size_atom::value, n);
      },
      [=](stats_atom) { return pass<db_pool_stats, pool>(self, stats_atom::value); },
      [=](metrics_atom) { return metric_set{}; },
  };
}

/// A peer's cache, as `cache.NAME/0` here.
caf::behavior cache_stub(stub_actor* self, stub_settings cfg, stub_metrics m) {
  init_stub(self, std::move(cfg), std::move(m));
  auto& st = self->state;
  if (st.cfg.near_ttl.count() > 0) {
    store_config sc;
    sc.name = "near." + st.cfg.actor;
    sc.max_entries = st.cfg.near_entries;
    sc.ttl = st.cfg.near_ttl;
    st.near = std::make_unique<cache_store>(sc);
  }
  using opt = caf::optional<std::string>;
  return {
      [=](reconnect_atom) { connect(self); },
      [=](get_atom, const std::string& key) -> caf::result<opt> {
        auto& st = self->state;
        if (st.near)
          if (auto v = st.near->get(key, clock::now()))
            return opt{*v};
        return forward<opt, cache_actor>(
            self,
            [=](opt& v) {
              if (v && self->state.near)
                static_cast<void>(self->state.near->put(key, *v, timespan{0}, clock::now()));
            },
            [=](const caf::error& e) -> caf::expected<opt> {
              // With a near cache, an outage is a miss, not an error.
              if (self->state.near)
                return opt{};
              return e;
            },
            get_atom::value, key);
      },
      [=](get_atom, const std::vector<std::string>& keys) {
        return pass<std::vector<opt>>(self, get_atom::value, keys);
      },
      [=](put_atom, const std::string& key, const std::string& value, caf::timespan ttl) {
        if (self->state.near)
          self->state.near->erase(key);
        return forward<bool, cache_actor>(
            self,
            [=](bool& ok) {
              if (ok && self->state.near)
                static_cast<void>(self->state.near->put(key, value, timespan{0}, clock::now()));
            },
            [](const caf::error& e) -> caf::expected<bool> { return e; }, put_atom::value, key,
            value, ttl);
      },
      [=](erase_atom, const std::string& key) {
        if (self->state.near)
          self->state.near->erase(key);
        return pass<bool>(self, erase_atom::value, key);
      },
      [=](clear_atom) {
        if (self->state.near)
          self->state.near->clear();
        return pass<uint64_t>(self, clear_atom::value);
      },
      [=](load_atom, const std::string& key) {
        return pass<load_reply>(self, load_atom::value, key);
      },
      [=](loaded_atom, const std::string& key, const std::string& value, caf::timespan ttl) {
        return pass<bool>(self, loaded_atom::value, key, value, ttl);
      },
      [=](load_failed_atom, const std::string& key, const caf::error& why) {
        return pass<bool>(self, load_failed_atom::value, key, why);
      },
      // Capacity and TTL belong to the owning node (its optimizer tunes
      // them); here they act on the near cache.
      [=](shrink_atom, double fraction) -> shrink_result {
        return self->state.near ? self->state.near->shrink(fraction) : shrink_result{};
      },
      [=](resize_atom, uint64_t entries, uint64_t bytes) -> caf::result<bool> {
        if (self->state.near)
          if (auto err = self->state.near->resize(entries, bytes))
            return err;
        return true;
      },
      [=](set_ttl_atom, caf::timespan ttl) {
        if (self->state.near)
          self->state.near->set_ttl(ttl);
        return true;
      },
      [=](stats_atom) { return pass<cache_stats>(self, stats_atom::value); },
      [=](metrics_atom) { return metric_set{}; },
  };
}

child_spec stub_component(const config& cfg, const cluster_peer& peer, const std::string& actor,
                          std::shared_ptr<const node_view> view) {
  auto& cl = cfg.cluster;
  stub_settings s;
  s.peer = peer.name;
  s.host = peer.host;
  s.port = peer.port;
  s.actor = actor;
  s.tls = cl.tls();
  s.request_timeout = cl.request_timeout;
  s.connect_timeout = cl.connect_timeout;
  s.retry_initial = cl.retry_initial;
  s.retry_max = cl.retry_max;
  s.near_ttl = peer.near_ttl;
  s.near_entries = peer.near_entries;
  s.guard = guard_limits_of(cl);
  s.guard.idle_timeout = std::chrono::milliseconds{0};
  stub_metrics m;
  if (!view || !view->registry)
    m.owner = std::make_shared<metrics_registry>();
  auto& r = m.owner ? *m.owner : *view->registry;
  metric_labels labels{{"peer", peer.name}, {"actor", actor}};
  m.connected = &r.make_gauge(cluster_metrics::peer_connected, labels);
  m.reconnects = &r.make_counter(cluster_metrics::peer_reconnects, labels);
  m.errors = &r.make_counter(cluster_metrics::peer_errors, labels);
  m.latency = &r.make_histogram(cluster_metrics::peer_request_seconds, labels);
  child_spec spec;
  bool is_cache = actor != "db_pool";
  spec.name = is_cache ? actor + "/0" : peer.name + ".db_pool";
  spec.prio = priority::critical;
  spec.start = [s, m, is_cache](caf::actor_system& sys) {
    if (s.tls && !cluster_detail::tls_middleman(sys))
      throw std::runtime_error(tls_module_missing);
    return is_cache ? sys.spawn(cache_stub, s, m) : sys.spawn(db_stub, s, m);
  };
  return spec;
}

} // namespace

void declare_cluster_keys(config_schema& schema);

namespace cluster_detail {

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
    auto& cl = cfg.cluster;
    if (!cl.enabled())
      return;
    caf_cfg.load<caf::io::middleman>();
    // Heartbeats make a half-open connection (a peer frozen or cut off
    // without a FIN) count as gone after `peer_timeout`, so its callers get
    // `unavailable` instead of waiting out their request timeouts.
    caf_cfg.set("middleman.heartbeat-interval", caf::timespan{cl.heartbeat_interval});
    caf_cfg.set("middleman.connection-timeout", caf::timespan{cl.peer_timeout});
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
    if (!cfg.cluster.publish_actors.empty())
      out.push_back(gateway_component(cfg, view));
    for (auto& peer : cfg.cluster.peers)
      for (auto& actor : peer.actors)
        out.push_back(stub_component(cfg, peer, actor, view));
    return out;
  };
  // A published component runs from the start: peers look it up.
  s.adjust_components = [](const config& cfg, std::vector<child_spec>& specs) {
    for (auto& published : cfg.cluster.publish_actors)
      for (auto& spec : specs)
        if (spec.name == component_of(published))
          spec.prio = priority::critical;
  };
  return s;
}

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
    limits.max_payload = config{}.cluster.max_frame;
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
              self->request(caf::actor_cast<caf::actor>(gw), timeout, lookup_atom::value, name)
                  .receive([&](caf::actor& a) { result = std::move(a); },
                           [&](caf::error& e) { result = normalize(e); });
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
