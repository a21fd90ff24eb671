// The cluster's TLS module, apart from the cluster itself: only a node that
// links this (Perfect21::cluster_tls) links CAF's OpenSSL library, so an
// application that embeds Perfect21 without TLS needs no OpenSSL at all.

#include <caf/actor_system_config.hpp>
#include <caf/openssl/manager.hpp>

#include "p21/cluster.hpp"
#include "p21/subsystems.hpp"
#include "tls_transport.hpp"

namespace p21 {

namespace {

caf::io::middleman_actor openssl_middleman(caf::actor_system& sys) {
  return sys.openssl_manager().actor_handle();
}

} // namespace

void enable_cluster_tls() {
  cluster_detail::set_tls_middleman(openssl_middleman);
}

subsystem cluster_tls_subsystem() {
  enable_cluster_tls();
  subsystem s;
  s.name = "cluster_tls";
  s.configure_system = [](const config& cfg, caf::actor_system_config& caf_cfg) {
    if (cfg.cluster.enabled() && cfg.cluster.tls())
      caf_cfg.load<caf::openssl::manager>();
  };
  return s;
}

} // namespace p21
