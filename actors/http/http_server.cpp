#include "http_server.hpp"

#include "admission.hpp"
#include "microhttpd_library.hpp"

#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

namespace p21::http_detail {

std::optional<std::string> request::param(const std::string& name) const {
  auto i = query.find(name);
  if (i == query.end())
    return std::nullopt;
  return i->second;
}

std::optional<std::string> request::header(std::string name) const {
  for (auto& c : name)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto i = headers.find(name);
  if (i == headers.end())
    return std::nullopt;
  return i->second;
}

std::optional<uint64_t> parse_sequence_number(std::string_view text) noexcept {
  if (text.empty() || text.size() > 19)
    return std::nullopt;
  uint64_t x = 0;
  for (auto c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  return x;
}

namespace {

using clock = std::chrono::steady_clock;

/// One open connection, for the request deadline.
struct tracked {
  int fd = -1;
  clock::time_point since;
  bool closing = false;
  /// From the listen address itself (`admission::reserved`).
  bool reserved = false;
};

} // namespace

struct server::impl {
  limits lim;
  std::map<std::string, handler> routes;
  /// Loaded by the first `start` (microhttpd_library.hpp: why not linked).
  const microhttpd_library* mhd = nullptr;
  MHD_Daemon* daemon = nullptr;
  int listen_fd = -1;

  // The request deadline: MHD's own timeout is per read, so a client that
  // drips one byte a second would hold its slot for ever. A reaper shuts
  // down (never closes: MHD owns the fd) a connection past its deadline.
  mutable std::mutex mtx;
  std::condition_variable cv;
  std::unordered_map<MHD_Connection*, tracked> open;
  admission admit;
  /// Open connections not `reserved`.
  size_t others_open = 0;
  bool stopping = false;
  std::thread reaper;

  static void on_connection(void* cls, MHD_Connection* c, void**,
                            enum MHD_ConnectionNotificationCode code) {
    auto* self = static_cast<impl*>(cls);
    std::lock_guard<std::mutex> guard{self->mtx};
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto* info = self->mhd->get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
      auto* peer = self->mhd->get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
      bool reserved = peer && peer->client_addr && self->admit.reserved(peer->client_addr);
      self->open[c] = tracked{info ? info->connect_fd : -1, clock::now(), false, reserved};
      if (!reserved)
        ++self->others_open;
    } else {
      // MHD reports the close before it closes the fd: under this lock the
      // reaper never touches an fd number that was reused.
      if (auto i = self->open.find(c); i != self->open.end()) {
        if (!i->second.reserved)
          --self->others_open;
        self->open.erase(i);
      }
    }
  }

  /// At accept, before MHD allocates anything for the connection. Counted
  /// when MHD reports it started: two threads accepting at once may both
  /// take the last unreserved slot (a reserve smaller by threads - 1 at most).
  static MHD_Result on_accept(void* cls, const sockaddr* addr, socklen_t) {
    auto* self = static_cast<impl*>(cls);
    std::lock_guard<std::mutex> guard{self->mtx};
    return self->admit.admit(addr, self->others_open) ? MHD_YES : MHD_NO;
  }

  static void on_completed(void* cls, MHD_Connection* c, void**, enum MHD_RequestTerminationCode) {
    // Keep-alive: the next request's deadline counts from here.
    auto* self = static_cast<impl*>(cls);
    std::lock_guard<std::mutex> guard{self->mtx};
    if (auto i = self->open.find(c); i != self->open.end())
      i->second.since = clock::now();
  }

  void reap() {
    std::unique_lock<std::mutex> guard{mtx};
    auto period = std::max(std::chrono::milliseconds{10}, lim.request_timeout / 4);
    while (!stopping) {
      cv.wait_for(guard, period);
      auto now = clock::now();
      for (auto& [c, t] : open)
        if (!t.closing && t.fd >= 0 && now - t.since > lim.request_timeout) {
          ::shutdown(t.fd, SHUT_RDWR);
          t.closing = true;
        }
    }
  }

  static MHD_Result collect(void* cls, enum MHD_ValueKind, const char* key, const char* value) {
    auto* out = static_cast<std::map<std::string, std::string>*>(cls);
    if (key != nullptr && out->size() < 64)
      out->emplace(key, value ? value : "");
    return MHD_YES;
  }

  static MHD_Result collect_header(void* cls, enum MHD_ValueKind, const char* key,
                                   const char* value) {
    auto* out = static_cast<std::map<std::string, std::string>*>(cls);
    if (key == nullptr)
      return MHD_YES;
    std::string name = key;
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out->emplace(std::move(name), value ? value : "");
    return MHD_YES;
  }

  MHD_Result send(MHD_Connection* c, const response& r) const {
    auto* resp = mhd->create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()),
                                                  MHD_RESPMEM_MUST_COPY);
    if (resp == nullptr)
      return MHD_NO;
    mhd->add_response_header(resp, "Content-Type", r.content_type.c_str());
    for (auto& [k, v] : r.headers)
      mhd->add_response_header(resp, k.c_str(), v.c_str());
    auto rc = mhd->queue_response(c, static_cast<unsigned>(r.status), resp);
    mhd->destroy_response(resp);
    return rc;
  }

  static response error(int status, const std::string& message) {
    response r;
    r.status = status;
    r.body = "{\n  \"error\": \"" + message + "\"\n}\n";
    return r;
  }

  static MHD_Result dispatch(void* cls, MHD_Connection* c, const char* url, const char* method,
                             const char*, const char*, size_t* upload_size, void** req_cls) {
    auto* self = static_cast<impl*>(cls);
    // A body is never read: every route is a GET. Answer on the first call.
    static int marker;
    if (*req_cls == nullptr)
      *req_cls = &marker;
    if (upload_size != nullptr)
      *upload_size = 0;
    auto headers =
        static_cast<size_t>(self->mhd->get_connection_values(c, MHD_HEADER_KIND, nullptr, nullptr));
    if (headers > self->lim.max_headers)
      return self->send(c, error(431, "too many header fields"));
    // Without Host (HTTP/1.0) a request is served: browsers always send one.
    if (auto* host = self->mhd->lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        host != nullptr && !self->admit.host_allowed(host))
      return self->send(c, error(421, "this server does not answer for that Host; see [http] "
                                      "allowed_hosts"));
    request req;
    req.method = method ? method : "";
    req.path = url ? url : "";
    auto route = self->routes.find(req.path);
    if (route == self->routes.end())
      return self->send(c, error(404, "not found"));
    if (req.method != "GET" && req.method != "HEAD") {
      auto r = error(405, "method not allowed; use GET");
      r.headers["Allow"] = "GET";
      return self->send(c, r);
    }
    self->mhd->get_connection_values(c, MHD_GET_ARGUMENT_KIND, &impl::collect, &req.query);
    self->mhd->get_connection_values(c, MHD_HEADER_KIND, &impl::collect_header, &req.headers);
    response r;
    try {
      r = route->second(req);
    } catch (const std::exception& e) {
      r = error(500, "internal error");
    }
    return self->send(c, r);
  }
};

server::server(limits lim)
  : impl_(std::make_unique<impl>()) {
  impl_->lim = lim;
}

server::~server() {
  stop();
}

server& server::get(std::string path, handler h) {
  impl_->routes[std::move(path)] = std::move(h);
  return *this;
}

int server::start(const std::string& host, int port) {
  auto& d = *impl_;
  auto where = host + ":" + std::to_string(port);
  // Before the socket: a missing library leaves nothing to close.
  d.mhd = &microhttpd_library::instance();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found)
    throw std::runtime_error("cannot listen on " + where + " (address not available)");
  int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  bool v6 = found->ai_family == AF_INET6;
  int yes = 1;
  // SO_REUSEADDR only: SO_REUSEPORT would let a second node share the port.
  if (fd >= 0)
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  bool ok = fd >= 0 && ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 &&
            ::listen(fd, d.lim.backlog) == 0;
  ::freeaddrinfo(found);
  if (!ok) {
    auto err = errno;
    if (fd >= 0)
      ::close(fd);
    throw std::runtime_error("cannot listen on " + where + " (" + std::strerror(err) + ")");
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  int actual = v6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                  : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  d.admit = admission{listen_address_of(reinterpret_cast<sockaddr*>(&bound)), d.lim.allowed_hosts,
                      d.lim.max_connections, d.lim.reserved_connections};
  // ITC: so that `stop` can quiesce (take the listen socket back) first.
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | (v6 ? MHD_USE_IPv6 : 0);
  d.daemon = d.mhd->start_daemon(
      flags, 0, &impl::on_accept, &d, &impl::dispatch, &d, //
      MHD_OPTION_LISTEN_SOCKET, fd,                        //
      MHD_OPTION_THREAD_POOL_SIZE, static_cast<unsigned>(std::max<size_t>(1, d.lim.threads)),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(d.lim.max_connections), //
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(d.lim.max_connections_per_ip),
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(d.lim.idle_timeout.count()), //
      // The connection's memory pool holds the request line and headers
      // (and the response's header lines): its size is the header limit.
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, d.lim.max_header_bytes + 4096, //
      MHD_OPTION_NOTIFY_CONNECTION, &impl::on_connection, &d,            //
      MHD_OPTION_NOTIFY_COMPLETED, &impl::on_completed, &d,              //
      MHD_OPTION_END);
  if (d.daemon == nullptr) {
    ::close(fd);
    throw std::runtime_error("cannot start the HTTP server on " + where);
  }
  d.listen_fd = fd;
  d.reaper = std::thread{[&d] {
    d.reap();
  }};
  return actual;
}

void server::stop() {
  auto& d = *impl_;
  if (d.daemon == nullptr)
    return;
  // Quiesced, MHD gives the listen socket back instead of closing it: it is
  // closed exactly once, here.
  auto fd = d.mhd->quiesce_daemon(d.daemon);
  d.mhd->stop_daemon(d.daemon);
  d.daemon = nullptr;
  if (fd != MHD_INVALID_SOCKET)
    ::close(fd);
  d.listen_fd = -1;
  {
    std::lock_guard<std::mutex> guard{d.mtx};
    d.stopping = true;
  }
  d.cv.notify_all();
  if (d.reaper.joinable())
    d.reaper.join();
}

size_t server::connections() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->open.size();
}

} // namespace p21::http_detail
