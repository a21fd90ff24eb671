// The fault soak of `p21 bench --only soak`: a fixed number of operations
// through every subsystem (cache, db pool, subprocess pool, HTTP, a cluster
// peer's cache) from several threads, while a killer thread ends components
// at random, crashes the db writer, and SIGKILLs and restarts the cluster
// peer (a `p21 run` of this binary). It then checks what a user relies on:
// every call came back with a value or an error within its timeout (none
// lost), every acknowledged database write is there (in the file, and read
// back through the pool once it recovered), and the process's RSS,
// descriptors and threads are back within 5 % of before. It prints those
// figures and fails (non-zero exit) when one does not hold. Cache puts are
// not checked for presence: a cache that restarts starts empty by design.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/bench_rows.hpp"
#include "app/scratch_dir.hpp"
#include "app/soak_memory.hpp"
#include "app/soak_peer.hpp"
#include "app/soak_tally.hpp"
#include <caf/all.hpp>
#include <sqlite3.h>

#include "p21/cache_config.hpp"
#include "p21/cluster_config.hpp"
#include "p21/db_config.hpp"
#include "p21/faults.hpp"
#include "p21/http_config.hpp"
#include "p21/metrics.hpp"
#include "p21/p21.hpp"
#include "p21/subprocess_config.hpp"

namespace p21::app {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// A caller that is an actor: `n` requests one after the other, each to the
/// component as it runs at that moment (the shard of cache "soak", or the
/// db pool), counted in `calls`.
/// The components the actor callers send to, as a plain thread resolved
/// them last: an actor must not call the runtime's blocking functions, and
/// `actor_of` may ask the supervisor and wait.
struct caller_targets {
  std::mutex mtx;
  caf::actor cache;
  caf::actor db;

  caf::actor get(bool db_pool) {
    std::lock_guard<std::mutex> guard{mtx};
    return db_pool ? db : cache;
  }
  void refresh(runtime& rt) {
    auto c = rt.actor_of("cache.soak/0");
    auto d = rt.actor_of("db_pool");
    std::lock_guard<std::mutex> guard{mtx};
    cache = c ? *c : caf::actor{};
    db = d ? *d : caf::actor{};
  }
};

struct caller_state {
  caller_targets* targets = nullptr;
  tally* calls = nullptr;
  size_t n = 0;
  size_t sent = 0;
  timespan timeout{0};
  std::shared_ptr<std::promise<void>> finished;
  static inline const char* name = "p21.soak_caller";
};
using caller_actor = caf::stateful_actor<caller_state>;

void call_next(caller_actor* self) {
  auto& st = self->state;
  if (st.sent == st.n) {
    st.finished->set_value();
    self->quit();
    return;
  }
  auto k = st.sent++;
  bool db = k % 2 == 1;
  const char* area = db ? "db_read (actor)" : "cache (actor)";
  auto t0 = clock::now();
  auto done = [self, area, t0](bool ok, bool timed_out, std::string error) {
    auto& st = self->state;
    bool late = clock::now() - t0 > st.timeout + 1s;
    st.calls->record(area, ok && !late, timed_out || late,
                     late && error.empty() ? "a reply after the timeout" : error);
    call_next(self);
  };
  auto failed = [done](caf::error& e) {
    auto n = normalize(e);
    done(false, n == errc::timeout, render(n));
  };
  auto target = st.targets->get(db);
  if (!target) {
    done(false, false, "the component is down");
    return;
  }
  if (db)
    self->request(caf::actor_cast<db_pool_actor>(target), st.timeout, query_atom::value,
                  std::string{"SELECT count(*) FROM soak"}, std::vector<db_value>{})
        .then([done](db_result&) { done(true, false, {}); }, failed);
  else
    self->request(caf::actor_cast<cache_actor>(target), st.timeout, get_atom::value,
                  "k" + std::to_string(k % 500))
        .then([done](caf::optional<std::string>&) { done(true, false, {}); }, failed);
}

caf::behavior soak_caller(caller_actor* self, caller_targets* targets, tally* calls, size_t n,
                          timespan timeout, std::shared_ptr<std::promise<void>> finished) {
  auto& st = self->state;
  st.targets = targets;
  st.calls = calls;
  st.n = n;
  st.timeout = timeout;
  st.finished = std::move(finished);
  call_next(self);
  return {[](int) {
    // only replies arrive
  }};
}

/// The error of a call's outcome (none when it succeeded).
template <class T>
caf::error error_of(const caf::expected<T>& r) {
  return r ? caf::error{} : r.error();
}
inline caf::error error_of(const caf::error& e) {
  return e;
}

config soak_config(const config& base, const std::string& dir, uint16_t peer_port,
                   uint16_t http_port) {
  auto cfg = quiet(base);
  cfg.get<database_config>().path = dir + "/soak.db";
  cfg.get<cache_config>().caches["soak"].max_entries = 5000;
  cfg.get<http_config>().listen = "127.0.0.1:" + std::to_string(http_port);
  cluster_peer peer;
  peer.name = "a";
  peer.port = peer_port;
  peer.actors = {"cache.shared"};
  cfg.get<cluster_config>().peers.push_back(peer);
  cfg.get<cluster_config>().request_timeout = 2s;
  cfg.get<cluster_config>().connect_timeout = 2s;
  cfg.get<cluster_config>().retry_initial = 20ms;
  cfg.get<cluster_config>().retry_max = 200ms;
  cfg.runtime.request_timeout = 3s;
  cfg.get<database_config>().pool_timeout = 1s;
  cfg.get<subprocess_config>().timeout = 3s;
  // Kills are the point: they must never exhaust the restart intensity.
  cfg.supervisor.max_restarts = 1000000;
  cfg.supervisor.period = 1s;
  cfg.supervisor.backoff_initial = 1ms;
  cfg.supervisor.backoff_max = 50ms;
  return cfg;
}

} // namespace

uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  if (fd >= 0)
    ::close(fd);
  if (!ok)
    throw std::runtime_error("cannot find a free loopback port");
  return ntohs(addr.sin_port);
}

nlohmann::json soak(const config& base, bool quick, double scale, bool& failed) {
  scratch_dir scratch{"p21-soak"};
  const auto& dir = scratch.path();
  const size_t threads = quick ? 4 : 8;
  const size_t ops_per_thread = quick ? 1000 : 10000;
  const auto kill_every = quick ? 100ms : 200ms;
  auto peer_port = free_loopback_port();
  auto http_port = free_loopback_port();
  peer_node a{dir, peer_port};
  a.start();
  auto cfg = soak_config(base, dir, peer_port, http_port);
  const auto call_timeout = cfg.runtime.request_timeout + cfg.get<database_config>().pool_timeout;
  runtime rt{cfg};
  auto local = cache::open(rt, "soak").value();
  auto remote = cache::open(rt, "shared").value();
  auto database = db::open(rt).value();
  auto procs = subprocess::open(rt).value();
  // A bounded table (each thread overwrites its 64 slots with a rising
  // sequence number): resources are compared before and after, and a table
  // that grew would grow SQLite's page caches with it.
  constexpr size_t slots = 64;
  if (!database.execute("CREATE TABLE soak(thread INTEGER, slot INTEGER, seq INTEGER, "
                        "PRIMARY KEY (thread, slot))"))
    throw std::runtime_error("soak: cannot create its table");
  caf::error peer_error;
  auto settle_peer = [&] {
    auto deadline = clock::now() + 20s;
    while (clock::now() < deadline)
      if (peer_error = remote.put("probe", "x"); !peer_error)
        return true;
    return false;
  };
  if (!settle_peer())
    throw std::runtime_error("soak: the cluster peer's cache is not reachable: " +
                             render(peer_error));

  tally calls;
  std::mutex acked_mtx;
  uint64_t acked = 0;
  /// By (thread, slot): the highest acknowledged sequence number.
  std::map<std::pair<int64_t, int64_t>, int64_t> last_acked;
  std::atomic<uint64_t> done{0};
  // One call through one subsystem. A thread's writes are sequential, so a
  // slot's sequence number only rises.
  auto one_op = [&](size_t thread, size_t i, int phase) {
    auto seq = static_cast<int64_t>(phase * 1'000'000'000 + i);
    auto slot = static_cast<int64_t>(i % slots);
    auto key = "k" + std::to_string(i % 500);
    auto t0 = clock::now();
    auto note = [&](const char* area, const auto& result) {
      bool late = clock::now() - t0 > call_timeout + 1s;
      auto err = error_of(result);
      if (!err)
        calls.record(area, !late, late, late ? "a reply after the timeout" : "");
      else
        calls.record(area, false, err == errc::timeout || late, render(err));
    };
    switch ((thread + i) % 7) {
    case 0: {
      auto r = local.put(key, std::string(100, 'v'));
      note("cache", r);
      break;
    }
    case 1: {
      auto r = local.get(key);
      note("cache", r);
      break;
    }
    case 2: {
      auto t = static_cast<int64_t>(thread);
      auto r = database.execute("INSERT OR REPLACE INTO soak(thread, slot, seq) VALUES(?, ?, ?)",
                                {db_value::of(t), db_value::of(slot), db_value::of(seq)});
      note("db_write", r);
      if (r) {
        std::lock_guard<std::mutex> guard{acked_mtx};
        ++acked;
        last_acked[{t, slot}] = seq;
      }
      break;
    }
    case 3: {
      auto r = database.query("SELECT count(*) FROM soak WHERE thread = ?",
                              {db_value::of(static_cast<int64_t>(thread))});
      note("db_read", r);
      break;
    }
    case 4: {
      auto r = procs.run(std::vector<std::string>{"true"});
      note("subprocess", r);
      break;
    }
    case 5: {
      auto r = i % 2 ? remote.get(key) : caf::expected<std::optional<std::string>>{std::nullopt};
      if (i % 2 == 0) {
        auto w = remote.put(key, "v");
        note("cluster", w);
      } else {
        note("cluster", r);
      }
      break;
    }
    default: {
      bool ok = http_health(http_port, 3000ms);
      calls.record("http", ok, false, ok ? "" : "no 200 from /health");
      break;
    }
    }
  };
  // Callers: `threads` plain threads through the handles, and two actors
  // with requests of their own.
  const size_t actor_callers = 2;
  caller_targets targets;
  targets.refresh(rt);
  auto run_workers = [&](size_t n, int phase) {
    std::atomic<bool> running{true};
    // Re-resolved every 20 ms: a restarted component is reached again.
    std::thread refresher{[&] {
      while (running) {
        targets.refresh(rt);
        std::this_thread::sleep_for(20ms); // the refresh period, not a wait for a result
      }
      release_thread();
    }};
    std::vector<std::future<void>> actors_done;
    for (size_t a = 0; a < actor_callers; ++a) {
      auto finished = std::make_shared<std::promise<void>>();
      actors_done.push_back(finished->get_future());
      rt.system().spawn(soak_caller, &targets, &calls, n, cfg.runtime.request_timeout, finished);
    }
    std::vector<std::thread> ws;
    for (size_t t = 0; t < threads; ++t)
      ws.emplace_back([&, t] {
        for (size_t i = 0; i < n; ++i) {
          one_op(t, i, phase);
          ++done;
        }
      });
    for (auto& w : ws)
      w.join();
    // Each of an actor's calls is bounded by its timeout.
    for (auto& f : actors_done)
      if (f.wait_for(n * (cfg.runtime.request_timeout + 1s)) != std::future_status::ready)
        calls.record("actor callers", false, true, "an actor caller did not finish");
    running = false;
    refresher.join();
    release_thread();
  };

  // Faults from the first call on. The peer dies three times: in the
  // warm-up and at a third and two thirds of the measured phase.
  // The warm-up fills what is bounded but grows at first (caches up to their
  // keys, the query cache, the monitor's history, malloc's arenas), and is
  // as long as the run: 5 % of RSS is about 1.2 MiB, and after a warm-up of
  // a quarter of the full run, malloc's arenas alone still grew by 0.7 to
  // 1.5 MiB (live heap +0.2 to 0.4 MiB), failing 2 runs in 6; three times
  // the measured run grew them no more.
  // `scale` (`--soak-scale`) makes the measured phase longer, not the
  // warm-up: memory that grows with calls shows in the series.
  const uint64_t phase_calls = threads * ops_per_thread; // the warm-up's
  const size_t run_ops_per_thread = std::max<size_t>(1, size_t(double(ops_per_thread) * scale));
  const uint64_t run_calls = threads * run_ops_per_thread;
  const std::vector<uint64_t> peer_kill_at{phase_calls / 2, phase_calls + run_calls / 3,
                                           phase_calls + 2 * run_calls / 3};
  std::map<std::string, uint64_t> kills;
  std::atomic<bool> stop{false};
  std::atomic<bool> paused{false};
  std::mutex killing; // held while a fault is being injected
  // A kill is a message: the supervisor may see it after the killer paused,
  // and until then the component still counts as running. By component,
  // its `starts` when it was last killed (guarded by `killing`): recovery
  // waits until each has started again since.
  std::map<std::string, uint64_t> killed_at_start;
  auto note_kill = [&](const std::string& name) {
    if (auto c = rt.component(name))
      killed_at_start[name] = std::max(killed_at_start[name], c->starts);
  };
  std::thread killer{[&] {
    std::mt19937 rng{21};
    size_t peer_kills = 0;
    while (!stop) {
      std::this_thread::sleep_for(kill_every); // the fault rate, not a wait for a result
      std::lock_guard<std::mutex> guard{killing};
      if (paused)
        continue;
      if (peer_kills < peer_kill_at.size() && done >= peer_kill_at[peer_kills]) {
        a.kill();
        a.start();
        ++peer_kills;
        ++kills["cluster peer (SIGKILL, restart)"];
        continue;
      }
      if (rng() % 4 == 0) {
        note_kill("db_pool"); // the writer's end takes its pool down
        if (!crash_db_writer(rt))
          ++kills["db writer"];
        continue;
      }
      std::vector<std::string> running;
      for (auto& c : rt.components())
        if (c.running)
          running.push_back(c.name);
      if (running.empty())
        continue;
      auto name = running[rng() % running.size()];
      note_kill(name); // before the handle: a restart in between errs on the lenient side
      if (auto actor = rt.actor_of(name)) {
        caf::anon_send_exit(*actor, caf::exit_reason::kill);
        ++kills[name];
      }
    }
  }};
  // Recovery: every component back and the peer reachable, within bounds.
  // Called with the killer paused or stopped.
  std::string not_recovered;
  auto recover = [&] {
    auto recovered_by = clock::now() + 20s;
    do {
      not_recovered.clear();
      // A lazy component that never started is not expected to run; a
      // killed one has started again since (its kill was seen).
      for (auto& c : rt.components()) {
        auto k = killed_at_start.find(c.name);
        bool restarted = k == killed_at_start.end() || c.starts > k->second;
        if ((!c.running || !restarted) && !c.unloaded && c.starts > 0)
          not_recovered += " " + c.name;
      }
      if (not_recovered.empty() && !rt.healthy(1s))
        not_recovered = " (the node is not healthy)";
      if (!not_recovered.empty())
        std::this_thread::sleep_for(5ms); // bounded by recovered_by; looks again
    } while (!not_recovered.empty() && clock::now() < recovered_by);
    if (not_recovered.empty() && !settle_peer())
      not_recovered = " (the peer's cache: " + render(peer_error) + ")";
    return not_recovered.empty();
  };
  // Descriptors and threads of ended connections and actors go away
  // asynchronously: a bounded while to, compared with `base`.
  auto settled = [&](const resources* base) {
    resources r;
    auto settle_by = clock::now() + 10s;
    do {
      r = measure_resources();
      if (!base || (within(r.fds, base->fds, 0.05) && within(r.threads, base->threads, 0.05)))
        break;
      std::this_thread::sleep_for(100ms); // bounded by settle_by; re-measures
    } while (clock::now() < settle_by);
    return r;
  };
  auto quiesce = [&] {
    std::lock_guard<std::mutex> guard{killing};
    paused = true;
  };

  // Warm-up (with faults): every pool, thread, arena and restart path the
  // measured phase will use has run once; "before" is taken after it.
  run_workers(ops_per_thread, 1);
  quiesce();
  bool warm_recovered = recover();
  auto before = settled(nullptr);
  paused = false;
  auto t0 = clock::now();
  memory_sampler memory{[&] { return done.load() - phase_calls; }, 250ms};
  run_workers(run_ops_per_thread, 2);
  memory.stop();
  auto elapsed = seconds_since(t0);
  stop = true;
  killer.join();
  bool recovered = recover() && warm_recovered;
  // Every acknowledged write is in the table: each slot holds at least its
  // last acknowledged sequence number (more if a later write committed
  // after its caller heard an error).
  using table = std::map<std::pair<int64_t, int64_t>, int64_t>;
  auto count_missing = [&](const table& present) {
    uint64_t n = 0;
    for (auto& [key, seq] : last_acked) {
      auto i = present.find(key);
      n += i == present.end() || i->second < seq ? 1 : 0;
    }
    return n;
  };
  // The same rows read through the pool (the handle's read, on a reader
  // connection): after recovery each must show its acknowledged write too.
  // A read that fails is reported as a failure, not as stale rows (a pool
  // that stops interrupts the reads running then: one reason recovery waits
  // until every kill was seen).
  uint64_t stale_via_pool = last_acked.size();
  std::string pool_read;
  if (auto rows = database.query("SELECT thread, slot, seq FROM soak"); !rows) {
    pool_read = "the read failed: " + render(rows.error());
  } else {
    table present;
    for (auto& row : rows->rows)
      present[{row.at(0).i, row.at(1).i}] = row.at(2).i;
    stale_via_pool = count_missing(present);
    if (stale_via_pool > 0)
      pool_read = std::to_string(rows->rows.size()) + " rows" + (rows->cached ? ", cached" : "");
  }
  // The file as a fresh connection reads it: tells a write that was lost
  // from a read through the pool that was stale.
  uint64_t missing = last_acked.size();
  if (sqlite3* file = nullptr; sqlite3_open_v2(cfg.get<database_config>().path.c_str(), &file,
                                               SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    table present;
    if (sqlite3_prepare_v2(file, "SELECT thread, slot, seq FROM soak", -1, &stmt, nullptr) ==
        SQLITE_OK) {
      while (sqlite3_step(stmt) == SQLITE_ROW)
        present[{sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1)}] =
            sqlite3_column_int64(stmt, 2);
      sqlite3_finalize(stmt);
      missing = count_missing(present);
    }
    sqlite3_close(file);
  }

  auto after = settled(&before);

  // AddressSanitizer keeps freed memory in its quarantine (256 MiB): RSS
  // grows by design there.
#if defined(__SANITIZE_ADDRESS__)
  const bool judge_rss = false;
#else
  const bool judge_rss = true;
#endif
  bool rss_ok = !judge_rss || within(after.rss_bytes, before.rss_bytes, 0.05);
  bool fds_ok = within(after.fds, before.fds, 0.05);
  bool threads_ok = within(after.threads, before.threads, 0.05);
  auto lost = calls.lost();
  failed = lost > 0 || missing > 0 || stale_via_pool > 0 || !recovered || !rss_ok || !fds_ok ||
           !threads_ok;
  uint64_t kill_count = 0;
  for (auto& [k, n] : kills)
    kill_count += n;

  auto mib = [](double b) {
    return b / (1 << 20);
  };
  std::cout << "soak: " << calls.calls() << " calls from " << threads << " threads and "
            << actor_callers << " actors (" << run_calls + actor_callers * run_ops_per_thread
            << " measured, in " << elapsed << " s), " << kill_count << " faults injected\n"
            << "  lost (no reply within the timeout): " << lost << "\n"
            << "  acknowledged db writes: " << acked
            << ", missing in the file at the end: " << missing << "\n"
            << "  stale through the pool at the end (rows older than acknowledged): "
            << stale_via_pool << (pool_read.empty() ? "" : " (" + pool_read + ")") << "\n"
            << "  recovered (components running, peer reachable): "
            << (recovered ? "yes" : "no, not:" + not_recovered) << "\n"
            << "  RSS " << mib(before.rss_bytes) << " -> " << mib(after.rss_bytes) << " MiB, fds "
            << before.fds << " -> " << after.fds << ", threads " << before.threads << " -> "
            << after.threads << " (bound: +5 %"
            << (judge_rss ? "" : "; RSS not judged under AddressSanitizer") << ")\n";
  auto grew = [](const std::map<std::string, int>& a, const std::map<std::string, int>& b) {
    std::string out;
    for (auto& [k, n] : b)
      if (auto i = a.find(k); n > (i == a.end() ? 0 : i->second))
        out += " " + k + " (" + std::to_string(i == a.end() ? 0 : i->second) + " -> " +
               std::to_string(n) + ")";
    return out;
  };
  if (scale != 1)
    std::cout << "  memory while it ran (by calls of the measured phase's threads):\n"
              << memory.chart(11);
  if (!threads_ok)
    std::cout << "  threads that grew:" << grew(before.thread_names, after.thread_names) << "\n";
  if (!fds_ok)
    std::cout << "  descriptors that grew:" << grew(before.fd_kinds, after.fd_kinds) << "\n";
  auto by_area = calls.to_json();
  for (auto it = by_area.begin(); it != by_area.end(); ++it) {
    auto& t = it.value();
    auto first = t["first_error"].get<std::string>();
    auto first_lost = t["first_lost"].get<std::string>();
    std::cout << "  " << it.key() << ": " << t["ok"] << " ok, " << t["errors"] << " errors, "
              << t["lost"] << " lost" << (first.empty() ? "" : "; first error: ") << first
              << (first_lost.empty() ? "" : "; first lost: ") << first_lost << "\n";
  }
  for (auto& [what, n] : kills)
    std::cout << "  killed " << what << ": " << n << "\n";
  std::cout << "soak: " << (failed ? "FAILED" : "passed") << "\n";
  return {
      {"threads", threads},
      {"actors", actor_callers},
      {"calls", calls.calls()},
      {"seconds", elapsed},
      {"lost", lost},
      {"acknowledged_writes", acked},
      {"missing_writes", missing},
      {"stale_rows_read_through_pool", stale_via_pool},
      {"recovered", recovered},
      {"faults", kills},
      {"by_area", by_area},
      {"before",
       {{"rss_bytes", before.rss_bytes}, {"fds", before.fds}, {"threads", before.threads}}},
      {"after", {{"rss_bytes", after.rss_bytes}, {"fds", after.fds}, {"threads", after.threads}}},
      {"memory_series", memory.to_json()},
      {"passed", !failed}};
}

} // namespace p21::app
