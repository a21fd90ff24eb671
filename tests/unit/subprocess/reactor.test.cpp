// The subprocess pool's I/O thread, tested directly without an actor
// system: a `launch` goes in, its result comes back on the reactor's thread
// through a promise the test waits on with a bound.

#include <catch2/catch.hpp>

#include <sstream>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <future>
#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/subprocess/git_cache.hpp"
#include "actors/subprocess/reactor.hpp"
#include "p21/error.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

using namespace p21;
using namespace p21::subprocess_detail;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

using result = caf::expected<command_result>;

constexpr auto kill_grace = 100ms;

/// How long a result may take before the test fails instead of hanging.
constexpr auto bound = 5s;

launch command(std::vector<std::string> argv, caf::timespan timeout = 5s,
               uint64_t output_cap = 1 << 20) {
  launch what;
  what.request.argv = std::move(argv);
  what.timeout = timeout;
  what.output_cap = output_cap;
  return what;
}

/// Submits `what`; the future of its result.
std::future<result> submit(reactor& r, launch what) {
  auto done = std::make_shared<std::promise<result>>();
  auto f = done->get_future();
  r.submit(std::move(what), [done](result x) { done->set_value(std::move(x)); });
  return f;
}

/// Submits `what` and waits for its result; a `timeout` error when it does
/// not come within `bound`.
result run(reactor& r, launch what) {
  auto f = submit(r, std::move(what));
  if (auto x = get_within(f, bound))
    return std::move(*x);
  return make_error(errc::timeout, "the reactor gave no result within the test's bound");
}

std::string error_text(const result& x) {
  return x ? std::string{"(no error)"} : render(x.error());
}

/// Whether `pid` was reaped: no child of this process has it any more.
bool reaped(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == -1 && errno == ECHILD;
}

} // namespace

TEST_CASE("reactor: argv runs without a shell: metacharacters reach the program unchanged",
          "[reactor]") {
  reactor r{kill_grace};
  auto x = run(r, command({"/bin/echo", "a b", "$HOME", ";", "`id`", "*", "|"}));
  REQUIRE(x);
  CHECK(x->stdout_data == "a b $HOME ; `id` * |\n");
  CHECK(x->exit_code == 0);
  CHECK(x->signal == 0);
  // A name without a slash is looked up in PATH.
  auto found = run(r, command({"echo", "found in PATH"}));
  REQUIRE(found);
  CHECK(found->stdout_data == "found in PATH\n");
}

TEST_CASE("reactor: stdout and stderr come back apart, with the exit code and duration",
          "[reactor]") {
  reactor r{kill_grace};
  auto x = run(r, command({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}));
  REQUIRE(x);
  CHECK(x->exit_code == 3);
  CHECK(x->signal == 0);
  CHECK(x->stdout_data == "out\n");
  CHECK(x->stderr_data == "err\n");
  CHECK_FALSE(x->stdout_truncated);
  CHECK_FALSE(x->stderr_truncated);
  CHECK_FALSE(x->timed_out);
  CHECK(x->duration > caf::timespan{0});
}

TEST_CASE("reactor: a command ended by a signal reports the signal and exit code -1", "[reactor]") {
  reactor r{kill_grace};
  auto killed = run(r, command({"/bin/sh", "-c", "kill -KILL $$"}));
  REQUIRE(killed);
  CHECK(killed->exit_code == -1);
  CHECK(killed->signal == SIGKILL);
  CHECK_FALSE(killed->timed_out);
  auto fine = run(r, command({"/bin/sh", "-c", "exit 0"}));
  REQUIRE(fine);
  CHECK(fine->exit_code == 0);
  CHECK(fine->signal == 0);
  auto high = run(r, command({"/bin/sh", "-c", "exit 255"}));
  REQUIRE(high);
  CHECK(high->exit_code == 255);
  CHECK(high->signal == 0);
}

TEST_CASE("reactor: output beyond output_cap is cut and marked, and the command still runs "
          "to its end",
          "[reactor]") {
  reactor r{kill_grace};
  // 100 kB through a 1000-byte cap: the reactor keeps reading (and dropping),
  // so the writer never blocks on a full pipe.
  auto x = run(r, command({"/bin/sh", "-c", "head -c 100000 /dev/zero; echo done >&2"}, 5s, 1000));
  REQUIRE(x);
  CHECK(x->stdout_data == std::string(1000, '\0'));
  CHECK(x->stdout_truncated);
  CHECK(x->stderr_data == "done\n");
  CHECK_FALSE(x->stderr_truncated);
  CHECK(x->exit_code == 0);
  CHECK_FALSE(x->timed_out);
  // Exactly the cap is not truncated; the cap applies to stderr on its own.
  auto exact =
      run(r, command({"/bin/sh", "-c", "printf 0123456789; printf 0123456789ABC >&2"}, 5s, 10));
  REQUIRE(exact);
  CHECK(exact->stdout_data == "0123456789");
  CHECK_FALSE(exact->stdout_truncated);
  CHECK(exact->stderr_data == "0123456789");
  CHECK(exact->stderr_truncated);
}

TEST_CASE("reactor: stdin_data reaches the command, more of it than a pipe buffer holds",
          "[reactor]") {
  reactor r{kill_grace};
  std::string input;
  for (int i = 0; input.size() < (1u << 20); ++i)
    input += std::to_string(i) + "\n";
  auto what = command({"cat"}, 5s, 2u << 20);
  what.request.stdin_data = input;
  auto x = run(r, std::move(what));
  REQUIRE(x);
  CHECK(x->exit_code == 0);
  CHECK(x->stdout_data.size() == input.size());
  CHECK(x->stdout_data == input);
  // Without stdin_data, stdin is /dev/null: `cat` ends at once.
  auto empty = run(r, command({"cat"}));
  REQUIRE(empty);
  CHECK(empty->stdout_data.empty());
  CHECK(empty->exit_code == 0);
  CHECK_FALSE(empty->timed_out);
}

TEST_CASE("reactor: a command that stops reading stdin early ends normally, and the reactor "
          "survives the broken pipe",
          "[reactor]") {
  reactor r{kill_grace};
  auto what = command({"head", "-c", "10"});
  what.request.stdin_data = std::string(1 << 20, 'x');
  auto x = run(r, std::move(what));
  REQUIRE(x);
  CHECK(x->stdout_data == std::string(10, 'x'));
  CHECK(x->exit_code == 0);
  CHECK_FALSE(x->timed_out);
  auto next = run(r, command({"/bin/echo", "still here"}));
  REQUIRE(next);
  CHECK(next->stdout_data == "still here\n");
}

TEST_CASE("reactor: a timeout kills the whole process group, a forked grandchild included",
          "[reactor]") {
  reactor r{kill_grace};
  auto sleeper = nap(30);
  auto start = std::chrono::steady_clock::now();
  // The shell forks a grandchild in the background, prints its pid and waits.
  auto x = run(
      r, command({"/bin/sh", "-c", "sleep \"$1\" & echo $!; sleep \"$1\"", "sh", sleeper}, 300ms));
  REQUIRE(x);
  CHECK(x->timed_out);
  CHECK(x->exit_code == -1);
  CHECK(x->signal == SIGTERM);
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);
  auto grandchild = static_cast<pid_t>(std::atoi(x->stdout_data.c_str()));
  REQUIRE(grandchild > 0);
  // Its pipe end closed when it died; the zombie's reaping is init's.
  CHECK(eventually([&] { return !alive(grandchild); }, 2s));
  CHECK_FALSE(sleeping_process(sleeper));
  CHECK(r.live() == 0);
}

TEST_CASE("reactor: a group that ignores SIGTERM gets SIGKILL kill_grace later", "[reactor]") {
  reactor r{kill_grace};
  auto sleeper = nap(31);
  auto start = std::chrono::steady_clock::now();
  // `trap '' TERM` ignores SIGTERM in the shell and in what it starts.
  auto x = run(r, command({"/bin/sh", "-c", "trap '' TERM; sleep \"$1\" & echo $!; sleep \"$1\"",
                           "sh", sleeper},
                          200ms));
  REQUIRE(x);
  CHECK(x->timed_out);
  CHECK(x->signal == SIGKILL);
  CHECK(std::chrono::steady_clock::now() - start >= 200ms + kill_grace);
  auto grandchild = static_cast<pid_t>(std::atoi(x->stdout_data.c_str()));
  REQUIRE(grandchild > 0);
  CHECK(eventually([&] { return !alive(grandchild); }, 2s));
  CHECK_FALSE(sleeping_process(sleeper));
}

TEST_CASE("reactor: every command is reaped when its result arrives: no zombies", "[reactor]") {
  reactor r{kill_grace};
  std::vector<std::future<result>> futures;
  for (int i = 0; i < 5; ++i)
    futures.push_back(submit(r, command({"/bin/sh", "-c", "echo $$; exit " + std::to_string(i)})));
  // One that times out is reaped as well.
  futures.push_back(submit(r, command({"/bin/sh", "-c", "echo $$; exec sleep 30"}, 100ms)));
  std::vector<pid_t> pids;
  for (auto& f : futures) {
    auto x = get_within(f, bound);
    REQUIRE(x);
    REQUIRE(*x);
    auto pid = static_cast<pid_t>(std::atoi((*x)->stdout_data.c_str()));
    REQUIRE(pid > 0);
    CHECK(reaped(pid));
    pids.push_back(pid);
  }
  CHECK(r.live() == 0);
  for (auto zombie : children_of_this_process(true))
    CHECK(std::find(pids.begin(), pids.end(), zombie) == pids.end());
}

TEST_CASE("reactor: env inherits, adds to or replaces the environment", "[reactor]") {
  reactor r{kill_grace};
  auto inherit = command({"/bin/sh", "-c", "echo \"$P21_A:${PATH:+path}\""});
  inherit.request.env = {{"P21_A", "a"}};
  auto x = run(r, std::move(inherit));
  REQUIRE(x);
  CHECK(x->stdout_data == "a:path\n");

  // `inherit` also lets the request's value win over the parent's (issue 16:
  // the parent's came first, and the child saw it).
  auto over = command({"/usr/bin/env"});
  over.request.env = {{"PATH", "/p21-nowhere"}};
  x = run(r, std::move(over));
  REQUIRE(x);
  std::vector<std::string> paths;
  std::istringstream lines{x->stdout_data};
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("PATH=", 0) == 0)
      paths.push_back(line);
  CHECK(paths == std::vector<std::string>{"PATH=/p21-nowhere"});

  // `add` overrides an inherited variable instead of repeating it.
  auto add = command({"/bin/sh", "-c", "echo \"$PATH\""});
  add.request.env_mode = command_request::add;
  add.request.env = {{"PATH", "/p21-nowhere"}};
  x = run(r, std::move(add));
  REQUIRE(x);
  CHECK(x->stdout_data == "/p21-nowhere\n");

  auto replace = command({"/usr/bin/env"});
  replace.request.env_mode = command_request::replace;
  replace.request.env = {{"ONLY", "this"}};
  x = run(r, std::move(replace));
  REQUIRE(x);
  CHECK(x->stdout_data == "ONLY=this\n");
}

TEST_CASE("reactor: cwd is where the command starts, and a missing cwd or a file is an error",
          "[reactor]") {
  reactor r{kill_grace};
  temp_dir dir{"reactor"};
  auto here = command({"/bin/pwd"});
  here.request.cwd = dir.path;
  auto x = run(r, std::move(here));
  REQUIRE(x);
  CHECK(x->stdout_data == std::filesystem::canonical(dir.path).string() + "\n");

  auto missing = command({"/bin/pwd"});
  missing.request.cwd = dir.file("missing");
  x = run(r, std::move(missing));
  REQUIRE_FALSE(x);
  CHECK(is(x.error(), errc::command_failed));
  CHECK_THAT(error_text(x), Catch::Contains("cwd '" + dir.file("missing") + "'"));

  dir.write("plain", "");
  auto file = command({"/bin/pwd"});
  file.request.cwd = dir.file("plain");
  x = run(r, std::move(file));
  REQUIRE_FALSE(x);
  CHECK(is(x.error(), errc::command_failed));
  CHECK_THAT(error_text(x), Catch::Contains("Not a directory"));
}

TEST_CASE("reactor: a program that cannot run is an error result, not a crash", "[reactor]") {
  reactor r{kill_grace};
  temp_dir dir{"reactor"};
  auto x = run(r, command({"p21-no-such-program"}));
  REQUIRE_FALSE(x);
  CHECK(is(x.error(), errc::command_failed));
  CHECK_THAT(error_text(x), Catch::Contains("not found in PATH"));

  x = run(r, command({dir.file("absent")}));
  REQUIRE_FALSE(x);
  CHECK(is(x.error(), errc::command_failed));

  dir.write("script.sh", "#!/bin/sh\necho hi\n");
  ::chmod(dir.file("script.sh").c_str(), 0644);
  x = run(r, command({dir.file("script.sh")}));
  REQUIRE_FALSE(x);
  CHECK(is(x.error(), errc::command_failed));
  CHECK_THAT(error_text(x), Catch::Contains("not executable"));

  x = run(r, command({}));
  REQUIRE_FALSE(x);
  CHECK(is(x.error(), errc::invalid_argument));
  x = run(r, command({""}));
  REQUIRE_FALSE(x);
  CHECK(is(x.error(), errc::invalid_argument));

  // Nothing was left running, and the reactor still works.
  CHECK(r.live() == 0);
  auto ok = run(r, command({"/bin/echo", "ok"}));
  REQUIRE(ok);
  CHECK(ok->stdout_data == "ok\n");
}

TEST_CASE("reactor: shell = true runs argv[0] through /bin/sh -c with the rest as $1...",
          "[reactor]") {
  reactor r{kill_grace};
  auto what = command({"echo \"$1|$2\"; exit 4", "one", "two words"});
  what.request.shell = true;
  auto x = run(r, std::move(what));
  REQUIRE(x);
  CHECK(x->stdout_data == "one|two words\n");
  CHECK(x->exit_code == 4);
}

TEST_CASE("reactor: a command inherits stdin, stdout and stderr, no other descriptor",
          "[reactor]") {
  reactor r{kill_grace};
  // A descriptor without close-on-exec, at a number the shell leaves alone.
  int fd = ::fcntl(STDERR_FILENO, F_DUPFD, 50);
  REQUIRE(fd >= 50);
  auto x = run(r, command({"/bin/sh", "-c",
                           "if [ -e /proc/$$/fd/" + std::to_string(fd) +
                               " ]; then echo inherited; else echo closed; fi"}));
  ::close(fd);
  REQUIRE(x);
  CHECK(x->stdout_data == "closed\n");
}

TEST_CASE("reactor: many commands at once each come back with their own output", "[reactor]") {
  reactor r{kill_grace};
  std::vector<std::future<result>> futures;
  for (int i = 0; i < 20; ++i)
    futures.push_back(submit(
        r, command({"/bin/sh", "-c", "echo \"$1\"; echo \"$1\" >&2", "sh", std::to_string(i)})));
  for (int i = 0; i < 20; ++i) {
    auto x = get_within(futures[static_cast<size_t>(i)], bound);
    REQUIRE(x);
    REQUIRE(*x);
    CHECK((*x)->stdout_data == std::to_string(i) + "\n");
    CHECK((*x)->stderr_data == std::to_string(i) + "\n");
  }
  CHECK(r.live() == 0);
}

TEST_CASE("reactor: stopping with commands running kills their groups and answers each with "
          "unavailable",
          "[reactor]") {
  auto sleeper = nap(32);
  std::future<result> pending;
  {
    reactor r{kill_grace};
    pending =
        submit(r, command({"/bin/sh", "-c", "sleep \"$1\" & sleep \"$1\"", "sh", sleeper}, 60s));
    REQUIRE(eventually([&] { return sleeping_process(sleeper).has_value(); }, bound));
    // The reactor counts a child after spawning it, so the sleeper can be
    // seen running a moment before it is counted.
    CHECK(eventually([&] { return r.live() == 1; }, bound));
  } // ~reactor
  auto x = get_within(pending, 0ms);
  REQUIRE(x);
  REQUIRE_FALSE(*x);
  CHECK(is(x->error(), errc::unavailable));
  CHECK(eventually([&] { return !sleeping_process(sleeper); }, 2s));
}

TEST_CASE("a .git file's gitdir line is read, and one naming nothing is ignored", "[git]") {
  using p21::subprocess_detail::gitdir_from_file;
  CHECK(gitdir_from_file("/w", "gitdir: /r/.git/worktrees/w\n") == "/r/.git/worktrees/w");
  CHECK(gitdir_from_file("/w", "gitdir: ../r.git\r\n") == "/w/../r.git");
  // Issue 16: an empty path was read with front(), undefined behaviour.
  CHECK(gitdir_from_file("/w", "gitdir: \n").empty());
  CHECK(gitdir_from_file("/w", "gitdir: ").empty());
  CHECK(gitdir_from_file("/w", "nonsense").empty());
}
