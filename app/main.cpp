// p21: run, check and benchmark Perfect21 nodes.

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "app/bench.hpp"
#include "app/bench_docs.hpp"
#include "app/demo.hpp"
#include "app/node_status.hpp"
#include "app/node_subsystems.hpp"
#include "app/reload_target.hpp"
#include "app/service_notifier.hpp"
#include "p21/config_schema.hpp"
#include <caf/all.hpp>

#include "p21/demo_config.hpp"
#include "p21/http_config.hpp"
#include "p21/p21.hpp"

namespace {

// Exit codes (README, "Deployment"): what systemd and scripts act on.
constexpr int exit_ok = 0;         // stopped as asked (SIGTERM, Ctrl-C, --duration)
constexpr int exit_failure = 1;    // failed to start, or stopped abnormally
constexpr int exit_bad_config = 2; // the config was refused; nothing started
constexpr int exit_escalated = 3;  // the supervisor gave up on a component

/// Reads, validates and resolves the components of the file at `path`.
/// Throws `config_error`.
p21::config load_or_throw(const std::string& path) {
  auto cfg = p21::load_config_file(path);
  static_cast<void>(p21::resolve_components(cfg));
  return cfg;
}

/// "p21: invalid configuration: ..." with one problem per line, as a
/// compiler prints them.
void print_refusal(const p21::config_error& e) {
  auto n = e.problems().size();
  std::cerr << "p21: invalid configuration";
  if (n > 1)
    std::cerr << " (" << n << " problems):\n";
  else
    std::cerr << ": ";
  std::cerr << e.what() << "\n";
}

std::optional<p21::config> load(const std::string& path) {
  try {
    return load_or_throw(path);
  } catch (const p21::config_error& e) {
    print_refusal(e);
    return std::nullopt;
  }
}

/// The demo workload of `rt`'s current settings, or none.
std::unique_ptr<p21::app::demo> start_demo(p21::runtime& rt) {
  if (!rt.settings().get<p21::demo_config>().enabled)
    return nullptr;
  return std::make_unique<p21::app::demo>(rt, rt.settings().get<p21::demo_config>());
}

/// SIGHUP: re-reads `path`; a file that does not validate is logged and
/// changes nothing. Returns whether the demo settings changed.
bool reload_node(p21::runtime& rt, const std::string& path) {
  p21::config cfg;
  try {
    cfg = load_or_throw(path);
  } catch (const p21::config_error& e) {
    spdlog::error("reload refused, nothing changed: {}", e.what());
    return false;
  }
  try {
    auto report = rt.reload(std::move(cfg));
    return report.touches("demo");
  } catch (const p21::config_error& e) {
    spdlog::error("reload refused, nothing changed: {}", e.what());
    return false;
  }
}

int run_node(const std::string& path, double duration) {
  // Before any thread exists: it edits the environment.
  auto manager = p21::app::service_notifier::from_environment();
  auto cfg = load(path);
  if (!cfg)
    return exit_bad_config;
  // Block the stop and reload signals in every thread (CAF's included,
  // which inherit this mask) and take them synchronously below: no work in
  // a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::unique_ptr<p21::runtime> rt;
  try {
    rt = std::make_unique<p21::runtime>(std::move(*cfg), p21::node_subsystems());
  } catch (const p21::config_error& e) {
    print_refusal(e);
    return exit_bad_config;
  } catch (const std::exception& e) {
    std::cerr << "p21: the node failed to start: " << e.what() << "\n";
    return exit_failure;
  }
  using clock = std::chrono::steady_clock;
  auto deadline = duration > 0 ? clock::now() + std::chrono::duration_cast<clock::duration>(
                                                    std::chrono::duration<double>{duration})
                               : clock::time_point::max();
  if (duration > 0)
    spdlog::info("node running from {} for {}s", path, duration);
  else
    spdlog::info("node running from {}; Ctrl-C stops it", path);
  // With `auto_init = false` the HTTP endpoint is the node's way in: its
  // first use is the node serving; everything else waits for requests.
  if (!rt->initialized() && !rt->settings().get<p21::http_config>().listen.empty())
    if (auto http = rt->actor_of("http"); !http) {
      std::cerr << "p21: the HTTP endpoint failed to start: " << p21::render(http.error()) << "\n";
      rt->stop();
      return exit_failure;
    }
  std::unique_ptr<p21::app::demo> workload;
  try {
    workload = start_demo(*rt);
  } catch (const std::exception& e) {
    std::cerr << "p21: the demo workload cannot start: " << e.what() << "\n";
    rt->stop();
    return exit_failure;
  }
  // The runtime's constructor returned: every critical component is up
  // (with `auto_init = false`: none but HTTP, until first use).
  manager.ready();
  auto watchdog = manager.watchdog_period();
  auto next_watchdog = clock::now();
  // The status line: on a terminal every status_interval, else a log line.
  p21::app::node_status status{*rt};
  auto first = status.read();
  auto prev = first;
  auto interval = rt->settings().logging.status_interval;
  auto next_status = interval.count() > 0 ? clock::now() + interval : clock::time_point::max();
  bool terminal = isatty(STDERR_FILENO) == 1;
  while (clock::now() < deadline) {
    timespec tick{0, 100'000'000};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (sig == SIGHUP) {
      spdlog::info("received SIGHUP, reloading {}", path);
      manager.reloading();
      if (reload_node(*rt, path)) {
        if (workload)
          workload->stop();
        workload.reset();
        try {
          workload = start_demo(*rt);
        } catch (const std::exception& e) {
          spdlog::error("the demo workload cannot restart: {}", e.what());
        }
      }
      auto now_interval = rt->settings().logging.status_interval;
      if (now_interval != interval) {
        interval = now_interval;
        next_status = interval.count() > 0 ? clock::now() + interval : clock::time_point::max();
      }
      manager.ready();
    }
    if (rt->wait_for(p21::timespan{0}))
      break;
    // Fed only while the supervisor runs every critical component: a node
    // that hangs or keeps one down is restarted by systemd.
    if (watchdog && clock::now() >= next_watchdog) {
      if (rt->healthy(std::min<p21::timespan>(*watchdog, std::chrono::seconds{1})))
        manager.watchdog();
      next_watchdog = clock::now() + *watchdog;
    }
    if (clock::now() >= next_status) {
      next_status += interval;
      auto now = status.read();
      auto text = p21::app::node_status::line(prev, now, workload ? workload->phase() : "");
      if (terminal)
        std::cerr << "\033[1mp21\033[0m " << text << std::endl;
      else
        spdlog::info("status: {}", text);
      prev = std::move(now);
    }
  }
  manager.stopping();
  if (workload)
    workload->stop();
  std::cout << p21::app::node_status::summary(first, status.read(), workload.get()) << std::flush;
  workload.reset();
  auto reason = rt->stop();
  if (reason) {
    std::cerr << "p21: node stopped: " << p21::render(reason) << "\n";
    return p21::is(reason, p21::errc::escalated) ? exit_escalated : exit_failure;
  }
  return exit_ok;
}

/// `p21 reload --pid PID`: the node re-reads its own file on SIGHUP, so no
/// port or socket is needed; the node logs what the reload changed.
int reload_node_at(pid_t pid, const std::string& path) {
  if (!path.empty() && !load(path))
    return exit_bad_config;
  // SIGHUP ends a process that does not handle it: a mistyped pid must not
  // take down something else.
  if (auto why = p21::app::why_not_reloadable(pid); !why.empty()) {
    std::cerr << "p21 reload: " << why << "; nothing sent\n";
    return exit_failure;
  }
  if (kill(pid, SIGHUP) != 0) {
    std::cerr << "p21 reload: cannot signal process " << pid << ": " << std::strerror(errno)
              << "\n";
    return exit_failure;
  }
  std::cout << "p21 reload: sent SIGHUP to " << pid
            << "; the node logs what it applied and what needs a restart\n";
  return exit_ok;
}

int check_config(const std::string& path, bool reference) {
  if (reference) {
    std::cout << p21::config_reference();
    return exit_ok;
  }
  if (path.empty()) {
    std::cerr << "p21 check: --config FILE is required (or --reference)\n";
    return exit_bad_config;
  }
  auto cfg = load(path);
  if (!cfg)
    return exit_bad_config;
  std::cout << "# " << path << ": valid. Effective configuration:\n\n" << p21::to_toml(*cfg);
  return exit_ok;
}

} // namespace

int main(int argc, char** argv) {
  // glibc gives each thread that finds the arenas busy one of its own, up
  // to 8 per core, and each keeps what its threads freed: a node's threads
  // come and go (restarts, detached actors), so freed memory spread over
  // many arenas is held, not reused. Measured with the fault soak
  // (`p21 bench --only soak`, ten full runs): RSS grew 3 to 6.7 % with the
  // default (2 runs over the 5 % bound; malloc's live heap stays flat), 0.5
  // to 1.7 % with 2 arenas, from a start 1 MiB lower. Set before any thread
  // exists. An application that embeds the runtime decides this for itself
  // (docs/deployment.md).
  ::mallopt(M_ARENA_MAX, static_cast<int>(std::max<size_t>(2, p21::available_cpus())));
  // A closed stdout (`p21 run ... | head -1`) or a peer that hung up must be
  // a failed write (EPIPE), not a signal that kills the node before it stops.
  // Children get SIGPIPE back: the subprocess pool resets every signal.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"p21: a self-tuning performance layer of CAF actors.\n"
               "Runs, checks and benchmarks Perfect21 nodes.",
               "p21"};
  app.set_version_flag("-V,--version", std::string{"p21 "} + P21_VERSION + " (CAF 0.17, C++17)");
  app.require_subcommand(1);

  std::string run_config;
  double duration = 0;
  auto run = app.add_subcommand("run", "Run a node from a TOML config until Ctrl-C or SIGTERM");
  run->add_option("-c,--config", run_config, "TOML config file")->required();
  run->add_option("-d,--duration", duration, "Stop by itself after this many seconds")
      ->check(CLI::NonNegativeNumber);

  pid_t reload_pid = 0;
  std::string reload_config;
  auto reload =
      app.add_subcommand("reload", "Make a running node re-read its config file (sends it SIGHUP)");
  reload->add_option("--pid", reload_pid, "Process id of the `p21 run` node")
      ->required()
      ->check(CLI::PositiveNumber);
  reload->add_option("-c,--config", reload_config,
                     "Validate this file first and send nothing if it is refused");

  std::string check_file;
  auto check =
      app.add_subcommand("check", "Validate a config and print it with defaults filled in");
  bool check_reference = false;
  check->add_option("-c,--config", check_file, "TOML config file");
  check->add_flag("--reference", check_reference,
                  "Print the reference of every config key (Markdown) instead");

  p21::app::bench_options bench_opts;
  auto bench =
      app.add_subcommand("bench", "Measure the report's benchmark rows: baseline vs Perfect21");
  bench->add_flag("--quick", bench_opts.quick, "Fewer repetitions; finishes in under a minute");
  bench->add_option("--json", bench_opts.json_file, "Also write the results as JSON to FILE");
  bench->add_option("--plots", bench_opts.plots_dir,
                    "Also write SVG charts to DIR: ratios.svg, self_tuning_PHASE.svg");
  bench->add_option("--only", bench_opts.only,
                    "Run only these rows or sections (comma separated; self_tuning.PHASE: "
                    "that phase of self_tuning)")
      ->delimiter(',');
  bench->add_option("--soak-scale", bench_opts.soak_scale,
                    "The soak's measured phase this many times as long, with RSS against calls")
      ->check(CLI::Range(0.01, 1000.0));
  bench->add_option("-c,--config", bench_opts.config_file,
                    "Base TOML config for the nodes (their database and state files go to a "
                    "scratch directory)");

  std::string sim_policy = "lru";
  uint64_t sim_capacity = 0;
  std::string sim_file;
  auto sim = app.add_subcommand(
      "cache-sim", "Replay a key trace (one key per line) through an eviction policy; print JSON");
  sim->add_option("--policy", sim_policy,
                  "lru, tinylfu, or arc (a reference ARC to compare against; not a cache policy)")
      ->check(CLI::IsMember({"lru", "tinylfu", "arc"}));
  sim->add_option("--capacity", sim_capacity, "Cache capacity in entries")->required();
  sim->add_option("file", sim_file, "Trace file; standard input when omitted");
  size_t sim_threads = 0;
  sim->add_option("--threads", sim_threads,
                  "Replay through a live cache's handle from N threads (thread i takes requests "
                  "i, i+N, ...); 0: through the eviction code alone")
      ->check(CLI::Range(0, 64));

  p21::app::cache_client_options cc;
  auto cache = app.add_subcommand(
      "cache", "Talk to a node's published cache over the network: get, put, erase, stats");
  cache->add_option("action", cc.action, "get KEY | put KEY VALUE | erase KEY | stats")
      ->required()
      ->check(CLI::IsMember({"get", "put", "erase", "stats"}));
  cache->add_option("args", cc.args, "KEY, or KEY VALUE for put");
  cache->add_option("--connect", cc.connect, "HOST:PORT of the node's [cluster.publish]")
      ->required();
  cache->add_option("--cache", cc.cache, "Name of the published cache (default: shared)");
  cache->add_option("--timeout", cc.timeout, "Bound of connecting and of the request (default 3s)");
  cache->add_option("--ttl", cc.ttl, "put: time to live, e.g. 10m (default: the cache's)");
  cache->add_option("--tls-cert", cc.certificate, "TLS: this client's certificate (PEM)");
  cache->add_option("--tls-key", cc.key, "TLS: its private key (PEM)");
  cache->add_option("--tls-ca", cc.ca, "TLS: the CA that signed the node's certificate (PEM)");
  cache->add_option("--tls-name", cc.tls_name,
                    "TLS: the name the node's certificate must carry (CN or DNS SAN)");

  std::string docs_bench_json = "docs/bench/bench.json";
  std::vector<std::string> docs_files;
  bool docs_check = false;
  std::string docs_plots;
  auto docs = app.add_subcommand(
      "docs", "Regenerate the figure tables of Markdown files from a bench run's JSON");
  docs->add_option("--bench-json", docs_bench_json,
                   "The bench run (`p21 bench --json`; default docs/bench/bench.json)");
  docs->add_flag("--check", docs_check,
                 "Change nothing; exit 1 when a generated table differs from the JSON");
  docs->add_option("--plots", docs_plots,
                   "Also redraw the JSON's SVG charts into DIR, as `p21 bench --plots` does "
                   "(after rows spliced into the JSON by hand)");
  docs->add_option("files", docs_files, "Markdown files with generated blocks")->required();

  CLI11_PARSE(app, argc, argv);

  if (*docs)
    return p21::app::run_docs(docs_bench_json, docs_files, docs_check, docs_plots);

  if (*run)
    return run_node(run_config, duration);
  if (*check)
    return check_config(check_file, check_reference);
  if (*reload)
    return reload_node_at(reload_pid, reload_config);
  if (*bench)
    return p21::app::run_bench(bench_opts);
  if (*sim)
    return p21::app::run_cache_sim(sim_policy, sim_capacity, sim_file, sim_threads);
  if (*cache) {
    if (cc.certificate.empty() != cc.key.empty() || cc.certificate.empty() != cc.ca.empty()) {
      std::cerr << "p21 cache: TLS needs --tls-cert, --tls-key and --tls-ca together\n";
      return exit_bad_config;
    }
    return p21::app::run_cache_client(cc);
  }
  return exit_failure;
}
