#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <caf/timestamp.hpp>

namespace p21 {

/// Durations in the config and the API: `"250ms"`, `"30s"`, `"5m"`, `"1h"`.
using timespan = caf::timespan;

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

/// How a cache picks its victims: least recently used, or W-TinyLFU (a small
/// LRU window, then admission by estimated frequency).
enum class eviction_policy { lru, tinylfu };

std::string to_string(eviction_policy x);

/// Where a cache keeps its entries: in this process alone, or in Redis with
/// this process's cache as a near tier in front (`[caches.NAME] backend`).
enum class cache_backend { local, redis };

std::string to_string(cache_backend x);

/// SQLite's `PRAGMA synchronous`, spelled as SQLite spells it (`OFF`,
/// `NORMAL`, `FULL`, `EXTRA`).
enum class synchronous_mode { off, normal, full, extra };

std::string to_string(synchronous_mode x);

/// `[subprocess] git_watch`: `auto` (inotify, with the fingerprint check
/// where inotify is unavailable or out of watches), `inotify` or
/// `fingerprint`.
enum class git_watch_mode { automatic, inotify, fingerprint };

std::string to_string(git_watch_mode x);

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

/// `[monitor]`: alerts and sampling details (the interval is the report's
/// `[performance] monitor_interval`).
/// `[monitor.alerts.NAME]`: one alert on a derived target or on any
/// exported series. The five report targets are defaults of this table.
struct alert_config {
  bool enabled = true;
  /// A derived target (`cpu_percent`, `memory_percent`, `cache_hit_rate`,
  /// `p95_seconds`, `error_rate`) or an exported series with optional label
  /// matchers, as `/metrics` spells it: `p21_cache_hit_ratio{cache="shared"}`
  /// (several matching series are summed).
  std::string metric;
  /// Fires above `threshold` (`above = true`, the default) or below it
  /// (`below = true`).
  bool above = true;
  double threshold = 0;
  /// Clears once back past this (hysteresis); unset: the threshold.
  std::optional<double> clear;
  /// How long the condition must hold; unset: `[monitor] alert_for`.
  std::optional<timespan> for_duration;
  /// Free text carried into events, logs and the commands' environment.
  std::string severity = "warning";
  /// Commands (argv, no shell) run through the subprocess pool when the
  /// alert fires or resolves, with P21_ALERT_NAME, P21_ALERT_VALUE,
  /// P21_ALERT_STATE, P21_ALERT_METRIC and P21_ALERT_SEVERITY set.
  std::vector<std::string> on_fire;
  std::vector<std::string> on_resolve;
};

struct monitor_config {
  /// How long an alert's condition must hold before it fires.
  timespan alert_for = std::chrono::seconds{0};
  /// `[monitor.alerts.NAME]`; a loaded config and a running node's have the
  /// five defaults too (disable one with `enabled = false`).
  std::map<std::string, alert_config> alerts;
  /// Alert commands running at once; more are skipped and logged.
  size_t alert_commands_max = 4;
  /// Paths whose file system's use is sampled (disk %); empty: the
  /// database's directory.
  std::vector<std::string> watch_paths;
  /// Alert and optimizer events kept for `/events`.
  size_t events_max = 1000;
};

/// `[http]`: the metrics and health endpoint.
struct http_config {
  /// `host:port` to listen on; empty keeps HTTP off.
  std::string listen;
  /// Connections open at once, all clients together; more are closed at accept.
  size_t max_connections = 128;
  /// Connections open at once from one client address.
  size_t max_connections_per_ip = 64;
  /// Of `max_connections`, the slots only the listen address itself (127.0.0.1
  /// and ::1 on a wildcard listener) may take: the node's own health checks.
  size_t reserved_connections = 8;
  /// Names a request's `Host` may give besides IP literals and `localhost`;
  /// others get 421 (DNS rebinding).
  std::vector<std::string> allowed_hosts;
  /// A connection silent this long is closed (whole seconds, at least 1).
  timespan idle_timeout = std::chrono::seconds{5};
  /// A request's deadline, from its first byte to the end of its response.
  timespan request_timeout = std::chrono::seconds{10};
  /// Bytes of request line and headers; beyond: 431.
  size_t max_header_bytes = 16 * 1024;
  /// Header fields of one request; beyond: 431.
  size_t max_headers = 64;
  /// Threads that poll connections and answer requests.
  size_t threads = 2;
};

/// `[demo]`: the built-in workload `p21 run` drives, so that a new node has
/// something to cache, query, run, monitor and tune. Off unless enabled.
struct demo_config {
  bool enabled = false;
  /// Length of each of the four phases (steady, shift, writes, processes).
  timespan phase = std::chrono::seconds{15};
  /// Operations per second, all clients together.
  double rate = 400;
  /// Threads issuing them.
  size_t clients = 2;
  /// Git work tree whose status is checked; empty: a scratch repository made
  /// in the temporary directory and removed at exit.
  std::string repo;
};

/// One `[[cluster.peers]]` entry: a node whose published actors this node
/// uses as if they were local.
struct cluster_peer {
  std::string name;
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  /// Published actors to use: "cache.NAME" (then `p21::cache::open(rt,
  /// "NAME")` talks to the peer's cache) or "db_pool" (then
  /// `p21::db::open(rt, "PEER.db_pool")` runs SQL on the peer's pool).
  std::vector<std::string> actors;
  /// A local near cache in front of each remote cache: entries read from the
  /// peer are kept this long (0: no near cache). While the peer is down,
  /// gets are answered from it (a miss is a miss, not an error).
  timespan near_ttl{0};
  size_t near_entries = 1024;
  /// With `[cluster.tls]`: the name the peer's certificate must carry
  /// (its subject CN, or a DNS name among its SANs); empty: any certificate
  /// the CA signed. Either every peer sets one or none does.
  std::string expected_name;
};

/// `[cluster]`: nodes that share actors over CAF's network layer.
struct cluster_config {
  /// `[cluster.publish]`: what this node offers, and where.
  std::string publish_host = "127.0.0.1";
  /// 0 picks a free port (logged).
  uint16_t publish_port = 0;
  /// "cache.NAME" (one shard) or "db_pool"; empty publishes nothing.
  std::vector<std::string> publish_actors;
  /// A published db pool accepts writes (`execute`, `transaction`) from
  /// peers only when this is set; otherwise peers may only `query`.
  bool allow_writes = false;
  /// Publishing on a non-loopback address without `[cluster.tls]` is refused
  /// unless the operator sets this (and `p21 check` warns about it).
  bool insecure = false;
  /// Largest reply a peer gets from a published actor (a `get` of many keys,
  /// a query's rows); a larger one is refused instead of being built and
  /// serialized. A peer may not `put` a value above it either.
  uint64_t max_reply_bytes = 16ull << 20;
  /// How long a peer's `get_or_load` turn (`load` answered "you load") may
  /// hold its key before the key's waiters get `timeout` and the next caller
  /// loads: a peer may stop reporting, and `[cache] load_timeout` is for
  /// loaders this node runs.
  timespan remote_load_timeout = std::chrono::seconds{5};
  std::vector<cluster_peer> peers;
  /// `[cluster.tls]`: PEM files. With them, connections both ways are TLS
  /// with the peer's certificate checked against `ca`; plain ones are refused.
  std::string tls_certificate;
  std::string tls_key;
  std::string tls_ca;
  /// Names a connecting peer's certificate must carry one of (subject CN
  /// or a DNS SAN); empty: any certificate the CA signed.
  std::vector<std::string> tls_accepted_names;
  /// Bound of one request to a peer.
  timespan request_timeout = std::chrono::seconds{2};
  /// Bound of one connection attempt.
  timespan connect_timeout = std::chrono::seconds{3};
  /// Reconnection backoff: doubles from `retry_initial` up to `retry_max`.
  timespan retry_initial = std::chrono::milliseconds{100};
  timespan retry_max = std::chrono::seconds{5};
  /// Largest frame payload a peer may announce on a plain published port;
  /// a larger one closes that connection (CAF 0.17 would allocate it).
  uint64_t max_frame = 64ull << 20;
  /// Connections the published port (plain or TLS) relays at once, in all
  /// and per peer address; more are closed at once. The total is lowered to
  /// what RLIMIT_NOFILE leaves (cluster/descriptors.hpp).
  size_t max_connections = 256;
  size_t max_connections_per_address = 32;
  /// Payload bytes peers may have announced and not yet sent (CAF holds
  /// them allocated), in all and per peer address.
  uint64_t max_inflight = 256ull << 20;
  uint64_t max_inflight_per_address = 128ull << 20;
  /// A connection to the published port must end its handshake within this
  /// (plain: its first BASP frame; TLS: the TLS handshake), and is closed
  /// after this long without a byte from it (0s: never).
  timespan handshake_timeout = std::chrono::seconds{5};
  timespan idle_timeout = std::chrono::minutes{5};
  /// CAF's heartbeat between nodes, and how long a connection may stay
  /// silent before its peer counts as gone (a half-open connection).
  timespan heartbeat_interval = std::chrono::seconds{2};
  timespan peer_timeout = std::chrono::seconds{10};

  bool enabled() const { return !publish_actors.empty() || !peers.empty(); }
  bool tls() const { return !tls_certificate.empty(); }
};

/// One named cache: `[caches.NAME]`, or one of those built from the
/// report's `[cache]` keys (`async`, `git`; the query cache, `db_*`, lives in
/// the db pool so that writes invalidate it in step).
struct named_cache_config {
  size_t max_entries = 512;
  uint64_t max_bytes = 64ull << 20;
  /// Zero: entries do not expire.
  timespan ttl{0};
  eviction_policy policy = eviction_policy::lru;
  /// Actors the cache is split into by key hash.
  size_t shards = 1;
  /// `redis`: the cache is shared through the `[redis]` server, this
  /// process's entries being its near tier.
  cache_backend backend = cache_backend::local;
};

/// `[redis]`: the server behind caches with `backend = "redis"`.
struct redis_config {
  /// `redis://[user:password@]host:port/db` or `unix:///path`.
  std::string url = "redis://127.0.0.1:6379/0";
  timespan connect_timeout = std::chrono::seconds{2};
  /// Deadline of one command, from sending it to its whole reply: past it
  /// (or at once while the server is known to be down) a get or put fails
  /// with `unavailable`, however slowly the server drips its reply.
  timespan command_timeout = std::chrono::milliseconds{500};
  /// Largest reply accepted (its bytes, plus 64 per array element for what
  /// the client allocates per element): a larger bulk or array length fails
  /// the command as soon as its header arrives, before anything is buffered.
  size_t max_reply_bytes = 64 * 1024 * 1024;
  /// Data connections per node (the invalidation connection is extra).
  size_t pool_size = 4;
  /// Prepended to every key, then the cache's name and a colon.
  std::string key_prefix = "p21:";
};

/// `[cache]`: the report's cache keys, plus defaults for every cache.
struct cache_config {
  size_t async_maxsize = 512;
  timespan async_ttl = std::chrono::seconds{3600};
  timespan git_timeout = std::chrono::seconds{30};
  size_t db_maxsize = 1000;
  timespan db_ttl = std::chrono::seconds{300};
  /// Entries of the git cache.
  size_t git_maxsize = 256;
  /// How long a git result may stay cached (it is dropped as soon as the
  /// repository changes anyway).
  timespan git_ttl = std::chrono::minutes{10};
  /// Default eviction policy and shard count of every cache.
  eviction_policy policy = eviction_policy::lru;
  size_t shards = 1;
  /// Default byte budget of every cache.
  uint64_t max_bytes = 64ull << 20;
  /// How long a `get_or_load` loader may run before its waiters get `timeout`.
  timespan load_timeout = std::chrono::seconds{60};
  /// `[caches.NAME]`: further named caches.
  std::map<std::string, named_cache_config> caches;

  /// What a further cache starts from: the policy, shard count and byte
  /// budget above, every other member at its default.
  named_cache_config defaults() const;

  /// Every cache actor of the node, `async` included (the git cache lives in
  /// the subprocess pool, the query cache in the db pool).
  std::map<std::string, named_cache_config> all() const;
};

/// `[database]`: the SQLite connection pool.
struct database_config {
  std::string path = "perfect21.db";
  size_t pool_size = 10;
  size_t max_overflow = 20;
  timespan pool_timeout = std::chrono::seconds{30};
  /// Overflow connections idle this long are closed.
  timespan idle_timeout = std::chrono::seconds{60};
  /// Connections older than this are reopened when next idle.
  timespan max_lifetime = std::chrono::minutes{30};
  /// An idle connection unused this long gets `SELECT 1` before reuse.
  timespan health_check_after = std::chrono::seconds{30};
  /// A statement holding a connection this long is logged as a leak suspect.
  timespan leak_threshold = std::chrono::seconds{60};
  /// SQLite `busy_timeout`.
  timespan busy_timeout = std::chrono::seconds{5};
  /// A caller's statement or transaction running longer is interrupted and
  /// fails with `timeout` (zero: no deadline). A stopping pool interrupts
  /// whatever runs, whatever this says.
  timespan statement_timeout = std::chrono::seconds{30};
  synchronous_mode synchronous = synchronous_mode::normal;
  /// Prepared statements kept per connection.
  size_t statement_cache = 64;
  /// What one statement's result may hold, in bytes; past it the statement
  /// stops and fails with `bad_query`. Also SQLite's largest single value
  /// (`SQLITE_LIMIT_LENGTH`).
  uint64_t max_result_bytes = 64ull << 20;
  /// Cache SELECT results (`[cache] db_maxsize`, `db_ttl`), invalidated by
  /// writes to the tables they read.
  bool query_cache = true;
  /// What the cached results may hold in all, in bytes; one result above an
  /// eighth of it is not cached.
  uint64_t query_cache_max_bytes = 64ull << 20;
  /// How often the pool asks SQLite whether another process wrote the file
  /// (`PRAGMA data_version`); such a write flushes the query cache.
  timespan data_version_interval = std::chrono::milliseconds{200};
};

/// `[subprocess]`: the subprocess pool.
struct subprocess_config {
  /// Commands running at once; the rest wait in the queue.
  size_t max_processes = 32;
  /// Commands waiting beyond `max_processes`; one more is refused with
  /// `overloaded` at once.
  size_t queue_limit = 1024;
  /// Run time of a command whose request sets none.
  timespan timeout = std::chrono::seconds{60};
  /// Bytes kept of stdout and of stderr each, unless a request sets its own.
  uint64_t output_cap = 16ull << 20;
  /// After a timeout's SIGTERM, how long the process group has before SIGKILL.
  timespan kill_grace = std::chrono::seconds{2};
  /// How the git cache notices repository changes.
  git_watch_mode git_watch = git_watch_mode::automatic;
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

/// `[optimizer.rules.NAME]`: one of the nine optimization rules.
struct rule_config {
  bool enabled = true;
  /// The value at which the rule enters its firing state.
  double threshold = 0;
  /// The value at which it leaves it again (hysteresis).
  double clear_threshold = 0;
  /// How long the condition must hold before the rule acts.
  timespan for_duration = std::chrono::seconds{0};
  /// Quiet time after acting.
  timespan cooldown = std::chrono::seconds{60};
  /// Bounded step of one action, a fraction in (0, 1]: how much a cache
  /// shrinks or grows, how far a pool or worker count moves per interval.
  double step = 0.25;
  /// How far ahead the rule may act on its metric's forecast (Holt's linear
  /// smoothing with a residual margin); zero: on the value alone.
  timespan predict = std::chrono::seconds{0};
};

/// `[optimizer]`: how the rules size what they move.
struct optimizer_config {
  /// "model": a rule jumps to the size its model (miss-ratio curve, Little's
  /// law, CPU per command) computes; "fixed": it moves by `step` and waits.
  std::string mode = "model";
};

/// The whole configuration of a node. Every member has a default, so a
/// default-constructed `config` (or an empty file) is a valid deployment.
struct config {
  performance_config performance;
  runtime_config runtime;
  logging_config logging;
  monitor_config monitor;
  http_config http;
  cache_config cache;
  redis_config redis;
  database_config database;
  subprocess_config subprocess;
  supervisor_config supervisor;
  demo_config demo;
  cluster_config cluster;
  std::map<std::string, component_config> components;
  optimizer_config optimizer;
  /// `[optimizer.rules.NAME]`: the rules set in a file or in code; a rule
  /// not here runs with its defaults. A loaded config and a running node's
  /// have all eight. To change one in code, start from its defaults with
  /// `p21::rule(cfg, NAME)` (p21/optimizer.hpp).
  std::map<std::string, rule_config> rules;
  /// The file this config came from, empty for one built in code.
  std::string source;
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

  const std::string& file() const noexcept { return file_; }
  size_t line() const noexcept { return line_; }
  size_t column() const noexcept { return column_; }
  /// Dotted key path, e.g. `database.pool_size`.
  const std::string& key() const noexcept { return key_; }
  const std::string& message() const noexcept { return message_; }

private:
  std::string file_;
  size_t line_;
  size_t column_;
  std::string key_;
  std::string message_;
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
