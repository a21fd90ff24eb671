#pragma once

// A small bounded HTTP/1.1 server over libmicrohttpd: routes registered one
// line each, and limits that hold whatever clients do. Connections are
// handled by epoll threads, so a slow or idle client holds a connection
// slot, never a thread; slots are capped in total and per client address;
// a request (headers included) has an idle timeout and a total deadline;
// headers are capped in bytes and in number; the last slots are kept for the
// listen address itself, and a request must name this server in `Host`.
// Plain C++, no CAF.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace p21::http_detail {

/// What a route sees of a request.
struct request {
  std::string method;
  std::string path;
  /// Query parameters, decoded.
  std::map<std::string, std::string> query;
  /// Header fields, names lower-cased (at most `max_headers` of them).
  std::map<std::string, std::string> headers;

  /// The parameter `name`, if given.
  std::optional<std::string> param(const std::string& name) const;

  /// The header field `name` (any case), if given; e.g. `Accept` for
  /// content negotiation.
  std::optional<std::string> header(std::string name) const;
};

/// What a route answers.
struct response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
};

using handler = std::function<response(const request&)>;

/// The bounds the server keeps.
struct limits {
  /// Connections open at once, all clients together; more are closed at accept.
  size_t max_connections = 128;
  /// Connections open at once from one address.
  size_t max_connections_per_ip = 64;
  /// Of `max_connections`, the slots only the listen address itself (127.0.0.1
  /// or ::1 on a wildcard listener) may take: the node's own health checks
  /// get in while other addresses hold all they are allowed.
  size_t reserved_connections = 8;
  /// Names a request's `Host` may give besides IP literals and `localhost`
  /// (on a loopback listener); others get 421 (DNS rebinding).
  std::vector<std::string> allowed_hosts;
  /// A connection silent this long is closed.
  std::chrono::seconds idle_timeout{5};
  /// From a request's first byte (or the end of the previous one on the same
  /// connection) to the end of its response; then the connection is closed.
  std::chrono::milliseconds request_timeout{10'000};
  /// Bytes of request line plus headers; beyond: 431 and close.
  size_t max_header_bytes = 16 * 1024;
  /// Header fields per request; beyond: 431.
  size_t max_headers = 64;
  /// Threads that poll connections and run handlers.
  size_t threads = 2;
  /// Pending connections the kernel queues before accept.
  int backlog = 64;
};

/// `text` as a sequence number: digits only, at most 19 of them.
std::optional<uint64_t> parse_sequence_number(std::string_view text) noexcept;

class server {
public:
  // -- constructors -------------------------------------------------------------

  server(limits lim = {});
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // -- routes (before `start`) --------------------------------------------------

  /// Answers `GET path` (and HEAD) with `h`; another method on a known path
  /// gets 405, an unknown path 404.
  server& get(std::string path, handler h);

  // -- running ------------------------------------------------------------------

  /// Binds `host:port` (0: a free port) and starts serving; returns the port.
  /// Throws `std::runtime_error` naming the address when it cannot listen.
  int start(const std::string& host, int port);

  /// Stops accepting, closes every connection and joins the threads; bounded
  /// by the slowest running handler, never by a client.
  void stop();

  /// Connections open now.
  size_t connections() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace p21::http_detail
