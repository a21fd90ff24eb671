#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "p21/config.hpp"
#include "p21/fwd.hpp"

namespace p21 {

// -- keys ---------------------------------------------------------------------

/// What a key holds: decides how it is read, range-checked, written and
/// documented.
enum class key_kind { boolean, count, size, duration, real, string, path, choice, strings, paths };

/// A key's value on its way between a file and a config struct: `bool`
/// (boolean), `int64_t` (count), `uint64_t` (size), `timespan` (duration),
/// `double` (real), `std::string` (string, path, choice) or a list.
using key_value =
    std::variant<bool, int64_t, uint64_t, timespan, double, std::string, std::vector<std::string>>;

/// One key, declared once: the reader, `validate`, the writer and the
/// reference documentation all work from it.
struct key_spec {
  std::string name;
  key_kind kind = key_kind::string;
  /// One line for the reference.
  std::string help;
  /// Unit of a real, for the reference (e.g. "operations per second").
  std::string unit;
  /// Inclusive bounds of counts and reals; lower bounds of durations and sizes.
  int64_t min_count = 0;
  int64_t max_count = 0;
  double min_real = 0;
  double max_real = 0;
  timespan min_duration{0};
  uint64_t min_size = 0;
  /// The values a choice may take.
  std::vector<std::string> choices;
  /// The reference's default column when it is not the struct's default.
  std::string default_doc;
  /// Access to the member in its section's struct (`void*` erases the type).
  std::function<key_value(const void*)> get;
  std::function<void(void*, const key_value&)> set;
  /// For optional members: whether to write the key at all.
  std::function<bool(const void*)> present;
  /// A further check of a value; returns the refusal, empty if fine.
  std::function<std::string(const key_value&)> refine;
  /// A comment the writer puts after the value (e.g. what 0 resolves to).
  std::function<std::string(const key_value&)> note;
  /// A real that also takes a quoted number ("+2") or a duration read as
  /// seconds ("50ms" is 0.05).
  bool real_from_text = false;
  /// A duration that also takes a boolean: true is this, false zero; zero
  /// here: a boolean is refused.
  timespan duration_if_true{0};
  /// Whether a running node adopts a new value on reload (`runtime::reload`);
  /// a key that is not live keeps its value until the node restarts.
  bool live = false;
};

// -- sections -----------------------------------------------------------------

/// `[NAME]`, `[NAME.X]` for any X (a map), or `[[NAME]]` (a vector).
enum class section_shape { table, named_tables, table_array };

/// One section and its keys. Built with `config_schema::section` and friends.
struct section_spec {
  std::string name;
  std::string help;
  section_shape shape = section_shape::table;
  std::vector<key_spec> keys;
  /// The struct the keys live in: the section (table), the element X
  /// (named_tables, made with `init` on first use) or element i.
  std::function<void*(config&)> object;
  std::function<std::vector<std::string>(const config&)> names;
  std::function<void*(config&, const std::string&)> element;
  /// named_tables: removes element X (a reload of a `live_set`).
  std::function<void(config&, const std::string&)> erase;
  std::function<size_t(const config&)> size;
  std::function<void*(config&, size_t)> at;
  std::function<void*(config&)> append;
  /// A default element, for the reference's default column.
  std::function<const void*()> prototype;
  /// named_tables: a closed set of names (empty: any), what an unknown one is
  /// called ("unknown rule"), and names refused with `reserved_message`.
  std::vector<std::string> allowed_names;
  std::string unknown_name = "unknown name";
  std::vector<std::string> reserved_names;
  std::string reserved_message;
  /// named_tables: every allowed name is always there, at its `init`
  /// defaults unless set (`complete` adds the missing ones).
  bool every_name = false;
  /// named_tables: names always there (at their `init` defaults unless set)
  /// in an otherwise open set.
  std::vector<std::string> default_names;
  /// named_tables: elements come and go on a running node (`live_set`).
  bool live_set = false;
  /// Whether the writer prints the section; empty: always.
  std::function<bool(const config&)> written;
  /// Markdown printed after the section's rows in the reference.
  std::string doc_note;
};

/// Declares the keys of one section; every call adds one key to it.
template <class T>
class section_builder {
public:
  explicit section_builder(section_spec& s)
    : s_(&s) {
    // nop
  }

  section_builder& flag(std::string name, bool T::*m, std::string help) {
    return add(std::move(name), key_kind::boolean, std::move(help), m);
  }

  template <class Int>
  section_builder& count(std::string name, Int T::*m, int64_t min, int64_t max, std::string help) {
    auto& k = add_key(std::move(name), key_kind::count, std::move(help));
    k.min_count = min;
    k.max_count = max;
    k.get = [m](const void* p) {
      return key_value{static_cast<int64_t>(static_cast<const T*>(p)->*m)};
    };
    k.set = [m](void* p, const key_value& v) {
      static_cast<T*>(p)->*m = static_cast<Int>(std::get<int64_t>(v));
    };
    return *this;
  }

  section_builder& size(std::string name, uint64_t T::*m, uint64_t min, std::string help) {
    add(std::move(name), key_kind::size, std::move(help), m);
    s_->keys.back().min_size = min;
    return *this;
  }

  section_builder& duration(std::string name, timespan T::*m, timespan min, std::string help) {
    add(std::move(name), key_kind::duration, std::move(help), m);
    s_->keys.back().min_duration = min;
    return *this;
  }

  section_builder& real(std::string name, double T::*m, double min, double max, std::string help,
                        std::string unit = {}) {
    auto& k = add(std::move(name), key_kind::real, std::move(help), m).last();
    k.min_real = min;
    k.max_real = max;
    k.unit = std::move(unit);
    return *this;
  }

  section_builder& string(std::string name, std::string T::*m, std::string help) {
    return add(std::move(name), key_kind::string, std::move(help), m);
  }

  /// A file system path: control characters (NUL included) are refused.
  section_builder& path(std::string name, std::string T::*m, std::string help) {
    return add(std::move(name), key_kind::path, std::move(help), m);
  }

  section_builder& strings(std::string name, std::vector<std::string> T::*m, std::string help) {
    return add(std::move(name), key_kind::strings, std::move(help), m);
  }

  section_builder& paths(std::string name, std::vector<std::string> T::*m, std::string help) {
    return add(std::move(name), key_kind::paths, std::move(help), m);
  }

  /// A string that must be one of `values`.
  section_builder& choice(std::string name, std::string T::*m, std::vector<std::string> values,
                          std::string help) {
    add(std::move(name), key_kind::choice, std::move(help), m);
    s_->keys.back().choices = std::move(values);
    return *this;
  }

  /// An enum member, spelled as `to_string(E)` gives it.
  template <class E>
  section_builder& choice(std::string name, E T::*m, std::vector<E> values, std::string help) {
    auto& k = add_key(std::move(name), key_kind::choice, std::move(help));
    for (auto v : values)
      k.choices.push_back(to_string(v));
    k.get = [m](const void* p) {
      return key_value{to_string(static_cast<const T*>(p)->*m)};
    };
    k.set = [m, values](void* p, const key_value& v) {
      for (auto x : values)
        if (to_string(x) == std::get<std::string>(v))
          static_cast<T*>(p)->*m = x;
    };
    return *this;
  }

  /// A key with hand-written accessors (e.g. an optional member).
  section_builder& custom(key_spec k) {
    s_->keys.push_back(std::move(k));
    return *this;
  }

  // -- settings of the key declared last --

  section_builder& default_doc(std::string text) {
    last().default_doc = std::move(text);
    return *this;
  }

  section_builder& refine(std::function<std::string(const key_value&)> f) {
    last().refine = std::move(f);
    return *this;
  }

  section_builder& note(std::function<std::string(const key_value&)> f) {
    last().note = std::move(f);
    return *this;
  }

  /// The key just added (a real) also takes a quoted number or a duration
  /// in seconds.
  section_builder& or_text() {
    last().real_from_text = true;
    return *this;
  }

  /// The key just added (a duration) also takes `true` (meaning `d`) and
  /// `false` (zero).
  section_builder& or_flag(timespan d) {
    last().duration_if_true = d;
    return *this;
  }

  /// The writer, diffs and validation see the key just added only where
  /// `f` holds for its struct (a key for some elements of named tables).
  section_builder& shown_if(std::function<bool(const T&)> f) {
    last().present = [f](const void* p) { return f(*static_cast<const T*>(p)); };
    return *this;
  }

  /// The key changes on a running node (`runtime::reload`); its subsystem's
  /// `reload` hook applies it.
  section_builder& live() {
    last().live = true;
    return *this;
  }

  // -- settings of the section --

  /// named_tables: only these names; others are `what` with a did-you-mean.
  section_builder& only_names(std::vector<std::string> names, std::string what) {
    s_->allowed_names = std::move(names);
    s_->unknown_name = std::move(what);
    return *this;
  }

  /// named_tables with `only_names`: each of those names always exists; a
  /// config that does not set one gets it at its `init` defaults.
  section_builder& every_name_present() {
    s_->every_name = true;
    return *this;
  }

  /// named_tables: these names always exist, at their `init` defaults
  /// unless set; other names are allowed too.
  section_builder& default_names(std::vector<std::string> names) {
    s_->default_names = std::move(names);
    return *this;
  }

  /// named_tables: a live key set. Every key declared so far is live, and a
  /// reload adds and removes elements too (`diff` lists `NAME.X` as live);
  /// the subsystem's `reload` hook applies the whole set.
  section_builder& live_set() {
    s_->live_set = true;
    for (auto& k : s_->keys)
      k.live = true;
    return *this;
  }

  section_builder& reserved_names(std::vector<std::string> names, std::string message) {
    s_->reserved_names = std::move(names);
    s_->reserved_message = std::move(message);
    return *this;
  }

  section_builder& written_if(std::function<bool(const config&)> f) {
    s_->written = std::move(f);
    return *this;
  }

  section_builder& doc_note(std::string markdown) {
    s_->doc_note = std::move(markdown);
    return *this;
  }

  key_spec& last() { return s_->keys.back(); }

private:
  key_spec& add_key(std::string name, key_kind kind, std::string help) {
    key_spec k;
    k.name = std::move(name);
    k.kind = kind;
    k.help = std::move(help);
    s_->keys.push_back(std::move(k));
    return s_->keys.back();
  }

  template <class V>
  section_builder& add(std::string name, key_kind kind, std::string help, V T::*m) {
    auto& k = add_key(std::move(name), kind, std::move(help));
    k.get = [m](const void* p) {
      return key_value{static_cast<const T*>(p)->*m};
    };
    k.set = [m](void* p, const key_value& v) {
      static_cast<T*>(p)->*m = std::get<V>(v);
    };
    return *this;
  }

  section_spec* s_;
};

// -- checks -------------------------------------------------------------------

/// What a cross-field check reports through: it names the key, the reader
/// adds the file position (line 0 for a config built in code).
class config_checker {
public:
  using locator = std::function<std::pair<size_t, size_t>(const std::string&)>;
  using finder = std::function<bool(const std::string&)>;

  config_checker(std::string file, locator where, finder has)
    : file_(std::move(file))
    , where_(std::move(where))
    , has_(std::move(has)) {
    // nop
  }

  /// Whether the file sets `key` (a dotted path such as
  /// `cluster.peers[0].port`); always false for a config built in code.
  bool has(const std::string& key) const { return has_ && has_(key); }

  /// Refuses the config at `key` (or, when the file lacks it, at the
  /// nearest enclosing table).
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

  /// Accepts the config but tells its reader, on stderr, that `key` is a
  /// risk (file, line and key, as `fail` does). Stderr, not the log: a
  /// node's logging is itself configured by this file.
  void warn(const std::string& key, const std::string& message) const;

private:
  std::string file_;
  locator where_;
  finder has_;
};

// -- the schema ---------------------------------------------------------------

/// Every key a node's config may hold. The framework declares the mechanism
/// and its own sections; each subsystem declares its sections and checks.
class config_schema {
public:
  using check = std::function<void(const config&, const config_checker&)>;

  /// `[name]`, its keys in `T`, reached by `access(cfg)`.
  template <class T, class Access>
  section_builder<T> section(std::string name, Access access, std::string help) {
    auto& s = add(std::move(name), section_shape::table, std::move(help));
    s.object = [access](config& c) -> void* {
      return &access(c);
    };
    return section_builder<T>{s};
  }

  /// `[name]`, its keys in the config's section `T` (`cfg.get<T>()`): how a
  /// subsystem or an application declares a section of its own.
  template <class T>
  section_builder<T> section(std::string name, std::string help) {
    return section<T>(
        std::move(name), [](config& c) -> T& { return c.get<T>(); }, std::move(help));
  }

  /// `[name.X]` for any X, one `T` each in the map `access(cfg)`; a new
  /// element starts as `init(cfg, X, element)` leaves it.
  template <class T, class Access>
  section_builder<T>
  named_tables(std::string name, Access access, std::string help,
               std::function<void(const config&, const std::string&, T&)> init = {}) {
    auto& s = add(std::move(name), section_shape::named_tables, std::move(help));
    s.names = [access](const config& c) {
      std::vector<std::string> out;
      for (auto& kv : access(const_cast<config&>(c)))
        out.push_back(kv.first);
      return out;
    };
    s.element = [access, init](config& c, const std::string& x) -> void* {
      auto& m = access(c);
      auto i = m.find(x);
      if (i == m.end()) {
        T t{};
        if (init)
          init(c, x, t);
        i = m.emplace(x, std::move(t)).first;
      }
      return &i->second;
    };
    s.erase = [access](config& c, const std::string& x) {
      access(c).erase(x);
    };
    s.prototype = [] {
      static const T t{};
      return static_cast<const void*>(&t);
    };
    return section_builder<T>{s};
  }

  /// `[[name]]`, one `T` each in the vector `access(cfg)`.
  template <class T, class Access>
  section_builder<T> table_array(std::string name, Access access, std::string help) {
    auto& s = add(std::move(name), section_shape::table_array, std::move(help));
    s.size = [access](const config& c) {
      return access(const_cast<config&>(c)).size();
    };
    s.at = [access](config& c, size_t i) -> void* {
      return &access(c)[i];
    };
    s.append = [access](config& c) -> void* {
      return &access(c).emplace_back();
    };
    s.prototype = [] {
      static const T t{};
      return static_cast<const void*>(&t);
    };
    return section_builder<T>{s};
  }

  /// A check across keys, run after every key is read (and by `validate`).
  void add_check(check f) { checks_.push_back(std::move(f)); }

  const std::deque<section_spec>& sections() const { return sections_; }
  const std::vector<check>& checks() const { return checks_; }
  const section_spec* find(const std::string& name) const;

private:
  section_spec& add(std::string name, section_shape shape, std::string help) {
    section_spec s;
    s.name = std::move(name);
    s.shape = shape;
    s.help = std::move(help);
    // A deque keeps references to earlier sections valid for their builders.
    sections_.push_back(std::move(s));
    return sections_.back();
  }

  std::deque<section_spec> sections_;
  std::vector<check> checks_;
};

/// The framework's own sections: performance, runtime, logging, supervisor,
/// components.
void declare_framework_keys(config_schema& schema);

/// The framework's sections and those the `subsystems` declare
/// (`subsystem::declare_config`), in that order.
config_schema make_schema(const std::vector<subsystem>& subsystems);

// -- working with a schema ----------------------------------------------------

/// Reads and validates TOML text against `schema`. Throws `config_error`.
[[nodiscard]] config load_config_string(const config_schema& schema, std::string_view toml,
                                        const std::string& source_name);

/// Reads and validates a TOML file against `schema`. Throws `config_error`.
[[nodiscard]] config load_config_file(const config_schema& schema, const std::string& path);

/// Adds to `cfg` every section the schema declares that it lacks, and the
/// elements its sections always have (`every_name_present`), at their
/// defaults. Loading does this; so does the runtime with the config it runs.
void complete(const config_schema& schema, config& cfg);

/// Every key's range and choices and every check, for a config built in
/// code. Throws `config_error` with line 0.
void validate(const config_schema& schema, const config& cfg);

/// The effective configuration as TOML that reads back to an equal config.
std::string to_toml(const config_schema& schema, const config& cfg);

/// What differs between two configs, as dotted key paths
/// (`cache.async_maxsize`, `optimizer.rules.cpu_usage.threshold`); an element
/// of a named or array section that only one side has counts as one change
/// (`caches.hot`), which needs a restart unless the section is a `live_set`.
struct config_changes {
  /// Changed keys declared `live`.
  std::vector<std::string> live;
  /// Changed keys (or elements) a running node cannot adopt.
  std::vector<std::string> restart;

  bool empty() const { return live.empty() && restart.empty(); }
};

/// Compares `old` and `now` key by key (both complete).
config_changes diff(const config_schema& schema, const config& old, const config& now);

/// Copies the values of `keys` (paths as `diff` names them) from `from` into
/// `to`, writing nothing else: a running node adopts what a reload applied.
/// An element path of a `live_set` adds the element (all its keys) or
/// removes it.
void adopt(const config_schema& schema, const config& from, config& to,
           const std::vector<std::string>& keys);

/// The reference documentation of every key, as Markdown.
std::string config_reference(const config_schema& schema);

/// `" (did you mean 'X'?)"` for the entry of `known` closest to `word`, or
/// empty when none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& known);

} // namespace p21
