// `p21 bench --only self_tuning`: does the optimizer help? Four scripted
// phases, each run with the optimizer on and with it off (dry run), side by
// side: the target metric per interval, intervals until it is back within
// target, and reversals (a setting moved back the way it came).
//
// Time is compressed: an "interval" is one slice of workload followed by one
// evaluation of the rules (the optimizer is asked to evaluate instead of
// waiting for `optimization_interval`), and the phase's rule runs with no
// `for` duration and no cooldown.

#include <iomanip>
#include <malloc.h>
#include <random>
#include <thread>

#include <sqlite3.h>

#include "app/bench_rows.hpp"
#include "p21/cache.hpp"
#include "p21/db.hpp"
#include "p21/monitor.hpp"
#include "p21/optimizer.hpp"
#include "p21/subprocess.hpp"

namespace p21::app {

namespace {

struct phase_run {
  std::vector<double> metric;
  std::vector<double> setting;
};

struct phase {
  std::string name;
  std::string metric;
  double target;
  /// True when the metric must stay at or below `target`.
  bool at_most;
  /// Adjusts the node's config for this phase (called before each run).
  std::function<void(config&)> configure;
  /// Runs interval `i`'s workload; returns the metric and the setting the
  /// optimizer moves (for reversals).
  std::function<std::pair<double, double>(runtime&, size_t i)> interval;
  /// When set, the metric is this system value of the sample the
  /// optimizer's evaluation took (CPU over the interval).
  std::string summary_metric;
};

bool within(const phase& p, double v) {
  return p.at_most ? v <= p.target : v >= p.target;
}

/// Direction changes of a setting over the run.
size_t reversals(const std::vector<double>& xs) {
  size_t n = 0;
  int last = 0;
  for (size_t i = 1; i < xs.size(); ++i) {
    int dir = xs[i] > xs[i - 1] ? 1 : xs[i] < xs[i - 1] ? -1 : 0;
    if (dir != 0) {
      if (last != 0 && dir != last)
        ++n;
      last = dir;
    }
  }
  return n;
}

/// First interval (1-based) from which the metric stays within target.
std::optional<size_t> intervals_to_target(const phase& p, const std::vector<double>& xs) {
  std::optional<size_t> since;
  for (size_t i = 0; i < xs.size(); ++i)
    if (!within(p, xs[i]))
      since.reset();
    else if (!since)
      since = i + 1;
  return since;
}

phase_run run_phase(const config& base, const phase& p, bool optimizer_on, size_t intervals) {
  auto cfg = quiet(base);
  cfg.performance.auto_optimization = optimizer_on;
  cfg.performance.optimization_interval = std::chrono::hours{1}; // evaluated by the script
  cfg.performance.monitor_interval = std::chrono::hours{1};      // sampled by the optimizer
  p.configure(cfg);
  phase_run out;
  runtime rt{cfg};
  auto opt = rt.actor_of<optimizer_actor>("optimizer");
  if (!opt)
    throw std::runtime_error(render(opt.error()));
  for (size_t i = 0; i < intervals; ++i) {
    auto [metric, setting] = p.interval(rt, i);
    out.metric.push_back(metric);
    out.setting.push_back(setting);
    auto acted = rt.request<std::vector<optimizer_action>>(*opt, std::chrono::seconds{60},
                                                           evaluate_atom::value);
    if (!acted)
      throw std::runtime_error("self_tuning: " + render(acted.error()));
    if (!p.summary_metric.empty()) {
      auto s = monitor::open(rt).value().summary();
      out.metric.back() = s ? s->system[p.summary_metric] : 0;
    }
  }
  return out;
}

void fast_rule(config& cfg, const std::string& name, double step) {
  auto& r = rule(cfg, name);
  r.for_duration = timespan{0};
  r.cooldown = timespan{0};
  r.step = step;
}

// -- (a) a hit-rate collapse: the working set grows past the cache ------------------------

phase hit_rate_phase() {
  phase p;
  p.name = "hit_rate_collapse";
  p.metric = "cache hit rate, %";
  p.target = 75;
  p.at_most = false;
  p.configure = [](config& cfg) {
    cfg.cache.async_maxsize = 200;
    fast_rule(cfg, "cache_hit_rate", 0.5);
  };
  p.interval = [](runtime& rt, size_t i) {
    auto c = cache::open(rt, "async").value();
    std::mt19937 rng{static_cast<unsigned>(i + 1)};
    std::uniform_int_distribution<int> key{0, 599}; // 600 keys for 200 entries
    std::string value(100, 'v');
    size_t hits = 0, n = 4000;
    for (size_t k = 0; k < n; ++k) {
      auto name = "k" + std::to_string(key(rng));
      auto got = c.get(name);
      if (got && *got)
        ++hits;
      else
        static_cast<void>(c.put(name, value));
    }
    return std::make_pair(100.0 * double(hits) / double(n), double(c.stats()->max_entries));
  };
  return p;
}

// -- (b) a burst of clients saturates the db pool -----------------------------------------

struct scratch_db {
  std::string dir;
  std::string path;
  scratch_db() {
    char tmpl[] = "/tmp/p21-tune-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/tune.db";
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, x INTEGER);"
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
                 "INSERT INTO t SELECT i, i * 7 FROM n;",
                 nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  ~scratch_db() { static_cast<void>(std::system(("rm -rf " + dir).c_str())); }
};

phase db_burst_phase(const std::string& path) {
  phase p;
  p.name = "db_pool_burst";
  p.metric = "connections opened beyond pool_size per interval";
  p.target = 0;
  p.at_most = true;
  p.configure = [path](config& cfg) {
    cfg.database.path = path;
    cfg.database.pool_size = 2;
    cfg.database.max_overflow = 8;
    cfg.database.idle_timeout = std::chrono::milliseconds{40};
    cfg.database.query_cache = false; // every query needs a connection
    fast_rule(cfg, "connection_pool", 0.25);
  };
  p.interval = [](runtime& rt, size_t i) {
    auto d = db::open(rt).value();
    auto before = d.stats().value().overflow_opened;
    std::vector<std::thread> clients;
    for (int t = 0; t < 8; ++t)
      clients.emplace_back([&d, t, i] {
        for (int q = 0; q < 20; ++q)
          static_cast<void>(d.query("SELECT count(*) FROM t WHERE x % ? = 0",
                                    {db_value::of(int64_t(3 + (t + q + int(i)) % 50))}));
        release_thread();
      });
    for (auto& c : clients)
      c.join();
    auto opened = d.stats().value().overflow_opened - before;
    // A quiet spell longer than idle_timeout: overflow connections close.
    std::this_thread::sleep_for(std::chrono::milliseconds{150});
    auto size = double(d.stats().value().configured_size);
    return std::make_pair(double(opened), size);
  };
  return p;
}

// -- (c) memory pressure against a memory budget ------------------------------------------

phase memory_phase() {
  // The budget is 96 MiB above the RSS each run starts from (after giving
  // freed heap back, so that earlier benchmarks' memory does not count).
  auto budget = std::make_shared<uint64_t>(0);
  phase p;
  p.name = "memory_pressure";
  p.metric = "RSS, % of memory_budget";
  p.target = 85;
  p.at_most = true;
  p.configure = [budget](config& cfg) {
    ::malloc_trim(0);
    *budget = status_bytes("VmRSS:") + (96ull << 20);
    cfg.performance.memory_budget = *budget;
    cfg.cache.async_maxsize = 100000;
    cfg.cache.max_bytes = 4ull << 30;
    fast_rule(cfg, "memory_pressure", 0.25);
  };
  p.interval = [budget](runtime& rt, size_t i) {
    auto c = cache::open(rt, "async").value();
    std::string value(512 * 1024, char('a' + i % 26));
    for (int k = 0; k < 24; ++k) // 12 MiB more per interval
      static_cast<void>(c.put("blob-" + std::to_string(i) + "-" + std::to_string(k), value));
    auto rss = double(status_bytes("VmRSS:"));
    // Rule 1 only ever shrinks: there is no setting it could move back.
    return std::make_pair(100.0 * rss / double(*budget), 0.0);
  };
  return p;
}

// -- (d) a CPU-heavy phase with many subprocesses -----------------------------------------

phase cpu_phase() {
  phase p;
  p.name = "cpu_heavy";
  p.metric = "machine CPU, %";
  p.target = 70;
  p.at_most = true;
  p.configure = [](config& cfg) {
    cfg.subprocess.max_processes = 8;
    fast_rule(cfg, "cpu_usage", 0.5);
    rule(cfg, "parallel_efficiency").enabled = false;
  };
  p.interval = [](runtime& rt, size_t) {
    auto sp = subprocess::open(rt).value();
    auto pool = sp.actor().value();
    {
      caf::scoped_actor self{rt.system()};
      command_request burn;
      burn.argv = {"/bin/sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done"};
      using handle = decltype(self->request(pool, caf::infinite, run_atom::value, burn));
      std::vector<handle> pending;
      for (int k = 0; k < 16; ++k)
        pending.push_back(self->request(pool, std::chrono::seconds{60}, run_atom::value, burn));
      for (auto& h : pending)
        h.receive([](command_result&) {}, [](caf::error&) {});
    }
    release_thread();
    return std::make_pair(0.0, double(sp.stats()->max_processes));
  };
  p.summary_metric = "cpu_percent"; // sampled by the evaluation after the work
  return p;
}

} // namespace

nlohmann::json self_tuning(const config& base, bool quick) {
  size_t intervals = quick ? 6 : 10;
  scratch_db data;
  std::vector<phase> phases = {hit_rate_phase(), db_burst_phase(data.path), memory_phase(),
                               cpu_phase()};
  nlohmann::json out = nlohmann::json::array();
  std::ostringstream table;
  table << std::left << std::setw(20) << "phase" << std::right << std::setw(10) << "target"
        << std::setw(12) << "on: final" << std::setw(12) << "off: final" << std::setw(12)
        << "to target" << std::setw(11) << "reversals"
        << "\n";
  for (auto& p : phases) {
    auto on = run_phase(base, p, true, intervals);
    auto off = run_phase(base, p, false, intervals);
    auto reached = intervals_to_target(p, on.metric);
    auto rev = reversals(on.setting);
    nlohmann::json j{{"phase", p.name},
                     {"metric", p.metric},
                     {"target", p.target},
                     {"target_is", p.at_most ? "at most" : "at least"},
                     {"on",
                      {{"final", on.metric.back()},
                       {"intervals_to_target", reached ? nlohmann::json(*reached) : nullptr},
                       {"reversals", rev},
                       {"series", on.metric},
                       {"setting", on.setting}}},
                     {"off", {{"final", off.metric.back()}, {"series", off.metric}}}};
    out.push_back(j);
    auto fmt = [](double x) {
      std::ostringstream o;
      o << std::fixed << std::setprecision(1) << x;
      return o.str();
    };
    table << std::left << std::setw(20) << p.name << std::right << std::setw(10)
          << (std::string{p.at_most ? "<= " : ">= "} + fmt(p.target)) << std::setw(12)
          << fmt(on.metric.back()) << std::setw(12) << fmt(off.metric.back()) << std::setw(12)
          << (reached ? std::to_string(*reached) : std::string{"never"}) << std::setw(11) << rev
          << "\n";
    table << "  on : ";
    for (auto v : on.metric)
      table << fmt(v) << " ";
    table << "\n  off: ";
    for (auto v : off.metric)
      table << fmt(v) << " ";
    table << "\n";
  }
  std::cout << "self_tuning (" << intervals << " intervals per run):\n" << table.str();
  return out;
}

} // namespace p21::app
