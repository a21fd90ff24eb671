// The TLS port guard's record follower, on any pair of byte streams cut at
// any points: the first byte picks the chunk size; each chunk goes to the
// client's side or the server's by one bit of the second byte's rotation.
#include <cstddef>
#include <cstdint>
#include <string>

#include "actors/cluster/tls_records.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2)
    return 0;
  size_t chunk = 1 + data[0] % 64;
  unsigned sides = data[1];
  p21::cluster_detail::tls_record_follower follower;
  for (size_t at = 2, i = 0; at < size; at += chunk, ++i) {
    auto n = std::min(chunk, size - at);
    auto bytes = reinterpret_cast<const char*>(data + at);
    if ((sides >> (i % 8)) & 1) {
      follower.answered(bytes, n);
    } else if (!follower.feed(bytes, n).empty()) {
      break;
    }
  }
  static_cast<void>(follower.handshake_done());
  return 0;
}
