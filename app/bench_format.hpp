#pragma once

// How the bench writes a figure, on the console and in the generated docs
// alike, so that a table in docs/ reads as the run printed it.

#include <cstdint>
#include <iomanip>
#include <sstream>
#include <string>

namespace p21::app {

/// 2.55e-8 -> "25.5 ns", 2.5e-5 -> "25.00 us", 0.0123 -> "12.3 ms",
/// 3.2 -> "3.2 s". Below a microsecond in nanoseconds: a cache hit of
/// 25.5 ns printed as "0.03 us" said nothing of the difference to 34 ns.
inline std::string human(double s) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(s < 1e-6 || s >= 1e-3 ? 1 : 2);
  if (s < 1e-6)
    out << s * 1e9 << " ns";
  else if (s < 1e-3)
    out << s * 1e6 << " us";
  else if (s < 1)
    out << s * 1e3 << " ms";
  else
    out << s << " s";
  return out.str();
}

/// 19152896 -> "18.3 MiB".
inline std::string mib(uint64_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << double(bytes) / (1 << 20) << " MiB";
  return out.str();
}

/// 1.994 -> "1.99x"; small ratios keep four decimals.
inline std::string times(double ratio) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(ratio < 0.1 ? 4 : 2) << ratio << "x";
  return out.str();
}

} // namespace p21::app
