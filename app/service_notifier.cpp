#include "app/service_notifier.hpp"

#include <cstdlib>
#include <cstring>
#include <ctime>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace p21::app {

service_notifier service_notifier::from_environment() {
  std::string path;
  if (auto p = std::getenv("NOTIFY_SOCKET"))
    path = p;
  std::optional<std::chrono::microseconds> watchdog;
  auto usec = std::getenv("WATCHDOG_USEC");
  auto pid = std::getenv("WATCHDOG_PID");
  // WATCHDOG_PID names the process the watchdog is meant for; a child that
  // inherited the variables is not it.
  if (usec && (!pid || std::strtoll(pid, nullptr, 10) == static_cast<long long>(getpid()))) {
    auto n = std::strtoll(usec, nullptr, 10);
    if (n > 0)
      watchdog = std::chrono::microseconds{n};
  }
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  return service_notifier{std::move(path), watchdog};
}

service_notifier::service_notifier(std::string socket_path,
                                   std::optional<std::chrono::microseconds> watchdog)
  : path_(std::move(socket_path))
  , watchdog_(watchdog) {
  if (path_.empty() || path_.size() >= sizeof(sockaddr_un::sun_path))
    return;
  if (path_[0] != '/' && path_[0] != '@')
    return;
  fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

service_notifier::~service_notifier() {
  if (fd_ >= 0)
    close(fd_);
}

service_notifier::service_notifier(service_notifier&& other) noexcept
  : fd_(other.fd_)
  , path_(std::move(other.path_))
  , watchdog_(other.watchdog_) {
  other.fd_ = -1;
}

std::optional<std::chrono::microseconds> service_notifier::watchdog_period() const noexcept {
  if (!watchdog_)
    return std::nullopt;
  return *watchdog_ / 2;
}

bool service_notifier::notify(const std::string& state) {
  if (fd_ < 0)
    return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  if (path_[0] == '@')
    addr.sun_path[0] = '\0'; // abstract namespace
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size());
  auto n = sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                  len);
  return n == static_cast<ssize_t>(state.size());
}

bool service_notifier::reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec = static_cast<long long>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
  return notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

} // namespace p21::app
