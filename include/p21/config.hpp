#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include "p21/time.hpp"

namespace p21 {

/// Start priority of a component: `critical` ones start with the runtime, in
/// dependency order; the others start on first use.
enum class priority { critical, high, normal, low };

std::string to_string(priority x);

/// What a supervisor does when one child exits abnormally.
enum class strategy { one_for_one, one_for_all, rest_for_one };

std::string to_string(strategy x);

/// `[runtime] scheduler`: CAF's `sharing` scheduler (lower latency for
/// request/response from plain threads) or `stealing` (CAF's default).
enum class scheduler_policy { sharing, stealing };

std::string to_string(scheduler_policy x);

/// `[logging] level`, spdlog's levels.
enum class log_level { trace, debug, info, warn, error, critical, off };

std::string to_string(log_level x);

/// The value of `E` whose `to_string` is `text`, if any.
template <class E>
std::optional<E> enum_from_string(std::string_view text, std::initializer_list<E> values) {
  for (auto x : values)
    if (to_string(x) == text)
      return x;
  return std::nullopt;
}

// -- sections -----------------------------------------------------------------

/// `[performance]`: the report's global switches and intervals.
struct performance_config {
  bool auto_optimization = true;
  timespan optimization_interval = std::chrono::seconds{300};
  timespan monitor_interval = std::chrono::seconds{60};
  bool auto_init = true;
  /// Memory the process may use; RSS above it counts as memory pressure
  /// (rule 1) even where the machine has room. Zero: no budget.
  uint64_t memory_budget = 0;
};

/// `[runtime]`: the CAF actor system.
struct runtime_config {
  /// Scheduler threads; 0 means the CPUs this process may use (cgroup quota
  /// and affinity respected).
  size_t threads = 0;
  scheduler_policy scheduler = scheduler_policy::sharing;
  /// Time limit of each shutdown phase.
  timespan shutdown_timeout = std::chrono::seconds{5};
  /// Default timeout of blocking calls made through handles.
  timespan request_timeout = std::chrono::seconds{10};
  /// Where the node keeps its run-time state, such as the optimizer's
  /// preload list; empty: the database file's directory (none for an
  /// in-memory database).
  std::string state_dir;
  /// Actor profiling of the components (`p21/profiling.hpp`).
  bool profiling = true;
};

/// `[logging]`: spdlog sinks.
struct logging_config {
  log_level level = log_level::info;
  bool console = true;
  /// Rotating log file; empty for none.
  std::string file;
  uint64_t max_size = 10 * 1024 * 1024;
  size_t max_files = 3;
  /// How often `p21 run` shows its status line (a log line when stderr is
  /// not a terminal); 0 for never.
  timespan status_interval = std::chrono::seconds{5};
};

/// `[supervisor]`: restart strategy and intensity of the node's supervisor.
struct supervisor_config {
  strategy restart_strategy = strategy::one_for_one;
  /// At most this many restarts within `period`; one more escalates.
  size_t max_restarts = 5;
  timespan period = std::chrono::seconds{10};
  /// Backoff before a restart doubles from `backoff_initial` up to
  /// `backoff_max`, with random jitter.
  timespan backoff_initial = std::chrono::milliseconds{10};
  timespan backoff_max = std::chrono::seconds{1};
};

/// `[components.NAME]`: start priority and dependencies of one component.
struct component_config {
  std::optional<priority> prio;
  std::optional<std::vector<std::string>> depends_on;
};

/// The whole configuration of a node: the framework's own sections as
/// members, and every other section (a subsystem's, an application's) stored
/// by its type, declared with `config_schema::section<T>`: a subsystem owns
/// its struct and its header (`p21/db_config.hpp` has `database_config`),
/// and the framework knows none of them. Every section has a default, so a
/// default-constructed `config` (or an empty file) is a valid deployment.
///
///     cfg.get<p21::database_config>().pool_size = 4;
struct config {
  performance_config performance;
  runtime_config runtime;
  logging_config logging;
  supervisor_config supervisor;
  /// `[components.NAME]`: start priority and dependencies.
  std::map<std::string, component_config> components;
  /// The file this config came from, empty for one built in code.
  std::string source;

  /// The section `T`, added at its defaults when this config has none yet.
  template <class T>
  T& get() {
    auto& slot = sections_[std::type_index{typeid(T)}];
    if (!slot.has_value())
      slot = T{};
    return *std::any_cast<T>(&slot);
  }

  /// The section `T`, or its defaults when this config has none.
  template <class T>
  const T& get() const {
    auto i = sections_.find(std::type_index{typeid(T)});
    if (i == sections_.end()) {
      static const T defaults{};
      return defaults;
    }
    return *std::any_cast<T>(&i->second);
  }

  /// Whether this config holds section `T` (read from a file, or set).
  template <class T>
  bool has() const {
    return sections_.count(std::type_index{typeid(T)}) > 0;
  }

private:
  // std::any copies the sections with the config: a config is a value.
  std::map<std::type_index, std::any> sections_;
};

// -- loading ------------------------------------------------------------------

// `load_config_file(path)`, `load_config_string`, `validate` and `to_toml`
// with the standard schema are in p21/subsystems.hpp (the umbrella library
// defines them); p21/config_schema.hpp has the overloads that take a schema.

/// A refused configuration: where and why. `what()` reads
/// `FILE:LINE:COLUMN: KEY: MESSAGE`.
class config_error : public std::runtime_error {
public:
  config_error(std::string file, size_t line, size_t column, std::string key, std::string message);

  /// Several problems found in one pass, as a compiler reports them: in file
  /// order, `what()` one line each, the accessors below the first one's.
  /// `problems` must not be empty.
  explicit config_error(std::vector<config_error> problems);

  const std::string& file() const noexcept { return file_; }
  size_t line() const noexcept { return line_; }
  size_t column() const noexcept { return column_; }
  /// Dotted key path, e.g. `database.pool_size`.
  const std::string& key() const noexcept { return key_; }
  const std::string& message() const noexcept { return message_; }
  /// Every problem, each with its own position (this one alone when it is
  /// a single problem).
  std::vector<config_error> problems() const;

private:
  config_error(std::vector<config_error> sorted, int);

  std::string file_;
  size_t line_;
  size_t column_;
  std::string key_;
  std::string message_;
  std::vector<config_error> more_;
};

// -- value syntax -------------------------------------------------------------

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"2d"` (also `us`, `ns`);
/// nullopt for malformed text and for a value beyond `timespan`'s range.
std::optional<timespan> parse_duration(std::string_view text);

/// Renders a duration in the largest unit that keeps it exact.
std::string format_duration(timespan x);

/// Parses `"64MiB"`, `"512KiB"`, `"1GiB"`, `"100B"`, `"10MB"`; nullopt for
/// malformed text and for a value beyond 64 bits.
std::optional<uint64_t> parse_size(std::string_view text);

/// Renders a byte count with the largest binary unit that keeps it exact.
std::string format_size(uint64_t x);

/// The number of CPUs this process may use: affinity mask and cgroup v2/v1
/// CPU quota respected, at least 1.
size_t available_cpus();

} // namespace p21
