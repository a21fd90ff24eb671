#pragma once

// Nodes that share actors over CAF's own network layer (`caf::io`, TLS via
// `caf::openssl`). A node publishes a gateway on `[cluster.publish]`; a peer
// connects to it, asks it for a published actor by name (`lookup`), and
// from then on talks to that actor through a CAF proxy. On the using node a
// stub stands in for the remote cache under the local component name
// `cache.NAME/0`, so `p21::cache::open(rt, "NAME")` works unchanged.

#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "p21/time.hpp"
#include "p21/error.hpp"
#include "p21/protocol/atoms.hpp"
#include "p21/protocol/metrics.hpp"

namespace p21 {

/// The metrics of each used peer actor (labels `peer` and `actor`).
namespace cluster_metrics {

inline constexpr metric_def peer_connected{
    "cluster_peer_connected", "1 while the peer's actor is connected, else 0.", metric_kind::gauge};
inline constexpr metric_def peer_reconnects{"cluster_peer_reconnects",
                                            "Times the connection to the peer's actor came back.",
                                            metric_kind::counter};
inline constexpr metric_def peer_errors{
    "cluster_peer_errors", "Requests to the peer that failed (unreachable, down, timeout).",
    metric_kind::counter};
inline constexpr metric_def peer_request_seconds{"cluster_peer_request_seconds",
                                                 "Round trip of a request to the peer.",
                                                 metric_kind::histogram, "seconds"};

/// Every metric above, for the exporter's help lines.
inline constexpr metric_def all[] = {peer_connected, peer_reconnects, peer_errors,
                                     peer_request_seconds};

/// Not in a registry: the frame guards count in process-wide counters (the
/// outbound ones outlive any node), which the cluster component reports in
/// its `metric_set`; the monitor lists these for their help lines.
inline constexpr metric_def frames_refused{
    "cluster_frames_refused",
    "Connections the frame guards closed for a frame they refused (labels direction: in, out; "
    "reason: header, inflight, length, type, depth, malformed, amplification).",
    metric_kind::counter};
inline constexpr metric_def reported[] = {frames_refused};

} // namespace cluster_metrics

/// The gateway's interface (untyped on the wire):
///   (lookup_atom, std::string name) -> caf::actor
/// `name` is a published component such as "cache.shared"; not published:
/// `not_found`; not running: `unavailable`.

/// Lets this process's cluster code connect and publish over TLS. Defined by
/// Perfect21::cluster_tls (the only target that links CAF's OpenSSL
/// library); `cluster_tls_subsystem()` calls it. A client outside a node
/// (`lookup_remote` with certificates) calls it itself, and loads
/// `caf::openssl::manager` into its actor system.
void enable_cluster_tls();

/// Loads the PEM files as CAF's TLS sessions will (certificate chain, key,
/// whether they match, CA); the first problem, naming the key and the file,
/// or empty. An encrypted key is a problem: CAF would ask for its
/// passphrase on the terminal. Defined by Perfect21::cluster_tls.
std::string tls_files_problem(const std::string& certificate, const std::string& key,
                              const std::string& ca);

/// Makes OpenSSL check the name in the certificate of every TLS peer of
/// this process: the nodes it connects to must carry one of `servers`, the
/// peers that connect to it one of `clients` (subject CN, or a DNS SAN);
/// empty: any certificate the CA signed. CAF 0.17 offers no verification
/// hook, so this sets OpenSSL's process-wide verify parameters ("ssl_server",
/// "ssl_client"), which its handshakes inherit; call it before the actor
/// system starts. The problem, or empty. Defined by Perfect21::cluster_tls.
std::string require_tls_names(const std::vector<std::string>& servers,
                              const std::vector<std::string>& clients);

/// Where and how to reach a node's gateway, for clients outside a node
/// (`p21 cache --connect`).
struct gateway_address {
  std::string host;
  uint16_t port = 0;
  /// PEM files; all empty for a plain connection.
  std::string certificate, key, ca;
};

/// Connects to the gateway at `addr` and looks up `name`, within `timeout`.
/// `sys` must have the middleman (and, for TLS, the openssl manager)
/// loaded. Errors: `unavailable` (unreachable, refused, handshake failed),
/// `timeout`, `not_found` (not published there).
caf::expected<caf::actor> lookup_remote(caf::actor_system& sys, const gateway_address& addr,
                                        const std::string& name, timespan timeout);

} // namespace p21
