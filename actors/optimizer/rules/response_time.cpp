// Rule 9, response_time: the slowest subsystem's p95 over the window; the
// action goes where its time goes. Waiting for a connection: pool size;
// waiting for a process slot: the process limit; loading on misses: the
// cache's size. Time spent in the work itself has no knob here: nothing is
// done.

#include <algorithm>
#include <cmath>

#include "common.hpp"
#include "p21/histogram.hpp"
#include "p21/protocol/cache.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/protocol/subprocess.hpp"
#include "p21/db_config.hpp"

namespace p21 {

namespace {

struct candidate {
  std::string subsystem;
  double p95_ms = 0;
  /// Share of the time spent waiting (or loading, for a cache).
  double wait_share = 0;
  std::string detail;
  /// Which knob the time points to.
  enum kind { pool, processes, cache } where;
};

class response_time final : public engine_rule {
public:
  response_time()
    : engine_rule(rule_id::response_time) {}

  std::vector<sensor> sensors() const override {
    return {sensor::quantile_of(db_pool_metrics::acquire_seconds.name, 0.95),
            sensor::quantile_of(db_pool_metrics::query_seconds.name, 0.95),
            sensor::quantile_of(subprocess_metrics::queue_seconds.name, 0.95),
            sensor::quantile_of(subprocess_metrics::duration_seconds.name, 0.95),
            sensor::rate_of(cache_metrics::loads.name)};
  }

  std::optional<std::string> gate_target(const decision&) const override { return std::string{}; }

  std::vector<decision> evaluate(rule_context& ctx) override {
    std::vector<decision> out;
    auto worst = slowest(ctx);
    auto& g = ctx.gate();
    if (!worst || !g.observe(worst->p95_ms, ctx.now()))
      return out;
    auto& st = ctx.state;
    auto step = ctx.settings().step;
    auto why = worst->subsystem + ": " + worst->detail;
    bool acted = false;
    if (worst->wait_share >= 0.5 && worst->where == candidate::pool) {
      auto& db = ctx.cfg().get<database_config>();
      auto ceiling = db.pool_size + db.max_overflow;
      auto next = std::min<uint64_t>(
          ceiling,
          st.pool_size + std::max<uint64_t>(1, uint64_t(std::ceil(double(st.pool_size) * step))));
      if (next > st.pool_size) {
        st.pool_size = next;
        st.pool_changed = ctx.now();
        out.push_back(
            ctx.decide(decision::set_pool_size, "db_pool", double(next), worst->p95_ms, 0, why));
        acted = true;
      }
    } else if (worst->wait_share >= 0.5 && worst->where == candidate::processes &&
               !st.procs_moved &&
               ctx.snapshot.cpu_percent < ctx.settings(rule_id::cpu_usage).clear_threshold) {
      auto next = std::min<uint64_t>(
          4096, st.max_processes +
                    std::max<uint64_t>(1, uint64_t(std::ceil(double(st.max_processes) * step))));
      st.max_processes = next;
      st.restore_target = next;
      out.push_back(ctx.decide(decision::set_max_processes, "subprocess", double(next),
                               worst->p95_ms, 0, why));
      acted = true;
    } else if (worst->where == candidate::cache && !st.memory_tight) {
      for (auto& c : ctx.snapshot.caches)
        if (c.component == worst->subsystem) {
          auto p = rules::previous_cache(ctx, c);
          auto hits = double(rules::diff(c.hits, p.hits));
          auto total = hits + double(rules::diff(c.misses, p.misses));
          std::string model_why;
          auto grown = rules::grown_cache(ctx, c, p, hits, total,
                                          ctx.settings(rule_id::cache_hit_rate).clear_threshold,
                                          step, model_why);
          if (!model_why.empty())
            why += "; " + model_why;
          out.push_back(ctx.decide(decision::resize_cache, c.component, double(grown),
                                   worst->p95_ms, c.max_bytes, why));
          acted = true;
        }
    }
    if (acted)
      g.acted(ctx.now());
    return out;
  }

private:
  /// A pool's candidate from the window's p95 wait for a slot and p95 time
  /// holding it (seconds); none when the window saw neither.
  static std::optional<candidate> pool_candidate(std::string subsystem, std::optional<double> wait,
                                                 std::optional<double> work, const char* waiting,
                                                 const char* working, candidate::kind where) {
    if (!wait && !work)
      return std::nullopt;
    auto w = wait.value_or(0), q = work.value_or(0);
    return candidate{std::move(subsystem), 1000 * (w + q), w + q > 0 ? w / (w + q) : 0,
                     "p95 " + rules::fmt(1000 * w) + " ms " + waiting + ", " +
                         rules::fmt(1000 * q) + " ms " + working,
                     where};
  }

  /// The subsystem with the highest p95 over the window, and where its
  /// time goes.
  static std::optional<candidate> slowest(const rule_context& ctx) {
    using rules::diff;
    using rules::fmt;
    auto& s = ctx.snapshot;
    auto* prev = ctx.previous;
    std::optional<candidate> worst;
    auto consider = [&](candidate c) {
      if (!worst || c.p95_ms > worst->p95_ms)
        worst = std::move(c);
    };
    if (s.db) {
      node_snapshot::db_view zero;
      auto& pdb = prev && prev->db ? *prev->db : zero;
      if (auto c = pool_candidate("db_pool",
                                  window_quantile(s.db->acquire_time, pdb.acquire_time, 0.95),
                                  window_quantile(s.db->query_time, pdb.query_time, 0.95),
                                  "waiting for a connection", "holding it", candidate::pool))
        consider(std::move(*c));
    }
    if (s.proc) {
      node_snapshot::proc_view zero;
      auto& pp = prev && prev->proc ? *prev->proc : zero;
      if (auto c = pool_candidate("subprocess",
                                  window_quantile(s.proc->queue_time, pp.queue_time, 0.95),
                                  window_quantile(s.proc->duration, pp.duration, 0.95),
                                  "waiting for a process slot", "running", candidate::processes))
        consider(std::move(*c));
    }
    for (auto& c : s.caches) {
      // A cache's response is a hit (fast) or a load: with more than 5 % of
      // lookups missing, its p95 is a load, whose mean the cache counts.
      auto p = rules::previous_cache(ctx, c);
      auto loads = double(diff(c.load_successes, p.load_successes));
      auto misses = double(diff(c.misses, p.misses));
      auto total = misses + double(diff(c.hits, p.hits));
      if (loads > 0 && total > 0 && misses / total > 0.05) {
        auto mean = rules::seconds(diff(c.load_time, p.load_time)) / loads;
        consider({c.component, 1000 * mean, 1.0,
                  fmt(100 * misses / total) + " % misses, each loading " + fmt(1000 * mean) + " ms",
                  candidate::cache});
      }
    }
    return worst;
  }
};

} // namespace

std::unique_ptr<engine_rule> make_response_time_rule() {
  return std::make_unique<response_time>();
}

} // namespace p21
