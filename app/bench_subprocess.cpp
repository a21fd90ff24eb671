// Subprocess rows of p21 bench: git status uncached vs cached (and fresh
// after a touch), 64 commands of 50 ms one after another vs the pool, plus
// spawn throughput and spawn cost from a large parent.

#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>

#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/bench_rows.hpp"
#include "app/scratch_dir.hpp"
#include "p21/subprocess.hpp"
#include "p21/subprocess_config.hpp"
#include "p21/subsystems.hpp"

extern char** environ;

namespace p21::app {

namespace {

/// A generated repository: `dirs` x `files` committed files.
struct bench_repo {
  scratch_dir dir{"p21-bench-git"};
  const std::string& root = dir.path();

  bench_repo(int dirs, int files) {
    for (int d = 0; d < dirs; ++d) {
      auto dir = root + "/d" + std::to_string(d);
      ::mkdir(dir.c_str(), 0755);
      for (int f = 0; f < files; ++f)
        std::ofstream{dir + "/f" + std::to_string(f) + ".txt"} << "file " << d << "/" << f << "\n";
    }
    auto rc = std::system(("cd " + root +
                           " && git init -q . && git add -A && git -c user.name=bench "
                           "-c user.email=bench@example.com commit -q -m init")
                              .c_str());
    if (rc != 0)
      throw std::runtime_error("cannot create the benchmark repository (is git installed?)");
  }
};

subprocess open_pool(runtime& rt) {
  auto sp = subprocess::open(rt);
  if (!sp)
    throw std::runtime_error(render(sp.error()));
  return *sp;
}

/// posix_spawn + waitpid of `argv`, the plain way; returns the exit status.
int spawn_and_wait(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0)
    throw std::runtime_error("posix_spawnp " + argv[0] + " failed");
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

/// fork + exec + waitpid: what a naive pool does.
int fork_and_wait(const char* program) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp(program, program, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

/// Sends all `requests` to the pool at once from one scoped actor and waits
/// for every reply.
void run_all(runtime& rt, subprocess& sp, const std::vector<command_request>& requests) {
  auto pool = sp.actor();
  if (!pool)
    throw std::runtime_error(render(pool.error()));
  {
    caf::scoped_actor self{rt.system()};
    for (auto& req : requests)
      self->request(*pool, std::chrono::seconds{60}, run_atom::value, req)
          .receive(
              [](command_result& r) {
                if (r.exit_code != 0)
                  throw std::runtime_error("a benchmark command failed");
              },
              [](caf::error& e) { throw std::runtime_error(render(e)); });
  }
  release_thread();
}

/// Like run_all, but every request is in flight before the first reply.
void run_concurrently(runtime& rt, subprocess& sp, const std::vector<command_request>& requests) {
  auto pool = sp.actor();
  if (!pool)
    throw std::runtime_error(render(pool.error()));
  {
    caf::scoped_actor self{rt.system()};
    using handle = decltype(self->request(*pool, caf::infinite, run_atom::value, requests[0]));
    std::vector<handle> pending;
    pending.reserve(requests.size());
    for (auto& req : requests)
      pending.push_back(self->request(*pool, std::chrono::seconds{60}, run_atom::value, req));
    std::string failure;
    for (auto& h : pending)
      h.receive(
          [&](command_result& r) {
            if (r.exit_code != 0)
              failure = "a benchmark command exited " + std::to_string(r.exit_code);
          },
          [&](caf::error& e) { failure = render(e); });
    if (!failure.empty())
      throw std::runtime_error(failure);
  }
  release_thread();
}

std::vector<command_request> copies(std::vector<std::string> argv, size_t n) {
  command_request req;
  req.argv = std::move(argv);
  return std::vector<command_request>(n, req);
}

} // namespace

row_result measure_git_status(const config& base, size_t runs) {
  bench_repo repo{50, 100}; // 5000 files
  row_result r{"git_status",
               {"git status --porcelain, uncached (5000 files)", {}},
               {"git status --porcelain through the git cache", {}},
               std::nullopt};
  auto cfg = quiet(base);
  runtime rt{cfg};
  auto sp = open_pool(rt);
  std::vector<std::string> status = {"status", "--porcelain"};
  // Uncached: the same command through the pool, without the cache.
  command_request plain;
  plain.argv = {"git", "status", "--porcelain"};
  plain.cwd = repo.root;
  plain.env_mode = command_request::add;
  plain.env = {{"GIT_OPTIONAL_LOCKS", "0"}};
  time_each(r.baseline, runs, [&](size_t) {
    auto res = sp.run(plain);
    if (!res || res->exit_code != 0)
      throw std::runtime_error("git_status: uncached git status failed");
  });
  auto first = sp.git(repo.root, status);
  if (!first || first->exit_code != 0)
    throw std::runtime_error("git_status: git status failed");
  time_each(r.perfect21, runs * 200, [&](size_t) {
    auto res = sp.git(repo.root, status);
    if (!res || !res->cached)
      throw std::runtime_error("git_status: expected a cache hit");
  });
  // Fresh after touching one file.
  std::ofstream{repo.root + "/d7/f42.txt", std::ios::app} << "touched\n";
  auto t0 = clock::now();
  auto after = sp.git(repo.root, status);
  auto fresh_s = seconds_since(t0);
  if (!after || after->cached || after->stdout_data != " M d7/f42.txt\n")
    throw std::runtime_error("git_status: the answer after a touch was stale");
  std::cerr << " (after touching d7/f42.txt the next status was fresh: \""
            << " M d7/f42.txt\", " << std::fixed << std::setprecision(1) << fresh_s * 1e3 << " ms)";
  return r;
}

row_result measure_parallel_exec(const config& base, size_t runs) {
  row_result r{"parallel_exec",
               {"64 x `sleep 0.05` one after another", {}},
               {"64 x `sleep 0.05` through the pool (max_processes 32)", {}},
               std::nullopt};
  // The serial side costs 3.2 s a run: fewer runs.
  time_each(r.baseline, std::max<size_t>(1, runs / 5), [&](size_t) {
    for (int i = 0; i < 64; ++i)
      spawn_and_wait({"sleep", "0.05"});
  });
  auto cfg = quiet(base);
  cfg.get<subprocess_config>().max_processes = 32;
  runtime rt{cfg};
  auto sp = open_pool(rt);
  auto batch = copies({"sleep", "0.05"}, 64);
  run_concurrently(rt, sp, copies({"true"}, 32)); // warm up
  time_each(r.perfect21, runs, [&](size_t) { run_concurrently(rt, sp, batch); });
  return r;
}

nlohmann::json subprocess_details(const config& base, bool quick) {
  nlohmann::json out;
  auto cfg = quiet(base);
  runtime rt{cfg};
  auto sp = open_pool(rt);
  size_t n = quick ? 100 : 200;
  // (b) n short commands: one after another (spawn + wait) vs the pool.
  auto t0 = clock::now();
  for (size_t i = 0; i < n; ++i)
    spawn_and_wait({"true"});
  auto serial_s = seconds_since(t0);
  run_concurrently(rt, sp, copies({"true"}, 32)); // warm up
  t0 = clock::now();
  run_concurrently(rt, sp, copies({"true"}, n));
  auto pool_s = seconds_since(t0);
  t0 = clock::now();
  run_all(rt, sp, copies({"true"}, n));
  auto pool_serial_s = seconds_since(t0);
  out["short_commands"] = {
      {"commands", n},
      {"serial_per_command_s", serial_s / double(n)},
      {"serial_per_second", double(n) / serial_s},
      {"pool_per_second", double(n) / pool_s},
      {"pool_one_at_a_time_per_command_s", pool_serial_s / double(n)},
  };
  // (d) spawn cost with 1 GiB resident: posix_spawn does not copy page
  // tables, fork does.
  auto spawn_cost = [&](size_t reps) {
    auto t = clock::now();
    for (size_t i = 0; i < reps; ++i)
      spawn_and_wait({"true"});
    auto spawn_s = seconds_since(t) / double(reps);
    t = clock::now();
    for (size_t i = 0; i < reps; ++i)
      fork_and_wait("true");
    auto fork_s = seconds_since(t) / double(reps);
    return std::make_pair(spawn_s, fork_s);
  };
  size_t reps = quick ? 20 : 100;
  auto small = spawn_cost(reps);
  size_t big_bytes = size_t{1} << 30;
  auto* big = static_cast<char*>(
      ::mmap(nullptr, big_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  nlohmann::json large;
  if (big != MAP_FAILED) {
    std::memset(big, 1, big_bytes); // resident, not just reserved
    auto rss = status_bytes("VmRSS:");
    auto heavy = spawn_cost(reps);
    ::munmap(big, big_bytes);
    large = {{"rss_bytes", rss},
             {"posix_spawn_s", heavy.first},
             {"fork_exec_s", heavy.second},
             {"posix_spawn_growth", heavy.first / small.first},
             {"fork_exec_growth", heavy.second / small.second}};
  }
  out["spawn_cost"] = {
      {"small_parent", {{"posix_spawn_s", small.first}, {"fork_exec_s", small.second}}},
      {"parent_with_1GiB", large}};
  auto us = [](double s) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(0) << s * 1e6 << " us";
    return o.str();
  };
  std::cout << "subprocess: " << n << " x `true`: one after another " << std::fixed
            << std::setprecision(0) << double(n) / serial_s << "/s (" << us(serial_s / double(n))
            << " each), through the pool " << double(n) / pool_s << "/s\n";
  if (!large.empty())
    std::cout << "subprocess: spawn cost, small parent vs 1 GiB resident: posix_spawn "
              << us(small.first) << " -> " << us(large["posix_spawn_s"].get<double>())
              << ", fork+exec " << us(small.second) << " -> "
              << us(large["fork_exec_s"].get<double>()) << "\n";
  return out;
}

} // namespace p21::app
