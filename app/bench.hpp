#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace p21::app {

/// Options of `p21 bench`.
struct bench_options {
  bool quick = false;
  std::string json_file;
  /// `--plots DIR`: SVG charts of the run (bench_plots.hpp).
  std::string plots_dir;
  std::vector<std::string> only;
  std::string config_file;
  /// `--soak-scale N`: the soak's measured phase N times as long, with its
  /// memory series printed (is growth a plateau or a leak?).
  double soak_scale = 1;
};

/// Runs the benchmark rows and prints the table; returns the exit code.
int run_bench(const bench_options& opts);

/// Options of `p21 cache`.
struct cache_client_options {
  std::string action; // get, put, erase, stats
  std::vector<std::string> args;
  std::string connect;
  std::string cache = "shared";
  std::string timeout = "3s";
  std::string ttl;
  std::string certificate, key, ca;
  /// The name the node's certificate must carry; empty: any the CA signed.
  std::string tls_name;
};

/// One request to a node's published cache; returns the exit code.
int run_cache_client(const cache_client_options& opts);

/// Replays a key-per-line trace (stdin when `file` is empty) through a cache
/// policy and prints the hit rate as JSON; returns the exit code.
/// `p21 cache-sim`: the trace through the eviction code alone (`threads` 0)
/// or through a live cache's handle from `threads` threads.
int run_cache_sim(const std::string& policy, uint64_t capacity, const std::string& file,
                  size_t threads = 0);

} // namespace p21::app
