#pragma once

// What several rules compute alike: windows of cumulative counters, a
// cache's previous view, how far a cache grows (its miss-ratio curve within
// the memory budget), and numbers for the log.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rule.hpp"

namespace p21::rules {

/// Reads between evaluations below this many requests say nothing about a
/// hit rate.
constexpr double min_requests = 100;
constexpr double min_git_requests = 20;

template <class T>
T diff(T now, T before) {
  return now > before ? now - before : T{0};
}

/// `now - before` bucket by bucket (a window of a cumulative histogram).
std::vector<uint64_t> diff(const std::vector<uint64_t>& now, const std::vector<uint64_t>& before);

inline double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

std::string fmt(double x, int precision = 1);

/// The previous snapshot's view of cache `c`; without a previous snapshot
/// (the first evaluation) zero counters, so the window is everything since
/// the start.
node_snapshot::cache_view previous_cache(const rule_context& ctx,
                                         const node_snapshot::cache_view& c);

/// How far a cache grows: in model mode to the size its miss-ratio curve
/// says reaches `target` (within the memory budget below memory_pressure's
/// clear threshold); else by `step`. `why` gets the model's reasoning.
uint64_t grown_cache(const rule_context& ctx, const node_snapshot::cache_view& c,
                     const node_snapshot::cache_view& p, double hits, double total, double target,
                     double step, std::string& why);

} // namespace p21::rules
