#pragma once

// Loopback sockets for tests. Failures throw: Catch reports them as the
// test's failure with the reason.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace p21::test {

namespace detail {

inline sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

[[noreturn]] inline void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

} // namespace detail

/// A socket listening on 127.0.0.1 (`port` 0: one the kernel picks) and its port.
inline std::pair<int, uint16_t> listen_loopback(uint16_t port = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    detail::fail("socket");
  auto addr = detail::loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    detail::fail("listen on 127.0.0.1:" + std::to_string(port));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return {fd, ntohs(addr.sin_port)};
}

/// A loopback port that was free a moment ago, for a server the test starts
/// elsewhere (another process, a config file).
inline uint16_t free_port() {
  auto [fd, port] = listen_loopback();
  ::close(fd);
  return port;
}

/// A blocking TCP connection to 127.0.0.1:`port`.
inline int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    detail::fail("socket");
  auto addr = detail::loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    detail::fail("connect to 127.0.0.1:" + std::to_string(port));
  }
  return fd;
}

/// A descriptor closed at the end of the scope.
class unique_fd {
public:
  explicit unique_fd(int fd = -1) noexcept
    : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept
    : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_;
};

/// Accepts a connection on `listener` if one arrives within `timeout`.
inline unique_fd accept_within(int listener, std::chrono::milliseconds timeout) {
  pollfd p{listener, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
    return unique_fd{};
  return unique_fd{::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC)};
}

/// Sends all of `data`; false when the peer is gone (no SIGPIPE).
inline bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    auto n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

/// What `receive` got: the bytes, and whether the peer closed (or reset)
/// the connection.
struct received {
  std::string data;
  bool closed = false;
};

/// Reads from `fd` until `want` bytes arrived, the peer closed, or
/// `timeout` passed, whichever comes first.
inline received receive(int fd, size_t want, std::chrono::milliseconds timeout) {
  received out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[64 * 1024];
  while (out.data.size() < want) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    auto ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0)
      break;
    auto n = ::recv(fd, buf, std::min(sizeof buf, want - out.data.size()), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) { // end of stream, or reset by the peer
      out.closed = true;
      break;
    }
    out.data.append(buf, static_cast<size_t>(n));
  }
  return out;
}

} // namespace p21::test
