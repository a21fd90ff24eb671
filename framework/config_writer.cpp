// Writing a config as TOML and the reference documentation, both from the
// config schema.

#include "p21/config_schema.hpp"

#include "config_schema_internal.hpp"

#include <algorithm>
#include <sstream>

namespace p21 {

using namespace detail;

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
      << "(`SIGHUP`, `p21 reload --pid PID`, `systemctl reload perfect21`), in the running\n"
      << "components and in those that start later: a lazy component first used after the\n"
      << "reload, or one the supervisor restarts, starts with the reloaded values. The\n"
      << "others keep their value until the node restarts (a component's restart does not\n"
      << "change them), and a reload names them in its log line as `restart needed`.\n";
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
