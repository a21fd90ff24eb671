#pragma once

// The processes a subprocess pool holds, for the node's resource manager.

#include <atomic>
#include <cstdint>

namespace p21::subprocess_detail {

/// Processes started and not reaped yet: the pool's reactor keeps it, the
/// resource manager reads it (`runtime::resources()`). Shared by the
/// component's instances (`child_spec::shared`).
struct process_count {
  std::atomic<uint64_t> value{0};
};

} // namespace p21::subprocess_detail
