#pragma once

// What the three files of the config schema's mechanism share
// (config_schema.cpp, config_reader.cpp, config_writer.cpp).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "p21/config_schema.hpp"

#include <toml++/toml.h>

namespace p21::detail {

/// `parse_duration` and `parse_size`, telling an overflow (a well-formed
/// value beyond the range) from malformed text.
std::optional<timespan> checked_duration(std::string_view text, bool& overflow);
std::optional<uint64_t> checked_size(std::string_view text, bool& overflow);

std::string join(const std::vector<std::string>& xs, const char* sep = ", ");

/// A real as the config writes it (an integer when it is one).
std::string real_text(double x);

/// Why `path` (a file system path) is refused: a control character, or empty.
std::string control_character_problem(const std::string& path);

/// Why `v` is not a valid value of `k`, empty when it is.
std::string value_problem(const key_spec& k, const key_value& v);

/// Why `name` may not name an element of the named tables `s`, or empty.
std::string name_problem(const section_spec& s, const std::string& name);

/// Collects the problems of one pass instead of stopping at the first, so
/// that a file with three mistakes takes one run of `p21 check`, not three.
class problem_list {
public:
  /// Runs `f`; a `config_error` it throws is kept and the pass goes on.
  template <class F>
  void attempt(F&& f) {
    try {
      f();
    } catch (const config_error& e) {
      for (auto& p : e.problems())
        problems_.push_back(p);
    }
  }

  bool empty() const { return problems_.empty(); }

  const std::vector<config_error>& all() const { return problems_; }

  /// Keeps `p` too.
  void add(config_error p) { problems_.push_back(std::move(p)); }

  /// Throws one `config_error` holding every problem kept, if any.
  void throw_if_any() {
    if (!problems_.empty())
      throw config_error(std::move(problems_));
  }

private:
  std::vector<config_error> problems_;
};

/// Runs the schema's checks; positions come from `root` when there is one.
void run_checks(const config_schema& schema, const config& cfg, const toml::table* root);

/// Calls `f(element path, object)` for every struct the section covers;
/// `all` includes a table the writer leaves out.
template <class F>
void for_each_object(const section_spec& s, const config& cfg, bool all, F f) {
  // The accessors take a mutable config; nothing here modifies it (every
  // named element already exists, so `element` only looks it up).
  auto& c = const_cast<config&>(cfg);
  switch (s.shape) {
  case section_shape::table:
    if (all || !s.written || s.written(cfg))
      f(s.name, s.object(c));
    break;
  case section_shape::named_tables: {
    auto names = s.names(cfg);
    if (!s.allowed_names.empty()) {
      std::vector<std::string> ordered;
      for (auto& x : s.allowed_names)
        if (std::find(names.begin(), names.end(), x) != names.end())
          ordered.push_back(x);
      names = ordered;
    }
    for (auto& x : names)
      f(s.name + "." + x, s.element(c, x));
    break;
  }
  case section_shape::table_array:
    for (size_t i = 0; i < s.size(cfg); ++i)
      f(s.name + "[" + std::to_string(i) + "]", s.at(c, i));
    break;
  }
}

} // namespace p21::detail
