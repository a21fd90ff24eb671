// Two of `p21 bench --only self_tuning`'s phases, for the subprocess pool's
// rules: (g) rule 5, git_cache: a working set of git reads three times the
// git cache; (h) rule 8, parallel_efficiency: commands queue behind two
// process slots while the CPU is free. bench_self_tuning.cpp runs them
// three ways like the others.

#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "app/bench_self_tuning.hpp"
#include "app/scratch_dir.hpp"
#include "p21/cache_config.hpp"
#include "p21/histogram.hpp"
#include "p21/subprocess.hpp"
#include "p21/subprocess_config.hpp"
#include "p21/subsystems.hpp"

namespace p21::app {

namespace {

subprocess open_pool(runtime& rt) {
  auto sp = subprocess::open(rt);
  if (!sp)
    throw std::runtime_error("self_tuning: " + render(sp.error()));
  return *sp;
}

subprocess_stats pool_stats(subprocess& sp) {
  auto s = sp.stats();
  if (!s)
    throw std::runtime_error("self_tuning: " + render(s.error()));
  return *s;
}


/// A repository of `files` committed files, made once for every run.
struct git_repo {
  scratch_dir dir{"p21-tune-git"};

  explicit git_repo(int files) {
    for (int f = 0; f < files; ++f)
      std::ofstream{dir.file("f" + std::to_string(f) + ".txt")} << "file " << f << "\n";
    auto rc = std::system(("cd " + dir.path() +
                           " && git init -q . && git add -A && git -c user.name=bench "
                           "-c user.email=bench@example.com commit -q -m init")
                              .c_str());
    if (rc != 0)
      throw std::runtime_error("self_tuning: cannot create the git repository (is git installed?)");
  }
};

} // namespace

// -- (g) the git cache holds a third of the git reads' working set ---------------------

phase git_cache_phase() {
  constexpr int files = 24;
  auto repo = std::make_shared<git_repo>(files);
  phase p;
  p.name = "git_cache_small";
  p.metric = "git cache hit rate, %";
  p.target = 60; // rule 5's clear threshold
  p.at_most = false;
  p.rule = "git_cache";
  p.pace = std::chrono::milliseconds{200};
  p.configure = [](config& cfg) {
    cfg.get<cache_config>().git_maxsize = 8; // 24 files are read
    fast_rule(cfg, "git_cache", 0.5);
  };
  p.interval = [repo](runtime& rt, size_t i) {
    // 60 reads of `git show HEAD:fN.txt`, N uniform over 24 files: a cache
    // of 8 hits about a third of them.
    auto sp = open_pool(rt);
    auto before = pool_stats(sp);
    std::mt19937 rng{static_cast<unsigned>(i + 1)};
    std::uniform_int_distribution<int> file{0, files - 1};
    for (int k = 0; k < 60; ++k)
      if (!sp.git(repo->dir.path(), {"show", "HEAD:f" + std::to_string(file(rng)) + ".txt"}))
        throw std::runtime_error("self_tuning: git show failed");
    auto after = pool_stats(sp);
    auto hits = double(after.git_hits - before.git_hits);
    auto total = hits + double(after.git_misses - before.git_misses);
    return std::make_pair(total > 0 ? 100 * hits / total : 0.0, double(after.git_capacity));
  };
  return p;
}

// -- (h) commands queue behind too few process slots, the CPU free ---------------------

phase process_queue_phase() {
  phase p;
  p.name = "process_queue";
  p.metric = "wait for a process slot, p95 ms";
  p.target = 5;
  p.at_most = true;
  p.rule = "parallel_efficiency";
  p.pace = std::chrono::milliseconds{200};
  p.configure = [](config& cfg) {
    cfg.get<subprocess_config>().max_processes = 2;
    fast_rule(cfg, "parallel_efficiency", 0.5);
    // Rule 9 raises the limit on slot waits too; this phase is rule 8's.
    rule(cfg, "response_time").enabled = false;
  };
  p.interval = [](runtime& rt, size_t) {
    // 8 clients run `sleep 0.05` back to back for the whole interval (so
    // that the slots' efficiency is the load's, not the pause's): 8
    // commands want to run at once and use next to no CPU.
    auto sp = open_pool(rt);
    auto before = pool_stats(sp);
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds{190};
    std::vector<std::thread> clients;
    for (int k = 0; k < 8; ++k)
      clients.emplace_back([&] {
        auto mine = open_pool(rt);
        while (std::chrono::steady_clock::now() < until)
          if (!mine.run(std::vector<std::string>{"/bin/sleep", "0.05"}))
            std::this_thread::sleep_for(std::chrono::milliseconds{10}); // refused: back off
        release_thread();
      });
    for (auto& c : clients)
      c.join();
    auto after = pool_stats(sp);
    auto p95 = 1000 * window_quantile(after.queue_time, before.queue_time, 0.95).value_or(0);
    return std::make_pair(p95, double(after.max_processes));
  };
  return p;
}

} // namespace p21::app
