#include "frame_guard.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

namespace p21::cluster_detail {

namespace {

/// Bytes buffered per direction before reading from that side pauses.
constexpr size_t buffer_cap = 4 << 20;

struct relay {
  explicit relay(uint64_t max_payload)
    : frames(max_payload) {}
  int client = -1;
  int backend = -1;
  std::string peer;
  std::string to_backend;
  std::string to_client;
  frame_checker frames;
};

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

int listen_on(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0)
    throw std::runtime_error("cannot resolve " + host + ": " + ::gai_strerror(rc));
  std::string problem = "no address for " + host;
  int fd = -1;
  for (auto* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      problem = errno_text("socket");
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      problem = errno_text("cannot listen on " + host + ":" + service);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0)
    throw std::runtime_error(problem);
  return fd;
}

int connect_backend(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

std::string address_of(const sockaddr_storage& a) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (a.ss_family == AF_INET) {
    auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    ::inet_ntop(AF_INET, &v4.sin_addr, host, sizeof host);
    port = ntohs(v4.sin_port);
  } else if (a.ss_family == AF_INET6) {
    auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof host);
    port = ntohs(v6.sin6_port);
  }
  return std::string{host} + ":" + std::to_string(port);
}

/// Writes what it can of `buf` to `fd`; false on an error.
bool flush(int fd, std::string& buf) {
  while (!buf.empty()) {
    auto n = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK;
    buf.erase(0, static_cast<size_t>(n));
  }
  return true;
}

/// Reads what is there from `fd` into `out`; false on EOF or an error.
bool drain(int fd, std::string& out, size_t& added) {
  char chunk[64 * 1024];
  added = 0;
  for (;;) {
    auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      out.append(chunk, static_cast<size_t>(n));
      added += static_cast<size_t>(n);
      if (out.size() >= buffer_cap)
        return true;
      continue;
    }
    if (n == 0)
      return false;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

} // namespace

std::string frame_checker::feed(const char* data, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (payload_left_ > 0) {
      auto k = std::min<uint64_t>(payload_left_, n - i);
      payload_left_ -= k;
      i += k;
      continue;
    }
    auto k = std::min(header_size - header_have_, n - i);
    std::memcpy(header_ + header_have_, data + i, k);
    header_have_ += k;
    i += k;
    if (header_have_ < header_size)
      break;
    header_have_ = 0;
    if (header_[0] > max_operation)
      return "malformed frame header (operation " + std::to_string(header_[0]) + ")";
    uint64_t len = (uint64_t{header_[4]} << 24) | (uint64_t{header_[5]} << 16) |
                   (uint64_t{header_[6]} << 8) | uint64_t{header_[7]};
    if (len > max_payload_)
      return "a frame announced " + std::to_string(len) + " bytes of payload, above the limit of " +
             std::to_string(max_payload_);
    payload_left_ = len;
  }
  return {};
}

frame_guard::frame_guard(const std::string& host, uint16_t port, uint16_t backend_port,
                         uint64_t max_payload)
  : backend_port_(backend_port)
  , max_payload_(max_payload) {
  listen_fd_ = listen_on(host, port);
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6&>(addr).sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in&>(addr).sin_port);
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error(errno_text("pipe"));
  }
  thread_ = std::thread{[this] { run(); }};
}

frame_guard::~frame_guard() {
  char stop = 1;
  [[maybe_unused]] auto n = ::write(wake_[1], &stop, 1);
  thread_.join();
  ::close(wake_[0]);
  ::close(wake_[1]);
  ::close(listen_fd_);
}

void frame_guard::run() {
  std::vector<relay> relays;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (auto& r : relays) {
      short client = r.to_client.empty() ? 0 : POLLOUT;
      short backend = r.to_backend.empty() ? 0 : POLLOUT;
      if (r.to_backend.size() < buffer_cap)
        client |= POLLIN;
      if (r.to_client.size() < buffer_cap)
        backend |= POLLIN;
      fds.push_back({r.client, client, 0});
      fds.push_back({r.backend, backend, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR)
        continue;
      spdlog::error("cluster: frame guard stopped: {}", std::strerror(errno));
      break;
    }
    if (fds[0].revents != 0)
      break;
    auto polled = relays.size();
    if (fds[1].revents & POLLIN) {
      for (;;) {
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        int c = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
          break;
        int b = connect_backend(backend_port_);
        if (b < 0) {
          spdlog::warn("cluster: cannot reach the node's listener: {}", std::strerror(errno));
          ::close(c);
          continue;
        }
        int one = 1;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        relay r{max_payload_};
        r.client = c;
        r.backend = b;
        r.peer = address_of(peer);
        relays.push_back(std::move(r));
      }
    }
    for (size_t i = 0; i < polled; ++i) {
      auto& r = relays[i];
      auto c_ev = fds[2 + 2 * i].revents;
      auto b_ev = fds[3 + 2 * i].revents;
      bool open = true;
      if (c_ev & (POLLIN | POLLHUP | POLLERR)) {
        auto before = r.to_backend.size();
        size_t added = 0;
        open = drain(r.client, r.to_backend, added);
        auto why = r.frames.feed(r.to_backend.data() + before, added);
        if (!why.empty()) {
          spdlog::warn("cluster: dropped the connection from {}: {}", r.peer, why);
          open = false;
        }
      }
      if (open && (b_ev & (POLLIN | POLLHUP | POLLERR))) {
        size_t added = 0;
        open = drain(r.backend, r.to_client, added);
      }
      open = open && flush(r.backend, r.to_backend) && flush(r.client, r.to_client);
      if (!open) {
        ::close(r.client);
        ::close(r.backend);
        r.client = r.backend = -1;
      }
    }
    relays.erase(std::remove_if(relays.begin(), relays.end(), [](auto& r) { return r.client < 0; }),
                 relays.end());
  }
  for (auto& r : relays) {
    ::close(r.client);
    ::close(r.backend);
  }
}

} // namespace p21::cluster_detail
