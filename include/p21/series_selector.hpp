#pragma once

// A series selector, the one grammar for what the node's metrics are read
// by: a name and exact label matchers, `p21_cache_hit_ratio{cache="x"}`. An
// alert watches one (`[monitor.alerts.NAME] metric`), and a sensor
// (p21/sensor.hpp) is one inside its statistic (`rate(...)`). Plain code:
// the config checks parse with it, the monitor resolves with it.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace p21 {

struct metric_set;

/// A series name with exact label matchers.
struct series_selector {
  std::string name;
  std::map<std::string, std::string> labels;
};

/// Parses `name` or `name{label="value", ...}`; on a syntax error returns
/// nothing and says why in `problem`.
std::optional<series_selector> parse_series_selector(std::string_view text, std::string& problem);

/// Reads one selector from `text` at `pos` (after any spaces) and moves
/// `pos` past it and the spaces after it: a metric name
/// (`[a-zA-Z_:][a-zA-Z0-9_:]*`, as Prometheus has it), then optionally
/// `{label="value", ...}` (a value may escape `"` and `\` with `\`).
/// Throws `std::invalid_argument` saying what is wrong "at offset N".
series_selector read_series_selector(std::string_view text, size_t& pos);

/// The value of the series `sel` selects in `m`, summed when several match
/// (averaged for a `*_ratio` gauge);
/// nothing when none does. A counter answers to `p21_NAME_total` (or its
/// bare name), a gauge to `p21_NAME`, a histogram to `p21_NAME_count`,
/// `p21_NAME_sum` and, with a `quantile` matcher of 0.5, 0.95 or 0.99,
/// `p21_NAME` (the largest of the matching series' quantiles).
std::optional<double> resolve_series(const series_selector& sel, const metric_set& m);

} // namespace p21
