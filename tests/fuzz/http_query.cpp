// The HTTP endpoint's parameter parsing (`/events?since=N`), on any bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "actors/http/http_server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto n = p21::http_detail::parse_sequence_number(text);
  if (n && (text.empty() || text.size() > 19))
    __builtin_trap(); // accepted what it must refuse
  return 0;
}
