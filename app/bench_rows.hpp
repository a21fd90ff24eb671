#pragma once

// Shared pieces of `p21 bench`: timing series, rows, and the row functions
// that live in their own files.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "p21/config.hpp"

namespace p21::app {

using clock = std::chrono::steady_clock;

/// Timings of one side of a row, in seconds.
struct series {
  std::string label;
  std::vector<double> samples;

  double quantile(double q) const {
    auto xs = samples;
    std::sort(xs.begin(), xs.end());
    if (xs.empty())
      return 0;
    if (q <= 0)
      return xs.front();
    auto i = static_cast<size_t>(std::ceil(q * static_cast<double>(xs.size()))) - 1;
    return xs[std::min(i, xs.size() - 1)];
  }

  double median() const { return quantile(0.5); }

  /// Half the interquartile range, relative to the median.
  double spread() const {
    auto m = median();
    return m > 0 ? (quantile(0.75) - quantile(0.25)) / 2 / m : 0;
  }
};

/// The report's figures for a row: its "before" and "after" times.
struct report_claim {
  double before_s;
  double after_s;
  double ratio() const { return before_s / after_s; }
};

struct row_result {
  std::string name;
  series baseline;
  series perfect21;
  std::optional<report_claim> claim;

  /// Baseline median over Perfect21 median.
  double ratio() const { return baseline.median() / std::max(perfect21.median(), 1e-12); }
};

/// One benchmark row: measures both sides, `runs` repetitions each.
struct row {
  std::string name;
  std::string title;
  /// The report's claim, if it made one for this row.
  std::optional<report_claim> claim;
  std::function<row_result(const config& base, size_t runs)> measure;
};

inline double seconds_since(clock::time_point t0) {
  return std::chrono::duration<double>(clock::now() - t0).count();
}

/// A field of /proc/self/status in bytes (VmRSS:, VmHWM:).
inline uint64_t status_bytes(const char* field) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0)
      return std::stoull(line.substr(std::string{field}.size())) * 1024;
  return 0;
}

/// VmRSS once what the process let go is given back: every cache value
/// freed so far past its grace period (`cache::wait_for_freed_values`),
/// then glibc's free memory trimmed. Measured from plain VmRSS, growth
/// reuses heap an earlier step freed and shows too little.
uint64_t settled_rss();

/// Times `n` calls of `op(i)`, one sample per call.
template <class F>
void time_each(series& s, size_t n, F op) {
  s.samples.reserve(s.samples.size() + n);
  for (size_t i = 0; i < n; ++i) {
    auto t0 = clock::now();
    op(i);
    s.samples.push_back(seconds_since(t0));
  }
}

/// Times `samples` batches of `per_sample` calls of `op(i)` (i counting on
/// over all calls); each sample is one call's share of its batch, so that
/// the clock's own cost does not swamp operations of ~100 ns.
template <class F>
void time_batched(series& s, size_t samples, size_t per_sample, F op) {
  size_t i = 0;
  for (size_t k = 0; k < samples; ++k) {
    auto t0 = clock::now();
    for (size_t j = 0; j < per_sample; ++j)
      op(i++);
    s.samples.push_back(seconds_since(t0) / static_cast<double>(per_sample));
  }
}

/// A loopback port that was free a moment ago (for a server started next).
uint16_t free_loopback_port();

/// Quiet nodes: benchmarks time work, not log lines.
inline config quiet(config cfg) {
  cfg.logging.level = p21::log_level::error;
  return cfg;
}

// -- rows in other files --

row_result measure_cache_lookup(const config& base, size_t runs);
row_result measure_cache_direct(const config& base, size_t runs);
row_result measure_cache_view(const config& base, size_t runs);
/// `threads` client threads (the row `cache_contended` is 4, the others
/// `cache_contended_N`).
row_result measure_cache_contended(const config& base, size_t runs, size_t threads);
row_result measure_db_query(const config& base, size_t runs);
row_result measure_db_query_cache(const config& base, size_t runs);
/// Actor profiling's cost: the same calls with `[runtime] profiling` off
/// (baseline) and on; a ratio of 0.95 means 5 % slower with profiling.
row_result measure_profiling_cache_lookup(const config& base, size_t runs);
row_result measure_profiling_db_query(const config& base, size_t runs);
/// The same for a typed request to an actor: the profiler's cost per message.
row_result measure_profiling_request(const config& base, size_t runs);
row_result measure_git_status(const config& base, size_t runs);
row_result measure_parallel_exec(const config& base, size_t runs);
/// From `runtime{cfg}` to the first cache hit and to the first db query
/// (bench_first_use.cpp), beside the construction alone.
row_result measure_first_cache_hit(const config& base, size_t runs);
row_result measure_first_query(const config& base, size_t runs);
/// From memory over `memory_budget`, and from a sample that fires an alert,
/// to the node's action (bench_reaction.cpp).
row_result measure_pressure_reaction(const config& base, size_t runs);
row_result measure_alert_reaction(const config& base, size_t runs);

/// Runtime Growth, Pool Efficiency and the per-area hit rates over a demo
/// run (bench_runtime.cpp), and their lines beside the report's claims.
nlohmann::json runtime_claims(const config& base, bool quick);
void print_runtime_claims(const nlohmann::json& j);

/// The optimizer's phases (bench_self_tuning.cpp), each run with models,
/// fixed steps and off; only those named in `phases` when it is not empty
/// (`--only self_tuning.custom_actor`).
nlohmann::json self_tuning(const config& base, bool quick,
                           const std::vector<std::string>& phases = {});
/// The names of self_tuning's phases, in the order they run.
std::vector<std::string> self_tuning_phase_names();

/// Spawn throughput and spawn cost from a parent with 1 GiB resident.
nlohmann::json subprocess_details(const config& base, bool quick);

/// Remote vs local cache get (plain, TLS) and gets/s from 1 and 2 client
/// nodes into one cache node.
nlohmann::json cluster_details(const config& base, bool quick);

/// Readers with a writer, and 30 clients on a pool of 10.
nlohmann::json db_details(const config& base, bool quick);

/// The Redis rows (redis_near, redis_miss; appended to `rows`) and details
/// (invalidation latency, gets/s from 1 and 2 nodes) with a redis-server of
/// its own; skipped, with a message, when there is no redis-server.
nlohmann::json redis_bench(const config& base, bool quick, std::vector<row_result>& rows);

/// Keeps a benchmarked value alive.
template <class T>
void benchmark_sink(const T& x) {
  asm volatile("" : : "g"(&x) : "memory");
}

/// get_many per key, shard throughput, lru vs tinylfu hit rates, memory per
/// entry; printed and returned for the JSON.
nlohmann::json cache_details(const config& base, bool quick);

/// The fault soak (bench_soak.cpp); `failed` is set when a check fails.
/// `scale` lengthens the measured phase (`p21 bench --soak-scale N`).
nlohmann::json soak(const config& base, bool quick, double scale, bool& failed);

} // namespace p21::app
