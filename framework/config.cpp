#include "p21/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>

#include "p21/supervisor.hpp"

namespace p21 {

// -- enums --------------------------------------------------------------------

std::string to_string(priority x) {
  switch (x) {
  case priority::critical:
    return "critical";
  case priority::high:
    return "high";
  case priority::normal:
    return "normal";
  case priority::low:
    return "low";
  }
  return "normal";
}

std::string to_string(strategy x) {
  switch (x) {
  case strategy::one_for_one:
    return "one_for_one";
  case strategy::one_for_all:
    return "one_for_all";
  case strategy::rest_for_one:
    return "rest_for_one";
  }
  return "one_for_one";
}

// -- config_error -------------------------------------------------------------

namespace {

std::string error_text(const std::string& file, size_t line, size_t column, const std::string& key,
                       const std::string& message) {
  std::string out = file.empty() ? std::string{"<config>"} : file;
  if (line > 0)
    out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!key.empty())
    out += key + ": ";
  out += message;
  return out;
}

} // namespace

config_error::config_error(std::string file, size_t line, size_t column, std::string key,
                           std::string message)
  : std::runtime_error(error_text(file, line, column, key, message))
  , file_(std::move(file))
  , line_(line)
  , column_(column)
  , key_(std::move(key))
  , message_(std::move(message)) {
  // nop
}

// -- value syntax -------------------------------------------------------------

std::optional<timespan> parse_duration(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
    ++i;
  if (i == 0 || i > 15)
    return std::nullopt;
  int64_t n = std::stoll(std::string{text.substr(0, i)});
  auto unit = text.substr(i);
  using namespace std::chrono;
  if (unit == "ns")
    return timespan{n};
  if (unit == "us")
    return duration_cast<timespan>(microseconds{n});
  if (unit == "ms")
    return duration_cast<timespan>(milliseconds{n});
  if (unit == "s")
    return duration_cast<timespan>(seconds{n});
  if (unit == "m")
    return duration_cast<timespan>(minutes{n});
  if (unit == "h")
    return duration_cast<timespan>(hours{n});
  if (unit == "d")
    return duration_cast<timespan>(hours{24 * n});
  return std::nullopt;
}

std::string format_duration(timespan x) {
  static constexpr std::pair<int64_t, const char*> units[] = {
      {86'400'000'000'000, "d"}, {3'600'000'000'000, "h"}, {60'000'000'000, "m"},
      {1'000'000'000, "s"},      {1'000'000, "ms"},        {1'000, "us"},
  };
  auto ns = x.count();
  if (ns != 0)
    for (auto& [factor, name] : units)
      if (ns % factor == 0)
        return std::to_string(ns / factor) + name;
  return std::to_string(ns) + "ns";
}

std::optional<uint64_t> parse_size(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
    ++i;
  if (i == 0 || i > 15)
    return std::nullopt;
  uint64_t n = std::stoull(std::string{text.substr(0, i)});
  auto unit = text.substr(i);
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
  for (auto& [name, factor] : units)
    if (unit == name)
      return n * factor;
  return std::nullopt;
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

size_t available_cpus() {
  size_t cpus = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    cpus = static_cast<size_t>(CPU_COUNT(&set));
  if (cpus == 0)
    cpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  // cgroup v2: "max 100000" or "200000 100000"; v1: quota and period files.
  double quota = -1;
  double period = 0;
  if (std::ifstream in{"/sys/fs/cgroup/cpu.max"}; in) {
    std::string q;
    in >> q >> period;
    if (q != "max" && !q.empty())
      quota = std::stod(q);
  } else if (std::ifstream qf{"/sys/fs/cgroup/cpu/cpu.cfs_quota_us"}; qf) {
    std::ifstream pf{"/sys/fs/cgroup/cpu/cpu.cfs_period_us"};
    qf >> quota;
    pf >> period;
  }
  if (quota > 0 && period > 0)
    cpus = std::min(cpus, static_cast<size_t>(std::max(1.0, std::ceil(quota / period))));
  return std::max<size_t>(cpus, 1);
}

// -- defaults -----------------------------------------------------------------

namespace {

/// Which side of the threshold a rule fires on.
enum class direction { above, below };

struct rule_default {
  const char* name;
  direction dir;
  double threshold;
  double clear_threshold;
  int for_seconds;
  int cooldown_seconds;
  double step;
};

// Thresholds are the report's; clear thresholds add a hysteresis band.
constexpr rule_default rule_defaults[] = {
    {"memory_pressure", direction::above, 85, 75, 0, 30, 0.25},
    {"cache_hit_rate", direction::below, 60, 80, 120, 300, 0.25},
    {"connection_pool", direction::above, 1, 0, 10, 60, 0.25},
    {"lazy_loading", direction::below, 10, 10, 1800, 300, 1.0},
    {"git_cache", direction::below, 50, 60, 120, 300, 0.25},
    {"cpu_usage", direction::above, 80, 70, 30, 60, 0.25},
    {"disk_usage", direction::above, 90, 85, 0, 600, 1.0},
    {"parallel_efficiency", direction::below, 70, 80, 60, 120, 0.5},
};

const rule_default* find_rule_default(const std::string& name) {
  for (auto& r : rule_defaults)
    if (name == r.name)
      return &r;
  return nullptr;
}

} // namespace

const std::vector<std::string>& rule_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (auto& r : rule_defaults)
      out.emplace_back(r.name);
    return out;
  }();
  return names;
}

std::map<std::string, named_cache_config> cache_config::all() const {
  auto with = [&](size_t entries, timespan ttl) {
    named_cache_config nc;
    nc.max_entries = entries;
    nc.ttl = ttl;
    nc.policy = policy;
    nc.shards = shards;
    nc.max_bytes = max_bytes;
    return nc;
  };
  auto out = caches;
  out["async"] = with(async_maxsize, async_ttl);
  return out;
}

std::map<std::string, rule_config> default_rules() {
  std::map<std::string, rule_config> rules;
  for (auto& r : rule_defaults) {
    auto& rc = rules[r.name];
    rc.threshold = r.threshold;
    rc.clear_threshold = r.clear_threshold;
    rc.for_duration = std::chrono::seconds{r.for_seconds};
    rc.cooldown = std::chrono::seconds{r.cooldown_seconds};
    rc.step = r.step;
  }
  return rules;
}

// -- reading TOML -------------------------------------------------------------

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

std::string did_you_mean(const std::string& key, const std::vector<std::string>& known) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, key.size() / 3) + 1;
  for (auto& k : known) {
    auto d = edit_distance(key, k);
    if (d < best_distance) {
      best = k;
      best_distance = d;
    }
  }
  return best.empty() ? std::string{} : " (did you mean '" + best + "'?)";
}

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

/// Reads one TOML table against the keys it may hold. Every `read` names its
/// key, so whatever is left over afterwards is an unknown key.
class section_reader {
public:
  section_reader(const std::string& file, const toml::table& tbl, std::string path)
    : file_(file)
    , tbl_(tbl)
    , path_(std::move(path)) {
    // nop
  }

  [[noreturn]] void fail(const toml::node& n, const std::string& key,
                         const std::string& msg) const {
    throw config_error(file_, n.source().begin.line, n.source().begin.column, dotted(key), msg);
  }

  std::string dotted(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  const toml::node* get(const std::string& key) {
    known_.push_back(key);
    return tbl_.get(key);
  }

  void read(const std::string& key, bool& out) {
    if (auto n = get(key)) {
      if (!n->is_boolean())
        fail(*n, key, "expected a boolean (true or false), got " + type_name(*n));
      out = n->as_boolean()->get();
    }
  }

  void read(const std::string& key, std::string& out) {
    if (auto n = get(key)) {
      if (!n->is_string())
        fail(*n, key, "expected a string, got " + type_name(*n));
      out = n->as_string()->get();
    }
  }

  void read(const std::string& key, size_t& out, int64_t min, int64_t max) {
    if (auto n = get(key)) {
      if (!n->is_integer())
        fail(*n, key, "expected an integer, got " + type_name(*n));
      auto v = n->as_integer()->get();
      if (v < min || v > max)
        fail(*n, key,
             "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                 std::to_string(v));
      out = static_cast<size_t>(v);
    }
  }

  void read(const std::string& key, double& out) {
    if (auto n = get(key)) {
      if (n->is_integer())
        out = static_cast<double>(n->as_integer()->get());
      else if (n->is_floating_point())
        out = n->as_floating_point()->get();
      else
        fail(*n, key, "expected a number, got " + type_name(*n));
      if (!std::isfinite(out))
        fail(*n, key, "must be a finite number");
    }
  }

  void read_duration(const std::string& key, timespan& out, timespan min) {
    if (auto n = get(key)) {
      if (!n->is_string())
        fail(*n, key,
             "expected a duration string such as \"250ms\", \"30s\", \"5m\" or \"1h\", got " +
                 type_name(*n));
      auto text = n->as_string()->get();
      auto d = parse_duration(text);
      if (!d)
        fail(*n, key,
             "'" + text + "' is not a duration; write a number and a unit: ms, s, m, h or d");
      if (*d < min)
        fail(*n, key, "must be at least " + format_duration(min) + ", got " + text);
      out = *d;
    }
  }

  void read_size(const std::string& key, uint64_t& out, uint64_t min) {
    if (auto n = get(key)) {
      std::optional<uint64_t> v;
      if (n->is_integer() && n->as_integer()->get() >= 0)
        v = static_cast<uint64_t>(n->as_integer()->get());
      else if (n->is_string())
        v = parse_size(n->as_string()->get());
      else if (!n->is_integer())
        fail(*n, key, "expected a size such as \"64MiB\", got " + type_name(*n));
      if (!v)
        fail(*n, key, "not a size; write bytes or a number with KiB, MiB or GiB");
      if (*v < min)
        fail(*n, key, "must be at least " + format_size(min));
      out = *v;
    }
  }

  template <class Enum>
  void read_enum(const std::string& key, Enum& out, std::initializer_list<Enum> values) {
    std::string text;
    auto n = tbl_.get(key);
    read(key, text);
    if (!n)
      return;
    std::vector<std::string> names;
    for (auto v : values) {
      names.push_back(to_string(v));
      if (names.back() == text) {
        out = v;
        return;
      }
    }
    fail(*n, key, "'" + text + "' is not one of: " + join(names));
  }

  void read_choice(const std::string& key, std::string& out, std::vector<std::string> choices) {
    auto n = tbl_.get(key);
    read(key, out);
    if (n && std::find(choices.begin(), choices.end(), out) == choices.end())
      fail(*n, key, "'" + out + "' is not one of: " + join(choices));
  }

  void read_strings(const std::string& key, std::vector<std::string>& out) {
    if (auto n = get(key)) {
      auto arr = n->as_array();
      if (!arr)
        fail(*n, key, "expected an array of strings, got " + type_name(*n));
      out.clear();
      for (auto& item : *arr) {
        if (!item.is_string())
          fail(item, key, "expected an array of strings, found " + type_name(item));
        out.push_back(item.as_string()->get());
      }
    }
  }

  /// A nested table, or nullptr when absent; `key` counts as known.
  const toml::table* table(const std::string& key) {
    auto n = get(key);
    if (!n)
      return nullptr;
    if (!n->is_table())
      fail(*n, key, "expected a table, got " + type_name(*n));
    return n->as_table();
  }

  /// Refuses every key that no `read` asked for.
  void finish() const {
    for (auto&& [k, v] : tbl_) {
      std::string key{k.str()};
      if (std::find(known_.begin(), known_.end(), key) != known_.end())
        continue;
      auto& src = k.source().begin.line > 0 ? k.source() : v.source();
      throw config_error(file_, src.begin.line, src.begin.column, dotted(key),
                         "unknown key" + did_you_mean(key, known_));
    }
  }

  static std::string join(const std::vector<std::string>& xs) {
    std::string out;
    for (auto& x : xs)
      out += (out.empty() ? "" : ", ") + x;
    return out;
  }

private:
  const std::string& file_;
  const toml::table& tbl_;
  std::string path_;
  std::vector<std::string> known_;
};

constexpr int64_t max_count = 1'000'000'000;

/// Refuses a dependency cycle among `[components]` at load time, naming the
/// cycle and the line of the `depends_on` that closes it.
void check_component_cycles(const std::string& file, const toml::table& tbl, const config& cfg) {
  std::vector<child_spec> specs;
  std::set<std::string> names;
  for (auto& [name, cc] : cfg.components) {
    child_spec s;
    s.name = name;
    if (cc.depends_on)
      s.depends_on = *cc.depends_on;
    names.insert(name);
    specs.push_back(std::move(s));
  }
  // Dependencies on components declared elsewhere (in code) are checked when
  // the runtime starts; here they are leaves.
  for (auto& [name, cc] : cfg.components)
    if (cc.depends_on)
      for (auto& dep : *cc.depends_on)
        if (names.insert(dep).second)
          specs.push_back(child_spec{dep, {}, {}, {}, {}, {}});
  try {
    static_cast<void>(start_order(specs, file));
  } catch (const config_error& e) {
    // "components.NAME.depends_on" -> the node of that key.
    auto key = e.key();
    auto name = key.substr(11, key.rfind('.') - 11);
    const toml::node* n = tbl.get(name);
    if (n && n->is_table() && n->as_table()->get("depends_on"))
      n = n->as_table()->get("depends_on");
    throw config_error(file, n ? n->source().begin.line : 0, n ? n->source().begin.column : 0, key,
                       e.message());
  }
}

void check_database_path(const std::string& file, const toml::node* n, const std::string& path) {
  if (path.empty() || path == ":memory:")
    return;
  auto slash = path.find_last_of('/');
  auto dir = slash == std::string::npos ? std::string{"."} : path.substr(0, slash);
  if (dir.empty())
    dir = "/";
  std::string problem;
  struct stat st;
  // A missing directory is created at start (`mkdir -p`): what must be a
  // writable directory is its nearest existing ancestor.
  while (::stat(dir.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR) && dir != "/" &&
         dir != ".") {
    auto up = dir.find_last_of('/');
    dir = up == std::string::npos ? "." : up == 0 ? "/" : dir.substr(0, up);
  }
  if (::stat(dir.c_str(), &st) != 0)
    problem = "directory '" + dir + "' does not exist";
  else if (!S_ISDIR(st.st_mode))
    problem = "'" + dir + "' is not a directory";
  else if (::access(dir.c_str(), W_OK | X_OK) != 0)
    problem = "directory '" + dir + "' is not writable";
  if (!problem.empty()) {
    size_t line = n ? n->source().begin.line : 0;
    size_t col = n ? n->source().begin.column : 0;
    throw config_error(file, line, col, "database.path", problem);
  }
}

void read_port(section_reader& s, const std::string& key, uint16_t& out, int64_t min) {
  size_t v = out;
  s.read(key, v, min, 65535);
  out = static_cast<uint16_t>(v);
}

/// "cache.NAME" or "db_pool": what a node can publish.
void check_actor_names(section_reader& s, const toml::table& t, const std::string& key,
                       const std::vector<std::string>& names) {
  for (auto& n : names)
    if (n != "db_pool" &&
        (n.rfind("cache.", 0) != 0 || n.size() <= 6 || n.find('/') != std::string::npos))
      s.fail(*t.get(key), key,
             "'" + n + "' is not a publishable actor; write \"cache.NAME\" or \"db_pool\"");
}

void read_cluster(const std::string& file, const toml::table& t, config& cfg) {
  auto& cl = cfg.cluster;
  section_reader s{file, t, "cluster"};
  s.read_duration("request_timeout", cl.request_timeout, std::chrono::milliseconds{1});
  s.read_duration("connect_timeout", cl.connect_timeout, std::chrono::milliseconds{1});
  s.read_duration("retry_initial", cl.retry_initial, std::chrono::milliseconds{1});
  s.read_duration("retry_max", cl.retry_max, std::chrono::milliseconds{1});
  s.read_size("max_frame", cl.max_frame, 1024);
  if (auto p = s.table("publish")) {
    section_reader ps{file, *p, "cluster.publish"};
    ps.read("host", cl.publish_host);
    read_port(ps, "port", cl.publish_port, 0);
    ps.read_strings("actors", cl.publish_actors);
    ps.finish();
    check_actor_names(ps, *p, "actors", cl.publish_actors);
    if (cl.publish_host.empty())
      ps.fail(*p->get("host"), "host", "must not be empty (127.0.0.1 keeps it on loopback)");
  }
  if (auto n = t.get("peers")) {
    s.get("peers");
    if (!n->is_array_of_tables())
      s.fail(*n, "peers", "expected [[cluster.peers]] tables, got " + type_name(*n));
    size_t i = 0;
    for (auto& e : *n->as_array()) {
      auto& pt = *e.as_table();
      section_reader ps{file, pt, "cluster.peers[" + std::to_string(i++) + "]"};
      cluster_peer peer;
      ps.read("name", peer.name);
      ps.read("host", peer.host);
      read_port(ps, "port", peer.port, 1);
      ps.read_strings("actors", peer.actors);
      ps.read_duration("near_ttl", peer.near_ttl, timespan{0});
      ps.read("near_entries", peer.near_entries, 1, 100'000'000);
      ps.finish();
      if (peer.name.empty())
        ps.fail(pt, "name", "every peer needs a name");
      if (!pt.get("port"))
        ps.fail(pt, "port", "every peer needs the port it publishes on");
      check_actor_names(ps, pt, "actors", peer.actors);
      for (auto& other : cl.peers)
        if (other.name == peer.name)
          ps.fail(*pt.get("name"), "name", "two peers are named '" + peer.name + "'");
      cl.peers.push_back(std::move(peer));
    }
  } else {
    s.get("peers");
  }
  if (auto tls = s.table("tls")) {
    section_reader ts{file, *tls, "cluster.tls"};
    ts.read("certificate", cl.tls_certificate);
    ts.read("key", cl.tls_key);
    ts.read("ca", cl.tls_ca);
    ts.finish();
    for (auto key : {"certificate", "key", "ca"}) {
      auto& path = std::string{key} == "certificate" ? cl.tls_certificate
                   : std::string{key} == "key"       ? cl.tls_key
                                                     : cl.tls_ca;
      if (path.empty())
        ts.fail(*tls, key, "TLS needs certificate, key and ca");
      if (!std::ifstream{path})
        ts.fail(*tls->get(key), key, "cannot read '" + path + "'");
    }
  }
  s.finish();
}

/// Published caches exist here with one shard; a peer's cache does not
/// shadow a local one.
void check_cluster_names(const std::string& file, const toml::table& root, const config& cfg) {
  auto caches = cfg.cache.all();
  auto where = [&](const toml::node* n) {
    return n ? std::make_pair(n->source().begin.line, n->source().begin.column)
             : std::make_pair(toml::source_index{0}, toml::source_index{0});
  };
  auto publish = root.at_path("cluster.publish.actors").node();
  for (auto& a : cfg.cluster.publish_actors) {
    if (a == "db_pool")
      continue;
    auto name = a.substr(6);
    auto it = caches.find(name);
    auto [line, col] = where(publish);
    if (it == caches.end())
      throw config_error(file, line, col, "cluster.publish.actors",
                         "no cache named '" + name + "' to publish");
    if (it->second.shards != 1)
      throw config_error(file, line, col, "cluster.publish.actors",
                         "cache '" + name + "' has " + std::to_string(it->second.shards) +
                             " shards; a published cache has one");
  }
  size_t i = 0;
  for (auto& peer : cfg.cluster.peers) {
    auto key = "cluster.peers[" + std::to_string(i) + "].actors";
    auto n = root.at_path("cluster.peers[" + std::to_string(i) + "].actors").node();
    ++i;
    for (auto& a : peer.actors)
      if (a != "db_pool" && caches.count(a.substr(6))) {
        auto [line, col] = where(n);
        throw config_error(file, line, col, key,
                           "'" + a + "' is also a local cache; a peer's cache needs its own name");
      }
  }
}

void read_document(const std::string& file, const toml::table& root, config& cfg) {
  section_reader top{file, root, ""};
  if (auto t = top.table("performance")) {
    section_reader s{file, *t, "performance"};
    s.read("auto_optimization", cfg.performance.auto_optimization);
    s.read_duration("optimization_interval", cfg.performance.optimization_interval,
                    std::chrono::milliseconds{100});
    s.read_duration("monitor_interval", cfg.performance.monitor_interval,
                    std::chrono::milliseconds{100});
    s.read("auto_init", cfg.performance.auto_init);
    s.read_size("memory_budget", cfg.performance.memory_budget, 0);
    s.finish();
  }
  if (auto t = top.table("runtime")) {
    section_reader s{file, *t, "runtime"};
    s.read("threads", cfg.runtime.threads, 0, 1024);
    s.read_choice("scheduler", cfg.runtime.scheduler, {"sharing", "stealing"});
    s.read_duration("shutdown_timeout", cfg.runtime.shutdown_timeout, std::chrono::milliseconds{1});
    s.read_duration("request_timeout", cfg.runtime.request_timeout, std::chrono::milliseconds{1});
    s.finish();
  }
  if (auto t = top.table("logging")) {
    section_reader s{file, *t, "logging"};
    s.read_choice("level", cfg.logging.level,
                  {"trace", "debug", "info", "warn", "error", "critical", "off"});
    s.read("console", cfg.logging.console);
    s.read("file", cfg.logging.file);
    s.read_size("max_size", cfg.logging.max_size, 1024);
    s.read("max_files", cfg.logging.max_files, 1, 1000);
    s.read_duration("status_interval", cfg.logging.status_interval, timespan{0});
    s.finish();
  }
  if (auto t = top.table("monitor")) {
    section_reader s{file, *t, "monitor"};
    s.read_duration("alert_for", cfg.monitor.alert_for, timespan{0});
    s.read_strings("watch_paths", cfg.monitor.watch_paths);
    s.read("events_max", cfg.monitor.events_max, 1, 1'000'000);
    s.finish();
  }
  if (auto t = top.table("http")) {
    section_reader s{file, *t, "http"};
    auto n = t->get("listen");
    s.read("listen", cfg.http.listen);
    if (n && !cfg.http.listen.empty()) {
      auto colon = cfg.http.listen.rfind(':');
      auto port = colon == std::string::npos ? std::string{} : cfg.http.listen.substr(colon + 1);
      if (colon == 0 || port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
          port.size() > 5 || std::stoi(port) > 65535)
        s.fail(*n, "listen", "expected \"HOST:PORT\" such as \"127.0.0.1:9121\"");
    }
    s.finish();
  }
  if (auto t = top.table("cache")) {
    section_reader s{file, *t, "cache"};
    s.read("async_maxsize", cfg.cache.async_maxsize, 1, max_count);
    s.read_duration("async_ttl", cfg.cache.async_ttl, std::chrono::milliseconds{1});
    s.read_duration("git_timeout", cfg.cache.git_timeout, std::chrono::milliseconds{1});
    s.read("db_maxsize", cfg.cache.db_maxsize, 1, max_count);
    s.read_duration("db_ttl", cfg.cache.db_ttl, std::chrono::milliseconds{1});
    s.read("git_maxsize", cfg.cache.git_maxsize, 1, max_count);
    s.read_duration("git_ttl", cfg.cache.git_ttl, std::chrono::milliseconds{1});
    s.read_choice("policy", cfg.cache.policy, {"lru", "tinylfu"});
    s.read("shards", cfg.cache.shards, 1, 256);
    s.read_size("max_bytes", cfg.cache.max_bytes, 1024);
    s.read_duration("load_timeout", cfg.cache.load_timeout, std::chrono::milliseconds{1});
    s.finish();
  }
  if (auto t = top.table("caches")) {
    for (auto&& [k, v] : *t) {
      std::string name{k.str()};
      if (!v.is_table())
        throw config_error(file, v.source().begin.line, v.source().begin.column, "caches." + name,
                           "expected a table, got " + type_name(v));
      if (name == "async" || name == "query" || name == "git")
        throw config_error(file, k.source().begin.line, k.source().begin.column, "caches." + name,
                           "this cache is configured by the [cache] keys of the report");
      section_reader s{file, *v.as_table(), "caches." + name};
      named_cache_config nc;
      nc.policy = cfg.cache.policy;
      nc.shards = cfg.cache.shards;
      nc.max_bytes = cfg.cache.max_bytes;
      s.read("max_entries", nc.max_entries, 1, max_count);
      s.read_size("max_bytes", nc.max_bytes, 1024);
      s.read_duration("ttl", nc.ttl, timespan{0});
      s.read_choice("policy", nc.policy, {"lru", "tinylfu"});
      s.read("shards", nc.shards, 1, 256);
      s.finish();
      cfg.cache.caches[name] = nc;
    }
  }
  const toml::node* db_path_node = nullptr;
  if (auto t = top.table("database")) {
    section_reader s{file, *t, "database"};
    db_path_node = t->get("path");
    s.read("path", cfg.database.path);
    s.read("pool_size", cfg.database.pool_size, 1, 10'000);
    s.read("max_overflow", cfg.database.max_overflow, 0, 10'000);
    s.read_duration("pool_timeout", cfg.database.pool_timeout, std::chrono::milliseconds{1});
    s.read_duration("idle_timeout", cfg.database.idle_timeout, std::chrono::milliseconds{1});
    s.read_duration("max_lifetime", cfg.database.max_lifetime, std::chrono::milliseconds{1});
    s.read_duration("health_check_after", cfg.database.health_check_after, timespan{0});
    s.read_duration("leak_threshold", cfg.database.leak_threshold, std::chrono::milliseconds{1});
    s.read_duration("busy_timeout", cfg.database.busy_timeout, timespan{0});
    s.read_choice("synchronous", cfg.database.synchronous, {"OFF", "NORMAL", "FULL", "EXTRA"});
    s.read("statement_cache", cfg.database.statement_cache, 1, 100'000);
    s.read("query_cache", cfg.database.query_cache);
    s.read_duration("data_version_interval", cfg.database.data_version_interval,
                    std::chrono::milliseconds{1});
    s.finish();
    if (db_path_node && cfg.database.path.empty())
      s.fail(*db_path_node, "path", "must not be empty");
  }
  if (auto t = top.table("subprocess")) {
    section_reader s{file, *t, "subprocess"};
    s.read("max_processes", cfg.subprocess.max_processes, 1, 4096);
    s.read("queue_limit", cfg.subprocess.queue_limit, 0, 1'000'000);
    s.read_duration("timeout", cfg.subprocess.timeout, std::chrono::milliseconds{1});
    s.read_size("output_cap", cfg.subprocess.output_cap, 1);
    s.read_duration("kill_grace", cfg.subprocess.kill_grace, timespan{0});
    s.read_choice("git_watch", cfg.subprocess.git_watch, {"auto", "inotify", "fingerprint"});
    s.finish();
  }
  if (auto t = top.table("supervisor")) {
    section_reader s{file, *t, "supervisor"};
    s.read_enum("strategy", cfg.supervisor.restart_strategy,
                {strategy::one_for_one, strategy::one_for_all, strategy::rest_for_one});
    s.read("max_restarts", cfg.supervisor.max_restarts, 0, 1'000'000);
    s.read_duration("period", cfg.supervisor.period, std::chrono::milliseconds{1});
    s.read_duration("backoff_initial", cfg.supervisor.backoff_initial, timespan{0});
    s.read_duration("backoff_max", cfg.supervisor.backoff_max, timespan{0});
    s.finish();
    if (cfg.supervisor.backoff_max < cfg.supervisor.backoff_initial)
      s.fail(t->get("backoff_max") ? *t->get("backoff_max") : *t, "backoff_max",
             "must not be less than backoff_initial");
  }
  if (auto t = top.table("demo")) {
    section_reader s{file, *t, "demo"};
    s.read("enabled", cfg.demo.enabled);
    s.read_duration("phase", cfg.demo.phase, std::chrono::seconds{1});
    s.read("rate", cfg.demo.rate);
    s.read("clients", cfg.demo.clients, 1, 64);
    s.read("repo", cfg.demo.repo);
    s.finish();
    if (!(cfg.demo.rate >= 1 && cfg.demo.rate <= 1e6))
      s.fail(*t->get("rate"), "rate", "must be between 1 and 1000000 operations per second");
  }
  if (auto t = top.table("cluster"))
    read_cluster(file, *t, cfg);
  if (auto t = top.table("components")) {
    for (auto&& [k, v] : *t) {
      std::string name{k.str()};
      if (!v.is_table())
        throw config_error(file, v.source().begin.line, v.source().begin.column,
                           "components." + name, "expected a table, got " + type_name(v));
      section_reader s{file, *v.as_table(), "components." + name};
      auto& cc = cfg.components[name];
      if (t->get(name)->as_table()->get("priority")) {
        priority p = priority::normal;
        s.read_enum("priority", p,
                    {priority::critical, priority::high, priority::normal, priority::low});
        cc.prio = p;
      } else {
        s.get("priority");
      }
      if (v.as_table()->get("depends_on")) {
        std::vector<std::string> deps;
        s.read_strings("depends_on", deps);
        cc.depends_on = std::move(deps);
      } else {
        s.get("depends_on");
      }
      s.finish();
    }
    check_component_cycles(file, *t, cfg);
  }
  if (auto t = top.table("optimizer")) {
    section_reader s{file, *t, "optimizer"};
    if (auto rules = s.table("rules")) {
      for (auto&& [k, v] : *rules) {
        std::string name{k.str()};
        auto def = find_rule_default(name);
        if (!def)
          throw config_error(file, k.source().begin.line, k.source().begin.column,
                             "optimizer.rules." + name,
                             "unknown rule" + did_you_mean(name, rule_names()));
        if (!v.is_table())
          throw config_error(file, v.source().begin.line, v.source().begin.column,
                             "optimizer.rules." + name, "expected a table, got " + type_name(v));
        section_reader r{file, *v.as_table(), "optimizer.rules." + name};
        auto& rc = cfg.rules[name];
        r.read("enabled", rc.enabled);
        r.read("threshold", rc.threshold);
        r.read("clear_threshold", rc.clear_threshold);
        r.read_duration("for", rc.for_duration, timespan{0});
        r.read_duration("cooldown", rc.cooldown, timespan{0});
        r.read("step", rc.step);
        r.finish();
        if (!(rc.step > 0 && rc.step <= 1)) {
          auto n = v.as_table()->get("step");
          r.fail(n ? *n : v, "step", "must be a fraction above 0 and at most 1, got " +
                                         std::to_string(rc.step));
        }
        bool bad = def->dir == direction::above ? rc.clear_threshold > rc.threshold
                                                : rc.clear_threshold < rc.threshold;
        if (bad) {
          auto n = v.as_table()->get("clear_threshold");
          if (!n)
            n = v.as_table()->get("threshold");
          r.fail(n ? *n : v,
                 n == v.as_table()->get("clear_threshold") ? "clear_threshold" : "threshold",
                 std::string{"clear_threshold must be "} +
                     (def->dir == direction::above ? "at or below" : "at or above") +
                     " threshold (this rule fires " +
                     (def->dir == direction::above ? "above" : "below") + " it)");
        }
      }
    }
    s.finish();
  }
  top.finish();
  check_database_path(file, db_path_node, cfg.database.path);
  check_cluster_names(file, root, cfg);
}

} // namespace

void validate(const config& cfg) {
  auto fail = [&](const std::string& key, const std::string& msg) {
    throw config_error(cfg.source, 0, 0, key, msg);
  };
  if (cfg.database.pool_size == 0)
    fail("database.pool_size", "must be at least 1");
  if (cfg.subprocess.max_processes == 0)
    fail("subprocess.max_processes", "must be at least 1");
  if (cfg.cache.async_maxsize == 0)
    fail("cache.async_maxsize", "must be at least 1");
  if (cfg.cache.db_maxsize == 0)
    fail("cache.db_maxsize", "must be at least 1");
  if (cfg.performance.monitor_interval < std::chrono::milliseconds{100})
    fail("performance.monitor_interval", "must be at least 100ms");
  if (cfg.performance.optimization_interval < std::chrono::milliseconds{100})
    fail("performance.optimization_interval", "must be at least 100ms");
  if (cfg.supervisor.backoff_max < cfg.supervisor.backoff_initial)
    fail("supervisor.backoff_max", "must not be less than backoff_initial");
  for (auto& [name, rc] : cfg.rules) {
    auto def = find_rule_default(name);
    if (!def)
      fail("optimizer.rules." + name, "unknown rule" + did_you_mean(name, rule_names()));
    bool bad = def->dir == direction::above ? rc.clear_threshold > rc.threshold
                                            : rc.clear_threshold < rc.threshold;
    if (bad)
      fail("optimizer.rules." + name + ".clear_threshold",
           "clear_threshold is on the wrong side of threshold");
    if (!(rc.step > 0 && rc.step <= 1))
      fail("optimizer.rules." + name + ".step", "must be a fraction above 0 and at most 1");
  }
  check_database_path(cfg.source, nullptr, cfg.database.path);
}

config load_config_string(std::string_view text, const std::string& source_name) {
  config cfg;
  cfg.source = source_name;
  toml::table root;
  try {
    root = toml::parse(text, std::string_view{source_name});
  } catch (const toml::parse_error& e) {
    throw config_error(source_name, e.source().begin.line, e.source().begin.column, "",
                       std::string{e.description()});
  }
  read_document(source_name, root, cfg);
  return cfg;
}

config load_config_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw config_error(path, 0, 0, "", "cannot open file: " + std::string{std::strerror(errno)});
  std::stringstream buf;
  buf << in.rdbuf();
  return load_config_string(buf.str(), path);
}

// -- writing TOML -------------------------------------------------------------

std::string to_toml(const config& cfg) {
  std::ostringstream out;
  auto str = [](const std::string& x) {
    std::string q = "\"";
    for (char c : x) {
      if (c == '"' || c == '\\')
        q += '\\';
      q += c;
    }
    return q + "\"";
  };
  auto dur = [&](timespan x) {
    return str(format_duration(x));
  };
  auto boolean = [](bool x) {
    return x ? "true" : "false";
  };
  auto strs = [&](const std::vector<std::string>& xs) {
    std::string out = "[";
    for (auto& x : xs)
      out += (out.size() > 1 ? ", " : "") + str(x);
    return out + "]";
  };
  out << "[performance]\n"
      << "auto_optimization = " << boolean(cfg.performance.auto_optimization) << "\n"
      << "optimization_interval = " << dur(cfg.performance.optimization_interval) << "\n"
      << "monitor_interval = " << dur(cfg.performance.monitor_interval) << "\n"
      << "auto_init = " << boolean(cfg.performance.auto_init) << "\n"
      << "memory_budget = " << str(format_size(cfg.performance.memory_budget)) << "\n\n"
      << "[runtime]\n"
      << "threads = " << cfg.runtime.threads
      << "  # effective: " << (cfg.runtime.threads ? cfg.runtime.threads : available_cpus()) << "\n"
      << "scheduler = " << str(cfg.runtime.scheduler) << "\n"
      << "shutdown_timeout = " << dur(cfg.runtime.shutdown_timeout) << "\n"
      << "request_timeout = " << dur(cfg.runtime.request_timeout) << "\n\n"
      << "[logging]\n"
      << "level = " << str(cfg.logging.level) << "\n"
      << "console = " << boolean(cfg.logging.console) << "\n"
      << "file = " << str(cfg.logging.file) << "\n"
      << "max_size = " << str(format_size(cfg.logging.max_size)) << "\n"
      << "max_files = " << cfg.logging.max_files << "\n"
      << "status_interval = " << dur(cfg.logging.status_interval) << "\n\n"
      << "[monitor]\n"
      << "alert_for = " << dur(cfg.monitor.alert_for) << "\n"
      << "watch_paths = " << strs(cfg.monitor.watch_paths) << "\n"
      << "events_max = " << cfg.monitor.events_max << "\n\n"
      << "[http]\n"
      << "listen = " << str(cfg.http.listen) << "\n\n"
      << "[cache]\n"
      << "async_maxsize = " << cfg.cache.async_maxsize << "\n"
      << "async_ttl = " << dur(cfg.cache.async_ttl) << "\n"
      << "git_timeout = " << dur(cfg.cache.git_timeout) << "\n"
      << "db_maxsize = " << cfg.cache.db_maxsize << "\n"
      << "db_ttl = " << dur(cfg.cache.db_ttl) << "\n"
      << "git_maxsize = " << cfg.cache.git_maxsize << "\n"
      << "git_ttl = " << dur(cfg.cache.git_ttl) << "\n"
      << "policy = " << str(cfg.cache.policy) << "\n"
      << "shards = " << cfg.cache.shards << "\n"
      << "max_bytes = " << str(format_size(cfg.cache.max_bytes)) << "\n"
      << "load_timeout = " << dur(cfg.cache.load_timeout) << "\n\n"
      << "[database]\n"
      << "path = " << str(cfg.database.path) << "\n"
      << "pool_size = " << cfg.database.pool_size << "\n"
      << "max_overflow = " << cfg.database.max_overflow << "\n"
      << "pool_timeout = " << dur(cfg.database.pool_timeout) << "\n"
      << "idle_timeout = " << dur(cfg.database.idle_timeout) << "\n"
      << "max_lifetime = " << dur(cfg.database.max_lifetime) << "\n"
      << "health_check_after = " << dur(cfg.database.health_check_after) << "\n"
      << "leak_threshold = " << dur(cfg.database.leak_threshold) << "\n"
      << "busy_timeout = " << dur(cfg.database.busy_timeout) << "\n"
      << "synchronous = " << str(cfg.database.synchronous) << "\n"
      << "statement_cache = " << cfg.database.statement_cache << "\n"
      << "query_cache = " << boolean(cfg.database.query_cache) << "\n"
      << "data_version_interval = " << dur(cfg.database.data_version_interval) << "\n\n"
      << "[subprocess]\n"
      << "max_processes = " << cfg.subprocess.max_processes << "\n"
      << "queue_limit = " << cfg.subprocess.queue_limit << "\n"
      << "timeout = " << dur(cfg.subprocess.timeout) << "\n"
      << "output_cap = " << str(format_size(cfg.subprocess.output_cap)) << "\n"
      << "kill_grace = " << dur(cfg.subprocess.kill_grace) << "\n"
      << "git_watch = " << str(cfg.subprocess.git_watch) << "\n\n"
      << "[supervisor]\n"
      << "strategy = " << str(to_string(cfg.supervisor.restart_strategy)) << "\n"
      << "max_restarts = " << cfg.supervisor.max_restarts << "\n"
      << "period = " << dur(cfg.supervisor.period) << "\n"
      << "backoff_initial = " << dur(cfg.supervisor.backoff_initial) << "\n"
      << "backoff_max = " << dur(cfg.supervisor.backoff_max) << "\n\n"
      << "[demo]\n"
      << "enabled = " << boolean(cfg.demo.enabled) << "\n"
      << "phase = " << dur(cfg.demo.phase) << "\n"
      << "rate = " << cfg.demo.rate << "\n"
      << "clients = " << cfg.demo.clients << "\n"
      << "repo = " << str(cfg.demo.repo) << "\n\n"
      << "[cluster]\n"
      << "request_timeout = " << dur(cfg.cluster.request_timeout) << "\n"
      << "connect_timeout = " << dur(cfg.cluster.connect_timeout) << "\n"
      << "retry_initial = " << dur(cfg.cluster.retry_initial) << "\n"
      << "retry_max = " << dur(cfg.cluster.retry_max) << "\n"
      << "max_frame = " << str(format_size(cfg.cluster.max_frame)) << "\n\n"
      << "[cluster.publish]\n"
      << "host = " << str(cfg.cluster.publish_host) << "\n"
      << "port = " << cfg.cluster.publish_port << "\n"
      << "actors = " << strs(cfg.cluster.publish_actors) << "\n";
  if (cfg.cluster.tls())
    out << "\n[cluster.tls]\n"
        << "certificate = " << str(cfg.cluster.tls_certificate) << "\n"
        << "key = " << str(cfg.cluster.tls_key) << "\n"
        << "ca = " << str(cfg.cluster.tls_ca) << "\n";
  for (auto& peer : cfg.cluster.peers)
    out << "\n[[cluster.peers]]\n"
        << "name = " << str(peer.name) << "\n"
        << "host = " << str(peer.host) << "\n"
        << "port = " << peer.port << "\n"
        << "actors = " << strs(peer.actors) << "\n"
        << "near_ttl = " << dur(peer.near_ttl) << "\n"
        << "near_entries = " << peer.near_entries << "\n";
  for (auto& [name, nc] : cfg.cache.caches)
    out << "\n[caches." << name << "]\n"
        << "max_entries = " << nc.max_entries << "\n"
        << "max_bytes = " << str(format_size(nc.max_bytes)) << "\n"
        << "ttl = " << dur(nc.ttl) << "\n"
        << "policy = " << str(nc.policy) << "\n"
        << "shards = " << nc.shards << "\n";
  for (auto& [name, cc] : cfg.components) {
    out << "\n[components." << name << "]\n";
    if (cc.prio)
      out << "priority = " << str(to_string(*cc.prio)) << "\n";
    if (cc.depends_on) {
      out << "depends_on = [";
      for (size_t i = 0; i < cc.depends_on->size(); ++i)
        out << (i ? ", " : "") << str((*cc.depends_on)[i]);
      out << "]\n";
    }
  }
  for (auto& name : rule_names()) {
    auto i = cfg.rules.find(name);
    if (i == cfg.rules.end())
      continue;
    auto& rc = i->second;
    out << "\n[optimizer.rules." << name << "]\n"
        << "enabled = " << boolean(rc.enabled) << "\n"
        << "threshold = " << rc.threshold << "\n"
        << "clear_threshold = " << rc.clear_threshold << "\n"
        << "for = " << dur(rc.for_duration) << "\n"
        << "cooldown = " << dur(rc.cooldown) << "\n"
        << "step = " << rc.step << "\n";
  }
  return out.str();
}

} // namespace p21
