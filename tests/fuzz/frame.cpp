// The cluster frame guard's BASP frame follower, on any byte stream cut at
// any points: the first byte picks max_payload, the second the chunk size.
#include <cstddef>
#include <cstdint>
#include <string>

#include "actors/cluster/frame_guard.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2)
    return 0;
  uint64_t max_payload = uint64_t{1} << (data[0] % 40);
  size_t chunk = 1 + data[1] % 64;
  p21::cluster_detail::frame_checker checker{max_payload};
  for (size_t at = 2; at < size; at += chunk) {
    auto n = std::min(chunk, size - at);
    auto why = checker.feed(reinterpret_cast<const char*>(data + at), n);
    if (!why.empty())
      break;
  }
  static_cast<void>(checker.at_boundary());
  return 0;
}
