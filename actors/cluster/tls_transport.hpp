#pragma once

// The seam between the cluster and its TLS module. The cluster never names
// CAF's OpenSSL types (a call through them would need libcaf_openssl, if
// only for the sanitizer's type checks); the TLS module, when linked and
// enabled, hands it the OpenSSL manager's actor through this function.

#include <cstdint>
#include <string>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/timespan.hpp>

namespace p21::cluster_detail {

/// The actor that connects and publishes over TLS, as the TLS module
/// provides it; null until `enable_cluster_tls()` ran.
using tls_middleman_fn = caf::io::middleman_actor (*)(caf::actor_system&);

/// Set by the TLS module (`enable_cluster_tls`).
void set_tls_middleman(tls_middleman_fn fn);

/// The TLS middleman of `sys`, or an invalid handle when the TLS module is
/// not enabled or not loaded into `sys`.
caf::io::middleman_actor tls_middleman(caf::actor_system& sys);

/// Publishes `gw` on `host:port` through `mm` (CAF's plain middleman or the
/// TLS one), as `caf::openssl::publish` does, without linking CAF's OpenSSL
/// library into every node. Returns the bound port; a middleman that does
/// not answer within `timeout` is `errc::timeout`, never a hung start.
caf::expected<uint16_t> publish_through(const caf::io::middleman_actor& mm, const caf::actor& gw,
                                        uint16_t port, const std::string& host,
                                        caf::timespan timeout);

} // namespace p21::cluster_detail
