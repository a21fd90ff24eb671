// Rule 3, connection_pool: grow while demand exceeds the connections kept
// open (reads waiting, pool timeouts, overflow connections opened since the
// last evaluation); shrink back once the peak use leaves connections idle.
// The model sizes the pool by Little's law: connections needed = arrival
// rate x time a connection is held, plus the reads that waited (their time
// waiting over the window), and at least the peak in use; a forecast of that
// demand sizes for where it is heading.

#include <algorithm>
#include <cmath>

#include "common.hpp"
#include "p21/protocol/db_pool.hpp"
#include "p21/db_config.hpp"

namespace p21 {

namespace {

class connection_pool final : public engine_rule {
public:
  connection_pool()
    : engine_rule(rule_id::connection_pool) {}

  std::vector<sensor> sensors() const override {
    using namespace db_pool_metrics;
    return {sensor::quantile_of(acquire_seconds.name, 0.95), sensor::value_of(waiting.name),
            sensor::rate_of(timeouts.name), sensor::value_of(peak_in_use.name),
            sensor::mean_of(query_seconds.name)};
  }

  std::optional<std::string> gate_target(const decision&) const override {
    return std::string{"db_pool"};
  }

  std::vector<decision> evaluate(rule_context& ctx) override {
    using rules::diff;
    using rules::fmt;
    std::vector<decision> out;
    auto& s = ctx.snapshot;
    if (!s.db)
      return out;
    auto now = ctx.now();
    auto& rc = ctx.settings();
    auto& pool_size = ctx.state.pool_size;
    auto& pool_changed = ctx.state.pool_changed;
    auto* prev = ctx.previous;
    auto waiting = double(s.db->waiting);
    node_snapshot::db_view zero;
    auto& pdb = prev && prev->db ? *prev->db : zero;
    waiting += double(diff(s.db->timeouts, pdb.timeouts)) +
               double(diff(s.db->overflow_opened, pdb.overflow_opened));
    auto& g = ctx.gate("db_pool");
    auto& db = ctx.cfg().get<database_config>();
    auto configured = db.pool_size;
    auto ceiling = configured + db.max_overflow;
    auto by = std::max<uint64_t>(1, uint64_t(std::ceil(rc.step * double(db.max_overflow))));
    if (ctx.model()) {
      double demand = double(s.db->peak_in_use);
      std::string why = "peak " + std::to_string(s.db->peak_in_use) + " in use";
      if (prev && prev->db) {
        auto wall = rules::seconds(s.now - prev->now);
        auto held = s.db->query_time.sum - pdb.query_time.sum;
        auto waited = s.db->acquire_time.sum - pdb.acquire_time.sum;
        auto reads = double(diff(s.db->query_time.count, pdb.query_time.count));
        if (wall > 0 && reads > 0 && held >= 0) {
          auto little = (held + std::max(0.0, waited)) / wall;
          why = "Little's law: " + fmt(reads / wall) + " reads/s x " + fmt(1000 * held / reads, 2) +
                " ms held + " + fmt(std::max(0.0, waited) / wall, 2) +
                " waiting = " + fmt(little, 2) + "; " + why;
          demand = std::max(demand, little);
        }
      }
      auto target = demand;
      if (auto f = ctx.foresee("db_pool", demand, forecast_use::capacity); f && *f > demand) {
        target = *f;
        why += "; forecast " + fmt(*f, 2) + " within " + ctx.horizon();
      }
      auto wanted = uint64_t(std::ceil(target - 1e-6));
      auto needed = std::clamp<uint64_t>(wanted, configured, ceiling);
      if (wanted > ceiling)
        why += "; held to " + std::to_string(ceiling) + " by pool_size + max_overflow";
      // Short of connections now or soon: the gate sees the shortfall (or
      // the waits, whichever is larger).
      auto shortfall = std::max(waiting, double(needed) - double(pool_size));
      if (g.observe(shortfall, now)) {
        if (needed > pool_size) {
          pool_size = needed;
          out.push_back(
              ctx.decide(decision::set_pool_size, "db_pool", double(pool_size), waiting, 0, why));
          pool_changed = now;
          g.acted(now);
        }
      } else if (!g.firing() && needed + by <= pool_size && s.db->waiting == 0 &&
                 (!pool_changed || now - *pool_changed >= rc.cooldown)) {
        // Calm for a cooldown and a step's worth unused: straight to what
        // the demand needs (a step of slack keeps it from see-sawing).
        pool_size = needed;
        out.push_back(
            ctx.decide(decision::set_pool_size, "db_pool", double(pool_size), waiting, 0, why));
        pool_changed = now;
      }
    } else if (g.observe(waiting, now)) {
      if (pool_size < ceiling) {
        pool_size = std::min<uint64_t>(ceiling, pool_size + by);
        out.push_back(ctx.decide(decision::set_pool_size, "db_pool", double(pool_size), waiting));
        pool_changed = now;
        g.acted(now);
      }
    } else if (!g.firing() && pool_size > configured && s.db->waiting == 0 &&
               s.db->peak_in_use + by <= pool_size &&
               (!pool_changed || now - *pool_changed >= rc.cooldown)) {
      // Calm for a cooldown (the stabilization window) and a step's worth of
      // connections unused even at the peak: one step back toward the
      // configured size.
      pool_size -= std::min<uint64_t>(by, pool_size - configured);
      out.push_back(ctx.decide(decision::set_pool_size, "db_pool", double(pool_size), waiting));
      pool_changed = now;
    }
    return out;
  }
};

} // namespace

std::unique_ptr<engine_rule> make_connection_pool_rule() {
  return std::make_unique<connection_pool>();
}

} // namespace p21
