// `[http]`: the keys of the metrics and health endpoint.

#include "p21/config_schema.hpp"
#include "p21/http_config.hpp"

namespace p21 {

namespace {

using namespace std::chrono_literals;

std::string listen_problem(const key_value& v) {
  auto& listen = std::get<std::string>(v);
  if (listen.empty())
    return {};
  auto colon = listen.rfind(':');
  auto port = colon == std::string::npos ? std::string{} : listen.substr(colon + 1);
  if (colon == 0 || port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535)
    return "expected \"HOST:PORT\" such as \"127.0.0.1:9121\"";
  return {};
}

} // namespace

void declare_http_keys(config_schema& schema) {
  schema
      .section<http_config>("http", "The metrics and health endpoint.")
      .string("listen", &http_config::listen,
              "`\"HOST:PORT\"` to listen on; empty keeps HTTP off; port 0 picks a free one")
      .refine(listen_problem)
      .count("max_connections", &http_config::max_connections, 1, 10'000,
             "connections open at once, all clients together; more are closed at accept")
      .count("max_connections_per_ip", &http_config::max_connections_per_ip, 1, 10'000,
             "connections open at once from one client address")
      .count("reserved_connections", &http_config::reserved_connections, 0, 10'000,
             "of `max_connections`, the slots only the listen address itself may take "
             "(127.0.0.1 and ::1 when listening on every address), so that the node's own "
             "health checks get in while other addresses hold theirs; at most "
             "max_connections - 1 are kept")
      .strings("allowed_hosts", &http_config::allowed_hosts,
               "names a request's `Host` may give (any port), besides IP literals and "
               "`localhost` on a loopback listener; other names get 421 (DNS rebinding); a "
               "request without Host (HTTP/1.0) is served")
      .duration("idle_timeout", &http_config::idle_timeout, 1s,
                "a connection silent this long is closed")
      .duration("request_timeout", &http_config::request_timeout, 10ms,
                "a request's deadline from its first byte to the end of its response; then the "
                "connection is closed, however slowly the client sends")
      .count("max_header_bytes", &http_config::max_header_bytes, 1024, 1024 * 1024,
             "bytes of request line and headers; beyond: 431")
      .count("max_headers", &http_config::max_headers, 1, 10'000,
             "header fields of one request; beyond: 431")
      .count("threads", &http_config::threads, 1, 64,
             "threads that poll connections and answer requests (a slow client holds a "
             "connection, never a thread)");
}

} // namespace p21
