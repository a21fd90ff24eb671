#include "pressure_watcher.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace p21 {

namespace {

/// The kernel's bounds on a trigger's window (kernel/sched/psi.c).
constexpr uint64_t window_min_us = 500'000;
constexpr uint64_t window_max_us = 10'000'000;
/// Without CAP_SYS_RESOURCE the window must be a multiple of this.
constexpr uint64_t unprivileged_step_us = 2'000'000;

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string mib(uint64_t bytes) {
  return std::to_string(bytes >> 20) + " MiB";
}

std::string millis(std::chrono::nanoseconds d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us % 1000 == 0)
    return std::to_string(us / 1000) + "ms";
  return std::to_string(us) + "us";
}

} // namespace

std::string psi_trigger::text() const {
  return std::string{full ? "full" : "some"} + " " + std::to_string(stall_us) + " " +
         std::to_string(window_us);
}

std::optional<psi_trigger> parse_psi_trigger(const std::string& text, std::string& problem) {
  std::istringstream in{text};
  std::string kind;
  int64_t stall = -1, window = -1;
  std::string rest;
  if (!(in >> kind >> stall >> window) || (in >> rest)) {
    problem = "a PSI trigger is \"some|full STALL_US WINDOW_US\", e.g. \"some 100000 1000000\"; "
              "got '" + text + "'";
    return std::nullopt;
  }
  if (kind != "some" && kind != "full") {
    problem = "a PSI trigger starts with 'some' or 'full', not '" + kind + "'";
    return std::nullopt;
  }
  if (window < int64_t(window_min_us) || window > int64_t(window_max_us)) {
    problem = "a PSI trigger's window is 500000 to 10000000 us, got " + std::to_string(window);
    return std::nullopt;
  }
  if (stall <= 0 || stall > window) {
    problem = "a PSI trigger's stall is more than 0 and at most its window (" +
              std::to_string(window) + " us), got " + std::to_string(stall);
    return std::nullopt;
  }
  return psi_trigger{kind == "full", uint64_t(stall), uint64_t(window)};
}

psi_trigger unprivileged(psi_trigger t) {
  auto window = (t.window_us + unprivileged_step_us - 1) / unprivileged_step_us * unprivileged_step_us;
  window = std::min(window, window_max_us - window_max_us % unprivileged_step_us);
  t.stall_us = std::max<uint64_t>(1, uint64_t(double(t.stall_us) * double(window) / double(t.window_us)));
  t.stall_us = std::min(t.stall_us, window);
  t.window_us = window;
  return t;
}

std::string psi_memory_file(const std::string& proc_root, const std::string& cgroup_root) {
  std::ifstream in{proc_root + "/self/cgroup"};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) != 0)
      continue;
    auto rel = line.substr(3);
    // cgroup v2 mounted at the root, or (hybrid) under "unified".
    for (auto& base : {cgroup_root, cgroup_root + "/unified"}) {
      auto path = base + (rel == "/" ? "" : rel) + "/memory.pressure";
      if (exists(path))
        return path;
    }
  }
  auto system = proc_root + "/pressure/memory";
  return exists(system) ? system : std::string{};
}

psi_watch open_psi_trigger(const std::string& path, const psi_trigger& t) {
  psi_watch w;
  w.path = path;
  w.trigger = t;
  auto attempt = [&](const psi_trigger& trig) {
    int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
      return std::make_pair(-1, errno);
    auto text = trig.text();
    // The kernel wants the terminating NUL counted.
    if (::write(fd, text.c_str(), text.size() + 1) < 0) {
      int err = errno;
      ::close(fd);
      return std::make_pair(-1, err);
    }
    return std::make_pair(fd, 0);
  };
  auto [fd, err] = attempt(t);
  if (fd < 0 && err == EINVAL) {
    auto relaxed = unprivileged(t);
    if (relaxed.window_us != t.window_us) {
      std::tie(fd, err) = attempt(relaxed);
      if (fd >= 0)
        w.trigger = relaxed;
    }
  }
  if (fd < 0)
    w.problem = "cannot set PSI trigger '" + t.text() + "' on " + path + ": " + std::strerror(err);
  w.fd = fd;
  return w;
}

uint64_t current_rss() {
  // statm: size resident shared ... in pages.
  static const long page = ::sysconf(_SC_PAGESIZE);
  int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char buf[128];
  auto n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0)
    return 0;
  buf[n] = 0;
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2)
    return 0;
  return resident * uint64_t(page);
}

pressure_watcher::pressure_watcher(pressure_settings s,
                                   std::function<void(const pressure_event&)> on_event)
  : cfg_(std::move(s))
  , on_event_(std::move(on_event))
  , edge_(cfg_.check_interval.count() > 0 ? cfg_.memory_budget : 0) {
  std::string psi_text;
  if (!cfg_.psi_trigger.empty()) {
    std::string problem;
    auto trig = parse_psi_trigger(cfg_.psi_trigger, problem);
    auto path = psi_memory_file(cfg_.proc_root, cfg_.cgroup_root);
    if (!trig)
      psi_text = "no PSI trigger (" + problem + ")";
    else if (path.empty())
      psi_text = "no PSI trigger (the kernel has no " + cfg_.proc_root + "/pressure/memory)";
    else {
      psi_ = open_psi_trigger(path, *trig);
      psi_text = psi_.fd >= 0 ? "PSI trigger '" + psi_.trigger.text() + "' on " + psi_.path
                              : "no PSI trigger (" + psi_.problem + ")";
    }
  } else {
    psi_text = "no PSI trigger (monitor.psi_trigger is empty)";
  }
  std::string budget_text =
      edge_.budget() > 0
          ? "RSS against a " + mib(edge_.budget()) + " budget every " + millis(cfg_.check_interval)
          : cfg_.memory_budget == 0 ? "no RSS check (no performance.memory_budget)"
                                    : "no RSS check (monitor.pressure_check is 0)";
  sources_ = psi_text + " and " + budget_text;
  if (psi_.fd < 0 && edge_.budget() == 0)
    return;
  if (::pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    sources_ = "nothing: no pipe for the watcher's thread (" + std::string{std::strerror(errno)} + ")";
    if (psi_.fd >= 0)
      ::close(psi_.fd);
    psi_.fd = -1;
    return;
  }
  thread_ = std::thread{[this] { run(); }};
}

pressure_watcher::~pressure_watcher() {
  if (thread_.joinable()) {
    char x = 1;
    (void)!::write(stop_pipe_[1], &x, 1);
    thread_.join();
  }
  for (int fd : {stop_pipe_[0], stop_pipe_[1], psi_.fd})
    if (fd >= 0)
      ::close(fd);
}

void pressure_watcher::run() {
  using clock = std::chrono::steady_clock;
  pollfd fds[2] = {{stop_pipe_[0], POLLIN, 0}, {psi_.fd, POLLPRI, 0}};
  auto next_check = clock::now();
  for (;;) {
    nfds_t n = fds[1].fd >= 0 ? 2 : 1;
    timespec wait{};
    timespec* timeout = nullptr; // PSI alone: wait for the kernel
    if (edge_.budget() > 0) {
      auto left = std::max(clock::duration::zero(), next_check - clock::now());
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      wait.tv_sec = ns / 1'000'000'000;
      wait.tv_nsec = ns % 1'000'000'000;
      timeout = &wait;
    }
    int r = ::ppoll(fds, n, timeout, nullptr);
    if (r < 0 && errno != EINTR)
      return;
    if (r > 0 && (fds[0].revents & POLLIN))
      return;
    if (r > 0 && n == 2 && fds[1].revents) {
      if (fds[1].revents & POLLPRI) {
        on_event_({"psi", cfg_.read_rss(), cfg_.memory_budget, clock::now()});
      } else if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        // The cgroup went away: the budget check goes on alone.
        fds[1].fd = -1;
        if (edge_.budget() == 0)
          return;
      }
    }
    if (edge_.budget() > 0 && clock::now() >= next_check) {
      next_check = clock::now() + cfg_.check_interval;
      auto rss = cfg_.read_rss();
      if (edge_.observe(rss))
        on_event_({"budget", rss, edge_.budget(), clock::now()});
    }
  }
}

} // namespace p21
