#include "reactor.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "p21/error.hpp"

extern char** environ;

namespace p21::subprocess_detail {

namespace {

using clock = std::chrono::steady_clock;

/// Closes a descriptor once.
struct fd_guard {
  int fd = -1;
  fd_guard() = default;
  explicit fd_guard(int x)
    : fd(x) {}
  fd_guard(fd_guard&& other) noexcept
    : fd(other.fd) {
    other.fd = -1;
  }
  fd_guard& operator=(fd_guard&& other) noexcept {
    if (this != &other) {
      reset();
      fd = other.fd;
      other.fd = -1;
    }
    return *this;
  }
  ~fd_guard() { reset(); }
  void reset() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
  explicit operator bool() const { return fd >= 0; }
};

std::string errno_text(int err) {
  return std::strerror(err);
}

/// One running command.
struct child {
  pid_t pid = -1;
  fd_guard pidfd;
  fd_guard out;
  fd_guard err;
  fd_guard in;
  std::string stdin_data;
  size_t stdin_offset = 0;
  uint64_t cap = 0;
  command_result result;
  clock::time_point started;
  clock::time_point deadline;
  std::optional<clock::time_point> kill_at;
  /// After the leader exited: when to stop waiting for the pipes.
  std::optional<clock::time_point> drain_until;
  bool exited = false;
  /// The pool's id of the command (`reactor::stop`).
  uint64_t job = 0;
  reactor::callback done;
};

/// A pipe whose both ends close on exec; the parent's end is non-blocking.
caf::error make_pipe(fd_guard& parent_end, fd_guard& child_end, bool parent_reads) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return make_error(errc::command_failed, "pipe: " + errno_text(errno));
  fd_guard r{fds[0]};
  fd_guard w{fds[1]};
  auto& mine = parent_reads ? r : w;
  ::fcntl(mine.fd, F_SETFL, ::fcntl(mine.fd, F_GETFL) | O_NONBLOCK);
  parent_end = std::move(parent_reads ? r : w);
  child_end = std::move(parent_reads ? w : r);
  return {};
}

/// The environment of a request as `KEY=VALUE` strings.
std::vector<std::string> environment(const command_request& req) {
  std::vector<std::string> out;
  if (req.env_mode != command_request::replace)
    for (char** e = environ; e && *e; ++e) {
      std::string kv{*e};
      auto eq = kv.find('=');
      // The request's value wins in both modes: with the parent's first,
      // getenv() in the child would see the parent's.
      if (eq != std::string::npos && req.env.count(kv.substr(0, eq)))
        continue;
      out.push_back(std::move(kv));
    }
  for (auto& [k, v] : req.env)
    out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& xs) {
  std::vector<char*> out;
  out.reserve(xs.size() + 1);
  for (auto& x : xs)
    out.push_back(x.data());
  out.push_back(nullptr);
  return out;
}

/// Starts `req`'s process, its own process group leader, with stdout and
/// stderr (and stdin when there is input) on pipes; nothing else inherited.
caf::expected<child> spawn_child(const launch& what) {
  auto& req = what.request;
  if (req.argv.empty() || req.argv[0].empty())
    return make_error(errc::invalid_argument, "empty argv: nothing to run");
  if (!req.cwd.empty()) {
    struct stat st;
    if (::stat(req.cwd.c_str(), &st) != 0)
      return make_error(errc::command_failed, "cwd '" + req.cwd + "': " + errno_text(errno));
    if (!S_ISDIR(st.st_mode))
      return make_error(errc::command_failed, "cwd '" + req.cwd + "': " + errno_text(ENOTDIR));
  }
  std::vector<std::string> args;
  if (req.shell) {
    spdlog::info("running through /bin/sh -c (shell = true): {}", req.argv[0]);
    args = {"/bin/sh", "-c", req.argv[0]};
    if (req.argv.size() > 1) {
      args.emplace_back("sh");
      args.insert(args.end(), req.argv.begin() + 1, req.argv.end());
    }
  } else {
    args = req.argv;
  }
  auto env = environment(req);
  auto argv = c_strings(args);
  auto envp = c_strings(env);
  child c;
  fd_guard out_w, err_w, in_r;
  if (auto e = make_pipe(c.out, out_w, true))
    return e;
  if (auto e = make_pipe(c.err, err_w, true))
    return e;
  if (!req.stdin_data.empty())
    if (auto e = make_pipe(c.in, in_r, false))
      return e;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  if (in_r)
    posix_spawn_file_actions_adddup2(&actions, in_r.fd, 0);
  else
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  if (!req.cwd.empty())
    posix_spawn_file_actions_addchdir_np(&actions, req.cwd.c_str());
  // Whatever else the process has open (sockets, database files), the child
  // does not inherit it, close-on-exec or not.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none); // `p21 run` blocks SIGINT/SIGTERM
  posix_spawnattr_setsigdefault(&attr, &all);
  pid_t pid = -1;
  auto rc = args[0].find('/') == std::string::npos
                ? ::posix_spawnp(&pid, args[0].c_str(), &actions, &attr, argv.data(), envp.data())
                : ::posix_spawn(&pid, args[0].c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    std::string why = errno_text(rc);
    if (rc == ENOENT && args[0].find('/') == std::string::npos)
      why += " (not found in PATH)";
    else if (rc == EACCES)
      why += " (not executable)";
    return make_error(errc::command_failed, "cannot run '" + args[0] + "': " + why);
  }
  c.pid = pid;
  c.pidfd = fd_guard{static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))};
  c.stdin_data = req.stdin_data;
  return c;
}

/// Reads what `fd` has; closes it at end of file. Keeps at most `cap` bytes.
void drain(fd_guard& fd, std::string& sink, bool& truncated, uint64_t cap) {
  char buf[65536];
  for (;;) {
    auto n = ::read(fd.fd, buf, sizeof(buf));
    if (n > 0) {
      auto room = cap > sink.size() ? cap - sink.size() : 0;
      auto keep = std::min<uint64_t>(room, static_cast<uint64_t>(n));
      sink.append(buf, keep);
      if (keep < static_cast<uint64_t>(n))
        truncated = true;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    fd.reset(); // end of file or a read error
    return;
  }
}

void feed(child& c) {
  while (c.in && c.stdin_offset < c.stdin_data.size()) {
    auto n = ::write(c.in.fd, c.stdin_data.data() + c.stdin_offset,
                     c.stdin_data.size() - c.stdin_offset);
    if (n > 0) {
      c.stdin_offset += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    // EPIPE: the child closed its stdin; what it did not read is dropped.
    // The SIGPIPE this raised is blocked on this thread; consume it.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    timespec zero{0, 0};
    ::sigtimedwait(&pipe_set, nullptr, &zero);
    break;
  }
  c.in.reset();
}

/// Reaps the leader after killing what is left of its group: a command's
/// background processes do not outlive it. The leader is a zombie until
/// `waitpid`, so its pid (the group id) cannot be reused before the kill.
void reap(child& c, bool block) {
  siginfo_t info{};
  int rc;
  do {
    rc =
        ::waitid(P_PID, static_cast<id_t>(c.pid), &info, WEXITED | WNOWAIT | (block ? 0 : WNOHANG));
  } while (rc < 0 && errno == EINTR);
  if (rc == 0 && info.si_pid == 0)
    return; // still running (no pidfd: polled)
  ::kill(-c.pid, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(c.pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  c.exited = true;
  c.pidfd.reset();
  if (r < 0) {
    // Reaped elsewhere (SIGCHLD set to SIG_IGN by the application).
    c.result.exit_code = -1;
  } else if (WIFEXITED(status)) {
    c.result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    c.result.exit_code = -1;
    c.result.signal = WTERMSIG(status);
  }
}

} // namespace

std::string describe(const std::vector<std::string>& argv) {
  std::string out;
  for (auto& a : argv) {
    if (!out.empty())
      out += ' ';
    out += a;
  }
  return out.size() > 200 ? out.substr(0, 200) + "..." : out;
}

reactor::reactor(caf::timespan kill_grace, std::shared_ptr<std::atomic<uint64_t>> processes)
  : kill_grace_(kill_grace)
  , processes_(std::move(processes)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0)
    throw std::runtime_error("eventfd: " + errno_text(errno));
  thread_ = std::thread{[this] {
    loop();
  }};
}

reactor::~reactor() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  uint64_t one = 1;
  static_cast<void>(::write(wake_fd_, &one, sizeof(one)));
  thread_.join();
  ::close(wake_fd_);
}

void reactor::submit(launch what, callback done) {
  {
    std::unique_lock<std::mutex> guard{mtx_};
    if (stopping_) {
      guard.unlock();
      done(make_error(errc::unavailable, "the subprocess pool is stopping"));
      return;
    }
    pending_.emplace_back(std::move(what), std::move(done));
  }
  uint64_t one = 1;
  static_cast<void>(::write(wake_fd_, &one, sizeof(one)));
}

void reactor::stop(uint64_t job) {
  callback dropped;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = std::find_if(pending_.begin(), pending_.end(),
                          [job](const auto& p) { return p.first.job == job; });
    if (i != pending_.end()) {
      dropped = std::move(i->second);
      pending_.erase(i);
    } else {
      stops_.push_back(job);
    }
  }
  if (dropped) {
    dropped(make_error(errc::cancelled, "the caller cancelled before the command started"));
    return;
  }
  uint64_t one = 1;
  static_cast<void>(::write(wake_fd_, &one, sizeof(one)));
}

size_t reactor::live() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return live_;
}

void reactor::loop() {
  // A write to a pipe whose reader is gone must fail with EPIPE here, not
  // kill the process.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  std::map<uint64_t, child> children;
  uint64_t next_id = 0;
  std::vector<pollfd> fds;
  std::vector<std::pair<uint64_t, int>> owners; // child id, which stream
  auto set_live = [&] {
    std::lock_guard<std::mutex> guard{mtx_};
    live_ = children.size();
    if (processes_)
      processes_->store(live_, std::memory_order_relaxed);
  };
  for (;;) {
    std::vector<std::pair<launch, callback>> fresh;
    std::vector<uint64_t> stops;
    bool stop;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      fresh.swap(pending_);
      stops.swap(stops_);
      stop = stopping_;
    }
    for (auto& [what, done] : fresh) {
      if (stop) {
        done(make_error(errc::unavailable, "the subprocess pool is stopping"));
        continue;
      }
      auto c = spawn_child(what);
      if (!c) {
        done(std::move(c.error()));
        continue;
      }
      c->cap = what.output_cap;
      c->started = clock::now();
      c->deadline = c->started + what.timeout;
      c->job = what.job;
      c->done = std::move(done);
      children.emplace(++next_id, std::move(*c));
    }
    // Cancelled by their callers: ended as a timeout ends a command.
    for (auto job : stops)
      for (auto& [id, c] : children)
        if (c.job == job && !c.exited && !c.kill_at) {
          ::kill(-c.pid, SIGTERM);
          c.kill_at = clock::now() + kill_grace_;
        }
    set_live();
    if (stop)
      break;
    // -- wait for output, exits, deadlines --
    fds.clear();
    owners.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    owners.emplace_back(0, -1);
    auto now = clock::now();
    auto next = now + std::chrono::hours{1};
    for (auto& [id, c] : children) {
      if (c.out) {
        fds.push_back({c.out.fd, POLLIN, 0});
        owners.emplace_back(id, 1);
      }
      if (c.err) {
        fds.push_back({c.err.fd, POLLIN, 0});
        owners.emplace_back(id, 2);
      }
      if (c.in) {
        fds.push_back({c.in.fd, POLLOUT, 0});
        owners.emplace_back(id, 0);
      }
      if (!c.exited && c.pidfd) {
        fds.push_back({c.pidfd.fd, POLLIN, 0});
        owners.emplace_back(id, 3);
      }
      if (!c.exited && !c.pidfd) // no pidfd (old kernel): poll for the exit
        next = std::min(next, now + std::chrono::milliseconds{5});
      if (!c.result.timed_out)
        next = std::min(next, c.deadline);
      if (c.kill_at && !c.exited)
        next = std::min(next, *c.kill_at);
      if (c.drain_until)
        next = std::min(next, *c.drain_until);
    }
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
    auto n = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(0, wait_ms)));
    if (n < 0 && errno != EINTR)
      spdlog::error("subprocess pool: poll: {}", errno_text(errno));
    for (size_t i = 0; n > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0)
        continue;
      auto [id, stream] = owners[i];
      if (id == 0) {
        uint64_t count;
        static_cast<void>(::read(wake_fd_, &count, sizeof(count)));
        continue;
      }
      auto& c = children.at(id);
      switch (stream) {
      case 0:
        feed(c);
        break;
      case 1:
        drain(c.out, c.result.stdout_data, c.result.stdout_truncated, c.cap);
        break;
      case 2:
        drain(c.err, c.result.stderr_data, c.result.stderr_truncated, c.cap);
        break;
      case 3:
        reap(c, true);
        break;
      }
    }
    // -- exits without pidfd, timeouts, completions --
    now = clock::now();
    for (auto i = children.begin(); i != children.end();) {
      auto& c = i->second;
      if (!c.exited && !c.pidfd)
        reap(c, false);
      if (!c.exited && !c.result.timed_out && now >= c.deadline) {
        c.result.timed_out = true;
        ::kill(-c.pid, SIGTERM);
        c.kill_at = now + kill_grace_;
      }
      if (!c.exited && c.kill_at && now >= *c.kill_at) {
        ::kill(-c.pid, SIGKILL);
        c.kill_at.reset();
      }
      if (c.exited && !c.drain_until && (c.out || c.err))
        c.drain_until = now + kill_grace_ + std::chrono::milliseconds{100};
      if (c.exited && c.drain_until && now >= *c.drain_until) {
        // Something outside the group (it called setsid) holds the pipes.
        c.out.reset();
        c.err.reset();
      }
      if (c.exited && !c.out && !c.err) {
        c.in.reset();
        c.result.duration = now - c.started;
        auto done = std::move(c.done);
        auto result = std::move(c.result);
        i = children.erase(i);
        set_live();
        done(std::move(result));
        continue;
      }
      ++i;
    }
  }
  // Stopping: no command outlives the pool.
  for (auto& [id, c] : children) {
    if (!c.exited) {
      ::kill(-c.pid, SIGKILL);
      reap(c, true);
    }
    c.done(make_error(errc::unavailable, "the subprocess pool stopped while '" +
                                             std::to_string(c.pid) + "' was running"));
  }
  children.clear();
  set_live();
}

} // namespace p21::subprocess_detail
