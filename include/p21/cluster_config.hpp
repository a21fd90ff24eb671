#pragma once

// `[cluster]`, `[cluster.publish]`, `[[cluster.peers]]` and `[cluster.tls]`,
// owned by the cluster subsystem (actors/cluster/config_keys.cpp).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include "p21/config.hpp"

namespace p21 {

/// One `[[cluster.peers]]` entry: a node whose published actors this node
/// uses as if they were local.
struct cluster_peer {
  std::string name;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  /// Published actors to use: "cache.NAME" (then `p21::cache::open(rt,
  /// "NAME")` talks to the peer's cache) or "db_pool" (then
  /// `p21::db::open(rt, "PEER.db_pool")` runs SQL on the peer's pool).
  std::vector<std::string> actors;
  /// A local near cache in front of each remote cache: entries read from the
  /// peer are kept this long (0: no near cache). While the peer is down,
  /// gets are answered from it (a miss is a miss, not an error).
  timespan near_ttl{0};
  size_t near_entries = 1024;
  /// With `[cluster.tls]`: the name the peer's certificate must carry
  /// (its subject CN, or a DNS name among its SANs); empty: any certificate
  /// the CA signed. Either every peer sets one or none does.
  std::string expected_name;
};

/// `[cluster]`: nodes that share actors over CAF's network layer.
struct cluster_config {
  /// `[cluster.publish]`: what this node offers, and where.
  std::string publish_host = "127.0.0.1";
  /// 0 picks a free port (logged).
  uint16_t publish_port = 0;
  /// "cache.NAME" (one shard) or "db_pool"; empty publishes nothing.
  std::vector<std::string> publish_actors;
  /// A published db pool accepts writes (`execute`, `transaction`) from
  /// peers only when this is set; otherwise peers may only `query`.
  bool allow_writes = false;
  /// Publishing on a non-loopback address without `[cluster.tls]` is refused
  /// unless the operator sets this (and `p21 check` warns about it).
  bool insecure = false;
  /// Largest reply a peer gets from a published actor (a `get` of many keys,
  /// a query's rows); a larger one is refused instead of being built and
  /// serialized. A peer may not `put` a value above it either.
  uint64_t max_reply_bytes = 16ull << 20;
  /// How long a peer's `get_or_load` turn (`load` answered "you load") may
  /// hold its key before the key's waiters get `timeout` and the next caller
  /// loads: a peer may stop reporting, and `[cache] load_timeout` is for
  /// loaders this node runs.
  timespan remote_load_timeout = std::chrono::seconds{5};
  std::vector<cluster_peer> peers;
  /// `[cluster.tls]`: PEM files. With them, connections both ways are TLS
  /// with the peer's certificate checked against `ca`; plain ones are refused.
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_ca;
  /// Names a connecting peer's certificate must carry one of (subject CN
  /// or a DNS SAN); empty: any certificate the CA signed.
  std::vector<std::string> tls_accepted_names;
  /// Bound of one request to a peer.
  timespan request_timeout = std::chrono::seconds{2};
  /// Bound of one connection attempt.
  timespan connect_timeout = std::chrono::seconds{3};
  /// Reconnection backoff: doubles from `retry_initial` up to `retry_max`.
  timespan retry_initial = std::chrono::milliseconds{100};
  timespan retry_max = std::chrono::seconds{5};
  /// Largest frame payload a peer may announce on a plain published port;
  /// a larger one closes that connection (CAF 0.17 would allocate it).
  uint64_t max_frame = 64ull << 20;
  /// Connections the published port (plain or TLS) relays at once, in all
  /// and per peer address; more are closed at once. The total is lowered to
  /// what RLIMIT_NOFILE leaves (cluster/descriptors.hpp).
  size_t max_connections = 256;
  size_t max_connections_per_address = 32;
  /// Payload bytes peers may have announced and not yet sent (CAF holds
  /// them allocated), in all and per peer address.
  uint64_t max_inflight = 256ull << 20;
  uint64_t max_inflight_per_address = 128ull << 20;
  /// A connection to the published port must end its handshake within this
  /// (plain: its first BASP frame; TLS: the TLS handshake), and is closed
  /// after this long without a byte from it (0s: never).
  timespan handshake_timeout = std::chrono::seconds{5};
  timespan idle_timeout = std::chrono::minutes{5};
  /// CAF's heartbeat between nodes, and how long a connection may stay
  /// silent before its peer counts as gone (a half-open connection).
  timespan heartbeat_interval = std::chrono::seconds{2};
  timespan peer_timeout = std::chrono::seconds{10};

  bool enabled() const { return !publish_actors.empty() || !peers.empty(); }
  bool tls() const { return !tls_certificate.empty(); }
};

} // namespace p21
