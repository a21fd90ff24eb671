// The config schema's mechanism: value syntax, the checks every key's value
// gets, did-you-mean, checking a config built in code and the diff of two
// configs. Reading TOML is in config_reader.cpp, writing it and the
// reference in config_writer.cpp; what they share is config_schema_internal.hpp.

#include "p21/config_schema.hpp"

#include <iostream>

#include "config_schema_internal.hpp"
#include "p21/subsystem.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace p21 {

// -- value syntax -------------------------------------------------------------

namespace detail {

/// Digits, then a unit; `overflow` tells a well-formed but too large value
/// from a malformed one (both give nullopt).
std::optional<std::pair<uint64_t, std::string_view>> split_number(std::string_view text,
                                                                  bool& overflow) {
  overflow = false;
  size_t i = 0;
  uint64_t n = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (n > (std::numeric_limits<uint64_t>::max() - digit) / 10)
      overflow = true;
    else
      n = n * 10 + digit;
  }
  if (i == 0)
    return std::nullopt;
  return std::make_pair(n, text.substr(i));
}

std::optional<timespan> checked_duration(std::string_view text, bool& overflow) {
  static constexpr std::pair<const char*, int64_t> units[] = {
      {"ns", 1},
      {"us", 1'000},
      {"ms", 1'000'000},
      {"s", 1'000'000'000},
      {"m", 60'000'000'000},
      {"h", 3'600'000'000'000},
      {"d", 86'400'000'000'000},
  };
  auto parts = split_number(text, overflow);
  if (!parts)
    return std::nullopt;
  for (auto& [name, factor] : units) {
    if (parts->second != name)
      continue;
    int64_t ns = 0;
    if (overflow || parts->first > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(static_cast<int64_t>(parts->first), factor, &ns)) {
      overflow = true;
      return std::nullopt;
    }
    return timespan{ns};
  }
  overflow = false;
  return std::nullopt;
}

std::optional<uint64_t> checked_size(std::string_view text, bool& overflow) {
  static constexpr std::pair<const char*, uint64_t> units[] = {
      {"", 1},
      {"B", 1},
      {"KiB", 1ull << 10},
      {"MiB", 1ull << 20},
      {"GiB", 1ull << 30},
      {"TiB", 1ull << 40},
      {"KB", 1000},
      {"MB", 1000'000},
      {"GB", 1000'000'000},
  };
  auto parts = split_number(text, overflow);
  if (!parts)
    return std::nullopt;
  for (auto& [name, factor] : units) {
    if (parts->second != name)
      continue;
    uint64_t bytes = 0;
    if (overflow || __builtin_mul_overflow(parts->first, factor, &bytes)) {
      overflow = true;
      return std::nullopt;
    }
    return bytes;
  }
  overflow = false;
  return std::nullopt;
}

} // namespace detail

using detail::checked_duration;
using detail::checked_size;

std::optional<timespan> parse_duration(std::string_view text) {
  bool overflow = false;
  return checked_duration(text, overflow);
}

std::string format_duration(timespan x) {
  static constexpr std::pair<int64_t, const char*> units[] = {
      {86'400'000'000'000, "d"}, {3'600'000'000'000, "h"}, {60'000'000'000, "m"},
      {1'000'000'000, "s"},      {1'000'000, "ms"},        {1'000, "us"},
  };
  auto ns = x.count();
  if (ns == 0)
    return "0s";
  for (auto& [factor, name] : units)
    if (ns % factor == 0)
      return std::to_string(ns / factor) + name;
  return std::to_string(ns) + "ns";
}

std::optional<uint64_t> parse_size(std::string_view text) {
  bool overflow = false;
  return checked_size(text, overflow);
}

std::string format_size(uint64_t x) {
  static constexpr std::pair<uint64_t, const char*> units[] = {
      {1ull << 40, "TiB"}, {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
  if (x != 0)
    for (auto& [factor, name] : units)
      if (x % factor == 0)
        return std::to_string(x / factor) + name;
  return std::to_string(x) + "B";
}

// -- did you mean -------------------------------------------------------------

namespace detail {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1);
  std::vector<size_t> cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string join(const std::vector<std::string>& xs, const char* sep) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : sep) + x;
  return out;
}

} // namespace detail

using detail::edit_distance;
using detail::join;

std::string did_you_mean(const std::string& word, const std::vector<std::string>& known) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (auto& k : known) {
    auto d = edit_distance(word, k);
    if (d < best_distance) {
      best = k;
      best_distance = d;
    }
  }
  return best.empty() ? std::string{} : " (did you mean '" + best + "'?)";
}

// -- checker and schema -------------------------------------------------------

void config_checker::fail(const std::string& key, const std::string& message) const {
  auto [line, column] = where_ ? where_(key) : std::make_pair(size_t{0}, size_t{0});
  throw config_error(file_, line, column, key, message);
}

void config_checker::warn(const std::string& key, const std::string& message) const {
  // Only while reading a file: `validate` checks the same config again
  // (at start, at reload), and the reader was told already.
  if (!where_)
    return;
  auto [line, column] = where_(key);
  std::cerr << "warning: " << file_;
  if (line > 0)
    std::cerr << ":" << line;
  std::cerr << ": " << key << ": " << message << "\n";
}

const section_spec* config_schema::find(const std::string& name) const {
  for (auto& s : sections_)
    if (s.name == name)
      return &s;
  return nullptr;
}

// -- value checks shared by the reader and validate ---------------------------

namespace detail {

std::string control_character_problem(const std::string& path) {
  for (size_t i = 0; i < path.size(); ++i) {
    auto c = static_cast<unsigned char>(path[i]);
    if (c < 0x20 || c == 0x7f) {
      char code[8];
      std::snprintf(code, sizeof(code), "U+%04X", c);
      return "must not contain control characters (found " + std::string{code} + " at byte " +
             std::to_string(i) + ")";
    }
  }
  return {};
}

std::string real_text(double x) {
  // Whole numbers as integers ("1000000", not to_chars' shortest "1e+06").
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 1e15)
    return std::to_string(static_cast<long long>(x));
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), x);
  return std::string{buf, res.ptr};
}

/// Why `v` is not a valid value of `k`, or empty.
std::string value_problem(const key_spec& k, const key_value& v) {
  switch (k.kind) {
  case key_kind::count: {
    auto x = std::get<int64_t>(v);
    if (x < k.min_count || x > k.max_count)
      return "must be between " + std::to_string(k.min_count) + " and " +
             std::to_string(k.max_count) + ", got " + std::to_string(x);
    break;
  }
  case key_kind::real: {
    auto x = std::get<double>(v);
    if (!std::isfinite(x))
      return "must be a finite number";
    if (x < k.min_real || x > k.max_real)
      return "must be between " + real_text(k.min_real) + " and " + real_text(k.max_real) +
             (k.unit.empty() ? "" : " " + k.unit) + ", got " + real_text(x);
    break;
  }
  case key_kind::duration:
    if (std::get<timespan>(v) < k.min_duration)
      return "must be at least " + format_duration(k.min_duration) + ", got " +
             format_duration(std::get<timespan>(v));
    break;
  case key_kind::size:
    if (std::get<uint64_t>(v) < k.min_size)
      return "must be at least " + format_size(k.min_size) + ", got " +
             format_size(std::get<uint64_t>(v));
    break;
  case key_kind::choice: {
    auto& x = std::get<std::string>(v);
    if (std::find(k.choices.begin(), k.choices.end(), x) == k.choices.end())
      return "'" + x + "' is not one of: " + join(k.choices) + did_you_mean(x, k.choices);
    break;
  }
  case key_kind::path:
    if (auto p = control_character_problem(std::get<std::string>(v)); !p.empty())
      return p;
    break;
  case key_kind::paths:
    for (auto& x : std::get<std::vector<std::string>>(v))
      if (auto p = control_character_problem(x); !p.empty())
        return p;
    break;
  default:
    break;
  }
  return k.refine ? k.refine(v) : std::string{};
}

/// Why `name` may not be an element of the named tables `s` (a control
/// character, or a name outside a closed set such as the optimizer's
/// rules), or empty when it may.
std::string name_problem(const section_spec& s, const std::string& name) {
  // A name becomes a component's, a metric label's or a log line's text.
  if (auto p = control_character_problem(name); !p.empty())
    return "a name " + p;
  auto& allowed = s.allowed_names;
  if (allowed.empty() || std::find(allowed.begin(), allowed.end(), name) != allowed.end())
    return {};
  return s.unknown_name + did_you_mean(name, allowed);
}

} // namespace detail

using detail::name_problem;
using detail::value_problem;

// -- validating a config built in code ----------------------------------------

void complete(const config_schema& schema, config& cfg) {
  // Every declared section present: a section stored by type is added on
  // first access, and the readers of a complete config (diff, to_toml, a
  // running node's settings read from other threads) must never add one.
  for (auto& s : schema.sections())
    switch (s.shape) {
    case section_shape::table:
      s.object(cfg);
      break;
    case section_shape::named_tables:
      static_cast<void>(s.names(cfg));
      break;
    case section_shape::table_array:
      static_cast<void>(s.size(cfg));
      break;
    }
  for (auto& s : schema.sections())
    if (s.shape == section_shape::named_tables) {
      if (s.every_name)
        for (auto& x : s.allowed_names)
          s.element(cfg, x); // adds x at its init defaults when missing
      for (auto& x : s.default_names)
        s.element(cfg, x);
    }
}

void validate(const config_schema& schema, const config& cfg) {
  detail::problem_list problems;
  for (auto& s : schema.sections()) {
    if (s.shape == section_shape::named_tables)
      for (auto& x : s.names(cfg)) {
        if (auto problem = name_problem(s, x); !problem.empty())
          problems.attempt(
              [&] { throw config_error(cfg.source, 0, 0, s.name + "." + x, problem); });
      }
    detail::for_each_object(s, cfg, true, [&](const std::string& path, const void* obj) {
      for (auto& k : s.keys) {
        if (k.present && !k.present(obj))
          continue;
        if (auto problem = value_problem(k, k.get(obj)); !problem.empty())
          problems.attempt(
              [&] { throw config_error(cfg.source, 0, 0, path + "." + k.name, problem); });
      }
    });
  }
  problems.attempt([&] { detail::run_checks(schema, cfg, nullptr); });
  problems.throw_if_any();
}

// -- reloading ----------------------------------------------------------------

namespace {

/// Every struct of `cfg` the schema covers, by its path.
std::vector<std::pair<std::string, const void*>> objects(const section_spec& s, const config& cfg) {
  std::vector<std::pair<std::string, const void*>> out;
  detail::for_each_object(
      s, cfg, true, [&](const std::string& path, const void* obj) { out.emplace_back(path, obj); });
  return out;
}

const void* find_object(const std::vector<std::pair<std::string, const void*>>& xs,
                        const std::string& path) {
  for (auto& [p, obj] : xs)
    if (p == path)
      return obj;
  return nullptr;
}

bool same(const key_spec& k, const void* a, const void* b) {
  bool pa = !k.present || k.present(a);
  bool pb = !k.present || k.present(b);
  if (pa != pb)
    return false;
  return !pa || k.get(a) == k.get(b);
}

} // namespace

config_changes diff(const config_schema& schema, const config& old, const config& now) {
  config_changes out;
  for (auto& s : schema.sections()) {
    auto before = objects(s, old);
    auto after = objects(s, now);
    for (auto& [path, a] : before) {
      auto b = find_object(after, path);
      if (!b) {
        (s.live_set ? out.live : out.restart).push_back(path); // an element removed
        continue;
      }
      for (auto& k : s.keys)
        if (!same(k, a, b))
          (k.live ? out.live : out.restart).push_back(path + "." + k.name);
    }
    for (auto& [path, b] : after)
      if (!find_object(before, path))
        (s.live_set ? out.live : out.restart).push_back(path); // an element added
  }
  return out;
}

void adopt(const config_schema& schema, const config& from, config& to,
           const std::vector<std::string>& keys) {
  auto listed = [&](const std::string& path) {
    return std::find(keys.begin(), keys.end(), path) != keys.end();
  };
  for (auto& s : schema.sections()) {
    if (s.live_set) {
      // Whole elements first: one added is made with its keys' values, one
      // removed is erased.
      auto in_from = s.names(from);
      auto in_to = s.names(to);
      auto has = [](const std::vector<std::string>& xs, const std::string& x) {
        return std::find(xs.begin(), xs.end(), x) != xs.end();
      };
      for (auto& name : in_from)
        if (listed(s.name + "." + name) && !has(in_to, name)) {
          auto* obj = s.element(to, name);
          const void* src = s.element(const_cast<config&>(from), name); // exists: a lookup
          for (auto& k : s.keys)
            if (!k.present || k.present(src))
              k.set(obj, k.get(src));
        }
      for (auto& name : in_to)
        if (listed(s.name + "." + name) && !has(in_from, name))
          s.erase(to, name);
    }
    auto source = objects(s, from);
    auto target = objects(s, to);
    for (auto& [path, obj] : target) {
      auto src = find_object(source, path);
      if (!src)
        continue;
      for (auto& k : s.keys)
        if (std::find(keys.begin(), keys.end(), path + "." + k.name) != keys.end())
          k.set(const_cast<void*>(obj), k.get(src));
    }
  }
}

} // namespace p21

namespace p21 {

config_schema make_schema(const std::vector<subsystem>& subsystems) {
  config_schema schema;
  declare_framework_keys(schema);
  for (auto& sub : subsystems)
    if (sub.declare_config)
      sub.declare_config(schema);
  return schema;
}

} // namespace p21
