// Stubs: a node's stand-ins for a peer's published cache or db pool. A stub
// connects in the background with backoff (plain connections through the
// outbound frame guard), answers `unavailable` at once while its peer is
// unreachable, fails its in-flight requests the moment the peer's actor goes
// down (CAF would otherwise let them run into the request timeout), and
// reconnects by itself. With `near_ttl` it keeps what it read in a small
// local cache and answers gets from it, also while the peer is down.

#include "stubs.hpp"

#include <algorithm>
#include <functional>
#include <map>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <spdlog/spdlog.h>

#include "../cache/cache_store.hpp"
#include "p21/cache.hpp"
#include "p21/cluster.hpp"
#include "p21/cluster_config.hpp"
#include "p21/db.hpp"
#include "p21/log_limits.hpp"
#include "p21/metrics.hpp"
#include "tls_transport.hpp"

namespace p21::cluster_detail {

namespace {

using clock = std::chrono::steady_clock;
using cache_detail::cache_store;
using cache_detail::store_config;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;

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
  guard_limits guard;
  /// A stub that replaces one a peer ended waits this long to connect.
  timespan first_connect_delay{0};
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
    spdlog::warn("cluster: lost {}: {}", st.where(), peer_text(why));
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
    spdlog::warn("cluster: cannot reach {}: {}; retrying every {} at most", st.where(),
                 peer_text(render(e)), format_duration(st.cfg.retry_max));
  else
    spdlog::debug("cluster: still cannot reach {}: {}", st.where(), peer_text(render(e)));
  self->delayed_send(self, st.backoff, reconnect_atom::value);
  st.backoff = std::min(st.backoff * 2, st.cfg.retry_max);
}

void connect(stub_actor* self) {
  auto& st = self->state;
  if (st.connecting || st.remote)
    return;
  st.connecting = true;
  auto& sys = self->system();
  auto mm = st.cfg.tls ? tls_middleman(sys) : sys.middleman().actor_handle();
  // A TLS peer proved who it is before it sends a frame; a plain one goes
  // through the outbound guard, which checks what it sends.
  auto host = st.cfg.host;
  auto port = st.cfg.port;
  if (!st.cfg.tls) {
    try {
      port = outbound_port(host, port, st.cfg.guard);
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
  // The peer learns this stub's handle from every request; exits it sends
  // are dropped (a `kill` cannot be: its keeper then starts a new stub).
  self->set_exit_handler([=](caf::exit_msg& em) {
    if (em.source && em.source.node() != self->node()) {
      // The reason is the peer's text: cut, and a few lines a second at most.
      static log_rate_limiter limit;
      log_limited(limit, log_level::debug, [&] {
        return "cluster: the stub of " + self->state.where() + " ignored an exit (" +
               peer_text(render(em.reason)) + ") from another node";
      });
      return;
    }
    self->quit(em.reason);
  });
  if (st.cfg.first_connect_delay.count() > 0)
    self->delayed_send(self, st.cfg.first_connect_delay, reconnect_atom::value);
  else
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

} // namespace

child_spec stub_component(const config& cfg, const cluster_peer& peer, const std::string& actor,
                          std::shared_ptr<const node_view> view) {
  auto& cl = cfg.get<cluster_config>();
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
  // The supervisor watches the stub's keeper, never the stub a peer can
  // reach (stub_keeper.cpp).
  spec.start = [s, m, is_cache](caf::actor_system& sys) -> caf::expected<caf::actor> {
    if (s.tls && !tls_middleman(sys))
      return make_error(errc::unavailable, tls_module_missing);
    stub_factory make = [s, m, is_cache](caf::actor_system& sys, timespan delay) {
      auto settings = s;
      settings.first_connect_delay = delay;
      return is_cache ? sys.spawn(cache_stub, settings, m) : sys.spawn(db_stub, settings, m);
    };
    auto where = s.actor + " of peer '" + s.peer + "'";
    return spawn_stub_keeper(sys, make, where, s.retry_initial, s.retry_max);
  };
  return spec;
}

} // namespace p21::cluster_detail
