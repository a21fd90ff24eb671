#include <catch2/catch.hpp>

#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "actors/subprocess/git_cache.hpp"
#include "p21/subprocess.hpp"
#include "p21/monitor_config.hpp"
#include "p21/subprocess_config.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

config pool_config() {
  auto cfg = test_config();
  cfg.get<subprocess_config>().max_processes = 8;
  cfg.get<subprocess_config>().kill_grace = 200ms;
  return cfg;
}

command_request request(std::vector<std::string> argv) {
  command_request r;
  r.argv = std::move(argv);
  return r;
}

} // namespace

// -- running commands -----------------------------------------------------------------

TEST_CASE("a command's exit code, stdout, stderr, env, cwd and stdin come back") {
  runtime rt{pool_config()};
  auto sp = subprocess::open(rt).value();
  auto r = sp.run({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  REQUIRE(r);
  CHECK(r->exit_code == 3);
  CHECK(r->signal == 0);
  CHECK(r->stdout_data == "out\n");
  CHECK(r->stderr_data == "err\n");
  CHECK_FALSE(r->timed_out);
  CHECK(r->duration > timespan{0});

  auto env = request({"/bin/sh", "-c", "echo \"$P21_A:${HOME:+home}\""});
  env.env_mode = command_request::add;
  env.env = {{"P21_A", "x"}};
  CHECK(sp.run(env)->stdout_data == "x:home\n");
  env.env_mode = command_request::replace;
  CHECK(sp.run(env)->stdout_data == "x:\n");

  temp_dir dir;
  auto pwd = request({"pwd"});
  pwd.cwd = dir.path;
  CHECK(sp.run(pwd)->stdout_data == dir.path + "\n");

  auto cat = request({"cat"});
  cat.stdin_data = "hello\nworld\n";
  CHECK(sp.run(cat)->stdout_data == "hello\nworld\n");
}

TEST_CASE("several MiB on stdout and stderr at once, and on stdin, do not deadlock") {
  runtime rt{pool_config()};
  auto sp = subprocess::open(rt).value();
  auto both =
      sp.run({"/bin/sh", "-c", "head -c 6000000 /dev/zero & head -c 5000000 /dev/zero >&2; wait"});
  REQUIRE(both);
  CHECK(both->exit_code == 0);
  CHECK(both->stdout_data.size() == 6'000'000);
  CHECK(both->stderr_data.size() == 5'000'000);
  CHECK_FALSE(both->stdout_truncated);

  auto echo = request({"cat"});
  echo.stdin_data.assign(4'000'000, 'x');
  echo.stdin_data += "end";
  auto r = sp.run(echo);
  REQUIRE(r);
  CHECK(r->stdout_data == echo.stdin_data);
}

TEST_CASE("output beyond the cap is dropped and flagged while the child runs to the end") {
  runtime rt{pool_config()};
  auto sp = subprocess::open(rt).value();
  auto req = request({"/bin/sh", "-c", "head -c 100000 /dev/zero; echo tail >&2"});
  req.output_cap = 1000;
  auto r = sp.run(req);
  REQUIRE(r);
  CHECK(r->exit_code == 0);
  CHECK(r->stdout_data.size() == 1000);
  CHECK(r->stdout_truncated);
  CHECK(r->stderr_data == "tail\n");
  CHECK_FALSE(r->stderr_truncated);
}

TEST_CASE("a timeout kills the whole process group, grandchildren included") {
  runtime rt{pool_config()};
  auto sp = subprocess::open(rt).value();
  auto req = request({"/bin/sh", "-c", "sleep " + nap(4101) + " & sleep " + nap(4102)});
  req.timeout = 300ms;
  auto r = sp.run(req);
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(r->signal == SIGTERM);
  CHECK(r->exit_code == -1);
  CHECK(eventually([] { return !sleeping_process(nap(4101)) && !sleeping_process(nap(4102)); }));
  // A group that ignores SIGTERM gets SIGKILL after the grace period.
  auto stubborn = request({"/bin/sh", "-c", "trap '' TERM; sleep " + nap(4103)});
  stubborn.timeout = 100ms;
  auto k = sp.run(stubborn);
  REQUIRE(k);
  CHECK(k->timed_out);
  CHECK(k->signal == SIGKILL);
  CHECK(sp.stats()->timed_out == 2);
}

TEST_CASE("a command's background processes do not outlive it") {
  runtime rt{pool_config()};
  auto sp = subprocess::open(rt).value();
  auto r = sp.run({"/bin/sh", "-c", "sleep " + nap(4104) + " & echo started"});
  REQUIRE(r);
  CHECK(r->exit_code == 0);
  CHECK(r->stdout_data == "started\n");
  CHECK(eventually([] { return !sleeping_process(nap(4104)); }));
}

TEST_CASE("1000 commands leave no zombie and no descriptor behind") {
  auto cfg = pool_config();
  // No pressure watcher: its PSI trigger and wake-up pipe open when its
  // thread gets to it, which under load came after the first count.
  cfg.get<monitor_config>().psi_trigger.clear();
  cfg.get<monitor_config>().pressure_check = timespan{0};
  runtime rt{cfg};
  auto sp = subprocess::open(rt).value();
  REQUIRE(sp.run({"true"})); // warm up: the pool and its reactor exist
  auto fds = fd_count();
  auto command_fds = command_fd_count();
  auto before = fd_targets();
  // 10 threads with 100 commands each: the pool runs 8 and queues the rest.
  std::vector<std::future<size_t>> threads;
  for (int t = 0; t < 10; ++t)
    threads.push_back(std::async(std::launch::async, [&rt] {
      auto h = subprocess::open(rt).value();
      size_t ok = 0;
      for (int i = 0; i < 100; ++i) {
        auto r = h.run({"true"});
        ok += r && r->exit_code == 0 ? 1 : 0;
      }
      p21::release_thread();
      return ok;
    }));
  size_t ok = 0;
  for (auto& f : threads)
    ok += f.get();
  CHECK(ok == 1000);
  CHECK(children_of_this_process(true).empty());
  CHECK(children_of_this_process(false).empty());
  // No pipe or pidfd of a command left open, and no more descriptors in
  // all (one the monitor holds for an instant, reading /proc, may be open
  // at either count).
  INFO("descriptors before:\n" << before << "after:\n" << fd_targets());
  CHECK(eventually([&] { return command_fd_count() <= command_fds; }));
  CHECK(eventually([&] { return fd_count() <= fds; }));
  auto s = sp.stats().value();
  CHECK(s.finished == 1001);
  CHECK(s.failed == 0);
  CHECK(s.running == 0);
  CHECK(s.duration.count == 1001);
  CHECK(s.busy_time > timespan{0});
}

TEST_CASE("past the queue limit a request is refused with overloaded at once, and "
          "set_max_processes takes effect") {
  auto cfg = pool_config();
  cfg.get<subprocess_config>().max_processes = 1;
  cfg.get<subprocess_config>().queue_limit = 1;
  runtime rt{cfg};
  auto sp = subprocess::open(rt).value();
  auto first = std::async(std::launch::async, [&] {
    auto r = sp.run({"sleep", nap(4105)});
    p21::release_thread();
    return r;
  });
  REQUIRE(eventually([&] { return sp.stats()->running == 1; }));
  auto second = std::async(std::launch::async, [&] {
    auto h = subprocess::open(rt).value();
    auto r = h.run({"echo", "second"});
    p21::release_thread();
    return r;
  });
  REQUIRE(eventually([&] { return sp.stats()->queued == 1; }));
  auto third = sp.run({"echo", "third"});
  REQUIRE_FALSE(third);
  CHECK(is(third.error(), errc::overloaded));
  CHECK_THAT(render(third.error()), Catch::Contains("queue_limit"));
  CHECK(sp.stats()->refused == 1);
  // One more slot: the queued command runs while the first still sleeps.
  CHECK(sp.set_max_processes(2) == uint64_t{2});
  CHECK(second.get()->stdout_data == "second\n");
  CHECK(first.wait_for(0s) == std::future_status::timeout);
  CHECK(sp.stats()->max_processes == 2);
  CHECK_FALSE(sp.set_max_processes(0));
  rt.stop(); // the sleeping command is killed; its caller hears back
  auto r = first.get();
  CHECK_FALSE(r);
  CHECK_FALSE(sleeping_process(nap(4105)));
}

TEST_CASE("bad input is an error reply naming the cause") {
  temp_dir dir;
  runtime rt{pool_config()};
  auto sp = subprocess::open(rt).value();
  auto empty = sp.run(std::vector<std::string>{});
  CHECK(is(empty.error(), errc::invalid_argument));
  CHECK_THAT(render(empty.error()), Catch::Contains("empty argv"));

  auto missing = sp.run({"p21-no-such-program", "x"});
  CHECK(is(missing.error(), errc::command_failed));
  CHECK_THAT(render(missing.error()), Catch::Contains("p21-no-such-program") &&
                                          Catch::Contains("No such file or directory"));

  auto cwd = request({"true"});
  cwd.cwd = dir.file("nowhere");
  auto bad_cwd = sp.run(cwd);
  CHECK(is(bad_cwd.error(), errc::command_failed));
  CHECK_THAT(render(bad_cwd.error()),
             Catch::Contains("nowhere") && Catch::Contains("No such file or directory"));

  write_file(dir.file("script"), "#!/bin/sh\necho hi\n");
  auto not_exec = sp.run({dir.file("script")});
  CHECK(is(not_exec.error(), errc::command_failed));
  CHECK_THAT(render(not_exec.error()), Catch::Contains("Permission denied"));

  auto killed = sp.run({"/bin/sh", "-c", "kill -KILL $$"});
  REQUIRE(killed);
  CHECK(killed->signal == SIGKILL);
  CHECK(killed->exit_code == -1);
  CHECK_FALSE(killed->timed_out);
  // The pool still works.
  CHECK(sp.run({"echo", "ok"})->stdout_data == "ok\n");
}

TEST_CASE("argv is never a shell line unless shell is set") {
  runtime rt{pool_config()};
  auto sp = subprocess::open(rt).value();
  auto plain = sp.run({"echo $((1+2)); touch /tmp/p21-should-not-exist"});
  CHECK(is(plain.error(), errc::command_failed));
  auto quoted = sp.run({"echo", "$((1+2)) `id` ;|&"});
  CHECK(quoted->stdout_data == "$((1+2)) `id` ;|&\n");
  auto shell = request({"echo $((1+2))"});
  shell.shell = true;
  CHECK(sp.run(shell)->stdout_data == "3\n");
}

TEST_CASE("descriptors of the parent do not leak into children") {
  temp_dir dir;
  int opened = ::open(dir.file("open").c_str(), O_CREAT | O_RDWR, 0600); // no O_CLOEXEC
  REQUIRE(opened > 2);
  int leaky = ::dup2(opened, 100); // above whatever ls opens itself
  ::close(opened);
  REQUIRE(leaky == 100);
  runtime rt{pool_config()};
  auto sp = subprocess::open(rt).value();
  auto r = sp.run({"ls", "/proc/self/fd"});
  REQUIRE(r);
  std::istringstream lines{r->stdout_data};
  std::string line;
  std::vector<int> fds;
  while (std::getline(lines, line))
    fds.push_back(std::stoi(line));
  // 0, 1, 2 and the directory ls itself opened.
  CHECK(fds.size() == 4);
  CHECK(std::find(fds.begin(), fds.end(), leaky) == fds.end());
  ::close(leaky);
}

TEST_CASE("a crashed pool actor is restarted and its running children are not left behind") {
  runtime rt{pool_config()};
  auto sp = subprocess::open(rt).value();
  auto call = std::async(std::launch::async, [&] {
    auto r = sp.run({"sleep", nap(4106)});
    p21::release_thread();
    return r;
  });
  REQUIRE(eventually([] { return sleeping_process(nap(4106)).has_value(); }));
  caf::anon_send_exit(sp.actor().value(), caf::exit_reason::kill);
  CHECK_FALSE(call.get()); // the caller hears back, it does not hang
  CHECK(eventually([] { return !sleeping_process(nap(4106)); }));
  CHECK(eventually([&] {
    auto r = sp.run({"echo", "again"});
    return r && r->stdout_data == "again\n";
  }));
  CHECK(rt.component("subprocess")->restarts == 1);
}

// -- git ------------------------------------------------------------------------------

namespace {

/// A repository with one committed file.
struct git_repo {
  temp_dir dir;
  std::string root;

  git_repo() {
    root = dir.path;
    sh("git init -q -b main . && git config user.email t@example.com && "
       "git config user.name test && echo one > a.txt && git add a.txt && "
       "git commit -q -m first");
  }

  void sh(const std::string& cmd) const {
    REQUIRE(std::system(("cd " + root + " && " + cmd + " >/dev/null 2>&1").c_str()) == 0);
  }
};

config git_config(git_watch_mode watch) {
  auto cfg = pool_config();
  cfg.get<subprocess_config>().git_watch = watch;
  return cfg;
}

/// `git status --porcelain` until it is a cache hit (in fingerprint mode
/// results are not cached while timestamps are too fresh to trust).
command_result cached_status(subprocess& sp, const std::string& repo) {
  command_result last;
  REQUIRE(eventually([&] {
    auto r = sp.git(repo, {"status", "--porcelain"});
    REQUIRE(r);
    last = *r;
    return r->cached;
  }));
  return last;
}

void git_freshness(git_watch_mode watch) {
  git_repo repo;
  runtime rt{git_config(watch)};
  auto sp = subprocess::open(rt).value();
  auto status = [&] {
    return sp.git(repo.root, {"status", "--porcelain"}).value();
  };
  auto first = status();
  CHECK(first.exit_code == 0);
  CHECK(first.stdout_data.empty());
  CHECK_FALSE(first.cached);
  CHECK(cached_status(sp, repo.root).stdout_data.empty());

  write_file(repo.root + "/a.txt", "two\n"); // edit
  auto edited = status();
  CHECK_FALSE(edited.cached);
  CHECK(edited.stdout_data == " M a.txt\n");
  CHECK(cached_status(sp, repo.root).stdout_data == " M a.txt\n");

  write_file(repo.root + "/b.txt", "new\n"); // add a file
  CHECK(status().stdout_data == " M a.txt\n?? b.txt\n");
  cached_status(sp, repo.root);

  ::mkdir((repo.root + "/sub").c_str(), 0755); // a file in a new directory
  write_file(repo.root + "/sub/c.txt", "c\n");
  CHECK(status().stdout_data == " M a.txt\n?? b.txt\n?? sub/\n");
  cached_status(sp, repo.root);
  write_file(repo.root + "/sub/c.txt", "changed in a new directory\n");
  repo.sh("git add sub/c.txt");
  CHECK(status().stdout_data == " M a.txt\nA  sub/c.txt\n?? b.txt\n");
  cached_status(sp, repo.root);
  write_file(repo.root + "/sub/c.txt", "changed again\n");
  CHECK(status().stdout_data == " M a.txt\nAM sub/c.txt\n?? b.txt\n");
  cached_status(sp, repo.root);

  ::unlink((repo.root + "/b.txt").c_str()); // delete
  CHECK(status().stdout_data == " M a.txt\nAM sub/c.txt\n");
  cached_status(sp, repo.root);

  repo.sh("git add a.txt"); // the index
  CHECK(status().stdout_data == "M  a.txt\nAM sub/c.txt\n");
  cached_status(sp, repo.root);

  auto head = [&] {
    return sp.git(repo.root, {"rev-parse", "HEAD"}).value();
  };
  auto before = head();
  repo.sh("git add -A && git commit -q -m second"); // a commit
  CHECK(status().stdout_data.empty());
  auto after = head();
  CHECK(after.stdout_data != before.stdout_data);
  cached_status(sp, repo.root);

  repo.sh("git checkout -q -b other HEAD~1"); // a checkout
  auto branch = sp.git(repo.root, {"branch", "--show-current"}).value();
  CHECK(branch.stdout_data == "other\n");
  CHECK(head().stdout_data == before.stdout_data);
  CHECK(status().stdout_data.empty());
  CHECK_FALSE(std::ifstream{repo.root + "/sub/c.txt"}.good());
  auto s = sp.stats().value();
  CHECK(s.git_hits > 0);
  CHECK(s.git_invalidations > 0);
}

} // namespace

TEST_CASE("git status is cached and fresh after edits, adds, deletes, git add, commit and "
          "checkout, with inotify") {
  git_freshness(git_watch_mode::inotify);
}

TEST_CASE("git status is cached and fresh after edits, adds, deletes, git add, commit and "
          "checkout, with fingerprints") {
  git_freshness(git_watch_mode::fingerprint);
}

TEST_CASE("git write commands are never served from the cache and invalidate the repository") {
  git_repo repo;
  runtime rt{git_config(git_watch_mode::inotify)};
  auto sp = subprocess::open(rt).value();
  auto tag = sp.git(repo.root, {"tag", "v1"}).value();
  CHECK(tag.exit_code == 0);
  auto again = sp.git(repo.root, {"tag", "v1"}).value();
  CHECK_FALSE(again.cached);
  CHECK(again.exit_code != 0);
  CHECK_THAT(again.stderr_data, Catch::Contains("already exists"));
  // Through the pool actor too, and a write through git drops cached reads.
  auto pool = sp.actor().value();
  auto log = [&] {
    return rt.request<command_result>(pool, 10s, git_atom::value,
                                      git_request{repo.root, {"log", "--format=%s"}});
  };
  CHECK(log()->stdout_data == "first\n");
  CHECK(log()->cached);
  write_file(repo.root + "/a.txt", "edited\n");
  CHECK(log()->cached); // a work-tree edit does not change the log
  CHECK(sp.git(repo.root, {"commit", "-q", "-am", "second"})->exit_code == 0);
  auto fresh = log().value();
  CHECK_FALSE(fresh.cached);
  CHECK(fresh.stdout_data == "second\nfirst\n");
}

TEST_CASE("git requests with a bad repository are errors") {
  temp_dir dir;
  runtime rt{pool_config()};
  auto sp = subprocess::open(rt).value();
  auto missing = sp.git(dir.file("nowhere"), {"status"});
  CHECK(is(missing.error(), errc::command_failed));
  CHECK_THAT(render(missing.error()), Catch::Contains("No such file or directory"));
  auto not_repo = sp.git(dir.path, {"status"}).value();
  CHECK(not_repo.exit_code != 0);
  CHECK_THAT(not_repo.stderr_data, Catch::Contains("not a git repository"));
}

TEST_CASE("only read-only git subcommands are cacheable") {
  using subprocess_detail::classify;
  using subprocess_detail::git_kind;
  CHECK(classify({"status", "--porcelain"}) == git_kind::tree);
  CHECK(classify({"diff"}) == git_kind::tree);
  CHECK(classify({"ls-files"}) == git_kind::tree);
  CHECK(classify({"log", "-1"}) == git_kind::refs);
  CHECK(classify({"show", "HEAD"}) == git_kind::refs);
  CHECK(classify({"rev-parse", "HEAD"}) == git_kind::refs);
  CHECK(classify({"branch"}) == git_kind::refs);
  CHECK(classify({"branch", "-a", "--list", "f*"}) == git_kind::refs);
  CHECK(classify({"branch", "new"}) == git_kind::write);
  CHECK(classify({"branch", "-D", "old"}) == git_kind::write);
  CHECK(classify({"log", "--output=x"}) == git_kind::write);
  CHECK(classify({"commit", "-m", "x"}) == git_kind::write);
  CHECK(classify({"-c", "x=y", "status"}) == git_kind::write);
  CHECK(classify({}) == git_kind::write);
}
