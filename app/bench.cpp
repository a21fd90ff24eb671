// p21 bench: each row measures a baseline (the naive way, or raw CAF) and the
// Perfect21 way side by side in one run, and reports the ratio of medians.

#include "app/bench.hpp"
#include "app/bench_format.hpp"
#include "app/bench_plots.hpp"
#include "app/bench_rows.hpp"
#include "app/scratch_dir.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <caf/all.hpp>

#include "p21/db_config.hpp"
#include "p21/p21.hpp"

namespace p21::app {

namespace {

// -- rows ---------------------------------------------------------------------

row_result measure_startup(const config& base, size_t runs) {
  // Eager: every component critical, started with the runtime. Lazy: the
  // configured priorities, non-critical components wait for first use.
  auto eager = quiet(base);
  for (auto& spec : resolve_components(base))
    eager.components[spec.name].prio = priority::critical;
  auto lazy = quiet(base);
  row_result r{"startup",
               {"eager start of every component", {}},
               {"lazy start (critical only)", {}},
               std::nullopt};
  for (size_t i = 0; i < runs; ++i) {
    for (auto* side : {&r.baseline, &r.perfect21}) {
      auto t0 = clock::now();
      runtime rt{side == &r.baseline ? eager : lazy};
      side->samples.push_back(seconds_since(t0));
    }
  }
  return r;
}

/// `cache_contended` (4 threads) and `cache_contended_N`: the curve of
/// throughput by threads (`--plots` draws cache_contended.svg).
row contended_row(size_t threads) {
  auto name = threads == 4 ? std::string{"cache_contended"}
                           : "cache_contended_" + std::to_string(threads);
  return {name,
          "Cache under " + std::to_string(threads) + (threads == 1 ? " thread" : " threads") +
              ": a mutex LRU vs the handle",
          std::nullopt,
          [threads](const config& base, size_t runs) {
            return measure_cache_contended(base, runs, threads);
          }};
}

std::vector<row> all_rows() {
  // The report's table: "before" and "after" for four rows (its "Overall
  // average" is 500 ms -> 180 ms).
  return {
      {"startup", "Module import / startup", report_claim{0.800, 0.150}, measure_startup},
      {"first_cache_hit", "Embedding: runtime{cfg} to the first cache hit", std::nullopt,
       measure_first_cache_hit},
      {"first_query", "Embedding: runtime{cfg} to the first db query", std::nullopt,
       measure_first_query},
      {"cache_lookup", "Cache lookup: raw CAF request vs the handle", std::nullopt,
       measure_cache_lookup},
      {"cache_direct", "Cache lookup: a mutex LRU vs the handle", std::nullopt,
       measure_cache_direct},
      {"cache_view", "Cache lookup without a copy: a mutex LRU vs the handle's visit",
       std::nullopt, measure_cache_view},
      contended_row(1),
      contended_row(2),
      contended_row(4),
      contended_row(8),
      {"db_query", "Database query: connection per query vs pool", report_claim{0.120, 0.025},
       measure_db_query},
      {"db_query_cache", "Database query: pooled vs query cache", std::nullopt,
       measure_db_query_cache},
      {"git_status", "Git status check: uncached vs cached", report_claim{0.450, 0.090},
       measure_git_status},
      {"parallel_exec", "Parallel execution: serial vs subprocess pool", report_claim{2.5, 1.1},
       measure_parallel_exec},
      {"profiling_cache_lookup", "Actor profiling's cost on cache_lookup: off vs on", std::nullopt,
       measure_profiling_cache_lookup},
      {"profiling_db_query", "Actor profiling's cost on db_query: off vs on", std::nullopt,
       measure_profiling_db_query},
      {"profiling_request", "Actor profiling's cost per message: off vs on", std::nullopt,
       measure_profiling_request},
      {"pressure_reaction", "Memory over the budget to caches shrunk and handlers called",
       std::nullopt, measure_pressure_reaction},
      {"alert_reaction", "An alert's firing sample to the optimizer's action done",
       std::nullopt, measure_alert_reaction},
  };
}

constexpr report_claim overall_claim{0.500, 0.180};

// -- presentation -------------------------------------------------------------

/// "12.3 ms ±4%", or "3.2 s (1 run)" when there are too few to tell.
std::string with_spread(const series& s) {
  std::ostringstream out;
  out << human(s.median());
  if (s.samples.size() < 4)
    out << " (" << s.samples.size() << (s.samples.size() == 1 ? " run)" : " runs)");
  else
    out << " ±" << std::fixed << std::setprecision(0) << s.spread() * 100 << "%";
  return out.str();
}

/// 0.8 -> "800 ms", 2.5 -> "2.5 s": the report's round figures.
std::string round_time(double s) {
  std::ostringstream out;
  if (s >= 1)
    out << std::fixed << std::setprecision(1) << s << " s";
  else
    out << std::fixed << std::setprecision(0) << s * 1e3 << " ms";
  return out.str();
}

std::string claim_text(const std::optional<report_claim>& c) {
  if (!c)
    return "-";
  return times(c->ratio()) + " (" + round_time(c->before_s) + " -> " + round_time(c->after_s) + ")";
}

/// `text` padded to `width` columns (UTF-8 aware: "±" is one column).
std::string cell(const std::string& text, size_t width, bool right = true) {
  size_t cols = 0;
  for (unsigned char ch : text)
    cols += (ch & 0xC0) != 0x80 ? 1 : 0;
  std::string pad(cols < width ? width - cols : 0, ' ');
  return right ? pad + text : text + pad;
}

nlohmann::json to_json(const series& s) {
  return {{"label", s.label},          {"unit", "s"},
          {"median_s", s.median()},    {"p99_s", s.quantile(0.99)},
          {"p25_s", s.quantile(0.25)}, {"p75_s", s.quantile(0.75)},
          {"min_s", s.quantile(0)},    {"max_s", s.quantile(1)},
          {"spread", s.spread()},      {"runs", s.samples.size()}};
}

nlohmann::json to_json(const std::optional<report_claim>& c) {
  if (!c)
    return nullptr;
  return c->ratio();
}

/// A progress line on stderr: "[3/7] db_query ... 1.2 s".
class progress {
public:
  explicit progress(size_t total)
    : total_(total) {}

  template <class F>
  auto step(const std::string& what, F f) {
    std::cerr << "[" << ++done_ << "/" << total_ << "] " << what << " ..." << std::flush;
    auto t0 = clock::now();
    auto result = f();
    std::cerr << " " << human(seconds_since(t0)) << "\n";
    return result;
  }

private:
  size_t total_;
  size_t done_ = 0;
};

void print_table(const std::vector<row_result>& results, const std::vector<row>& rows,
                 std::optional<double> overall, const std::vector<std::string>& overall_rows,
                 size_t runs) {
  auto title = [&](const std::string& name) {
    for (auto& r : rows)
      if (r.name == name)
        return r.title;
    return name;
  };
  std::cout << "\nPerfect21 bench: each row times the naive way (baseline) and Perfect21 side by "
               "side in one run;\nmedians of "
            << runs << " runs or more per side, ±: half the interquartile range.\n\n"
            << cell("row", 24, false) << cell("measured", 10) << "  "
            << cell("report claims", 30, false) << cell("baseline", 17) << cell("perfect21", 17)
            << cell("p21 p99", 12) << "\n";
  for (auto& r : results)
    std::cout << cell(r.name, 24, false) << cell(times(r.ratio()), 10) << "  "
              << cell(claim_text(r.claim), 30, false) << cell(with_spread(r.baseline), 17)
              << cell(with_spread(r.perfect21), 17) << cell(human(r.perfect21.quantile(0.99)), 12)
              << "\n";
  if (overall) {
    std::cout << cell("overall", 24, false) << cell(times(*overall), 10) << "  "
              << cell(claim_text(overall_claim), 30, false) << "   geometric mean of";
    for (auto& n : overall_rows)
      std::cout << " " << n;
    std::cout << "\n";
  }
  std::cout << "\n";
  for (auto& r : results)
    std::cout << "  " << cell(r.name, 24, false) << title(r.name) << ":\n"
              << "  " << cell("", 24) << r.baseline.label << " vs " << r.perfect21.label << "\n";
}

} // namespace

int run_bench(const bench_options& opts) {
  config base;
  if (!opts.config_file.empty()) {
    try {
      base = load_config_file(opts.config_file);
    } catch (const config_error& e) {
      std::cerr << "p21: invalid configuration: " << e.what() << "\n";
      return 2;
    }
  }
  // Run-time files (databases, the preload list) go to a scratch directory
  // removed at the end: a benchmark must not leave files where it was
  // started, nor write into a deployment's database or state.
  scratch_dir scratch{"p21-bench-node"};
  base.get<database_config>().path = scratch.file("bench.db");
  base.runtime.state_dir = scratch.path();
  auto rows = all_rows();
  const std::vector<std::string> sections{"cache_details",   "db_details",  "subprocess_details",
                                          "cluster_details", "self_tuning", "redis",
                                          "runtime_claims",  "soak"};
  // `self_tuning.PHASE` in --only: self_tuning with only the phases named.
  const std::string phase_prefix = "self_tuning.";
  std::vector<std::string> tuning_phases;
  for (auto& name : opts.only)
    if (name.rfind(phase_prefix, 0) == 0)
      tuning_phases.push_back(name.substr(phase_prefix.size()));
  auto named = [&](const std::string& name) {
    return std::find(opts.only.begin(), opts.only.end(), name) != opts.only.end() ||
           (name == "self_tuning" && !tuning_phases.empty());
  };
  // The soak kills and restarts things on purpose: it runs when asked for.
  auto wants = [&](const std::string& name) {
    return named(name) || (opts.only.empty() && name != "soak");
  };
  auto phase_names = self_tuning_phase_names();
  for (auto& name : tuning_phases)
    if (std::find(phase_names.begin(), phase_names.end(), name) == phase_names.end()) {
      std::cerr << "p21 bench: unknown self_tuning phase '" << name << "'; phases are:";
      for (auto& x : phase_names)
        std::cerr << " " << x;
      std::cerr << "\n";
      return 2;
    }
  for (auto& name : opts.only)
    if (name.rfind(phase_prefix, 0) != 0 &&
        std::find(sections.begin(), sections.end(), name) == sections.end() &&
        std::none_of(rows.begin(), rows.end(), [&](auto& r) { return r.name == name; })) {
      std::cerr << "p21 bench: unknown row '" << name << "'; rows are:";
      for (auto& r : rows)
        std::cerr << " " << r.name;
      for (auto& x : sections)
        std::cerr << " " << x;
      std::cerr << "\n";
      return 2;
    }
  size_t steps = 1;
  for (auto& r : rows)
    steps += wants(r.name) ? 1 : 0;
  for (auto& x : sections)
    steps += wants(x) ? 1 : 0;
  progress bar{steps};
  size_t runs = opts.quick ? 5 : 20;
  // Startup memory: the RSS of this process with a node of the base config
  // running, before any benchmark has grown the heap.
  auto startup_rss = bar.step("startup memory", [&] {
    runtime rt{quiet(base)};
    return status_bytes("VmRSS:");
  });
  std::vector<row_result> results;
  for (auto& r : rows) {
    if (!wants(r.name))
      continue;
    auto res = bar.step(r.name + " (" + std::to_string(runs) + " runs each side)",
                        [&] { return r.measure(base, runs); });
    res.claim = r.claim;
    results.push_back(std::move(res));
  }
  // Peak memory of the rows (the detail sections below build a 1 GiB parent
  // and a million-entry cache on purpose).
  auto peak_rss = status_bytes("VmHWM:");
  // Overall: the geometric mean of the measured ratios of the report's rows.
  std::vector<std::string> overall_rows;
  double log_sum = 0;
  for (auto& r : results)
    if (r.claim) {
      overall_rows.push_back(r.name);
      log_sum += std::log(r.ratio());
    }
  std::optional<double> overall;
  if (!overall_rows.empty())
    overall = std::exp(log_sum / double(overall_rows.size()));
  nlohmann::json details;
  if (wants("cache_details"))
    details["cache"] = bar.step("cache details", [&] { return cache_details(base, opts.quick); });
  if (wants("db_details"))
    details["db"] = bar.step("db details", [&] { return db_details(base, opts.quick); });
  if (wants("subprocess_details"))
    details["subprocess"] =
        bar.step("subprocess details", [&] { return subprocess_details(base, opts.quick); });
  // Before the cluster's runs: a node of those may abandon an actor system
  // whose detached threads end later and crash the process (seen after a
  // longer self_tuning; the cluster's shutdown is to blame, not the order).
  nlohmann::json tuning;
  if (wants("self_tuning"))
    tuning = bar.step("self_tuning: " +
                          std::to_string(tuning_phases.empty() ? phase_names.size()
                                                               : tuning_phases.size()) +
                          " phase(s), models + forecasts, fixed steps and off",
                      [&] { return self_tuning(base, opts.quick, tuning_phases); });
  if (wants("cluster_details"))
    details["cluster"] =
        bar.step("cluster details", [&] { return cluster_details(base, opts.quick); });
  if (wants("redis")) {
    std::vector<row_result> redis_rows;
    details["redis"] = bar.step("redis: near hit, near miss, invalidation latency",
                                [&] { return redis_bench(base, opts.quick, redis_rows); });
    for (auto& r : redis_rows)
      results.push_back(std::move(r));
    rows.push_back({"redis_near", "Redis-backed cache, a key the node holds", std::nullopt, {}});
    rows.push_back({"redis_miss", "Redis-backed cache, a key only Redis holds", std::nullopt, {}});
  }
  nlohmann::json soaked;
  bool soak_failed = false;
  if (wants("soak"))
    soaked = bar.step("soak: calls through every subsystem while faults are injected",
                      [&] { return soak(base, opts.quick, opts.soak_scale, soak_failed); });
  nlohmann::json claims;
  if (wants("runtime_claims"))
    claims = bar.step("runtime_claims: growth, pool efficiency, hit rates over a demo run",
                      [&] { return runtime_claims(base, opts.quick); });
  if (!results.empty())
    print_table(results, rows, overall, overall_rows, runs);
  if (!claims.is_null())
    print_runtime_claims(claims);
  std::cout << "memory: startup RSS " << mib(startup_rss)
            << " (report: 180 MB -> 85 MB), peak RSS over the rows " << mib(peak_rss)
            << " (report: 380 MB -> 180 MB)\n";
  if (!opts.json_file.empty() || !opts.plots_dir.empty()) {
    nlohmann::json doc;
    doc["rows"] = nlohmann::json::array();
    for (auto& r : results)
      doc["rows"].push_back({{"name", r.name},
                             {"baseline", to_json(r.baseline)},
                             {"perfect21", to_json(r.perfect21)},
                             {"ratio", r.ratio()},
                             {"claim", to_json(r.claim)}});
    if (overall)
      doc["overall"] = {{"ratio", *overall},
                        {"claim", overall_claim.ratio()},
                        {"method", "geometric mean of the rows' ratios"},
                        {"rows", overall_rows}};
    doc["memory"] = {{"startup_rss_bytes", startup_rss},
                     {"peak_rss_bytes", peak_rss},
                     {"unit", "bytes"},
                     {"claim_startup_bytes", 85e6},
                     {"claim_peak_bytes", 180e6}};
    if (!details.empty())
      doc["details"] = details;
    if (!tuning.is_null())
      doc["self_tuning"] = tuning;
    if (!soaked.is_null())
      doc["soak"] = soaked;
    if (!claims.is_null())
      doc["runtime_claims"] = claims;
    if (!opts.plots_dir.empty()) {
      try {
        for (auto& file : write_plots(opts.plots_dir, doc))
          std::cout << "plot: " << file << "\n";
      } catch (const std::exception& e) {
        std::cerr << "p21 bench: " << e.what() << "\n";
        return 1;
      }
    }
    if (!opts.json_file.empty()) {
      std::ofstream out{opts.json_file};
      out << doc.dump(2) << "\n";
      if (!out) {
        std::cerr << "p21 bench: cannot write " << opts.json_file << "\n";
        return 1;
      }
    }
  }
  return soak_failed ? 1 : 0;
}

} // namespace p21::app
