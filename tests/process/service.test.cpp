// `p21 run` as a service: it tells systemd (a datagram socket standing in
// for it) when it is ready, alive, reloading and stopping; it reloads its
// file on SIGHUP or `p21 reload --pid`, refusing a bad file whole and naming
// the keys that need a restart; its exit codes say how it ended.

#include <catch2/catch.hpp>

#include <httplib.h>
#include <regex>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "app/service_notifier.hpp"
#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

/// A unix datagram socket bound at `path` (or an abstract name for '@').
struct notify_socket {
  int fd = -1;
  explicit notify_socket(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (path[0] == '@')
      addr.sun_path[0] = '\0';
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0)
      throw std::runtime_error("bind " + path + ": " + std::strerror(errno));
  }
  ~notify_socket() { ::close(fd); }

  /// The next datagram, or nothing within `timeout`.
  std::optional<std::string> next(std::chrono::milliseconds timeout) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1)
      return std::nullopt;
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0)
      return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

  /// Reads datagrams until one starts with `prefix` (others, such as
  /// watchdog pings, are skipped); false after `timeout`.
  bool await(const std::string& prefix, std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      auto msg = next(left);
      if (!msg)
        return false;
      if (msg->compare(0, prefix.size(), prefix) == 0)
        return true;
    }
  }
};

/// Runs `p21 ARGS...` to the end; its exit code.
int p21_exit(const p21::test::temp_dir& dir, std::vector<std::string> args,
             const std::string& name) {
  p21::test::p21_process p{dir, std::move(args), name};
  return p.wait(30s).value_or(-2);
}

std::string node_toml(const p21::test::temp_dir& dir, const std::string& extra) {
  return "[database]\npath = \"" + dir.file("node.db") +
         "\"\n[logging]\nstatus_interval = \"0s\"\n"
         "[components.\"cache.async/0\"]\npriority = \"critical\"\n" +
         extra;
}

} // namespace

TEST_CASE("service_notifier sends its states to a path or an abstract socket") {
  p21::test::temp_dir dir{"notify"};
  for (auto path : {dir.file("n.sock"), "@p21-test-" + std::to_string(::getpid())}) {
    notify_socket sock{path};
    p21::app::service_notifier n{path, std::chrono::microseconds{2'000'000}};
    REQUIRE(n.enabled());
    CHECK(n.watchdog_period() == std::chrono::microseconds{1'000'000});
    CHECK(n.ready());
    CHECK(sock.next(5s) == std::optional<std::string>{"READY=1"});
    CHECK(n.reloading());
    auto msg = sock.next(5s);
    REQUIRE(msg);
    CHECK(std::regex_match(*msg, std::regex{"RELOADING=1\nMONOTONIC_USEC=[0-9]+"}));
  }
  p21::app::service_notifier off;
  CHECK_FALSE(off.enabled());
  CHECK_FALSE(off.ready());
}

TEST_CASE("p21 run tells systemd it is ready, alive, reloading and stopping") {
  p21::test::temp_dir dir{"sdnotify"};
  dir.write("node.toml", node_toml(dir, ""));
  notify_socket sock{dir.file("notify.sock")};
  // The child inherits them; this test process has no other threads yet.
  ::setenv("NOTIFY_SOCKET", dir.file("notify.sock").c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);
  p21::test::p21_process node{dir, {"run", "--config", dir.file("node.toml")}};
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  // READY=1 comes first, once the critical components are up.
  auto first = sock.next(30s);
  REQUIRE(first);
  CHECK(*first == "READY=1");
  CHECK(node.err().find("node started") != std::string::npos);
  CHECK(sock.await("WATCHDOG=1", 10s));
  CHECK(sock.await("WATCHDOG=1", 10s));
  dir.write("node.toml", node_toml(dir, "[cache]\nasync_maxsize = 77\n"));
  ::kill(node.pid(), SIGHUP);
  CHECK(sock.await("RELOADING=1", 10s));
  CHECK(sock.await("READY=1", 10s));
  CHECK(node.await_log("reload: applied cache.async_maxsize", 10s));
  ::kill(node.pid(), SIGTERM);
  CHECK(sock.await("STOPPING=1", 10s));
  CHECK(node.wait(30s) == std::optional<int>{0});
}

TEST_CASE("p21 run reloads a good file, refuses a bad one and names restart-only keys") {
  p21::test::temp_dir dir{"reload-run"};
  dir.write("node.toml", node_toml(dir, "[http]\nlisten = \"127.0.0.1:0\"\n"));
  p21::test::p21_process node{dir, {"run", "--config", dir.file("node.toml")}};
  REQUIRE(node.await_log("node running", 30s));
  // The endpoint logs its port from its own thread once it listens.
  REQUIRE(node.await_log("HTTP endpoint on", 30s));
  std::smatch m;
  auto log = node.err();
  REQUIRE(std::regex_search(log, m, std::regex{"http://127\\.0\\.0\\.1:([0-9]+)"}));
  httplib::Client http{"127.0.0.1", std::stoi(m[1])};
  auto pid = std::to_string(node.pid());

  // A good file: `p21 reload --pid` validates it, then the node applies it.
  dir.write("node.toml", "[database]\npath = \"" + dir.file("node.db") +
                             "\"\n[logging]\nstatus_interval = \"0s\"\n"
                             "[components.\"cache.async/0\"]\npriority = \"critical\"\n"
                             "[http]\nlisten = \"127.0.0.1:0\"\n"
                             "[cache]\nasync_maxsize = 200\n"
                             "[optimizer.rules.cpu_usage]\nthreshold = 95\n");
  CHECK(p21_exit(dir, {"reload", "--pid", pid, "--config", dir.file("node.toml")}, "good") == 0);
  REQUIRE(node.await_log("reload: applied cache.async_maxsize, optimizer.rules.cpu_usage.threshold",
                         10s));
  CHECK(p21::test::eventually([&] {
    auto r = http.Get("/events");
    return r && r->body.find("config_reload") != std::string::npos &&
           r->body.find("applied cache.async_maxsize") != std::string::npos;
  }));

  // A bad file: refused with FILE:LINE:COLUMN: KEY, nothing changes. `p21
  // reload --config` refuses it before signalling; a bare SIGHUP reaches
  // the node, which refuses it itself.
  dir.write("node.toml", "[cache]\nasync_maxsize = 10\n[database]\npool_size = -3\n");
  CHECK(p21_exit(dir, {"reload", "--pid", pid, "--config", dir.file("node.toml")}, "bad") == 2);
  CHECK(p21_exit(dir, {"reload", "--pid", pid}, "bad-unchecked") == 0);
  CHECK(node.await_log("reload refused, nothing changed: " + dir.file("node.toml") +
                           ":4:13: database.pool_size",
                       10s));

  // Restart-only keys: named in one line and left as they were. "Nothing
  // applied" also shows the bad file changed nothing: the node still runs
  // with async_maxsize 200, as this file says.
  dir.write("node.toml", "[database]\npath = \"" + dir.file("other.db") +
                             "\"\n[logging]\nstatus_interval = \"0s\"\n"
                             "[components.\"cache.async/0\"]\npriority = \"critical\"\n"
                             "[http]\nlisten = \"127.0.0.1:9\"\n"
                             "[cache]\nasync_maxsize = 200\n"
                             "[optimizer.rules.cpu_usage]\nthreshold = 95\n");
  ::kill(node.pid(), SIGHUP);
  CHECK(node.await_log("reload: nothing applied; restart needed for database.path, http.listen",
                       10s));
  // Still serving on the port it started with.
  auto health = http.Get("/health");
  REQUIRE(health);
  CHECK((health->status == 200 || health->status == 503));
  node.stop(SIGTERM);
  CHECK(node.wait(1s) == std::optional<int>{0});
}

TEST_CASE("p21 run applies a new alert, a removed alert and a rule's predict on SIGHUP") {
  p21::test::temp_dir dir{"reload-alerts"};
  auto base = "[http]\nlisten = \"127.0.0.1:0\"\n[performance]\nmonitor_interval = \"200ms\"\n";
  dir.write("node.toml", node_toml(dir, std::string{base} +
                                            "[monitor.alerts.old_alert]\nmetric = \"error_rate\"\n"
                                            "threshold = 0.5\n"));
  p21::test::p21_process node{dir, {"run", "--config", dir.file("node.toml")}};
  REQUIRE(node.await_log("HTTP endpoint on", 30s));
  std::smatch m;
  auto log = node.err();
  REQUIRE(std::regex_search(log, m, std::regex{"http://127\\.0\\.0\\.1:([0-9]+)"}));
  httplib::Client http{"127.0.0.1", std::stoi(m[1])};
  // An alert that always fires (the health score is never above 1000 from
  // below), old_alert gone, and cpu_usage forecasting 5 minutes ahead.
  dir.write("node.toml",
            node_toml(dir, std::string{base} +
                               "[monitor.alerts.always]\nmetric = \"p21_health_score\"\n"
                               "below = true\nthreshold = 1000\n"
                               "[optimizer.rules.cpu_usage]\npredict = \"5m\"\n"));
  ::kill(node.pid(), SIGHUP);
  REQUIRE(node.await_log("reload: applied", 10s));
  auto line = node.err().substr(node.err().find("reload: applied"));
  line = line.substr(0, line.find('\n'));
  for (auto key :
       {"monitor.alerts.always", "monitor.alerts.old_alert", "optimizer.rules.cpu_usage.predict"})
    CHECK_THAT(line, Catch::Contains(key));
  CHECK_THAT(line, !Catch::Contains("restart needed"));
  // The new alert runs: it fires at the next sampling round.
  CHECK(p21::test::eventually(
      [&] {
        auto r = http.Get("/health");
        return r && r->body.find("\"always\"") != std::string::npos;
      },
      20s));
  node.stop(SIGTERM);
  CHECK(node.wait(30s) == std::optional<int>{0});
}

TEST_CASE("p21 reload signals only a p21 node") {
  p21::test::temp_dir dir{"reload-nopid"};
  // Pid 2^22+1 is beyond the kernel's largest pid_max: no such process.
  CHECK(p21_exit(dir, {"reload", "--pid", "4194305"}, "nopid") == 1);
  // This test process is no p21 node: a SIGHUP would end it.
  CHECK(p21_exit(dir, {"reload", "--pid", std::to_string(::getpid())}, "self") == 1);
  CHECK(p21::test::read_file(dir.file("self.err")).find("not a p21 node") != std::string::npos);
}

TEST_CASE("in the journal, log lines carry <N> priorities and no timestamp of their own") {
  p21::test::temp_dir dir{"journal"};
  dir.write("node.toml", node_toml(dir, ""));
  // systemd names the stream it gave as stderr by device and inode; the
  // file exists first so that the child's stderr is this very inode.
  dir.write("journal.err", "");
  struct stat st;
  REQUIRE(::stat(dir.file("journal.err").c_str(), &st) == 0);
  auto stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
  p21::test::p21_process journal{dir,
                                 {"run", "--config", dir.file("node.toml"), "--duration", "0.5"},
                                 "journal"};
  ::unsetenv("JOURNAL_STREAM");
  REQUIRE(journal.wait(30s) == std::optional<int>{0});
  auto log = journal.err();
  CHECK(std::regex_search(log, std::regex{"(^|\n)<6>info +\\[p21\\] node started"}));
  CHECK_FALSE(std::regex_search(log, std::regex{"[0-9]{4}-[0-9]{2}-[0-9]{2}T"}));
  // Elsewhere (a file, a pipe): the node's own timestamps, no priorities.
  p21::test::p21_process plain{dir,
                               {"run", "--config", dir.file("node.toml"), "--duration", "0.5"},
                               "plain"};
  REQUIRE(plain.wait(30s) == std::optional<int>{0});
  CHECK(std::regex_search(plain.err(),
                          std::regex{"(^|\n)[0-9]{4}-[0-9]{2}-[0-9]{2}T[^\n]*info +\\[p21\\] "
                                     "node started"}));
  CHECK(plain.err().find("<6>") == std::string::npos);
}

TEST_CASE("exit codes: 0 for a requested stop, 2 for a refused config") {
  p21::test::temp_dir dir{"exit-codes"};
  dir.write("node.toml", node_toml(dir, ""));
  dir.write("bad.toml", "[subprocess]\nmax_processes = 0\n");
  p21::test::p21_process node{dir, {"run", "--config", dir.file("node.toml")}, "node"};
  REQUIRE(node.await_log("node running", 30s));
  node.stop(SIGINT);
  CHECK(node.wait(1s) == std::optional<int>{0});
  CHECK(p21_exit(dir, {"run", "--config", dir.file("bad.toml")}, "bad") == 2);
  CHECK(p21_exit(dir, {"check", "--config", dir.file("bad.toml")}, "bad-check") == 2);
}
