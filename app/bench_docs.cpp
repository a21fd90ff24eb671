#include "app/bench_docs.hpp"

#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "app/bench_format.hpp"
#include "app/bench_plots.hpp"

namespace p21::app {

namespace {

using json = nlohmann::json;

constexpr const char* begin_marker = "<!-- generated: ";
constexpr const char* end_marker = "<!-- end generated -->";

std::string fixed(double x, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << x;
  return out.str();
}

std::string percent(double ratio, int digits = 1) {
  return fixed(ratio * 100, digits) + " %";
}

/// 12660097.5 -> "12.66 M".
std::string per_second(double x) {
  if (x >= 1e6)
    return fixed(x / 1e6, 2) + " M";
  if (x >= 1e3)
    return fixed(x / 1e3, 1) + " k";
  return fixed(x, 0);
}

double num(const json& j, const char* key) {
  auto i = j.find(key);
  return i != j.end() && i->is_number() ? i->get<double>() : std::nan("");
}

/// A series' median with its spread, as the console prints it.
std::string timing(const json& side) {
  auto s = human(num(side, "median_s"));
  auto runs = side.value("runs", 0);
  if (runs < 4)
    return s + " (" + std::to_string(runs) + (runs == 1 ? " run)" : " runs)");
  return s + " ±" + fixed(num(side, "spread") * 100, 0) + "%";
}

std::string missing(const char* what) {
  return std::string{"*Not in this run: `p21 bench` wrote no `"} + what + "`.*\n";
}

// -- the blocks -----------------------------------------------------------------

std::string rows_block(const json& doc) {
  if (!doc.contains("rows"))
    return missing("rows");
  std::ostringstream out;
  out << "| row | measured | report claims | baseline | Perfect21 | Perfect21 p99 |\n"
      << "|---|---:|---:|---:|---:|---:|\n";
  for (auto& r : doc["rows"]) {
    out << "| `" << r.value("name", "?") << "` | " << times(num(r, "ratio")) << " | "
        << (r["claim"].is_number() ? times(num(r, "claim")) : std::string{"-"}) << " | "
        << timing(r["baseline"]) << " | " << timing(r["perfect21"]) << " | "
        << human(num(r["perfect21"], "p99_s")) << " |\n";
  }
  if (doc.contains("overall")) {
    auto& o = doc["overall"];
    out << "| overall | **" << times(num(o, "ratio")) << "** | " << times(num(o, "claim"))
        << " | " << o.value("method", "") << ":";
    for (auto& n : o["rows"])
      out << " `" << n.get<std::string>() << "`";
    out << " | | |\n";
  }
  return out.str();
}

std::string memory_block(const json& doc) {
  if (!doc.contains("memory"))
    return missing("memory");
  auto& m = doc["memory"];
  return "Startup RSS " + mib(uint64_t(num(m, "startup_rss_bytes"))) + " (report: " +
         fixed(num(m, "claim_startup_bytes") / 1e6, 0) + " MB); peak RSS over the rows " +
         mib(uint64_t(num(m, "peak_rss_bytes"))) + " (report: " +
         fixed(num(m, "claim_peak_bytes") / 1e6, 0) + " MB).\n";
}

std::string runtime_claims_block(const json& doc) {
  if (!doc.contains("runtime_claims"))
    return missing("runtime_claims");
  auto& c = doc["runtime_claims"];
  std::ostringstream out;
  out << "| figure | measured | report |\n|---|---:|---:|\n";
  auto& g = c["runtime_growth"];
  out << "| runtime growth (RSS, " << c.value("cycles", 0) << " demo cycles of 4 x "
      << fixed(num(c, "phase_seconds"), 0) << " s) | +" << fixed(num(g, "growth_bytes") / 1e6, 1)
      << " MB | +" << fixed(num(g, "claim_bytes") / 1e6, 0) << " MB |\n";
  auto& p = c["pool_efficiency"];
  out << "| pool efficiency (reads served without waiting over "
      << human(num(p, "no_wait_s")) << ") | " << percent(num(p, "value")) << " | "
      << percent(num(p, "claim"), 0) << " |\n";
  for (auto [key, label] : {std::pair{"git", "git cache hit rate"},
                            std::pair{"query_cache", "query cache hit rate"},
                            std::pair{"lazy_components", "lazy component hit rate"}}) {
    auto& h = c["hit_rates"][key];
    out << "| " << label << " | " << percent(num(h, "value")) << " | "
        << percent(num(h, "claim"), 0) << " |\n";
  }
  return out.str();
}

/// "33.1 90 100 100 ... 100": the first four values and the last.
std::string series_text(const json& xs) {
  std::ostringstream out;
  size_t n = xs.size();
  for (size_t i = 0; i < n; ++i) {
    if (i == 4 && n > 5) {
      out << " ...";
      i = n - 1;
    }
    double x = xs[i].get<double>();
    out << (i == 0 ? "" : " ") << (x == std::round(x) ? fixed(x, 0) : fixed(x, 1));
  }
  return out.str();
}

std::string self_tuning_block(const json& doc) {
  if (!doc.contains("self_tuning"))
    return missing("self_tuning");
  std::ostringstream out;
  out << "| phase | target | way | metric per interval | final | to target | out | reversals |\n"
      << "|---|---|---|---|---:|---:|---:|---:|\n";
  for (auto& p : doc["self_tuning"]) {
    bool first = true;
    for (auto way : {"model", "fixed", "off"}) {
      if (!p.contains(way))
        continue;
      auto& r = p[way];
      auto& reached = r["intervals_to_target"];
      out << "| " << (first ? "`" + p.value("phase", "?") + "`" : std::string{}) << " | "
          << (first ? p.value("metric", "") + " " + p.value("target_is", "") + " " +
                          series_text(json::array({p["target"]}))
                    : std::string{})
          << " | " << way << " | " << series_text(r["series"]) << " | "
          << series_text(json::array({r["final"]})) << " | "
          << (reached.is_number() ? std::to_string(reached.get<int>()) : std::string{"never"})
          << " | " << r.value("intervals_out_of_target", 0) << " | "
          << (std::string{way} == "off" ? std::string{"-"}
                                        : std::to_string(r.value("reversals", 0)))
          << " |\n";
      first = false;
    }
  }
  return out.str();
}

std::string cache_block(const json& doc) {
  if (!doc.contains("details") || !doc["details"].contains("cache"))
    return missing("details.cache");
  auto& c = doc["details"]["cache"];
  std::ostringstream out;
  out << "| figure | measured |\n|---|---:|\n";
  out << "| memory per cached 100-byte value at " << per_second(num(c, "memory_entries"))
      << " entries | " << fixed(num(c, "rss_bytes_per_entry"), 0) << " B of RSS ("
      << fixed(num(c, "accounted_bytes_per_entry"), 0) << " B accounted) |\n";
  out << "| `get` per key, one at a time | " << human(num(c, "get_per_key_s")) << " |\n";
  out << "| `get_many` per key | " << human(num(c, "get_many_per_key_s")) << " |\n";
  for (auto& [shards, ops] : c["throughput_ops_per_s_by_shards"].items())
    out << "| 2 threads, " << shards << (shards == "1" ? " shard" : " shards") << " | "
        << per_second(ops.get<double>()) << " gets/s |\n";
  return out.str();
}

std::string hit_rates_block(const json& doc) {
  if (!doc.contains("details") || !doc["details"].contains("cache"))
    return missing("details.cache");
  std::ostringstream out;
  out << "| trace | capacity | LRU | W-TinyLFU | ARC (reference) |\n|---|---:|---:|---:|---:|\n";
  for (auto& h : doc["details"]["cache"]["hit_rates"])
    out << "| " << h.value("trace", "?") << " | " << h.value("capacity", 0) << " | "
        << percent(num(h, "lru")) << " | " << percent(num(h, "tinylfu")) << " | "
        << percent(num(h, "arc")) << " |\n";
  return out.str();
}

std::string db_block(const json& doc) {
  if (!doc.contains("details") || !doc["details"].contains("db"))
    return missing("details.db");
  auto& d = doc["details"]["db"];
  std::ostringstream out;
  out << "| reader threads (one writer updating) | reads/s | writes/s | errors | `SQLITE_BUSY` |\n"
      << "|---:|---:|---:|---:|---:|\n";
  for (auto& r : d["readers_with_one_writer"])
    out << "| " << r.value("reader_threads", 0) << " | " << per_second(num(r, "reads_per_s"))
        << " | " << per_second(num(r, "writes_per_s")) << " | " << r.value("errors", 0) << " | "
        << r.value("busy_errors", 0) << " |\n";
  out << "\n| clients on a pool of | `pool_timeout` | lease p50 | lease p99 | request p50 "
         "| request p99 | `pool_timeout` errors |\n|---:|---:|---:|---:|---:|---:|---:|\n";
  for (auto& r : d["thirty_clients_pool_of_ten"])
    out << "| " << r.value("clients", 0) << " on " << r.value("pool_size", 0) << " | "
        << human(num(r, "pool_timeout_s")) << " | " << human(num(r, "acquire_p50_s")) << " | "
        << human(num(r, "acquire_p99_s")) << " | " << human(num(r, "p50_s")) << " | "
        << human(num(r, "p99_s")) << " | " << r.value("pool_timeouts", 0) << " of "
        << r.value("requests", 0) << " |\n";
  return out.str();
}

std::string subprocess_block(const json& doc) {
  if (!doc.contains("details") || !doc["details"].contains("subprocess"))
    return missing("details.subprocess");
  auto& s = doc["details"]["subprocess"];
  auto& sc = s["short_commands"];
  auto& small = s["spawn_cost"]["small_parent"];
  auto& big = s["spawn_cost"]["parent_with_1GiB"];
  std::ostringstream out;
  out << "| figure | measured |\n|---|---:|\n"
      << "| " << sc.value("commands", 0) << " x `true`, one after another | "
      << per_second(num(sc, "serial_per_second")) << "/s (" << human(num(sc, "serial_per_command_s"))
      << " each) |\n"
      << "| the same through the pool | " << per_second(num(sc, "pool_per_second")) << "/s |\n"
      << "| spawn of `true`, small parent: posix_spawn / fork+exec | "
      << human(num(small, "posix_spawn_s")) << " / " << human(num(small, "fork_exec_s")) << " |\n"
      << "| the same from a parent with " << mib(uint64_t(num(big, "rss_bytes")))
      << " resident | " << human(num(big, "posix_spawn_s")) << " / "
      << human(num(big, "fork_exec_s")) << " |\n";
  return out.str();
}

std::string cluster_block(const json& doc) {
  if (!doc.contains("details") || !doc["details"].contains("cluster"))
    return missing("details.cluster");
  auto& c = doc["details"]["cluster"];
  std::ostringstream out;
  out << "| transport | local hit p50 | remote get p50 | remote get p99 | remote / local |\n"
      << "|---|---:|---:|---:|---:|\n";
  for (auto way : {"plain", "tls"}) {
    if (!c.contains(way))
      continue;
    auto& w = c[way];
    out << "| " << way << " | " << human(num(w["local"], "median_s")) << " | "
        << human(num(w["remote"], "median_s")) << " | " << human(num(w["remote"], "p99_s"))
        << " | " << fixed(num(w, "remote_over_local"), 0) << "x |\n";
  }
  if (c.contains("gets_per_second"))
    out << "\nRemote gets per second: " << per_second(num(c["gets_per_second"], "one_client_node"))
        << " from one client node, " << per_second(num(c["gets_per_second"], "two_client_nodes"))
        << " from two.\n";
  return out.str();
}

std::string redis_block(const json& doc) {
  if (!doc.contains("details") || !doc["details"].contains("redis"))
    return missing("details.redis");
  auto& r = doc["details"]["redis"];
  std::ostringstream out;
  out << "| figure | measured |\n|---|---:|\n"
      << "| near-cache gets/s, one node / two nodes | " << per_second(num(r, "gets_per_s_1_node"))
      << " / " << per_second(num(r, "gets_per_s_2_nodes")) << " |\n"
      << "| invalidation reaching the other node, p50 / p99 | "
      << human(num(r, "invalidation_p50_s")) << " / " << human(num(r, "invalidation_p99_s"))
      << " |\n"
      << "| the same from the start of the put | " << human(num(r, "invalidation_from_put_start_p50_s"))
      << " / " << human(num(r, "invalidation_from_put_start_p99_s")) << " |\n"
      << "| invalidations not seen within 1 s | " << r.value("invalidations_not_seen_within_1s", 0)
      << " of " << r.value("invalidation_samples", 0) << " |\n"
      << "| near-cache hit ratio on node A | " << percent(num(r, "near_hit_ratio_node_a"), 2)
      << " |\n";
  return out.str();
}

} // namespace

std::map<std::string, std::string> bench_doc_blocks(const nlohmann::json& doc) {
  return {
    {"bench.rows", rows_block(doc)},
    {"bench.memory", memory_block(doc)},
    {"bench.runtime_claims", runtime_claims_block(doc)},
    {"bench.self_tuning", self_tuning_block(doc)},
    {"bench.cache", cache_block(doc)},
    {"bench.cache_hit_rates", hit_rates_block(doc)},
    {"bench.db", db_block(doc)},
    {"bench.subprocess", subprocess_block(doc)},
    {"bench.cluster", cluster_block(doc)},
    {"bench.redis", redis_block(doc)},
  };
}

std::string fill_generated_blocks(const std::string& text,
                                  const std::map<std::string, std::string>& blocks,
                                  std::string& error) {
  std::string out;
  size_t pos = 0;
  for (;;) {
    auto begin = text.find(begin_marker, pos);
    if (begin == std::string::npos)
      break;
    auto name_start = begin + std::char_traits<char>::length(begin_marker);
    auto name_end = text.find(" -->", name_start);
    if (name_end == std::string::npos || text.find('\n', name_start) < name_end) {
      error = "a generated block's marker is not closed on its line";
      return text;
    }
    auto name = text.substr(name_start, name_end - name_start);
    auto block = blocks.find(name);
    if (block == blocks.end()) {
      error = "unknown generated block '" + name + "'";
      return text;
    }
    auto end = text.find(end_marker, name_end);
    if (end == std::string::npos) {
      error = "generated block '" + name + "' has no '" + end_marker + "'";
      return text;
    }
    auto body_start = name_end + 4; // " -->"
    out.append(text, pos, body_start - pos);
    out += '\n';
    out += block->second;
    pos = end;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

int run_docs(const std::string& bench_json, const std::vector<std::string>& docs, bool check,
             const std::string& plots_dir) {
  std::ifstream in{bench_json};
  if (!in) {
    std::cerr << "p21 docs: cannot read " << bench_json << "\n";
    return 2;
  }
  nlohmann::json doc;
  try {
    in >> doc;
  } catch (const std::exception& e) {
    std::cerr << "p21 docs: " << bench_json << ": " << e.what() << "\n";
    return 2;
  }
  if (!plots_dir.empty() && !check) {
    try {
      for (auto& file : write_plots(plots_dir, doc))
        std::cout << "p21 docs: drew " << file << "\n";
    } catch (const std::exception& e) {
      std::cerr << "p21 docs: " << e.what() << "\n";
      return 1;
    }
  }
  auto blocks = bench_doc_blocks(doc);
  int status = 0;
  for (auto& path : docs) {
    std::ifstream f{path};
    if (!f) {
      std::cerr << "p21 docs: cannot read " << path << "\n";
      return 2;
    }
    std::string text{std::istreambuf_iterator<char>{f}, {}};
    std::string error;
    auto filled = fill_generated_blocks(text, blocks, error);
    if (!error.empty()) {
      std::cerr << "p21 docs: " << path << ": " << error << "\n";
      return 2;
    }
    if (filled == text)
      continue;
    if (check) {
      std::cerr << "p21 docs: " << path << ": a generated table differs from " << bench_json
                << " (run `make plots`, or `p21 docs --bench-json " << bench_json << " " << path
                << "`)\n";
      status = 1;
    } else {
      std::ofstream{path} << filled;
      std::cout << "p21 docs: updated " << path << "\n";
    }
  }
  return status;
}

} // namespace p21::app
