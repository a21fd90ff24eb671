// The config schema's mechanism: reading TOML against it, checking a config
// built in code, writing TOML, and the reference documentation.

#include "p21/config_schema.hpp"

#include "p21/subsystem.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <toml++/toml.h>

namespace p21 {

// -- value syntax -------------------------------------------------------------

namespace {

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

} // namespace

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

namespace {

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

std::string join(const std::vector<std::string>& xs, const char* sep = ", ") {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : sep) + x;
  return out;
}

} // namespace

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

const section_spec* config_schema::find(const std::string& name) const {
  for (auto& s : sections_)
    if (s.name == name)
      return &s;
  return nullptr;
}

// -- value checks shared by the reader and validate ---------------------------

namespace {

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

/// Why `name` may not be an element of a closed set of named tables (the
/// optimizer's rules), or empty when it may.
std::string name_problem(const section_spec& s, const std::string& name) {
  auto& allowed = s.allowed_names;
  if (allowed.empty() || std::find(allowed.begin(), allowed.end(), name) != allowed.end())
    return {};
  return s.unknown_name + did_you_mean(name, allowed);
}

// -- reading TOML -------------------------------------------------------------

std::string type_name(const toml::node& n) {
  switch (n.type()) {
  case toml::node_type::table:
    return "a table";
  case toml::node_type::array:
    return "an array";
  case toml::node_type::string:
    return "a string";
  case toml::node_type::integer:
    return "an integer";
  case toml::node_type::floating_point:
    return "a float";
  case toml::node_type::boolean:
    return "a boolean";
  case toml::node_type::date:
    return "a date";
  case toml::node_type::time:
    return "a time";
  case toml::node_type::date_time:
    return "a date-time";
  default:
    return "nothing";
  }
}

/// Joins a schema path and a key ("" + "database" is "database").
std::string dotted(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

class document_reader {
public:
  document_reader(const config_schema& schema, const std::string& file, const toml::table& root)
    : schema_(schema)
    , file_(file)
    , root_(root) {
    // nop
  }

  [[noreturn]] void fail(const toml::node& n, const std::string& key, const std::string& msg) {
    throw config_error(file_, n.source().begin.line, n.source().begin.column, key, msg);
  }

  /// Refuses unknown keys, sections and names, and tables of the wrong shape.
  void check_structure(const toml::table& t, const std::string& doc_path,
                       const std::string& schema_path) {
    auto own = schema_.find(schema_path);
    for (auto&& [k, v] : t) {
      std::string key{k.str()};
      auto child = dotted(schema_path, key);
      auto doc_child = dotted(doc_path, key);
      if (own && std::any_of(own->keys.begin(), own->keys.end(),
                             [&](const key_spec& ks) { return ks.name == key; }))
        continue;
      if (auto s = schema_.find(child)) {
        check_section(*s, v, doc_child);
      } else if (has_subsections(child)) {
        if (!v.is_table())
          fail(v, doc_child, "expected a table, got " + type_name(v));
        check_structure(*v.as_table(), doc_child, child);
      } else {
        auto& src = k.source().begin.line > 0 ? k.source() : v.source();
        throw config_error(file_, src.begin.line, src.begin.column, doc_child,
                           "unknown key" + did_you_mean(key, candidates(schema_path)));
      }
    }
  }

  void read(config& cfg) {
    for (auto& s : schema_.sections()) {
      auto n = root_.at_path(s.name).node();
      if (!n)
        continue;
      switch (s.shape) {
      case section_shape::table:
        read_keys(s, *n->as_table(), s.name, s.object(cfg));
        break;
      case section_shape::named_tables:
        for (auto&& [k, v] : *n->as_table()) {
          std::string name{k.str()};
          read_keys(s, *v.as_table(), s.name + "." + name, s.element(cfg, name));
        }
        break;
      case section_shape::table_array: {
        size_t i = 0;
        for (auto& e : *n->as_array())
          read_keys(s, *e.as_table(), s.name + "[" + std::to_string(i++) + "]", s.append(cfg));
        break;
      }
      }
    }
  }

private:
  void check_section(const section_spec& s, const toml::node& v, const std::string& doc_path) {
    switch (s.shape) {
    case section_shape::table:
      if (!v.is_table())
        fail(v, doc_path, "expected a table, got " + type_name(v));
      check_structure(*v.as_table(), doc_path, s.name);
      break;
    case section_shape::named_tables:
      if (!v.is_table())
        fail(v, doc_path, "expected a table, got " + type_name(v));
      for (auto&& [ek, ev] : *v.as_table()) {
        std::string name{ek.str()};
        auto path = doc_path + "." + name;
        auto& src = ek.source().begin.line > 0 ? ek.source() : ev.source();
        if (auto problem = name_problem(s, name); !problem.empty())
          throw config_error(file_, src.begin.line, src.begin.column, path, problem);
        if (!ev.is_table())
          fail(ev, path, "expected a table, got " + type_name(ev));
        auto& reserved = s.reserved_names;
        if (std::find(reserved.begin(), reserved.end(), name) != reserved.end())
          throw config_error(file_, src.begin.line, src.begin.column, path, s.reserved_message);
        check_structure(*ev.as_table(), path, s.name);
      }
      break;
    case section_shape::table_array: {
      if (!v.is_array_of_tables())
        fail(v, doc_path, "expected [[" + s.name + "]] tables, got " + type_name(v));
      size_t i = 0;
      for (auto& e : *v.as_array())
        check_structure(*e.as_table(), doc_path + "[" + std::to_string(i++) + "]", s.name);
      break;
    }
    }
  }

  bool has_subsections(const std::string& path) const {
    auto prefix = path + ".";
    return std::any_of(schema_.sections().begin(), schema_.sections().end(),
                       [&](const section_spec& s) { return s.name.rfind(prefix, 0) == 0; });
  }

  /// What may appear in the table at `path`: its keys and its subsections.
  std::vector<std::string> candidates(const std::string& path) const {
    std::vector<std::string> out;
    if (auto own = schema_.find(path))
      for (auto& k : own->keys)
        out.push_back(k.name);
    auto prefix = path.empty() ? std::string{} : path + ".";
    for (auto& s : schema_.sections())
      if (s.name.size() > prefix.size() && s.name.rfind(prefix, 0) == 0)
        out.push_back(
            s.name.substr(prefix.size(), s.name.find('.', prefix.size()) - prefix.size()));
    return out;
  }

  void read_keys(const section_spec& s, const toml::table& t, const std::string& path, void* obj) {
    for (auto& k : s.keys) {
      auto n = t.get(k.name);
      if (!n)
        continue;
      auto key = path + "." + k.name;
      auto v = parse(k, *n, key);
      if (auto problem = value_problem(k, v); !problem.empty())
        fail(*n, key, problem);
      k.set(obj, v);
    }
  }

  key_value parse(const key_spec& k, const toml::node& n, const std::string& key) {
    switch (k.kind) {
    case key_kind::boolean:
      if (!n.is_boolean())
        fail(n, key, "expected a boolean (true or false), got " + type_name(n));
      return n.as_boolean()->get();
    case key_kind::count:
      if (!n.is_integer())
        fail(n, key, "expected an integer, got " + type_name(n));
      return n.as_integer()->get();
    case key_kind::size: {
      if (n.is_integer() && n.as_integer()->get() >= 0)
        return static_cast<uint64_t>(n.as_integer()->get());
      if (!n.is_string() && !n.is_integer())
        fail(n, key, "expected a size such as \"64MiB\", got " + type_name(n));
      bool overflow = false;
      if (n.is_string()) {
        auto& text = n.as_string()->get();
        if (auto v = checked_size(text, overflow))
          return *v;
        if (overflow)
          fail(n, key, "'" + text + "' is too large; sizes go up to 16777215TiB");
      }
      fail(n, key, "not a size; write bytes or a number with KiB, MiB or GiB");
    }
    case key_kind::duration: {
      if (!n.is_string())
        fail(n, key,
             "expected a duration string such as \"250ms\", \"30s\", \"5m\" or \"1h\", got " +
                 type_name(n));
      auto& text = n.as_string()->get();
      bool overflow = false;
      if (auto d = checked_duration(text, overflow))
        return *d;
      if (overflow)
        fail(n, key, "'" + text + "' is too large; durations go up to 106751d");
      fail(n, key, "'" + text + "' is not a duration; write a number and a unit: ms, s, m, h or d");
    }
    case key_kind::real:
      if (n.is_integer())
        return static_cast<double>(n.as_integer()->get());
      if (!n.is_floating_point())
        fail(n, key, "expected a number, got " + type_name(n));
      return n.as_floating_point()->get();
    case key_kind::string:
    case key_kind::path:
    case key_kind::choice:
      if (!n.is_string())
        fail(n, key, "expected a string, got " + type_name(n));
      return n.as_string()->get();
    case key_kind::strings:
    case key_kind::paths: {
      auto arr = n.as_array();
      if (!arr)
        fail(n, key, "expected an array of strings, got " + type_name(n));
      std::vector<std::string> out;
      for (auto& item : *arr) {
        if (!item.is_string())
          fail(item, key, "expected an array of strings, found " + type_name(item));
        out.push_back(item.as_string()->get());
        // The item's own position: a list may span lines.
        if (k.kind == key_kind::paths)
          if (auto p = control_character_problem(out.back()); !p.empty())
            fail(item, key, p);
      }
      return out;
    }
    }
    fail(n, key, "unsupported key kind");
  }

  const config_schema& schema_;
  const std::string& file_;
  const toml::table& root_;
};

/// Runs the schema's checks; positions come from `root` when there is one.
void run_checks(const config_schema& schema, const config& cfg, const toml::table* root) {
  config_checker::locator where;
  config_checker::finder has;
  if (root) {
    where = [root](const std::string& key) {
      // The key itself, else the nearest enclosing table the file has.
      for (auto path = key; !path.empty();) {
        if (auto n = root->at_path(path).node())
          return std::make_pair(size_t{n->source().begin.line}, size_t{n->source().begin.column});
        auto cut = path.find_last_of(".[");
        path = cut == std::string::npos ? std::string{} : path.substr(0, cut);
      }
      return std::make_pair(size_t{0}, size_t{0});
    };
    has = [root](const std::string& key) {
      return root->at_path(key).node() != nullptr;
    };
  }
  config_checker checker{cfg.source, where, has};
  for (auto& check : schema.checks())
    check(cfg, checker);
}

} // namespace

config load_config_string(const config_schema& schema, std::string_view text,
                          const std::string& source_name) {
  config cfg;
  cfg.source = source_name;
  toml::table root;
  try {
    root = toml::parse(text, std::string_view{source_name});
  } catch (const toml::parse_error& e) {
    throw config_error(source_name, e.source().begin.line, e.source().begin.column, "",
                       std::string{e.description()});
  }
  document_reader reader{schema, source_name, root};
  reader.check_structure(root, "", "");
  reader.read(cfg);
  complete(schema, cfg);
  run_checks(schema, cfg, &root);
  return cfg;
}

config load_config_file(const config_schema& schema, const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw config_error(path, 0, 0, "", "cannot open file: " + std::string{std::strerror(errno)});
  std::stringstream buf;
  buf << in.rdbuf();
  return load_config_string(schema, buf.str(), path);
}

// -- validating a config built in code ----------------------------------------

void complete(const config_schema& schema, config& cfg) {
  for (auto& s : schema.sections())
    if (s.shape == section_shape::named_tables && s.every_name)
      for (auto& x : s.allowed_names)
        s.element(cfg, x); // adds x at its init defaults when missing
}

namespace {

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

} // namespace

void validate(const config_schema& schema, const config& cfg) {
  for (auto& s : schema.sections()) {
    if (s.shape == section_shape::named_tables)
      for (auto& x : s.names(cfg)) {
        if (auto problem = name_problem(s, x); !problem.empty())
          throw config_error(cfg.source, 0, 0, s.name + "." + x, problem);
      }
    for_each_object(s, cfg, true, [&](const std::string& path, const void* obj) {
      for (auto& k : s.keys) {
        if (k.present && !k.present(obj))
          continue;
        if (auto problem = value_problem(k, k.get(obj)); !problem.empty())
          throw config_error(cfg.source, 0, 0, path + "." + k.name, problem);
      }
    });
  }
  run_checks(schema, cfg, nullptr);
}

// -- reloading ----------------------------------------------------------------

namespace {

/// Every struct of `cfg` the schema covers, by its path.
std::vector<std::pair<std::string, const void*>> objects(const section_spec& s,
                                                         const config& cfg) {
  std::vector<std::pair<std::string, const void*>> out;
  for_each_object(s, cfg, true,
                  [&](const std::string& path, const void* obj) { out.emplace_back(path, obj); });
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
        out.restart.push_back(path); // an element removed
        continue;
      }
      for (auto& k : s.keys)
        if (!same(k, a, b))
          (k.live ? out.live : out.restart).push_back(path + "." + k.name);
    }
    for (auto& [path, b] : after)
      if (!find_object(before, path))
        out.restart.push_back(path); // an element added
  }
  return out;
}

void adopt(const config_schema& schema, const config& from, config& to,
           const std::vector<std::string>& keys) {
  for (auto& s : schema.sections()) {
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

// -- writing TOML -------------------------------------------------------------

namespace {

std::string quoted(const std::string& x) {
  std::string q = "\"";
  for (char c : x) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      q += '\\';
      q += c;
    } else if (u < 0x20 || u == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\u%04X", u);
      q += esc;
    } else {
      q += c;
    }
  }
  return q + "\"";
}

/// A table name as TOML wants it: bare when it can be, quoted otherwise.
std::string table_key(const std::string& x) {
  bool bare = !x.empty() && std::all_of(x.begin(), x.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  return bare ? x : quoted(x);
}

std::string toml_value(const key_spec& k, const key_value& v) {
  switch (k.kind) {
  case key_kind::boolean:
    return std::get<bool>(v) ? "true" : "false";
  case key_kind::count:
    return std::to_string(std::get<int64_t>(v));
  case key_kind::size:
    return quoted(format_size(std::get<uint64_t>(v)));
  case key_kind::duration:
    return quoted(format_duration(std::get<timespan>(v)));
  case key_kind::real:
    return real_text(std::get<double>(v));
  case key_kind::strings:
  case key_kind::paths: {
    std::string out = "[";
    for (auto& x : std::get<std::vector<std::string>>(v))
      out += (out.size() > 1 ? ", " : "") + quoted(x);
    return out + "]";
  }
  default:
    return quoted(std::get<std::string>(v));
  }
}

} // namespace

std::string to_toml(const config_schema& schema, const config& given) {
  auto cfg = given;
  complete(schema, cfg);
  std::ostringstream out;
  for (auto& s : schema.sections()) {
    for_each_object(s, cfg, false, [&](const std::string& path, const void* obj) {
      if (out.tellp() > 0)
        out << "\n";
      if (s.shape == section_shape::table_array) {
        out << "[[" << s.name << "]]\n";
      } else if (s.shape == section_shape::named_tables) {
        out << "[" << s.name << "." << table_key(path.substr(s.name.size() + 1)) << "]\n";
      } else {
        out << "[" << s.name << "]\n";
      }
      for (auto& k : s.keys) {
        if (k.present && !k.present(obj))
          continue;
        auto v = k.get(obj);
        out << k.name << " = " << toml_value(k, v);
        if (k.note)
          if (auto note = k.note(v); !note.empty())
            out << "  # " << note;
        out << "\n";
      }
    });
  }
  return out.str();
}

// -- the reference ------------------------------------------------------------

namespace {

std::string type_text(const key_spec& k) {
  switch (k.kind) {
  case key_kind::boolean:
    return "bool";
  case key_kind::count:
    return "integer " + std::to_string(k.min_count) + "–" + std::to_string(k.max_count);
  case key_kind::size:
    return k.min_size > 0 ? "size ≥ " + format_size(k.min_size) : "size";
  case key_kind::duration:
    return k.min_duration > timespan{0} ? "duration ≥ " + format_duration(k.min_duration)
                                        : "duration";
  case key_kind::real:
    if (std::isinf(k.min_real) && std::isinf(k.max_real))
      return k.unit.empty() ? "number" : "number (" + k.unit + ")";
    return "number " + real_text(k.min_real) + "–" + real_text(k.max_real) +
           (k.unit.empty() ? "" : " (" + k.unit + ")");
  case key_kind::string:
    return "string";
  case key_kind::path:
    return "path";
  case key_kind::choice: {
    std::vector<std::string> xs;
    for (auto& c : k.choices)
      xs.push_back("`" + c + "`");
    return join(xs, " \\| ");
  }
  case key_kind::strings:
    return "array of strings";
  case key_kind::paths:
    return "array of paths";
  }
  return "";
}

} // namespace

std::string config_reference(const config_schema& schema) {
  static const config defaults;
  std::ostringstream out;
  out << "# Configuration reference\n\n"
      << "<!-- Generated from the config schema by `p21 check --reference`; do not edit. -->\n\n"
      << "TOML. Every key has a default, so an empty file is a valid deployment.\n"
      << "Durations are strings with a unit: `\"250ms\"`, `\"30s\"`, `\"5m\"`, `\"1h\"` (also "
         "`ns`,\n"
      << "`us`, `d`); sizes are bytes or strings: `\"64MiB\"`, `\"512KiB\"`, `\"10MB\"`. Unknown\n"
      << "keys, wrong types, out-of-range values, unknown choices and values that overflow\n"
      << "are refused with `FILE:LINE:COLUMN: KEY: MESSAGE`; paths must not contain control\n"
      << "characters. `p21 check --config FILE` prints the effective values.\n"
      << "\nKeys marked *(reloadable)* change on a running node when it re-reads its file\n"
      << "(`SIGHUP`, `p21 reload --pid PID`, `systemctl reload perfect21`); the others keep\n"
      << "their value until the node restarts, and a reload names them in its log line.\n";
  for (auto& s : schema.sections()) {
    std::string title = s.shape == section_shape::table_array    ? "[[" + s.name + "]]"
                        : s.shape == section_shape::named_tables ? "[" + s.name + ".NAME]"
                                                                 : "[" + s.name + "]";
    std::string prefix = s.shape == section_shape::table_array    ? s.name + "[]."
                         : s.shape == section_shape::named_tables ? s.name + ".NAME."
                                                                  : s.name + ".";
    out << "\n## `" << title << "`\n\n" << s.help << "\n\n";
    if (!s.keys.empty()) {
      const void* proto =
          s.shape == section_shape::table ? s.object(const_cast<config&>(defaults)) : s.prototype();
      out << "| key | type | default | meaning |\n|---|---|---|---|\n";
      for (auto& k : s.keys) {
        auto def = !k.default_doc.empty() ? k.default_doc : "`" + toml_value(k, k.get(proto)) + "`";
        out << "| `" << prefix << k.name << "` | " << type_text(k) << " | " << def << " | "
            << k.help << (k.live ? " *(reloadable)*" : "") << " |\n";
      }
    }
    if (!s.doc_note.empty())
      out << "\n" << s.doc_note << "\n";
  }
  return out.str();
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
