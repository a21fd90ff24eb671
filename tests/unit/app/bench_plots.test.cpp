// `p21 bench --plots`: the charts hold what the bench measured.

#include <catch2/catch.hpp>

#include "app/bench_plots.hpp"
#include "support/temp_dir.hpp"

using namespace p21::app;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("the ratio chart draws a bar per row and the report's claim where there is one") {
  auto rows = nlohmann::json::parse(R"([
    {"name": "startup", "ratio": 12.5, "claim": 5.33},
    {"name": "cache_lookup", "ratio": 40.0, "claim": null},
    {"name": "profiling_db_query", "ratio": 0.98, "claim": null}])");
  auto svg = ratio_chart(rows);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(count(svg, "<rect x=") == 3);
  CHECK(count(svg, "class=\"claim\"") == 1);
  CHECK(svg.find(">startup<") != std::string::npos);
  CHECK(svg.find("12.50x") != std::string::npos);
}

TEST_CASE("a self_tuning chart draws the metric per interval with the optimizer on and off and the "
          "target band") {
  auto phase = nlohmann::json::parse(R"({"phase": "hit_rate", "metric": "cache_hit_rate",
    "target": 0.75, "target_is": "at least",
    "on": {"series": [0.4, 0.6, 0.8, 0.85]}, "off": {"series": [0.4, 0.41, 0.42, 0.4]}})");
  auto svg = phase_chart(phase);
  CHECK(count(svg, "<polyline class=\"on\"") == 1);
  CHECK(count(svg, "<polyline class=\"off\"") == 1);
  CHECK(count(svg, "<circle") == 8);
  CHECK(count(svg, "class=\"target-band\"") == 1);
}

TEST_CASE("write_plots writes ratios.svg and one chart per phase") {
  p21::test::temp_dir dir{"plots"};
  auto doc = nlohmann::json::parse(R"({"rows": [{"name": "startup", "ratio": 2.0, "claim": null}],
    "self_tuning": [{"phase": "db burst", "metric": "m", "target": 1, "target_is": "at most",
                     "on": {"series": [2, 1]}, "off": {"series": [2, 2]}}]})");
  auto files = write_plots(dir.file("out"), doc);
  REQUIRE(files.size() == 2);
  CHECK(files[0] == dir.file("out") + "/ratios.svg");
  CHECK(files[1] == dir.file("out") + "/self_tuning_db_burst.svg");
}

TEST_CASE("the contention chart draws throughput by threads for both sides of cache_contended") {
  auto rows = nlohmann::json::parse(R"([
    {"name": "cache_direct", "baseline": {"median_s": 5e-8}, "perfect21": {"median_s": 2e-8}},
    {"name": "cache_contended_8", "baseline": {"median_s": 4e-7}, "perfect21": {"median_s": 1e-7}},
    {"name": "cache_contended_1", "baseline": {"median_s": 1e-7}, "perfect21": {"median_s": 5e-8}},
    {"name": "cache_contended", "baseline": {"median_s": 3e-7}, "perfect21": {"median_s": 1e-7}},
    {"name": "cache_contended_2", "baseline": {"median_s": 2e-7}, "perfect21": {"median_s": 1e-7}}])");
  auto svg = contention_chart(rows);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(count(svg, "<polyline") == 2);
  CHECK(count(svg, "<circle") == 8);
  // 1 / 5e-8 s per op = 20 M ops/s, p21's single thread.
  CHECK(svg.find("<title>20.00 M ops/s</title>") != std::string::npos);
  CHECK(contention_chart(nlohmann::json::array()).empty());
}
