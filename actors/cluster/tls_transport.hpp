#pragma once

// The seam between the cluster and its TLS module. The cluster never names
// CAF's OpenSSL types (a call through them would need libcaf_openssl, if
// only for the sanitizer's type checks); the TLS module, when linked and
// enabled, hands it the OpenSSL manager's actor through this function.

#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>

namespace p21::cluster_detail {

/// The actor that connects and publishes over TLS, as the TLS module
/// provides it; null until `enable_cluster_tls()` ran.
using tls_middleman_fn = caf::io::middleman_actor (*)(caf::actor_system&);

/// Set by the TLS module (`enable_cluster_tls`).
void set_tls_middleman(tls_middleman_fn fn);

/// The TLS middleman of `sys`, or an invalid handle when the TLS module is
/// not enabled or not loaded into `sys`.
caf::io::middleman_actor tls_middleman(caf::actor_system& sys);

} // namespace p21::cluster_detail
