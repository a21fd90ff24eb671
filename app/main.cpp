// p21: run, check and benchmark Perfect21 nodes.

#include <csignal>
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "app/bench.hpp"
#include "app/demo.hpp"
#include "app/node_status.hpp"
#include "app/node_subsystems.hpp"
#include "p21/config_schema.hpp"
#include <caf/all.hpp>

#include "p21/p21.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_bad_config = 2;
constexpr int exit_escalated = 3;

std::optional<p21::config> load(const std::string& path) {
  try {
    auto cfg = p21::load_config_file(path);
    static_cast<void>(p21::resolve_components(cfg));
    return cfg;
  } catch (const p21::config_error& e) {
    std::cerr << "p21: invalid configuration: " << e.what() << "\n";
    return std::nullopt;
  }
}

int run_node(const std::string& path, double duration) {
  auto cfg = load(path);
  if (!cfg)
    return exit_bad_config;
  // Block the stop signals in every thread (CAF's included, which inherit
  // this mask) and take them synchronously below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::unique_ptr<p21::runtime> rt;
  try {
    rt = std::make_unique<p21::runtime>(std::move(*cfg), p21::node_subsystems());
  } catch (const p21::config_error& e) {
    std::cerr << "p21: invalid configuration: " << e.what() << "\n";
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
  std::unique_ptr<p21::app::demo> workload;
  if (rt->settings().demo.enabled) {
    try {
      workload = std::make_unique<p21::app::demo>(*rt, rt->settings().demo);
    } catch (const std::exception& e) {
      std::cerr << "p21: the demo workload cannot start: " << e.what() << "\n";
      rt->stop();
      return exit_failure;
    }
  }
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
    if (rt->wait_for(p21::timespan{0}))
      break;
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
  bench->add_option("--only", bench_opts.only, "Run only these rows (comma separated)")
      ->delimiter(',');
  bench->add_option("-c,--config", bench_opts.config_file, "Base TOML config for the nodes");

  std::string sim_policy = "lru";
  uint64_t sim_capacity = 0;
  std::string sim_file;
  auto sim = app.add_subcommand(
      "cache-sim", "Replay a key trace (one key per line) through an eviction policy; print JSON");
  sim->add_option("--policy", sim_policy, "lru or tinylfu")
      ->check(CLI::IsMember({"lru", "tinylfu"}));
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

  CLI11_PARSE(app, argc, argv);

  if (*run)
    return run_node(run_config, duration);
  if (*check)
    return check_config(check_file, check_reference);
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
