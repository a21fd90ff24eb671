#include <catch2/catch.hpp>

#include "app/bench_docs.hpp"
#include "app/bench_format.hpp"

using p21::app::bench_doc_blocks;
using p21::app::fill_generated_blocks;
using p21::app::human;

TEST_CASE("a generated block is replaced by the table the bench JSON gives, and only it") {
  auto doc = nlohmann::json::parse(R"({"rows": [{"name": "db_query", "ratio": 35.1, "claim": 4.8,
    "baseline": {"median_s": 2.4e-4, "p99_s": 3e-4, "spread": 0.1, "runs": 20},
    "perfect21": {"median_s": 7e-6, "p99_s": 5e-5, "spread": 0.01, "runs": 20}}]})");
  auto blocks = bench_doc_blocks(doc);
  std::string text = "before\n<!-- generated: bench.rows -->\nstale | 1.00x\n<!-- end generated "
                     "-->\nafter\n";
  std::string error;
  auto filled = fill_generated_blocks(text, blocks, error);
  CHECK(error.empty());
  CHECK(filled.find("stale") == std::string::npos);
  CHECK(filled.find("| `db_query` | 35.10x | 4.80x | 240.00 us ±10% | 7.00 us ±1% | 50.00 us |") !=
        std::string::npos);
  CHECK(filled.rfind("before\n", 0) == 0);
  CHECK(filled.find("<!-- end generated -->\nafter\n") != std::string::npos);
  // Filling again changes nothing: `p21 docs --check` passes right after `p21 docs`.
  CHECK(fill_generated_blocks(filled, blocks, error) == filled);
  // A figure the run lacks is said to be missing, never left as it was.
  CHECK(blocks.at("bench.self_tuning").find("Not in this run") != std::string::npos);
}

TEST_CASE("a generated block with an unknown name or no end marker is an error, not a guess") {
  auto blocks = bench_doc_blocks(nlohmann::json::object());
  std::string error;
  auto text = std::string{"<!-- generated: bench.nope -->\n<!-- end generated -->\n"};
  CHECK(fill_generated_blocks(text, blocks, error) == text);
  CHECK(error == "unknown generated block 'bench.nope'");
  error.clear();
  text = "<!-- generated: bench.rows -->\nno end\n";
  CHECK(fill_generated_blocks(text, blocks, error) == text);
  CHECK(error.find("has no '<!-- end generated -->'") != std::string::npos);
}

TEST_CASE("a time below a microsecond is written in nanoseconds, so that two fast rows differ") {
  CHECK(human(2.55e-8) == "25.5 ns");
  CHECK(human(4.12e-8) == "41.2 ns");
  CHECK(human(9.996e-7) == "999.6 ns");
  CHECK(human(2.4e-4) == "240.00 us");
  CHECK(human(1.2e-6) == "1.20 us");
  CHECK(human(0.0123) == "12.3 ms");
  CHECK(human(3.2) == "3.2 s");
}
