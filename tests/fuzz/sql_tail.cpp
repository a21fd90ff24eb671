// The SQL one-statement rule and the PRAGMA allow-list, on any bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "actors/db_pool/sql_guard.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  static_cast<void>(p21::db_detail::sql_tail_is_blank(text));
  auto eq = text.find('=');
  auto name = text.substr(0, eq);
  auto arg = eq == std::string_view::npos ? std::string_view{} : text.substr(eq + 1);
  static_cast<void>(p21::db_detail::pragma_allowed(name, arg, size % 2 == 0));
  return 0;
}
