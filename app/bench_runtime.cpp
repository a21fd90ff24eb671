// `p21 bench --only runtime_claims`: the report's figures that are not
// timings. Runtime Growth (RSS growth over a demo run), Pool Efficiency (the
// share of db reads served without waiting for a connection) and the hit
// rates per area (git cache, query cache, lazy components), each beside
// the report's claim.

#include <filesystem>
#include <iomanip>
#include <sstream>
#include <thread>

#include <stdlib.h>

#include "app/bench_rows.hpp"
#include "app/demo.hpp"
#include "app/scratch_dir.hpp"
#include "p21/db_config.hpp"
#include "p21/demo_config.hpp"
#include "p21/p21.hpp"

namespace p21::app {

namespace {

namespace fs = std::filesystem;

/// A read waited for a connection when taking one took longer than this.
constexpr double no_wait_s = 0.001;

std::string percent(std::optional<double> x) {
  if (!x)
    return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << *x * 100 << " %";
  return out.str();
}

std::string megabytes(double bytes) {
  std::ostringstream out;
  out << std::showpos << std::fixed << std::setprecision(1) << bytes / 1e6 << " MB";
  return out.str();
}

std::string pad(const std::string& text, size_t width) {
  return text + std::string(text.size() < width ? width - text.size() : 1, ' ');
}

std::optional<double> value_of(const nlohmann::json& j) {
  if (j.is_number())
    return j.get<double>();
  return std::nullopt;
}

nlohmann::json maybe(std::optional<double> x) {
  return x ? nlohmann::json(*x) : nlohmann::json(nullptr);
}

std::optional<double> share(double part, double whole) {
  if (whole <= 0)
    return std::nullopt;
  return part / whole;
}

/// Samples of `h` at or below `limit`, from its cumulative buckets.
double at_or_below(const histogram_summary& h, double limit) {
  double n = 0;
  for (size_t i = 0; i < h.bounds.size() && i < h.cumulative.size(); ++i)
    if (h.bounds[i] <= limit)
      n = double(h.cumulative[i]);
  return n;
}

} // namespace

nlohmann::json runtime_claims(const config& base, bool quick) {
  scratch_dir scratch{"p21-bench-runtime"};
  auto cfg = quiet(base);
  cfg.get<database_config>().path = scratch.file("demo.db");
  cfg.runtime.state_dir = scratch.path();
  cfg.get<demo_config>().enabled = true;
  cfg.get<demo_config>().repo.clear();
  // One cycle of the four phases warms up (caches fill, pools open); the
  // growth is measured over the cycles after it.
  cfg.get<demo_config>().phase = quick ? std::chrono::seconds{1} : std::chrono::seconds{5};
  size_t cycles = quick ? 2 : 5;
  auto cycle = 4 * cfg.get<demo_config>().phase;
  nlohmann::json out;
  std::vector<double> rss_series;
  uint64_t rss_start = 0;
  uint64_t rss_end = 0;
  {
    runtime rt{cfg};
    demo workload{rt, cfg.get<demo_config>()};
    std::this_thread::sleep_for(cycle);
    rss_start = status_bytes("VmRSS:");
    auto until = clock::now() + cycles * cycle;
    while (clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds{500});
      rss_series.push_back(double(status_bytes("VmRSS:")));
    }
    rss_end = status_bytes("VmRSS:");
    workload.stop();
    // -- pool efficiency and the query cache --
    std::optional<double> pool_efficiency, query_hit_rate, git_hit_rate, lazy_hit_rate;
    double reads = 0, waited = 0;
    if (auto d = db::open(rt))
      if (auto s = d->stats()) {
        // A query-cache hit takes no connection; a read that took one within
        // 1 ms did not wait for it.
        reads = double(s->cache_hits) + double(s->acquire_time.count);
        auto quick_takes = at_or_below(s->acquire_time, no_wait_s);
        waited = double(s->acquire_time.count) - quick_takes;
        pool_efficiency = share(double(s->cache_hits) + quick_takes, reads);
        query_hit_rate =
            share(double(s->cache_hits), double(s->cache_hits) + double(s->cache_misses));
      }
    if (auto sp = subprocess::open(rt))
      if (auto s = sp->stats())
        git_hit_rate = share(double(s->git_hits), double(s->git_hits) + double(s->git_misses));
    // Lazy components: a use that found its component running was a hit, one
    // that had to start it (first use, or after an unload) a miss.
    double uses = 0, starts = 0;
    for (auto& c : rt.components())
      if (c.prio != priority::critical && c.use_count > 0) {
        uses += double(c.use_count);
        starts += double(std::min<uint64_t>(c.starts, c.use_count));
      }
    lazy_hit_rate = share(uses - starts, uses);
    auto growth = double(rss_end) - double(rss_start);
    out["runtime_growth"] = {{"rss_start_bytes", rss_start},
                             {"rss_end_bytes", rss_end},
                             {"growth_bytes", growth},
                             {"seconds", std::chrono::duration<double>(cycles * cycle).count()},
                             {"warmup_seconds", std::chrono::duration<double>(cycle).count()},
                             {"rss_series_bytes", rss_series},
                             {"claim_bytes", 45e6},
                             {"claim_before_bytes", 120e6}};
    out["pool_efficiency"] = {{"value", maybe(pool_efficiency)},
                              {"reads", reads},
                              {"waited", waited},
                              {"no_wait_s", no_wait_s},
                              {"claim", 0.92}};
    out["hit_rates"] = {{"git", {{"value", maybe(git_hit_rate)}, {"claim", 0.85}}},
                        {"query_cache", {{"value", maybe(query_hit_rate)}, {"claim", 0.75}}},
                        {"lazy_components", {{"value", maybe(lazy_hit_rate)}, {"claim", 0.90}}}};
    out["demo"] = {{"lookups", workload.counts().lookups.load()},
                   {"reads", workload.counts().reads.load()},
                   {"git_checks", workload.counts().git_checks.load()},
                   {"git_note", workload.git_note()}};
  }
  out["cycles"] = cycles;
  out["phase_seconds"] = std::chrono::duration<double>(cfg.get<demo_config>().phase).count();
  return out;
}

void print_runtime_claims(const nlohmann::json& j) {
  auto& hits = j["hit_rates"];
  std::cout << "\nReport claims vs measured (a demo run of " << j["cycles"].get<size_t>()
            << " cycles of 4 phases x " << j["phase_seconds"].get<double>()
            << " s after one to warm up):\n"
            << pad("runtime growth (RSS)", 26)
            << pad(megabytes(j["runtime_growth"]["growth_bytes"].get<double>()), 12)
            << "report: +120 MB -> +45 MB\n"
            << pad("pool efficiency", 26)
            << pad(percent(value_of(j["pool_efficiency"]["value"])), 12)
            << "report: 92 % (reads served without waiting over 1 ms for a connection)\n"
            << pad("git cache hit rate", 26) << pad(percent(value_of(hits["git"]["value"])), 12)
            << "report: 85 %+\n"
            << pad("query cache hit rate", 26)
            << pad(percent(value_of(hits["query_cache"]["value"])), 12)
            << "report: 75 %+ (\"database queries\")\n"
            << pad("lazy component hit rate", 26)
            << pad(percent(value_of(hits["lazy_components"]["value"])), 12)
            << "report: 90 %+ (\"module loading\": uses that found it loaded)\n";
}

} // namespace p21::app
