#pragma once

// Durations, as the config and the API spell them: a header of its own, so
// that code which needs a timeout does not pull in every section of the
// config.

#include <optional>
#include <string>
#include <string_view>

#include <caf/timestamp.hpp>

namespace p21 {

/// Durations in the config and the API: `"250ms"`, `"30s"`, `"5m"`, `"1h"`.
using timespan = caf::timespan;

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"2d"` (also `us`, `ns`);
/// nullopt for malformed text and for a value beyond `timespan`'s range.
std::optional<timespan> parse_duration(std::string_view text);

/// Renders a duration in the largest unit that keeps it exact.
std::string format_duration(timespan x);

} // namespace p21
