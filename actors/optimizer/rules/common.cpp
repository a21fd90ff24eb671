#include "common.hpp"

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace p21::rules {

namespace {

/// Extra entries a cache may take within the memory left below rule 1's
/// clear threshold of `memory_budget` (none without a budget or a size).
std::optional<uint64_t> budget_entries(const node_snapshot& s, double clear_percent,
                                       uint64_t entries, uint64_t bytes) {
  if (s.memory_budget == 0 || entries == 0 || bytes == 0)
    return std::nullopt;
  auto room = clear_percent / 100 * double(s.memory_budget) - double(s.rss_bytes);
  if (room <= 0)
    return uint64_t{0};
  return uint64_t(room / (double(bytes) / double(entries)));
}

} // namespace

std::vector<uint64_t> diff(const std::vector<uint64_t>& now, const std::vector<uint64_t>& before) {
  std::vector<uint64_t> out(now.size());
  for (size_t i = 0; i < now.size(); ++i)
    out[i] = diff(now[i], i < before.size() ? before[i] : uint64_t{0});
  return out;
}

std::string fmt(double x, int precision) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(precision) << x;
  return out.str();
}

node_snapshot::cache_view previous_cache(const rule_context& ctx,
                                         const node_snapshot::cache_view& c) {
  if (ctx.previous)
    for (auto& x : ctx.previous->caches)
      if (x.component == c.component)
        return x;
  node_snapshot::cache_view zero;
  zero.component = c.component;
  zero.max_entries = c.max_entries;
  return zero;
}

uint64_t grown_cache(const rule_context& ctx, const node_snapshot::cache_view& c,
                     const node_snapshot::cache_view& p, double hits, double total, double target,
                     double step, std::string& why) {
  auto by_step = c.max_entries + std::max<uint64_t>(1, uint64_t(double(c.max_entries) * step));
  if (!ctx.model())
    return by_step;
  auto curve =
      mrc_entries(diff(c.ghost_hit_depths, p.ghost_hit_depths), hits, total, c.max_entries, target);
  if (!curve)
    return by_step;
  auto next = std::max(curve->entries, c.max_entries + 1);
  why = "miss-ratio curve: " + fmt(curve->hit_rate) + " % at " + std::to_string(next) + " entries" +
        (curve->reached ? "" : " (as far as the ghost list sees)");
  // The jump is not capped by `step`: the bound that applied is named.
  auto room = budget_entries(ctx.snapshot, ctx.settings(rule_id::memory_pressure).clear_threshold,
                             c.entries, c.bytes);
  if (room && next > c.max_entries + *room) {
    next = std::max(c.max_entries + 1, c.max_entries + *room);
    why += "; held to " + std::to_string(next) + " by the memory budget (room for " +
           std::to_string(*room) + " more below memory_pressure's clear threshold)";
  } else if (!curve->reached) {
    why += "; bound: the ghost list's reach";
  } else if (room) {
    why += "; within the memory budget (room for " + std::to_string(*room) + " more)";
  } else {
    why += "; no memory budget bounds it";
  }
  return next;
}

} // namespace p21::rules
