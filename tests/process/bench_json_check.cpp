// Checks the JSON of `p21 bench --json`: every row of SPEC.md is present,
// both sides were measured, the ratio is computed from the two medians, the
// overall row is the geometric mean of the report's rows, memory is there.
// Usage: bench_json_check FILE
#include <cmath>
#include <fstream>
#include <iostream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "bench JSON: " << what << "\n";
    ++failures;
  }
}

bool close(double a, double b) {
  return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b));
}

/// False when a figure is missing (the rest of the row is not checked).
bool check_side(const nlohmann::json& side, const std::string& where) {
  auto before = failures;
  for (auto key : {"median_s", "p99_s", "p25_s", "p75_s", "min_s", "max_s", "spread", "runs"})
    expect(side.contains(key) && side[key].is_number(), where + "." + key + " missing");
  if (failures > before)
    return false;
  expect(side["unit"] == "s", where + ".unit is not \"s\"");
  expect(!side["label"].get<std::string>().empty(), where + ".label is empty");
  expect(side["median_s"].get<double>() > 0, where + ".median_s is not positive");
  expect(side["runs"].get<int>() >= 1, where + ".runs is below 1");
  expect(side["min_s"].get<double>() <= side["median_s"].get<double>() &&
             side["median_s"].get<double>() <= side["p99_s"].get<double>() &&
             side["p99_s"].get<double>() <= side["max_s"].get<double>(),
         where + ": min <= median <= p99 <= max does not hold");
  expect(side["spread"].get<double>() >= 0, where + ".spread is negative");
  return true;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: bench_json_check FILE\n";
    return 2;
  }
  std::ifstream in{argv[1]};
  auto doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded()) {
    std::cerr << "bench JSON: " << argv[1] << " is not JSON\n";
    return 1;
  }
  const std::set<std::string> expected{"startup",
                                       "first_cache_hit",
                                       "first_query",
                                       "pressure_reaction",
                                       "alert_reaction",
                                       "cache_lookup",
                                       "cache_direct",
                                       "cache_view",
                                       "cache_contended",
                                       "cache_contended_1",
                                       "cache_contended_2",
                                       "cache_contended_8",
                                       "db_query",
                                       "db_query_cache",
                                       "git_status",
                                       "parallel_exec",
                                       "profiling_cache_lookup",
                                       "profiling_db_query",
                                       "profiling_request"};
  std::set<std::string> seen;
  double log_sum = 0;
  int claimed = 0;
  for (auto& row : doc["rows"]) {
    auto name = row["name"].get<std::string>();
    seen.insert(name);
    bool complete = check_side(row["baseline"], name + ".baseline");
    complete = check_side(row["perfect21"], name + ".perfect21") && complete;
    if (!complete)
      continue;
    auto ratio =
        row["baseline"]["median_s"].get<double>() / row["perfect21"]["median_s"].get<double>();
    expect(close(row["ratio"].get<double>(), ratio),
           name + ".ratio is not baseline median / perfect21 median");
    if (!row["claim"].is_null()) {
      expect(row["claim"].get<double>() > 1, name + ".claim is not a speed-up");
      log_sum += std::log(row["ratio"].get<double>());
      ++claimed;
    }
  }
  // The Redis rows (issue 17) come with a redis-server on PATH, both or none.
  if (seen.count("redis_near") || seen.count("redis_miss")) {
    expect(seen.count("redis_near") && seen.count("redis_miss"), "only one of the Redis rows");
    expect(doc["details"]["redis"].contains("invalidation_p99_s"),
           "details.redis.invalidation_p99_s missing");
    seen.erase("redis_near");
    seen.erase("redis_miss");
  }
  if (seen != expected) {
    std::string got;
    for (auto& x : seen)
      got += " " + x;
    expect(false, "the rows are not exactly the eight of SPEC.md, issue 15's, issue 19's three "
                  "profiling rows, issue 33's cache rows, issue 34's first-use rows and issue "
                  "32's reaction rows; got" +
                      got);
  }
  expect(claimed == 4, "expected the report's claims on four rows");
  if (claimed > 0 && doc.contains("overall"))
    expect(close(doc["overall"]["ratio"].get<double>(), std::exp(log_sum / claimed)),
           "overall.ratio is not the geometric mean of the claimed rows' ratios");
  else
    expect(false, "overall missing");
  // Issue 18: the self_tuning phases, each run three ways; issue 32 added
  // rule 5's, rule 8's and an application's actor tuned by a TOML rule.
  const std::set<std::string> phases{"hit_rate_collapse", "db_pool_burst",   "memory_pressure",
                                     "cpu_heavy",         "memory_ramp",     "db_pool_ramp",
                                     "git_cache_small",   "process_queue",   "custom_actor"};
  std::set<std::string> seen_phases;
  if (doc.contains("self_tuning") && doc["self_tuning"].is_array())
    for (auto& p : doc["self_tuning"]) {
      auto name = p.value("phase", std::string{});
      seen_phases.insert(name);
      expect(p.contains("metric") && p["metric"].is_string(), name + ".metric missing");
      expect(p.contains("target") && p["target"].is_number(), name + ".target missing");
      expect(p.contains("ramp") && p["ramp"].is_boolean(), name + ".ramp missing");
      for (auto way : {"model", "fixed", "off", "on"}) {
        auto where = name + "." + way;
        if (!p.contains(way)) {
          expect(false, where + " missing");
          continue;
        }
        auto& r = p[way];
        expect(r.contains("series") && r["series"].is_array() && !r["series"].empty(),
               where + ".series missing");
        expect(r.contains("final") && r["final"].is_number(), where + ".final missing");
        expect(r.contains("intervals_to_target") &&
                   (r["intervals_to_target"].is_number() || r["intervals_to_target"].is_null()),
               where + ".intervals_to_target missing");
        expect(r.contains("intervals_out_of_target") && r["intervals_out_of_target"].is_number(),
               where + ".intervals_out_of_target missing");
        expect(r.contains("reversals") && r["reversals"].is_number(), where + ".reversals missing");
        if (r.contains("series") && r["series"].is_array() && !r["series"].empty() &&
            r.contains("final"))
          expect(r["series"].back() == r["final"], where + ".final is not the series' last value");
      }
    }
  expect(seen_phases == phases, "self_tuning does not have the six phases of issue 18 and issue 32's two");
  auto& mem = doc["memory"];
  expect(mem["startup_rss_bytes"].get<double>() > 0, "memory.startup_rss_bytes is not positive");
  expect(mem["peak_rss_bytes"].get<double>() >= mem["startup_rss_bytes"].get<double>(),
         "memory.peak_rss_bytes is below the startup RSS");
  // The report's non-timing figures, beside their claims (issue 18).
  auto& claims = doc["runtime_claims"];
  expect(claims.is_object(), "runtime_claims missing");
  if (claims.is_object()) {
    expect(claims["runtime_growth"]["rss_end_bytes"].get<double>() > 0,
           "runtime_claims.runtime_growth.rss_end_bytes is not positive");
    expect(claims["runtime_growth"]["claim_bytes"].is_number(), "runtime growth claim missing");
    auto& eff = claims["pool_efficiency"]["value"];
    expect(eff.is_number() && eff.get<double>() >= 0 && eff.get<double>() <= 1,
           "runtime_claims.pool_efficiency.value is not a share");
    for (auto area : {"git", "query_cache", "lazy_components"}) {
      auto& h = claims["hit_rates"][area];
      expect(h.contains("value") && h["claim"].is_number(),
             std::string{"runtime_claims.hit_rates."} + area + " missing");
      expect(h["value"].is_null() ||
                 (h["value"].get<double>() >= 0 && h["value"].get<double>() <= 1),
             std::string{"runtime_claims.hit_rates."} + area + " is not a share");
    }
  }
  if (failures)
    return 1;
  std::cout << "bench JSON: " << seen.size() << " rows, overall "
            << doc["overall"]["ratio"].get<double>() << "x, checked\n";
  return 0;
}
