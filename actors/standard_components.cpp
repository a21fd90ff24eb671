#include "p21/runtime.hpp"

namespace p21 {

// The subsystem actors (cache, db_pool, subprocess, monitor, optimizer) are
// added here as their issues land; each becomes a lazily started component.
std::vector<child_spec> standard_components(const config&) {
  return {};
}

} // namespace p21
