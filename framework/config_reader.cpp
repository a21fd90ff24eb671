// Reading a TOML document against the config schema: structure, types,
// every key's value, then the cross-key checks, each refusal naming file,
// line, column and key.

#include "p21/config_schema.hpp"

#include "config_schema_internal.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <toml++/toml.h>

namespace p21 {

using namespace detail;

namespace {

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
    for (auto&& [k, v] : t)
      problems_.attempt([&, &k = k, &v = v] { check_entry(own, k, v, doc_path, schema_path); });
  }

  void check_entry(const section_spec* own, const toml::key& k, const toml::node& v,
                   const std::string& doc_path, const std::string& schema_path) {
    std::string key{k.str()};
    auto child = dotted(schema_path, key);
    auto doc_child = dotted(doc_path, key);
    if (own && std::any_of(own->keys.begin(), own->keys.end(),
                           [&](const key_spec& ks) { return ks.name == key; }))
      return;
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

  problem_list& problems() { return problems_; }

  void read(config& cfg) {
    for (auto& s : schema_.sections()) {
      auto n = root_.at_path(s.name).node();
      if (!n)
        continue;
      // A table of the wrong shape was refused by `check_structure`; it
      // is skipped here so that the pass goes on to the other sections.
      switch (s.shape) {
      case section_shape::table:
        if (n->is_table())
          read_keys(s, *n->as_table(), s.name, s.object(cfg));
        break;
      case section_shape::named_tables:
        if (n->is_table())
          for (auto&& [k, v] : *n->as_table()) {
            std::string name{k.str()};
            if (v.is_table() && name_problem(s, name).empty())
              read_keys(s, *v.as_table(), s.name + "." + name, s.element(cfg, name));
          }
        break;
      case section_shape::table_array: {
        size_t i = 0;
        if (n->is_array_of_tables())
          for (auto& e : *n->as_array())
            read_keys(s, *e.as_table(), s.name + "[" + std::to_string(i++) + "]",
                      s.append(cfg));
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
      for (auto&& [ek, ev] : *v.as_table())
        problems_.attempt([&, &ek = ek, &ev = ev] {
          std::string name{ek.str()};
          auto path = doc_path + "." + name;
          auto& src = ek.source().begin.line > 0 ? ek.source() : ev.source();
          if (auto problem = name_problem(s, name); !problem.empty())
            throw config_error(file_, src.begin.line, src.begin.column, path, problem);
          if (!ev.is_table())
            fail(ev, path, "expected a table, got " + type_name(ev));
          auto& reserved = s.reserved_names;
          if (std::find(reserved.begin(), reserved.end(), name) != reserved.end())
            throw config_error(file_, src.begin.line, src.begin.column, path,
                               s.reserved_message);
          check_structure(*ev.as_table(), path, s.name);
        });
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
      problems_.attempt([&] {
        auto v = parse(k, *n, key);
        if (auto problem = value_problem(k, v); !problem.empty())
          fail(*n, key, problem);
        k.set(obj, v);
      });
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
      if (n.is_boolean() && k.duration_if_true > timespan{0})
        return n.as_boolean()->get() ? k.duration_if_true : timespan{0};
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
      if (n.is_string() && k.real_from_text)
        return real_from_text(n, key, n.as_string()->get());
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

  /// A quoted number ("+2", "0.5") or a duration in seconds ("50ms").
  double real_from_text(const toml::node& n, const std::string& key, const std::string& text) {
    auto begin = text.data() + (text.size() > 1 && text[0] == '+' ? 1 : 0);
    double x = 0;
    auto r = std::from_chars(begin, text.data() + text.size(), x);
    if (r.ec == std::errc{} && r.ptr == text.data() + text.size())
      return x;
    bool overflow = false;
    if (auto d = checked_duration(text, overflow))
      return std::chrono::duration<double>(*d).count();
    fail(n, key, "'" + text + "' is neither a number nor a duration (\"50ms\", \"2s\")");
  }

  const config_schema& schema_;
  const std::string& file_;
  const toml::table& root_;
  problem_list problems_;
};

} // namespace

/// Runs the schema's checks; positions come from `root` when there is one.
void detail::run_checks(const config_schema& schema, const config& cfg, const toml::table* root) {
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
  problem_list problems;
  for (auto& check : schema.checks())
    problems.attempt([&] { check(cfg, checker); });
  problems.throw_if_any();
}

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
  // Every problem of the file in one pass: its structure, each key's
  // value, then the cross-key checks (on what could be read; a key that
  // failed keeps its default).
  document_reader reader{schema, source_name, root};
  reader.check_structure(root, "", "");
  reader.read(cfg);
  complete(schema, cfg);
  auto& problems = reader.problems();
  problem_list checks;
  checks.attempt([&] { run_checks(schema, cfg, &root); });
  // A check's complaint about a table that already has a problem is most
  // often that problem's echo (a misspelt `threshold` is also a missing
  // one): left out, as a compiler leaves out a cascade.
  auto table_of = [](const std::string& key) {
    auto dot = key.find_last_of('.');
    return dot == std::string::npos ? std::string{} : key.substr(0, dot);
  };
  auto echo = [&](const config_error& c) {
    for (auto& p : problems.all())
      if (table_of(c.key()) == table_of(p.key()) || c.key().rfind(p.key() + ".", 0) == 0)
        return true;
    return false;
  };
  for (auto& c : checks.all())
    if (!echo(c))
      problems.add(c);
  problems.throw_if_any();
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

} // namespace p21
