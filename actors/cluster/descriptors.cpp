#include "descriptors.hpp"

#include <algorithm>

#include <sys/resource.h>

namespace p21::cluster_detail {

uint64_t raise_descriptor_limit() noexcept {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return 0;
  if (lim.rlim_cur != lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
      lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY)
    return UINT64_MAX;
  return static_cast<uint64_t>(lim.rlim_cur);
}

size_t connections_within(size_t configured, uint64_t limit) noexcept {
  if (limit == 0)
    return configured;
  if (limit <= reserved_descriptors + descriptors_per_connection)
    return 1;
  auto room = (limit - reserved_descriptors) / descriptors_per_connection;
  return static_cast<size_t>(std::min<uint64_t>(configured, room));
}

} // namespace p21::cluster_detail
