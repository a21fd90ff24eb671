#include "sql_guard.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace p21::db_detail {

namespace {

bool space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string lower(std::string_view x) {
  std::string out{x};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // `main.table_info`: the schema prefix does not change what it does.
  if (auto dot = out.rfind('.'); dot != std::string::npos)
    out.erase(0, dot + 1);
  return out;
}

/// Pragmas that only report: allowed with no argument.
constexpr std::array<std::string_view, 20> readable = {
    "application_id", "collation_list",  "compile_options", "data_version",      "database_list",
    "encoding",       "foreign_keys",    "freelist_count",  "function_list",     "journal_mode",
    "module_list",    "page_count",      "page_size",       "pragma_list",       "schema_version",
    "user_version",   "integrity_check", "quick_check",     "foreign_key_check", "table_list"};

/// Pragmas whose argument names what to report on (a table, an index, a
/// row limit): allowed with or without one.
constexpr std::array<std::string_view, 9> inspecting = {
    "table_info",       "table_xinfo",     "index_list",  "index_info",       "index_xinfo",
    "foreign_key_list", "integrity_check", "quick_check", "foreign_key_check"};

template <size_t N>
bool in(const std::array<std::string_view, N>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

bool sql_tail_is_blank(std::string_view tail) noexcept {
  size_t i = 0;
  while (i < tail.size()) {
    auto c = tail[i];
    if (space(c) || c == ';') {
      ++i;
    } else if (c == '-' && i + 1 < tail.size() && tail[i + 1] == '-') {
      auto nl = tail.find('\n', i);
      if (nl == std::string_view::npos)
        return true;
      i = nl + 1;
    } else if (c == '/' && i + 1 < tail.size() && tail[i + 1] == '*') {
      auto end = tail.find("*/", i + 2);
      if (end == std::string_view::npos)
        return false;
      i = end + 2;
    } else if (c == '\0') {
      // SQLite stops at a NUL: what follows is never compiled.
      return true;
    } else {
      return false;
    }
  }
  return true;
}

bool pragma_allowed(std::string_view name, std::string_view argument, bool writer) noexcept {
  try {
    auto n = lower(name);
    if (in(inspecting, n))
      return true;
    if (argument.empty())
      return in(readable, n) || (writer && n == "optimize");
    return writer && (n == "user_version" || n == "optimize");
  } catch (...) {
    return false;
  }
}

} // namespace p21::db_detail
