#pragma once

// What a `p21` node runs: the standard subsystems and the cluster's TLS
// module (the command links Perfect21::cluster_tls; embedders need not).

#include <vector>

#include "p21/subsystems.hpp"

namespace p21 {

inline std::vector<subsystem> node_subsystems() {
  auto out = standard_subsystems();
  out.push_back(cluster_tls_subsystem());
  return out;
}

} // namespace p21
