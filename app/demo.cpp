// The demo workload: each client thread paces itself to its share of
// `[demo] rate` and, in every phase, looks items up through the cache (loaded
// from SQLite on a miss), runs aggregate queries (query cache), writes,
// checks `git status` and runs commands; the phase sets the mix.

#include "app/demo.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <unistd.h>

#include <spdlog/spdlog.h>
#include "p21/demo_config.hpp"

namespace p21::app {

namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

constexpr int64_t item_count = 5000;

/// How a phase mixes the operations.
struct mix {
  int64_t key_base;     // first item id of the working set
  int64_t working_set;  // items it spans (skewed towards the first)
  double write_share;   // operations that update an item
  size_t command_batch; // commands run at once every `command_every` operations
  size_t command_every;
  bool edit_repo; // touch a file of the scratch repository now and then
};

// steady: a working set the 512-entry cache holds; shift: a larger one
// elsewhere (the hit rate drops, the cache-hit-rate rule has work); writes:
// updates invalidate cached items and query results; processes: batches of
// commands and edits of the repository (the git cache is invalidated).
const mix mixes[] = {
    {1, 400, 0.01, 1, 100, false},
    {1000, 4000, 0.01, 1, 100, false},
    {1, 400, 0.40, 1, 100, false},
    {1, 400, 0.01, 8, 20, true},
};

/// Sends every command at once and waits for all replies.
size_t run_batch(runtime& rt, const subprocess_actor& pool, size_t n) {
  command_request req;
  req.argv = {"sleep", "0.05"};
  size_t failed = 0;
  {
    caf::scoped_actor self{rt.system()};
    using handle = decltype(self->request(pool, caf::infinite, run_atom::value, req));
    std::vector<handle> pending;
    for (size_t i = 0; i < n; ++i)
      pending.push_back(self->request(pool, std::chrono::seconds{30}, run_atom::value, req));
    for (auto& h : pending)
      h.receive([&](command_result& r) { failed += r.exit_code == 0 ? 0 : 1; },
                [&](caf::error&) { ++failed; });
  }
  return failed;
}

} // namespace

const std::vector<std::string>& demo::phases() {
  static const std::vector<std::string> names{"steady", "shift", "writes", "processes"};
  return names;
}

demo::demo(runtime& rt, const demo_config& cfg)
  : rt_(rt)
  , cfg_(cfg) {
  prepare_database();
  prepare_repository();
  start_ = clock::now();
  for (size_t i = 0; i < cfg_.clients; ++i)
    clients_.emplace_back([this, i] { client(i); });
  spdlog::info("demo workload: {} clients, {} operations/s, phases of {} ({}){}", cfg_.clients,
               cfg_.rate, format_duration(cfg_.phase), "steady, shift, writes, processes",
               git_note_.empty() ? ", git status on " + repo_ : "; " + git_note_);
}

demo::~demo() {
  stop();
}

void demo::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_ && clients_.empty())
      return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : clients_)
    t.join();
  clients_.clear();
  scratch_repo_.reset();
}

size_t demo::phase_index() const {
  auto elapsed = clock::now() - start_;
  return static_cast<size_t>(elapsed / cfg_.phase) % phases().size();
}

std::string demo::phase() const {
  return phases()[phase_index()];
}

uint64_t demo::phases_run() const {
  return static_cast<uint64_t>((clock::now() - start_) / cfg_.phase) + 1;
}

bool demo::wait_until(clock::time_point t) {
  std::unique_lock<std::mutex> lock{mtx_};
  return !cv_.wait_until(lock, t, [this] { return stopping_; });
}

void demo::prepare_database() {
  auto db = db::open(rt_);
  if (!db)
    throw std::runtime_error("demo: no db pool: " + render(db.error()));
  auto created = db->execute("CREATE TABLE IF NOT EXISTS demo_items ("
                             "id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                             "price REAL NOT NULL, updated INTEGER NOT NULL DEFAULT 0)");
  if (!created)
    throw std::runtime_error("demo: cannot create table demo_items: " + render(created.error()));
  auto have = db->query("SELECT count(*) FROM demo_items");
  if (!have)
    throw std::runtime_error("demo: " + render(have.error()));
  if (have->rows.at(0).at(0).i >= item_count)
    return;
  std::vector<db_statement> inserts;
  inserts.reserve(item_count);
  for (int64_t id = 1; id <= item_count; ++id)
    inserts.push_back({"INSERT OR IGNORE INTO demo_items(id, name, price) VALUES (?, ?, ?)",
                       {db_value::of(id), db_value::of("item-" + std::to_string(id)),
                        db_value::of(1.0 + static_cast<double>(id % 97))}});
  auto done = db->transaction(std::move(inserts));
  if (!done)
    throw std::runtime_error("demo: cannot fill demo_items: " + render(done.error()));
}

void demo::prepare_repository() {
  auto sp = subprocess::open(rt_);
  if (!sp) {
    git_note_ = "git part off: no subprocess pool (" + render(sp.error()) + ")";
    return;
  }
  if (!cfg_.repo.empty()) {
    repo_ = cfg_.repo;
    auto r = sp->git(repo_, {"rev-parse", "--git-dir"});
    if (!r || r->exit_code != 0)
      git_note_ = "git part off: " + repo_ + " is not a git work tree" +
                  (r ? ": " + r->stderr_data : ": " + render(r.error()));
    return;
  }
  // A scratch repository: 200 files in 10 directories, one commit.
  scratch_repo_.emplace("p21-demo"); // ours: removed at the end
  repo_ = scratch_repo_->path();
  std::error_code ec;
  for (int d = 0; d < 10; ++d) {
    fs::create_directories(fs::path{repo_} / ("dir" + std::to_string(d)), ec);
    for (int f = 0; f < 20; ++f)
      std::ofstream{fs::path{repo_} / ("dir" + std::to_string(d)) / ("f" + std::to_string(f))}
          << "file " << d << "/" << f << "\n";
  }
  auto step = [&](std::vector<std::string> args) {
    command_request req;
    req.argv = {"git", "-c", "user.name=p21 demo", "-c", "user.email=demo@localhost"};
    req.argv.insert(req.argv.end(), args.begin(), args.end());
    req.cwd = repo_;
    auto r = sp->run(req);
    if (!r)
      return render(r.error());
    if (r->exit_code != 0)
      return "git " + args.front() + " exited " + std::to_string(r->exit_code) + ": " +
             r->stderr_data;
    return std::string{};
  };
  for (auto args :
       {std::vector<std::string>{"init", "-q"}, {"add", "-A"}, {"commit", "-q", "-m", "demo"}})
    if (auto problem = step(args); !problem.empty()) {
      git_note_ = "git part off: " + problem;
      break;
    }
}

void demo::client(size_t index) {
  auto cache = cache::open(rt_, "async");
  auto db = db::open(rt_);
  auto sp = subprocess::open(rt_);
  if (!cache || !db || !sp) {
    spdlog::error("demo client {}: a subsystem is missing; client stopped", index);
    return;
  }
  auto pool = sp->actor();
  std::mt19937_64 rng{index * 7919 + 17};
  std::uniform_real_distribution<double> unit{0, 1};
  auto period = std::chrono::duration_cast<clock::duration>(
      std::chrono::duration<double>{static_cast<double>(cfg_.clients) / cfg_.rate});
  auto next = clock::now();
  bool git_on = git_note_.empty();
  uint64_t op = 0;
  auto fail = [&](const char* what, const caf::error& e) {
    // Errors are counted and shown; a few are logged.
    if (counts_.errors++ < 5)
      spdlog::warn("demo: {} failed: {}", what, render(e));
  };
  while (wait_until(next)) {
    next += period;
    if (clock::now() - next > std::chrono::seconds{1})
      next = clock::now(); // fell behind (a slow command): do not burst
    ++op;
    auto& m = mixes[phase_index()];
    auto u = unit(rng);
    auto id = m.key_base + static_cast<int64_t>(static_cast<double>(m.working_set) * u * u * u);
    id = 1 + (id - 1) % item_count;
    auto key = "item:" + std::to_string(id);
    if (unit(rng) < m.write_share) {
      auto w = db->execute("UPDATE demo_items SET price = price * 1.01, updated = ? WHERE id = ?",
                           {db_value::of(static_cast<int64_t>(op)), db_value::of(id)});
      if (!w)
        fail("a write", w.error());
      else
        ++counts_.writes;
      cache->erase(key);
    } else if (op % 10 == 0) {
      auto lo = static_cast<int64_t>(unit(rng) * 10) * 500 + 1;
      auto r = db->query("SELECT count(*), avg(price) FROM demo_items WHERE id BETWEEN ? AND ?",
                         {db_value::of(lo), db_value::of(lo + 499)});
      if (!r)
        fail("an aggregate query", r.error());
      else
        ++counts_.reads;
    } else {
      auto v = cache->get_or_load(key, [&]() -> caf::expected<std::string> {
        ++counts_.loads;
        auto r = db->query("SELECT name, price FROM demo_items WHERE id = ?", {db_value::of(id)});
        if (!r)
          return r.error();
        ++counts_.reads;
        if (r->rows.empty())
          return make_error(errc::not_found, key);
        return r->rows[0][0].s + " " + std::to_string(r->rows[0][1].r);
      });
      if (!v)
        fail("a cache lookup", v.error());
      else
        ++counts_.lookups;
    }
    if (git_on && op % 40 == index * 20 % 40) {
      auto g = sp->git(repo_, {"status", "--porcelain"});
      if (!g)
        fail("git status", g.error());
      else
        ++counts_.git_checks;
    }
    if (git_on && m.edit_repo && scratch_repo_ && index == 0 && op % 50 == 0) {
      std::ofstream{fs::path{repo_} / "dir0" / "f0", std::ios::app} << op << "\n";
      ++counts_.repo_edits;
    }
    if (pool && op % m.command_every == 0) {
      auto failed = run_batch(rt_, *pool, m.command_batch);
      counts_.commands += m.command_batch;
      counts_.errors += failed;
    }
  }
  release_thread();
}

} // namespace p21::app
