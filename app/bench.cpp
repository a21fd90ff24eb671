// p21 bench: each row measures a baseline (the naive way, or raw CAF) and the
// Perfect21 way side by side in one run, and reports the ratio of medians.

#include "app/bench.hpp"
#include "app/bench_rows.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

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

std::vector<row> all_rows() {
  return {
      {"startup", "Module import / startup", 800.0 / 150.0, measure_startup},
      {"cache_lookup", "Cache lookup", std::nullopt, measure_cache_lookup},
      {"cache_direct", "Cache lookup vs a plain mutex LRU", std::nullopt, measure_cache_direct},
      {"db_query", "Database query", 120.0 / 25.0, measure_db_query},
      {"db_query_cache", "Database query cache", std::nullopt, measure_db_query_cache},
      {"git_status", "Git status check", 450.0 / 90.0, measure_git_status},
      {"parallel_exec", "Parallel execution", 2.5 / 1.1, measure_parallel_exec},
  };
}

// -- presentation -------------------------------------------------------------

std::string human(double s) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(s < 1e-3 ? 2 : 1);
  if (s < 1e-3)
    out << s * 1e6 << " us";
  else if (s < 1)
    out << s * 1e3 << " ms";
  else
    out << s << " s";
  return out.str();
}

nlohmann::json to_json(const series& s) {
  return {{"label", s.label},       {"median_s", s.median()}, {"p99_s", s.quantile(0.99)},
          {"min_s", s.quantile(0)}, {"max_s", s.quantile(1)}, {"runs", s.samples.size()}};
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
  auto rows = all_rows();
  auto wants = [&](const std::string& name) {
    return opts.only.empty() ||
           std::find(opts.only.begin(), opts.only.end(), name) != opts.only.end();
  };
  for (auto& name : opts.only)
    if (name != "cache_details" && name != "db_details" && name != "subprocess_details" &&
        name != "self_tuning" &&
        std::none_of(rows.begin(), rows.end(), [&](auto& r) { return r.name == name; })) {
      std::cerr << "p21 bench: unknown row '" << name << "'; rows are:";
      for (auto& r : rows)
        std::cerr << " " << r.name;
      std::cerr << " cache_details db_details subprocess_details self_tuning\n";
      return 2;
    }
  auto startup_rss = status_bytes("VmRSS:");
  {
    runtime rt{quiet(base)};
    startup_rss = status_bytes("VmRSS:");
  }
  std::vector<row_result> results;
  size_t runs = opts.quick ? 5 : 20;
  for (auto& r : rows) {
    if (!opts.only.empty() &&
        std::find(opts.only.begin(), opts.only.end(), r.name) == opts.only.end())
      continue;
    std::cerr << "[bench] " << r.name << " (" << runs << " runs each side) ..." << std::flush;
    auto t0 = clock::now();
    auto res = r.measure(base, runs);
    res.claim = r.claim;
    std::cerr << " done in " << human(seconds_since(t0)) << "\n";
    results.push_back(std::move(res));
  }
  // The table: ratios first, absolute times vary by machine.
  std::cout << std::left << std::setw(16) << "row" << std::right << std::setw(10) << "ratio"
            << std::setw(10) << "claim" << std::setw(14) << "baseline" << std::setw(14)
            << "perfect21" << std::setw(14) << "p21 p99"
            << "\n";
  for (auto& r : results) {
    auto ratio = r.baseline.median() / std::max(r.perfect21.median(), 1e-12);
    std::ostringstream claim;
    if (r.claim)
      claim << std::fixed << std::setprecision(2) << *r.claim << "x";
    else
      claim << "-";
    std::cout << std::left << std::setw(16) << r.name << std::right << std::setw(9) << std::fixed
              << std::setprecision(ratio < 0.1 ? 4 : 2) << ratio << "x" << std::setprecision(2)
              << std::setw(10) << claim.str() << std::setw(14) << human(r.baseline.median())
              << std::setw(14) << human(r.perfect21.median()) << std::setw(14)
              << human(r.perfect21.quantile(0.99)) << "\n";
  }
  nlohmann::json details;
  if (wants("cache_details"))
    details["cache"] = cache_details(base, opts.quick);
  if (wants("db_details"))
    details["db"] = db_details(base, opts.quick);
  if (wants("subprocess_details"))
    details["subprocess"] = subprocess_details(base, opts.quick);
  nlohmann::json tuning;
  if (wants("self_tuning"))
    tuning = self_tuning(base, opts.quick);
  auto peak_rss = status_bytes("VmHWM:");
  std::cout << "memory: startup RSS " << format_size(startup_rss / 1024 * 1024) << ", peak RSS "
            << format_size(peak_rss / 1024 * 1024) << "\n";
  if (!opts.json_file.empty()) {
    nlohmann::json doc;
    doc["rows"] = nlohmann::json::array();
    for (auto& r : results) {
      nlohmann::json j{{"name", r.name},
                       {"baseline", to_json(r.baseline)},
                       {"perfect21", to_json(r.perfect21)},
                       {"ratio", r.baseline.median() / std::max(r.perfect21.median(), 1e-12)}};
      j["claim"] = r.claim ? nlohmann::json(*r.claim) : nlohmann::json(nullptr);
      doc["rows"].push_back(std::move(j));
    }
    doc["memory"] = {{"startup_rss_bytes", startup_rss}, {"peak_rss_bytes", peak_rss}};
    if (!details.empty())
      doc["details"] = details;
    if (!tuning.is_null())
      doc["self_tuning"] = tuning;
    std::ofstream out{opts.json_file};
    out << doc.dump(2) << "\n";
    if (!out) {
      std::cerr << "p21 bench: cannot write " << opts.json_file << "\n";
      return 1;
    }
  }
  return 0;
}

} // namespace p21::app
