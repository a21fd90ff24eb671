#pragma once

// `p21 docs`: the figure tables of README.md and docs/*.md, generated from a
// bench run's JSON (`make plots` writes docs/bench/bench.json), so that no
// figure in the docs drifts from the run it comes from. A document marks
// each generated block:
//
//   <!-- generated: bench.rows -->
//   ... replaced on every `p21 docs` ...
//   <!-- end generated -->
//
// and `p21 docs --check` fails when a block differs from what the JSON gives.

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace p21::app {

/// Every block a bench document yields, by name (`bench.rows`,
/// `bench.self_tuning`, ...); a block whose figures the run lacks says so.
std::map<std::string, std::string> bench_doc_blocks(const nlohmann::json& doc);

/// `text` with each marked block replaced by its content from `blocks`.
/// Sets `error` (and returns `text` unchanged) on an unknown block name or
/// a block without its end marker.
std::string fill_generated_blocks(const std::string& text,
                                  const std::map<std::string, std::string>& blocks,
                                  std::string& error);

/// `p21 docs --bench-json FILE [--check] DOC...`: rewrites the generated
/// blocks of each DOC, or with `check` only reports the ones that differ.
/// Returns the exit code (1 when a check found a difference). With
/// `plots_dir` (and no `check`) it also redraws the JSON's SVG charts there.
int run_docs(const std::string& bench_json, const std::vector<std::string>& docs, bool check,
             const std::string& plots_dir = {});

} // namespace p21::app
