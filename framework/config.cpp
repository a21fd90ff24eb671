#include "p21/config.hpp"
#include "p21/config_schema.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include <sched.h>
#include <unistd.h>

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

std::string to_string(scheduler_policy x) {
  switch (x) {
  case scheduler_policy::sharing:
    return "sharing";
  case scheduler_policy::stealing:
    return "stealing";
  }
  return "?";
}

std::string to_string(log_level x) {
  switch (x) {
  case log_level::trace:
    return "trace";
  case log_level::debug:
    return "debug";
  case log_level::info:
    return "info";
  case log_level::warn:
    return "warn";
  case log_level::error:
    return "error";
  case log_level::critical:
    return "critical";
  case log_level::off:
    return "off";
  }
  return "?";
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

/// `key` with its control characters as `\uXXXX`: a key comes from the
/// file (a table's name), and the error is printed to a terminal or a log.
std::string printable_key(std::string key) {
  std::string out;
  for (char c : key) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char code[8];
      std::snprintf(code, sizeof(code), "\\u%04X", u);
      out += code;
    } else {
      out += c;
    }
  }
  return out;
}

} // namespace

config_error::config_error(std::string file, size_t line, size_t column, std::string key,
                           std::string message)
  : std::runtime_error(error_text(file, line, column, printable_key(key), message))
  , file_(std::move(file))
  , line_(line)
  , column_(column)
  , key_(printable_key(std::move(key)))
  , message_(std::move(message)) {
  // nop
}

namespace {

std::vector<config_error> in_file_order(std::vector<config_error> xs) {
  if (xs.empty())
    throw std::logic_error("config_error: no problems given");
  // Problems without a position (a config built in code, a check on a key
  // the file lacks) go last; the rest as the file has them.
  std::stable_sort(xs.begin(), xs.end(), [](const config_error& a, const config_error& b) {
    auto la = a.line() == 0 ? SIZE_MAX : a.line();
    auto lb = b.line() == 0 ? SIZE_MAX : b.line();
    return la != lb ? la < lb : a.column() < b.column();
  });
  return xs;
}

std::string joined(const std::vector<config_error>& xs) {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty())
      out += '\n';
    out += x.what();
  }
  return out;
}

} // namespace

config_error::config_error(std::vector<config_error> problems)
  : config_error(in_file_order(std::move(problems)), 0) {
  // nop
}

config_error::config_error(std::vector<config_error> sorted, int)
  : std::runtime_error(joined(sorted))
  , file_(sorted.front().file_)
  , line_(sorted.front().line_)
  , column_(sorted.front().column_)
  , key_(sorted.front().key_)
  , message_(sorted.front().message_) {
  if (sorted.size() > 1)
    more_.assign(std::make_move_iterator(sorted.begin() + 1),
                 std::make_move_iterator(sorted.end()));
}

std::vector<config_error> config_error::problems() const {
  std::vector<config_error> out;
  out.emplace_back(file_, line_, column_, key_, message_);
  out.insert(out.end(), more_.begin(), more_.end());
  return out;
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

// -- the framework's sections -------------------------------------------------

namespace {

using namespace std::chrono_literals;

/// Refuses a dependency cycle among `[components]`, naming the cycle and the
/// `depends_on` that closes it.
void check_component_cycles(const config& cfg, const config_checker& ck) {
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
    static_cast<void>(start_order(specs, cfg.source));
  } catch (const config_error& e) {
    ck.fail(e.key(), e.message());
  }
}

key_spec priority_key() {
  key_spec k;
  k.name = "priority";
  k.kind = key_kind::choice;
  k.help = "`critical` starts with the node, the others on first use";
  for (auto p : {priority::critical, priority::high, priority::normal, priority::low})
    k.choices.push_back(to_string(p));
  k.default_doc = "from code";
  k.get = [](const void* p) {
    auto& cc = *static_cast<const component_config*>(p);
    return key_value{to_string(cc.prio.value_or(priority::normal))};
  };
  k.set = [](void* p, const key_value& v) {
    for (auto x : {priority::critical, priority::high, priority::normal, priority::low})
      if (to_string(x) == std::get<std::string>(v))
        static_cast<component_config*>(p)->prio = x;
  };
  k.present = [](const void* p) {
    return static_cast<const component_config*>(p)->prio.has_value();
  };
  return k;
}

key_spec depends_on_key() {
  key_spec k;
  k.name = "depends_on";
  k.kind = key_kind::strings;
  k.help = "components started first; a cycle is refused naming it";
  k.default_doc = "from code";
  k.get = [](const void* p) {
    auto& cc = *static_cast<const component_config*>(p);
    return key_value{cc.depends_on.value_or(std::vector<std::string>{})};
  };
  k.set = [](void* p, const key_value& v) {
    static_cast<component_config*>(p)->depends_on = std::get<std::vector<std::string>>(v);
  };
  k.present = [](const void* p) {
    return static_cast<const component_config*>(p)->depends_on.has_value();
  };
  return k;
}

} // namespace

void declare_framework_keys(config_schema& schema) {
  using P = performance_config;
  schema
      .section<P>(
          "performance", [](config & c) -> auto& { return c.performance; },
          "The report's global switches and intervals.")
      .flag("auto_optimization", &P::auto_optimization,
            "apply the optimizer's actions (`false`: dry run, log only)")
      .live()
      .duration("optimization_interval", &P::optimization_interval, 100ms,
                "how often the nine rules are evaluated")
      .live()
      .duration("monitor_interval", &P::monitor_interval, 100ms,
                "how often system metrics are sampled")
      .live()
      .flag("auto_init", &P::auto_init,
            "start the critical components (and the preload list) with the node; false: nothing "
            "starts until its first use or `runtime::init()`")
      .size("memory_budget", &P::memory_budget, 0,
            "RSS above it counts as memory pressure (rule 1) even where the machine has room; "
            "0: no budget");

  using R = runtime_config;
  schema
      .section<R>(
          "runtime", [](config & c) -> auto& { return c.runtime; }, "The CAF actor system.")
      .count("threads", &R::threads, 0, 1024,
             "CAF scheduler threads; 0: the CPUs this process may use (cgroup quota and "
             "affinity respected)")
      .note([](const key_value& v) {
        auto n = std::get<int64_t>(v);
        return "effective: " + std::to_string(n ? static_cast<size_t>(n) : available_cpus());
      })
      .choice("scheduler", &R::scheduler, {scheduler_policy::sharing, scheduler_policy::stealing},
              "CAF scheduler policy; `sharing` has ~4x lower request latency from plain threads "
              "(CAF notes §8)")
      .duration("shutdown_timeout", &R::shutdown_timeout, 1ms, "bound of each shutdown phase")
      .duration("request_timeout", &R::request_timeout, 1ms,
                "default timeout of blocking calls made through handles")
      .path("state_dir", &R::state_dir,
            "directory of the node's run-time state, such as the optimizer's learned files "
            "(the preload list); empty: beside the database file")
      .flag("profiling", &R::profiling,
            "actor profiling: per component mailbox depth, messages by type and handler time "
            "(`p21_actor_*` metrics, /summary, the dashboard)");

  using L = logging_config;
  schema
      .section<L>(
          "logging", [](config & c) -> auto& { return c.logging; }, "spdlog sinks.")
      .choice("level", &L::level,
              {log_level::trace, log_level::debug, log_level::info, log_level::warn,
               log_level::error, log_level::critical, log_level::off},
              "spdlog level")
      .live()
      .flag("console", &L::console, "log to stderr")
      .path("file", &L::file, "rotating log file; empty for none")
      .size("max_size", &L::max_size, 1024, "rotate at this size")
      .count("max_files", &L::max_files, 1, 1000, "rotated files kept")
      .duration("status_interval", &L::status_interval, 0s,
                "how often `p21 run` shows its status line (stderr on a terminal, else a log "
                "line); `\"0s\"`: never")
      .live();

  using S = supervisor_config;
  schema
      .section<S>(
          "supervisor", [](config & c) -> auto& { return c.supervisor; },
          "Restart strategy and intensity of the node's supervisor.")
      .choice("strategy", &S::restart_strategy,
              {strategy::one_for_one, strategy::one_for_all, strategy::rest_for_one},
              "which siblings restart with a crashed child")
      .count("max_restarts", &S::max_restarts, 0, 1'000'000,
             "restarts allowed within `period`; one more escalates")
      .duration("period", &S::period, 1ms, "window of the restart intensity")
      .duration("backoff_initial", &S::backoff_initial, 0s,
                "first restart delay; doubles per recent restart")
      .duration("backoff_max", &S::backoff_max, 0s,
                "cap of the restart delay (jitter: upper half); not below `backoff_initial`");
  schema.add_check([](const config& cfg, const config_checker& ck) {
    if (cfg.supervisor.backoff_max < cfg.supervisor.backoff_initial)
      ck.fail("supervisor.backoff_max", "must not be less than backoff_initial");
  });

  schema
      .named_tables<component_config>(
          "components", [](config & c) -> auto& { return c.components; },
          "Start priority and dependencies of one component.")
      .custom(priority_key())
      .custom(depends_on_key());
  schema.add_check(check_component_cycles);
}

} // namespace p21
