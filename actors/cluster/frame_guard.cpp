#include "frame_guard.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
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

using steady = std::chrono::steady_clock;

/// A plain port's follower: BASP frames, with the frame checker.
class basp_follower final : public stream_follower {
public:
  basp_follower(uint64_t max_payload, inflight_budget& budget, const std::string& sender)
    : frames_(max_payload, &budget, sender) {}
  std::string feed(const char* data, size_t n) override { return frames_.feed(data, n); }
  // Holds each frame until its payload was walked (`check_basp_payload`).
  std::string pass(const char* data, size_t n, std::string& out) override {
    return frames_.feed(data, n, &out);
  }
  frame_refusal refusal() const noexcept override { return frames_.refusal(); }
  bool handshake_done() const noexcept override { return frames_.headers() > 0; }
  void release() noexcept override { frames_.release(); }

private:
  frame_checker frames_;
};

struct relay {
  /// `address`: who connected (the per-address bounds); `frames` follows
  /// the checked side (the client inbound, the peer outbound).
  relay(std::unique_ptr<stream_follower> follower, const std::string& address)
    : host(address)
    , frames(std::move(follower)) {}
  int client = -1;
  int backend = -1;
  std::string peer;
  /// The peer's address without its port: what the per-address bounds count.
  std::string host;
  std::string to_backend;
  std::string to_client;
  std::unique_ptr<stream_follower> frames;
  steady::time_point accepted = steady::now();
  steady::time_point last_read = accepted;
};

/// The address of `addr` without its port.
std::string host_of(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(addr).sin_addr, host, sizeof host);
  else if (addr.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(addr).sin6_addr, host,
                sizeof host);
  return host;
}

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
    // A full accept queue drops connections the kernel completed, and their
    // clients retry after 1, 3, 7... s: with 64, a burst of 1 100 idle
    // connections was still trickling in (and a legitimate client behind
    // them waiting) 10 s later. The guard closes what is over its bounds at
    // once, so a long queue drains fast.
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
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

/// Connects to `host:port` within `timeout` (0: the system's bound), then
/// makes the socket non-blocking; -1 with errno set on failure.
int connect_to(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0) {
    errno = EHOSTUNREACH;
    return -1;
  }
  int fd = -1;
  for (auto* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0)
      continue;
    if (timeout.count() > 0) {
      // Bounds connect(2) on Linux; cleared again below.
      timeval tv{static_cast<time_t>(timeout.count() / 1000),
                 static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      int saved = errno;
      ::close(fd);
      fd = -1;
      errno = saved;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0)
    return -1;
  timeval none{};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
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

/// Reads what is there from `fd` into `out`, until `out` holds `room`
/// bytes; false on EOF or an error.
bool drain(int fd, std::string& out, size_t& added, size_t room = buffer_cap) {
  char chunk[64 * 1024];
  added = 0;
  for (;;) {
    auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      out.append(chunk, static_cast<size_t>(n));
      added += static_cast<size_t>(n);
      if (out.size() >= room)
        return true;
      continue;
    }
    if (n == 0)
      return false;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

} // namespace

std::string inflight_budget::take(const std::string& address, uint64_t n) {
  auto& mine = by_address_[address];
  if (used_ + n > total_cap_)
    return "its frame would make peers' unsent payload " + std::to_string(used_ + n) +
           " bytes, above the node's limit of " + std::to_string(total_cap_);
  if (mine + n > per_address_cap_)
    return "its frame would make " + address + "'s unsent payload " + std::to_string(mine + n) +
           " bytes, above the per-address limit of " + std::to_string(per_address_cap_);
  used_ += n;
  mine += n;
  return {};
}

void inflight_budget::give(const std::string& address, uint64_t n) noexcept {
  auto i = by_address_.find(address);
  if (i == by_address_.end())
    return;
  auto k = std::min(n, i->second);
  i->second -= k;
  used_ -= std::min(k, used_);
  if (i->second == 0)
    by_address_.erase(i);
}

uint64_t inflight_budget::used_by(const std::string& address) const {
  auto i = by_address_.find(address);
  return i == by_address_.end() ? 0 : i->second;
}

void frame_checker::release() noexcept {
  if (budget_ && held_ > 0)
    budget_->give(address_, held_);
  held_ = 0;
}

std::string frame_checker::feed(const char* data, size_t n, std::string* out) {
  size_t i = 0;
  // Walks the held frame's payload; on success hands the frame on.
  auto pass = [&](const char* payload, size_t len) -> std::string {
    auto why = check_basp_payload(header_[0], payload, len, &refusal_);
    if (!why.empty())
      return why;
    if (frame_.empty()) {
      out->append(reinterpret_cast<const char*>(header_), header_size);
      out->append(payload, len);
    } else {
      out->append(frame_);
      frame_.clear();
    }
    return {};
  };
  while (i < n) {
    if (payload_left_ > 0) {
      auto k = std::min<uint64_t>(payload_left_, n - i);
      if (out)
        frame_.append(data + i, k);
      payload_left_ -= k;
      i += k;
      if (payload_left_ == 0) {
        if (out) {
          if (auto why = pass(frame_.data() + header_size, frame_.size() - header_size);
              !why.empty())
            return why;
        }
        release(); // the whole payload has passed
      }
      continue;
    }
    auto k = std::min(header_size - header_have_, n - i);
    std::memcpy(header_ + header_have_, data + i, k);
    header_have_ += k;
    i += k;
    if (header_have_ < header_size)
      break;
    header_have_ = 0;
    refusal_ = frame_refusal::header;
    if (header_[0] > max_operation)
      return "malformed frame header (operation " + std::to_string(header_[0]) + ")";
    uint64_t len = (uint64_t{header_[4]} << 24) | (uint64_t{header_[5]} << 16) |
                   (uint64_t{header_[6]} << 8) | uint64_t{header_[7]};
    if (len > max_payload_)
      return "a frame announced " + std::to_string(len) + " bytes of payload, above the limit of " +
             std::to_string(max_payload_);
    ++headers_;
    if (out && len > 0 && n - i >= len) {
      // The whole payload is at hand: walk it where it is.
      if (auto why = pass(data + i, len); !why.empty())
        return why;
      i += len;
      continue;
    }
    if (out && len == 0) {
      out->append(reinterpret_cast<const char*>(header_), header_size);
      continue;
    }
    if (budget_ && len > 0) {
      if (auto why = budget_->take(address_, len); !why.empty()) {
        refusal_ = frame_refusal::inflight;
        return why;
      }
      held_ = len;
    }
    if (out)
      frame_.assign(reinterpret_cast<const char*>(header_), header_size);
    payload_left_ = len;
  }
  return {};
}

namespace {

std::atomic<uint64_t> refused_frames[2][frame_refusal_count];

} // namespace

uint64_t frames_refused(bool outbound, frame_refusal reason) noexcept {
  return refused_frames[outbound ? 1 : 0][static_cast<size_t>(reason)].load(
      std::memory_order_relaxed);
}

frame_guard::frame_guard(const std::string& host, uint16_t port, uint16_t backend_port,
                         guard_limits limits, follower_factory follow)
  : backend_port_(backend_port)
  , limits_(limits)
  , follow_(std::move(follow)) {
  listen_fd_ = listen_on(host, port);
  start_thread();
}

frame_guard::frame_guard(outbound_target target, guard_limits limits)
  : target_(std::move(target))
  , limits_(limits) {
  listen_fd_ = listen_on("127.0.0.1", 0);
  start_thread();
}

void frame_guard::start_thread() {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6&>(addr).sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in&>(addr).sin_port);
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error(errno_text("pipe"));
  }
  thread_ = std::thread{[this] {
    run();
  }};
}

int frame_guard::connect_backend() const {
  if (target_.host.empty())
    return connect_to("127.0.0.1", backend_port_, std::chrono::milliseconds{0});
  return connect_to(target_.host, target_.port, limits_.handshake_timeout);
}

uint16_t outbound_port(const std::string& host, uint16_t port, const guard_limits& limits) {
  // Process-wide: CAF's middleman is too, and a handful of peers means a
  // handful of guards. They stop at exit, after the actor systems.
  static std::mutex mtx;
  static std::map<std::pair<std::string, uint16_t>, std::unique_ptr<frame_guard>> guards;
  std::lock_guard<std::mutex> guard{mtx};
  auto& g = guards[{host, port}];
  if (!g)
    g = std::make_unique<frame_guard>(outbound_target{host, port}, limits);
  return g->port();
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
  using std::chrono::milliseconds;
  const bool outbound = !target_.host.empty();
  const std::string remote = target_.host + ":" + std::to_string(target_.port);
  std::vector<relay> relays;
  std::vector<pollfd> fds;
  inflight_budget budget{limits_.max_inflight, limits_.max_inflight_per_address};
  std::map<std::string, size_t> per_host;
  // Out of descriptors, accepting fails while the listener stays readable:
  // pause accepting (doubling up to 2 s) instead of spinning.
  steady::time_point accept_paused_until{};
  milliseconds accept_backoff{50};
  // Refusals are logged at most once a second, with a count.
  uint64_t refused = 0;
  std::string last_refusal;
  steady::time_point refusal_logged{};
  // Dropped connections are logged at most once a second; the next line
  // counts those in between (a peer's bytes are never logged).
  // Drops are logged as `log_rate_limiter` does (p21/log_limits.hpp, which
  // this file, compiled alone into a fuzz target, does not link): bursts of
  // 10 lines, then 5 a second, the next line saying how many were held back.
  uint64_t drops_unlogged = 0;
  double drop_tokens = 10;
  steady::time_point drop_refilled = steady::now();
  // What the checked side sent in one read, before the checker passes it on.
  std::string incoming;
  auto close_relay = [&](relay& r) {
    ::close(r.client);
    ::close(r.backend);
    r.client = r.backend = -1;
    r.frames->release();
    if (--per_host[r.host] == 0)
      per_host.erase(r.host);
  };
  for (;;) {
    auto now = steady::now();
    if (refused > 0 && now - refusal_logged >= std::chrono::seconds{1}) {
      spdlog::warn("cluster: refused {} connection(s) over the limits ({})", refused, last_refusal);
      refused = 0;
      refusal_logged = now;
    }
    // The nearest deadline bounds the wait.
    auto next = steady::time_point::max();
    bool accepting = now >= accept_paused_until;
    if (!accepting)
      next = accept_paused_until;
    for (auto& r : relays) {
      if (limits_.handshake_timeout.count() > 0 && !r.frames->handshake_done())
        next = std::min(next, r.accepted + limits_.handshake_timeout);
      if (limits_.idle_timeout.count() > 0)
        next = std::min(next, r.last_read + limits_.idle_timeout);
    }
    if (refused > 0)
      next = std::min(next, refusal_logged + std::chrono::seconds{1});
    int timeout = -1;
    if (next != steady::time_point::max())
      timeout = static_cast<int>(
          std::max<int64_t>(0, std::chrono::duration_cast<milliseconds>(next - now).count() + 1));
    fds.clear();
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
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
    if (::poll(fds.data(), fds.size(), timeout) < 0) {
      if (errno == EINTR)
        continue;
      spdlog::error("cluster: frame guard stopped: {}", std::strerror(errno));
      break;
    }
    if (fds[0].revents != 0)
      break;
    now = steady::now();
    auto polled = relays.size();
    if (fds[1].revents & POLLIN) {
      for (;;) {
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        int c = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                          SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            spdlog::warn("cluster: cannot accept a connection: {}; not accepting for {} ms",
                         std::strerror(errno), accept_backoff.count());
            accept_paused_until = now + accept_backoff;
            accept_backoff = std::min(accept_backoff * 2, milliseconds{2000});
          }
          break;
        }
        accept_backoff = milliseconds{50};
        auto host = host_of(peer);
        std::string over;
        if (relays.size() >= limits_.max_connections)
          over = "the node's " + std::to_string(limits_.max_connections) + " connections";
        else if (per_host[host] >= limits_.max_connections_per_address)
          over = std::to_string(limits_.max_connections_per_address) + " connections from " + host;
        if (!over.empty()) {
          if (per_host[host] == 0)
            per_host.erase(host);
          ::close(c);
          ++refused;
          last_refusal = over;
          continue;
        }
        int b = connect_backend();
        if (b < 0) {
          if (outbound)
            spdlog::warn("cluster: cannot reach {}: {}", remote, std::strerror(errno));
          else
            spdlog::warn("cluster: cannot reach the node's listener: {}", std::strerror(errno));
          ::close(c);
          continue;
        }
        int one = 1;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto sender = outbound ? target_.host : host;
        relay r{follow_ ? follow_(sender, budget)
                        : std::make_unique<basp_follower>(limits_.max_payload, budget, sender),
                host};
        r.client = c;
        r.backend = b;
        r.peer = outbound ? remote : address_of(peer);
        ++per_host[host];
        relays.push_back(std::move(r));
      }
    }
    for (size_t i = 0; i < polled; ++i) {
      auto& r = relays[i];
      auto c_ev = fds[2 + 2 * i].revents;
      auto b_ev = fds[3 + 2 * i].revents;
      bool open = true;
      // Reads one side into the other's buffer; the checked side's bytes go
      // through the frame checker (the client's inbound, the peer's outbound),
      // which passes on only whole frames whose payload it walked.
      auto read_side = [&](int from, std::string& into, bool checked) {
        size_t added = 0;
        if (!checked) {
          auto before = into.size();
          bool ok = drain(from, into, added);
          r.frames->answered(into.data() + before, added);
          return ok;
        }
        incoming.clear();
        bool ok = drain(from, incoming, added, buffer_cap - std::min(buffer_cap, into.size()));
        if (added > 0)
          r.last_read = now;
        auto why = r.frames->pass(incoming.data(), incoming.size(), into);
        if (!why.empty()) {
          auto reason = r.frames->refusal();
          refused_frames[outbound ? 1 : 0][static_cast<size_t>(reason)].fetch_add(
              1, std::memory_order_relaxed);
          drop_tokens = std::min(
              10.0, drop_tokens + 5 * std::chrono::duration<double>(now - drop_refilled).count());
          drop_refilled = now;
          if (drop_tokens >= 1) {
            drop_tokens -= 1;
            spdlog::warn("cluster: dropped the connection {} {}: {}{}", outbound ? "to" : "from",
                         r.peer, why,
                         drops_unlogged > 0
                             ? " (and " + std::to_string(drops_unlogged) + " more before)"
                             : std::string{});
            drops_unlogged = 0;
          } else {
            ++drops_unlogged;
          }
          return false;
        }
        return ok;
      };
      if (c_ev & (POLLIN | POLLHUP | POLLERR))
        open = read_side(r.client, r.to_backend, !outbound);
      if (open && (b_ev & (POLLIN | POLLHUP | POLLERR)))
        open = read_side(r.backend, r.to_client, outbound);
      open = open && flush(r.backend, r.to_backend) && flush(r.client, r.to_client);
      if (open && limits_.handshake_timeout.count() > 0 && !r.frames->handshake_done() &&
          now - r.accepted >= limits_.handshake_timeout) {
        spdlog::warn("cluster: dropped the connection {} {}: no handshake within {} ms",
                     outbound ? "to" : "from", r.peer, limits_.handshake_timeout.count());
        open = false;
      }
      if (open && limits_.idle_timeout.count() > 0 && now - r.last_read >= limits_.idle_timeout) {
        spdlog::info("cluster: closed the connection {} {}: idle for {} ms",
                     outbound ? "to" : "from", r.peer, limits_.idle_timeout.count());
        open = false;
      }
      if (!open)
        close_relay(r);
    }
    relays.erase(std::remove_if(relays.begin(), relays.end(), [](auto& r) { return r.client < 0; }),
                 relays.end());
  }
  for (auto& r : relays)
    close_relay(r);
}

} // namespace p21::cluster_detail
