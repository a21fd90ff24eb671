#pragma once

// `p21 bench --plots DIR`: SVG charts of a bench run, from the same JSON
// document `--json` writes. Self-contained SVG (no scripts, no fonts to
// fetch) so that the README shows them as images.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace p21::app {

/// The ratio of each row (log scale) beside the report's claim, if any.
std::string ratio_chart(const nlohmann::json& rows);

/// One `self_tuning` phase: its metric per interval with the optimizer on
/// and off, and the target band.
std::string phase_chart(const nlohmann::json& phase);

/// Throughput (M ops/s) by client threads of both sides of the rows
/// `cache_contended` (4 threads) and `cache_contended_N`; empty without
/// them.
std::string contention_chart(const nlohmann::json& rows);

/// Writes `ratios.svg` (when `doc` has rows), `cache_contended.svg` (when
/// it has the contention rows) and `self_tuning_PHASE.svg` per
/// phase into `dir` (created); returns the files written. Throws
/// `std::runtime_error` when a file cannot be written.
std::vector<std::string> write_plots(const std::string& dir, const nlohmann::json& doc);

} // namespace p21::app
