#pragma once

// Child processes seen from a test: what /proc says about them, waiting for
// one with a bound, and `p21` commands run with their output in files.

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/files.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

extern char** environ;

namespace p21::test {

/// Open descriptors of this process.
inline size_t fd_count() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d))
      ++n;
    ::closedir(d);
  }
  return n;
}

/// What each open descriptor is (`/proc/self/fd` links), for a message.
inline std::string fd_targets() {
  std::string out;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (auto* e = ::readdir(d)) {
      char target[256] = {};
      auto path = std::string{"/proc/self/fd/"} + e->d_name;
      if (::readlink(path.c_str(), target, sizeof(target) - 1) > 0)
        out += std::string{e->d_name} + " -> " + target + "\n";
    }
    ::closedir(d);
  }
  return out;
}

/// Open descriptors that a command's run creates and must close: pipes and
/// pidfds (other components open files of their own at their own times:
/// the monitor's /proc reads, the pressure watcher's PSI trigger).
inline size_t command_fd_count() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (auto* e = ::readdir(d)) {
      char target[256] = {};
      auto path = std::string{"/proc/self/fd/"} + e->d_name;
      auto len = ::readlink(path.c_str(), target, sizeof(target) - 1);
      std::string t{target, len > 0 ? size_t(len) : 0};
      if (t.rfind("pipe:", 0) == 0 || t == "anon_inode:[pidfd]")
        ++n;
    }
    ::closedir(d);
  }
  return n;
}

/// Field 3 (state) and 4 (ppid) of /proc/PID/stat.
inline std::optional<std::pair<char, pid_t>> proc_state(pid_t pid) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = text.rfind(')'); // the name in parentheses may hold anything
  if (close == std::string::npos || close + 2 > text.size())
    return std::nullopt;
  std::istringstream rest{text.substr(close + 2)};
  char state;
  pid_t ppid;
  if (!(rest >> state >> ppid))
    return std::nullopt;
  return std::make_pair(state, ppid);
}

/// Whether `pid` is a running (not zombie, not dead) process.
inline bool alive(pid_t pid) {
  auto s = proc_state(pid);
  return s && s->first != 'Z' && s->first != 'X';
}

/// Processes whose parent is this process, zombies included.
inline std::vector<pid_t> children_of_this_process(bool zombies_only) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  while (auto* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0)
      continue;
    auto s = proc_state(pid);
    if (s && s->second == ::getpid() && (!zombies_only || s->first == 'Z'))
      out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

/// A sleep argument no other test run uses: N seconds and this pid as the
/// fraction, so `sleeping_process` finds only this run's sleepers.
inline std::string nap(int n) {
  return std::to_string(n) + "." + std::to_string(::getpid());
}

/// The pid of a live `sleep ARG` process anywhere (orphaned grandchildren
/// belong to init, not to us), if any.
inline std::optional<pid_t> sleeping_process(const std::string& arg) {
  auto wanted = std::string{"sleep\0", 6} + arg + std::string{"\0", 1};
  DIR* d = ::opendir("/proc");
  std::optional<pid_t> found;
  while (auto* e = ::readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0)
      continue;
    if (read_file("/proc/" + std::to_string(pid) + "/cmdline") == wanted && alive(pid)) {
      found = pid;
      break;
    }
  }
  ::closedir(d);
  return found;
}

/// Reaps child `pid` if it exits within `timeout`: its wait status.
inline std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  int status = 0;
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int ready;
    do {
      ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (ready < 0 && errno == EINTR);
    ::close(pidfd);
    if (ready <= 0)
      return std::nullopt;
    if (::waitpid(pid, &status, 0) != pid)
      return std::nullopt;
    return status;
  }
  // No pidfd (old kernel): poll waitpid.
  bool reaped = eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  return reaped ? std::optional<int>{status} : std::nullopt;
}

/// Starts `argv` (argv[0] a path) with stdout and stderr to files; its pid.
inline pid_t spawn_to_files(const std::vector<std::string>& argv, const std::string& out,
                            const std::string& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  auto rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

/// A `p21` process (P21_BINARY: the binary this build made, defined by
/// tests/CMakeLists.txt) with stdout and stderr in
/// `dir`'s NAME.out and NAME.err; killed and reaped at the end of the scope.
class p21_process {
public:
  p21_process(const temp_dir& dir, std::vector<std::string> args, const std::string& name = "p21")
    : out_(dir.file(name + ".out"))
    , err_(dir.file(name + ".err")) {
    args.insert(args.begin(), P21_BINARY);
    pid_ = spawn_to_files(args, out_, err_);
  }

  ~p21_process() { stop(SIGKILL); }

  p21_process(const p21_process&) = delete;
  p21_process& operator=(const p21_process&) = delete;

  /// Its pid while it runs (to signal it).
  pid_t pid() const { return pid_; }

  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }

  /// Waits until its stderr (the log) holds `text`; false after `timeout`.
  bool await_log(const std::string& text, std::chrono::milliseconds timeout) const {
    return eventually([&] { return err().find(text) != std::string::npos; }, timeout);
  }

  /// Waits for it to exit: its exit code, or -1 after a signal; nothing
  /// (still running) after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0)
      return status_;
    auto status = wait_exit(pid_, timeout);
    if (!status)
      return std::nullopt;
    pid_ = 0;
    status_ = WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
    return status_;
  }

  /// Sends `sig` and reaps it (a SIGKILL follows after `timeout`).
  void stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
    if (pid_ <= 0)
      return;
    ::kill(pid_, sig);
    if (!wait(timeout)) {
      ::kill(pid_, SIGKILL);
      wait(std::chrono::seconds{10});
    }
  }

private:
  std::string out_;
  std::string err_;
  pid_t pid_ = 0;
  std::optional<int> status_;
};

/// Runs `p21 ARGS...` to its end: exit code (-1 after a signal or past
/// `timeout`) and stdout.
inline std::pair<int, std::string> run_p21(const temp_dir& dir, std::vector<std::string> args,
                                           std::chrono::milliseconds timeout = std::chrono::seconds{
                                               60}) {
  p21_process p{dir, std::move(args), "cli"};
  auto code = p.wait(timeout);
  return {code.value_or(-1), p.out()};
}

/// This process's threads (the entries of /proc/self/task).
inline size_t thread_count() {
  size_t n = 0;
  if (auto dir = opendir("/proc/self/task")) {
    while (auto entry = readdir(dir))
      if (entry->d_name[0] != '.')
        ++n;
    closedir(dir);
  }
  return n;
}

} // namespace p21::test
