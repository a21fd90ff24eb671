// Database rows of p21 bench: a connection per query (the report's "before")
// vs the pool, the pool vs a query-cache hit, and concurrency figures.

#include <atomic>
#include <iomanip>
#include <iostream>
#include <thread>

#include <sqlite3.h>
#include <unistd.h>

#include "app/bench_rows.hpp"
#include "app/scratch_dir.hpp"
#include "p21/db.hpp"
#include "p21/db_config.hpp"
#include "p21/subsystems.hpp"

namespace p21::app {

namespace {

constexpr int64_t table_rows = 10'000;

/// A scratch database file with `table_rows` rows, removed afterwards.
struct bench_db {
  scratch_dir dir{"p21-bench"};
  std::string path = dir.file("bench.db");

  bench_db() {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL;"
                 "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, price REAL);"
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) "
                 "INSERT INTO items SELECT i, 'item-' || i, i * 0.5 FROM n;",
                 nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }

  config node(const config& base, bool query_cache) const {
    auto cfg = quiet(base);
    cfg.get<database_config>().path = path;
    cfg.get<database_config>().query_cache = query_cache;
    return cfg;
  }
};

const char* point_query = "SELECT name, price FROM items WHERE id = ?";

db open_pool(runtime& rt) {
  auto d = db::open(rt);
  if (!d)
    throw std::runtime_error(render(d.error()));
  return *d;
}

} // namespace

row_result measure_db_query(const config& base, size_t runs) {
  bench_db data;
  row_result r{"db_query",
               {"open a connection per query (prepare, step, close)", {}},
               {"pooled connection, cached statement (query cache off)", {}},
               std::nullopt};
  auto n = runs * 50;
  time_each(r.baseline, n, [&](size_t i) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(data.path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, point_query, -1, &stmt, nullptr);
    sqlite3_bind_int64(stmt, 1, static_cast<int64_t>(i) % table_rows + 1);
    while (sqlite3_step(stmt) == SQLITE_ROW)
      benchmark_sink(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  });
  runtime rt{data.node(base, false)};
  auto d = open_pool(rt);
  time_each(r.perfect21, n, [&](size_t i) {
    auto res = d.query(point_query, {db_value::of(static_cast<int64_t>(i) % table_rows + 1)});
    if (!res || res->rows.size() != 1)
      throw std::runtime_error("db_query: unexpected result");
  });
  return r;
}

row_result measure_profiling_db_query(const config& base, size_t runs) {
  bench_db data;
  row_result r{"profiling_db_query",
               {"pooled query, actor profiling off", {}},
               {"pooled query, actor profiling on", {}},
               std::nullopt};
  auto off_cfg = data.node(base, false);
  off_cfg.runtime.profiling = false;
  auto on_cfg = data.node(base, false);
  on_cfg.runtime.profiling = true;
  runtime off_rt{off_cfg};
  runtime on_rt{on_cfg};
  auto off = open_pool(off_rt);
  auto on = open_pool(on_rt);
  auto query = [&](db& d, size_t i) {
    auto res = d.query(point_query, {db_value::of(static_cast<int64_t>(i) % table_rows + 1)});
    if (!res || res->rows.size() != 1)
      throw std::runtime_error("profiling_db_query: unexpected result");
  };
  // Alternating blocks of 10, so that neither side gets the quieter moments.
  for (size_t k = 0; k < runs * 5; ++k) {
    time_each(r.baseline, 10, [&](size_t i) { query(off, i + 10 * k); });
    time_each(r.perfect21, 10, [&](size_t i) { query(on, i + 10 * k); });
  }
  return r;
}

row_result measure_db_query_cache(const config& base, size_t runs) {
  bench_db data;
  row_result r{"db_query_cache",
               {"pooled query (query cache off)", {}},
               {"query-cache hit", {}},
               std::nullopt};
  auto n = runs * 50;
  {
    runtime rt{data.node(base, false)};
    auto d = open_pool(rt);
    time_each(r.baseline, n, [&](size_t i) {
      static_cast<void>(d.query(point_query, {db_value::of(static_cast<int64_t>(i % 16) + 1)}));
    });
  }
  runtime rt{data.node(base, true)};
  auto d = open_pool(rt);
  // The pool stores a result after its reply has left: warm each key until
  // a read of it is answered from the cache, for up to 10 s in all (a count
  // of tries was not enough under AddressSanitizer on two busy cores: the
  // store came after 1 000 reads).
  auto warm_until = clock::now() + std::chrono::seconds{10};
  for (int64_t k = 1; k <= 16; ++k)
    while (clock::now() < warm_until)
      if (auto res = d.query(point_query, {db_value::of(k)}); res && res->cached)
        break;
      else
        std::this_thread::yield(); // bounded by warm_until; asks again
  time_each(r.perfect21, n, [&](size_t i) {
    auto res = d.query(point_query, {db_value::of(static_cast<int64_t>(i % 16) + 1)});
    if (!res || !res->cached)
      throw std::runtime_error("db_query_cache: expected a cache hit");
  });
  return r;
}

nlohmann::json db_details(const config& base, bool quick) {
  nlohmann::json out;
  bench_db data;
  // (c) readers in parallel with one writer, WAL: reads/s and errors.
  {
    nlohmann::json scaling = nlohmann::json::array();
    for (int readers : {2, 8}) {
      auto cfg = data.node(base, false);
      cfg.get<database_config>().pool_size = static_cast<size_t>(readers);
      runtime rt{cfg};
      auto d = open_pool(rt);
      std::atomic<bool> stop{false};
      std::atomic<uint64_t> reads{0};
      std::atomic<uint64_t> writes{0};
      std::atomic<uint64_t> errors{0};
      std::atomic<uint64_t> busy{0};
      auto count_error = [&](const caf::error& e) {
        ++errors;
        if (render(e).find("locked") != std::string::npos ||
            render(e).find("busy") != std::string::npos)
          ++busy;
      };
      std::vector<std::thread> threads;
      for (int t = 0; t < readers; ++t)
        threads.emplace_back([&, t] {
          for (int64_t i = t; !stop; ++i) {
            auto res = d.query(point_query, {db_value::of(i % table_rows + 1)});
            res ? static_cast<void>(++reads) : count_error(res.error());
          }
          release_thread();
        });
      threads.emplace_back([&] {
        for (int64_t i = 0; !stop; ++i) {
          auto res = d.execute("UPDATE items SET price = price + 1 WHERE id = ?",
                               {db_value::of(i % table_rows + 1)});
          res ? static_cast<void>(++writes) : count_error(res.error());
        }
        release_thread();
      });
      auto t0 = clock::now();
      std::this_thread::sleep_for(std::chrono::milliseconds{quick ? 500 : 2000});
      stop = true;
      for (auto& th : threads)
        th.join();
      auto secs = seconds_since(t0);
      scaling.push_back({{"reader_threads", readers},
                         {"reads_per_s", static_cast<double>(reads) / secs},
                         {"writes_per_s", static_cast<double>(writes) / secs},
                         {"errors", errors.load()},
                         {"busy_errors", busy.load()}});
    }
    out["readers_with_one_writer"] = scaling;
  }
  // (d) 30 clients on pool_size 10: latency including the wait for a
  // connection, and how many hit a short pool_timeout.
  {
    nlohmann::json acquire = nlohmann::json::array();
    for (auto timeout : {std::chrono::milliseconds{5000}, std::chrono::milliseconds{1}}) {
      auto cfg = data.node(base, false);
      cfg.get<database_config>().pool_size = 10;
      cfg.get<database_config>().max_overflow = 0;
      cfg.get<database_config>().pool_timeout = timeout;
      runtime rt{cfg};
      auto d = open_pool(rt);
      std::mutex mtx;
      series lat;
      std::atomic<uint64_t> timeouts{0};
      std::vector<std::thread> clients;
      size_t per_client = quick ? 50 : 200;
      for (int c = 0; c < 30; ++c)
        clients.emplace_back([&, c] {
          std::vector<double> mine;
          for (size_t i = 0; i < per_client; ++i) {
            auto t0 = clock::now();
            auto res = d.query(point_query,
                               {db_value::of(static_cast<int64_t>(c * 97 + i) % table_rows + 1)});
            if (!res && is(res.error(), errc::pool_timeout))
              ++timeouts;
            else
              mine.push_back(seconds_since(t0));
          }
          std::lock_guard<std::mutex> guard{mtx};
          lat.samples.insert(lat.samples.end(), mine.begin(), mine.end());
          release_thread();
        });
      for (auto& th : clients)
        th.join();
      auto st = d.stats();
      acquire.push_back({{"acquire_p50_s", st ? st->acquire_time.p50 : 0.0},
                         {"acquire_p99_s", st ? st->acquire_time.p99 : 0.0},
                         {"pool_size", 10},
                         {"clients", 30},
                         {"pool_timeout_s", std::chrono::duration<double>(timeout).count()},
                         {"p50_s", lat.median()},
                         {"p99_s", lat.quantile(0.99)},
                         {"requests", 30 * per_client},
                         {"pool_timeouts", timeouts.load()}});
    }
    out["thirty_clients_pool_of_ten"] = acquire;
  }
  std::cout << std::fixed << std::setprecision(0);
  for (auto& s : out["readers_with_one_writer"])
    std::cout << "db: " << s["reader_threads"].get<int>()
              << " reader threads + 1 writer: " << s["reads_per_s"].get<double>() << " reads/s, "
              << s["writes_per_s"].get<double>() << " writes/s, " << s["errors"].get<uint64_t>()
              << " errors (" << s["busy_errors"].get<uint64_t>() << " SQLITE_BUSY)\n";
  std::cout << std::setprecision(1);
  for (auto& a : out["thirty_clients_pool_of_ten"])
    std::cout << "db: 30 clients, pool_size 10, pool_timeout "
              << a["pool_timeout_s"].get<double>() * 1000 << " ms: acquire p50 "
              << a["acquire_p50_s"].get<double>() * 1e6 << " us, p99 "
              << a["acquire_p99_s"].get<double>() * 1e6 << " us; request p50 "
              << a["p50_s"].get<double>() * 1e6 << " us, p99 " << a["p99_s"].get<double>() * 1e6
              << " us, " << a["pool_timeouts"].get<uint64_t>() << " of "
              << a["requests"].get<uint64_t>() << " hit pool_timeout\n";
  return out;
}

} // namespace p21::app
