// `[cluster]`: the keys of the nodes this one shares actors with, and the
// checks across them.

#include "p21/cache_config.hpp"
#include "p21/cluster_config.hpp"
#include "p21/config_schema.hpp"

#include <algorithm>
#include <fstream>

namespace p21 {

namespace {

using namespace std::chrono_literals;

/// "cache.NAME" or "db_pool": what a node can publish.
std::string actor_names_problem(const key_value& v) {
  for (auto& n : std::get<std::vector<std::string>>(v))
    if (n != "db_pool" &&
        (n.rfind("cache.", 0) != 0 || n.size() <= 6 || n.find('/') != std::string::npos))
      return "'" + n + "' is not a publishable actor; write \"cache.NAME\" or \"db_pool\"";
  return {};
}

void check_peers(const config& cfg, const config_checker& ck) {
  auto& peers = cfg.get<cluster_config>().peers;
  for (size_t i = 0; i < peers.size(); ++i) {
    auto key = "cluster.peers[" + std::to_string(i) + "].";
    if (peers[i].name.empty())
      ck.fail(key + "name", "every peer needs a name");
    if (peers[i].port == 0)
      ck.fail(key + "port", "every peer needs the port it publishes on");
    for (size_t j = 0; j < i; ++j)
      if (peers[j].name == peers[i].name)
        ck.fail(key + "name", "two peers are named '" + peers[i].name + "'");
    if (!peers[i].expected_name.empty() && !cfg.get<cluster_config>().tls())
      ck.fail(key + "expected_name", "a certificate's name is checked only with [cluster.tls]");
    // OpenSSL checks one set of names for every server this process
    // connects to (CAF 0.17 offers no per-connection hook).
    if (peers[i].expected_name.empty() != peers[0].expected_name.empty())
      ck.fail(key + "expected_name",
              "set expected_name on every peer or on none (the names are checked as one set: "
              "a peer without one would have to carry another peer's name)");
  }
}

void check_tls(const config& cfg, const config_checker& ck) {
  auto& cl = cfg.get<cluster_config>();
  std::pair<const char*, const std::string*> files[] = {
      {"certificate", &cl.tls_certificate}, {"key", &cl.tls_key}, {"ca", &cl.tls_ca}};
  bool wanted = ck.has("cluster.tls");
  for (auto& [key, path] : files)
    wanted = wanted || !path->empty();
  if (!wanted)
    return;
  for (auto& [key, path] : files) {
    if (path->empty())
      ck.fail(std::string{"cluster.tls."} + key, "TLS needs certificate, key and ca");
    if (!std::ifstream{*path})
      ck.fail(std::string{"cluster.tls."} + key, "cannot read '" + *path + "'");
  }
}

/// Published caches exist here with one shard; a peer's cache does not
/// shadow a local one.
void check_cluster_names(const config& cfg, const config_checker& ck) {
  auto caches = cfg.get<cache_config>().all();
  for (auto& a : cfg.get<cluster_config>().publish_actors) {
    if (a == "db_pool")
      continue;
    auto name = a.substr(6);
    auto it = caches.find(name);
    if (it == caches.end())
      ck.fail("cluster.publish.actors", "no cache named '" + name + "' to publish");
    if (it->second.shards != 1)
      ck.fail("cluster.publish.actors", "cache '" + name + "' has " +
                                            std::to_string(it->second.shards) +
                                            " shards; a published cache has one");
  }
  auto& peers = cfg.get<cluster_config>().peers;
  for (size_t i = 0; i < peers.size(); ++i)
    for (auto& a : peers[i].actors)
      if (a != "db_pool" && caches.count(a.substr(6)))
        ck.fail("cluster.peers[" + std::to_string(i) + "].actors",
                "'" + a + "' is also a local cache; a peer's cache needs its own name");
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

/// Who may connect: on loopback, processes of this machine; anywhere else,
/// only peers with a certificate the CA signed, unless the operator says
/// in writing that the network itself is trusted.
void check_exposure(const config& cfg, const config_checker& ck) {
  auto& cl = cfg.get<cluster_config>();
  if (cl.publish_actors.empty())
    return;
  if (!is_loopback(cl.publish_host) && !cl.tls() && !cl.insecure)
    ck.fail("cluster.publish.host",
            "publishing on '" + cl.publish_host +
                "' (not loopback) needs [cluster.tls] (peers then need a certificate signed by "
                "its CA); set `insecure = true` in [cluster.publish] only on a network where "
                "every host may use what you publish");
  if (cl.insecure && !cl.tls())
    ck.warn("cluster.publish.insecure", "published actors accept any peer that reaches " +
                                            cl.publish_host + " without a certificate");
  if (cl.allow_writes && !cl.tls() &&
      std::find(cl.publish_actors.begin(), cl.publish_actors.end(), "db_pool") !=
          cl.publish_actors.end() &&
      !is_loopback(cl.publish_host))
    ck.warn("cluster.publish.allow_writes",
            "any peer that reaches this node may write to its database");
}

/// A frame the per-frame bound allows must fit the in-flight bounds.
void check_bounds(const config& cfg, const config_checker& ck) {
  auto& cl = cfg.get<cluster_config>();
  if (cl.max_inflight_per_address > cl.max_inflight)
    ck.fail("cluster.max_inflight_per_address", "must not exceed max_inflight");
  if (cl.max_frame > cl.max_inflight_per_address)
    ck.fail("cluster.max_frame", "must not exceed max_inflight_per_address");
  if (cl.peer_timeout.count() > 0 && cl.heartbeat_interval.count() > 0 &&
      cl.peer_timeout <= cl.heartbeat_interval)
    ck.fail("cluster.peer_timeout", "must be longer than heartbeat_interval");
}

} // namespace

void declare_cluster_keys(config_schema& schema) {
  using C = cluster_config;
  auto cluster = [](config & c) -> auto& {
    return c.get<cluster_config>();
  };
  schema.section<C>("cluster", cluster, "Nodes that share actors over CAF's network layer.")
      .duration("request_timeout", &C::request_timeout, 1ms,
                "bound of one request to a peer (then `timeout`)")
      .duration("connect_timeout", &C::connect_timeout, 1ms, "bound of one connection attempt")
      .duration("retry_initial", &C::retry_initial, 1ms,
                "first reconnection delay; doubles up to `retry_max`")
      .duration("retry_max", &C::retry_max, 1ms, "cap of the reconnection delay")
      .size("max_frame", &C::max_frame, 1024,
            "largest frame payload a peer may announce on a plain published port; a larger "
            "one closes its connection")
      .count("max_connections", &C::max_connections, 1, 1'000'000,
             "connections the published port (plain or TLS) relays at once; more are closed "
             "at once; lowered to what RLIMIT_NOFILE allows (3 descriptors each, 384 kept)")
      .count("max_connections_per_address", &C::max_connections_per_address, 1, 1'000'000,
             "the same, from one peer address")
      .size("max_inflight", &C::max_inflight, 1024,
            "frame payload peers may have announced and not yet sent, in all (the node "
            "holds it allocated); a frame above it closes its connection")
      .size("max_inflight_per_address", &C::max_inflight_per_address, 1024,
            "the same, from one peer address")
      .duration("handshake_timeout", &C::handshake_timeout, 0s,
                "a connection to the published port must end its handshake within this (plain: "
                "its first frame; TLS: the TLS handshake); `\"0s\"`: no bound")
      .duration("idle_timeout", &C::idle_timeout, 0s,
                "a connection that sends nothing this long is closed; `\"0s\"`: never")
      .duration("heartbeat_interval", &C::heartbeat_interval, 0s,
                "CAF's heartbeat to every connected node; `\"0s\"`: none")
      .duration("peer_timeout", &C::peer_timeout, 0s,
                "a node silent this long counts as gone (callers get `unavailable`); needs "
                "heartbeats; `\"0s\"`: never");
  schema.section<C>("cluster.publish", cluster, "What this node offers, and where.")
      .string("host", &C::publish_host, "interface to listen on")
      .refine([](const key_value& v) {
        return std::get<std::string>(v).empty()
                   ? "must not be empty (127.0.0.1 keeps it on loopback)"
                   : std::string{};
      })
      .count("port", &C::publish_port, 0, 65535, "port of the gateway; 0 picks a free one (logged)")
      .strings("actors", &C::publish_actors,
               "what to publish: `\"cache.NAME\"` (must exist here with one shard), "
               "`\"db_pool\"`; empty: nothing listens")
      .refine(actor_names_problem)
      .flag("allow_writes", &C::allow_writes,
            "peers may `execute` and run transactions on a published `db_pool`; otherwise "
            "they may only `query`")
      .flag("insecure", &C::insecure,
            "allow publishing on a non-loopback host without `[cluster.tls]` (any peer that "
            "reaches it is trusted; `p21 check` warns)")
      .size("max_reply_bytes", &C::max_reply_bytes, 1024,
            "largest reply a peer gets (a `get` of many keys, a query's rows); a larger one is "
            "refused with `invalid_argument` before it is built in full; a peer may not `put` a "
            "larger value either")
      .duration("remote_load_timeout", &C::remote_load_timeout, 1ms,
                "how long a peer's `get_or_load` turn may hold its key before waiters get "
                "`timeout` and the next caller loads (at most `[cache] load_timeout`)");
  using P = cluster_peer;
  schema
      .table_array<P>(
          "cluster.peers", [](config & c) -> auto& { return c.get<cluster_config>().peers; },
          "A node whose published actors this node uses as if they were local.")
      .string("name", &P::name, "the peer's name (`PEER.db_pool`)")
      .default_doc("required")
      .string("host", &P::host, "host of its gateway")
      .count("port", &P::port, 1, 65535, "port of its gateway")
      .default_doc("required")
      .strings("actors", &P::actors,
               "what to use of it: `\"cache.NAME\"` (a name no local cache has; used as that "
               "cache), `\"db_pool\"` (used as `PEER.db_pool`)")
      .refine(actor_names_problem)
      .duration("near_ttl", &P::near_ttl, 0s,
                "a near cache in front of each remote cache keeps entries this long (and "
                "answers from them while the peer is down); `\"0s\"`: none")
      .count("near_entries", &P::near_entries, 1, 100'000'000, "entries of each near cache")
      .string("expected_name", &P::expected_name,
              "with `[cluster.tls]`: the name its certificate must carry (subject CN or a DNS "
              "SAN); empty: any certificate the CA signed; set on every peer or on none");
  schema
      .section<C>("cluster.tls", cluster,
                  "PEM files: with them every cluster connection is TLS, peers checked "
                  "against `ca`; all three or none.")
      .path("certificate", &C::tls_certificate, "this node's certificate")
      .path("key", &C::tls_key, "its private key")
      .path("ca", &C::tls_ca, "the CA that signs the nodes' certificates")
      .strings("accepted_names", &C::tls_accepted_names,
               "names a connecting peer's certificate must carry one of (subject CN or a DNS "
               "SAN); empty: any certificate the CA signed")
      .written_if([](const config& cfg) { return cfg.get<cluster_config>().tls(); });
  schema.add_check(check_peers);
  schema.add_check(check_tls);
  schema.add_check(check_cluster_names);
  schema.add_check(check_exposure);
  schema.add_check(check_bounds);
}

} // namespace p21
