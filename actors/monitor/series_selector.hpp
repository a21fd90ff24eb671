#pragma once

// What an alert watches when it names an exported series: the name as
// `/metrics` spells it and label matchers, `p21_cache_hit_ratio{cache="x"}`.
// Plain code: the config reader parses with it, the monitor resolves with it.

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

/// The value of the series `sel` selects in `m`, summed when several match
/// (averaged for a `*_ratio` gauge);
/// nothing when none does. A counter answers to `p21_NAME_total` (or its
/// bare name), a gauge to `p21_NAME`, a histogram to `p21_NAME_count`,
/// `p21_NAME_sum` and, with a `quantile` matcher of 0.5, 0.95 or 0.99,
/// `p21_NAME` (the largest of the matching series' quantiles).
std::optional<double> resolve_series(const series_selector& sel, const metric_set& m);

} // namespace p21
