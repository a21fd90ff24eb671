// Who the HTTP endpoint serves (issue 30): a request must name this server
// in `Host` (a DNS rebinding page reached the JSON routes of a loopback
// listener under the attacker's name), and the last connection slots are
// the listen address's own (other loopback addresses, 127.0.0.2 and .3,
// held every slot and /health from 127.0.0.1 went unanswered).

#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include "actors/http/admission.hpp"
#include "actors/http/http_server.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace p21::test;
using namespace std::chrono_literals;
using http_detail::admission;

namespace {

sockaddr_storage ipv4(const char* text, uint16_t port = 0) {
  sockaddr_storage out{};
  auto* in = reinterpret_cast<sockaddr_in*>(&out);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  ::inet_pton(AF_INET, text, &in->sin_addr);
  return out;
}

const sockaddr* sa(const sockaddr_storage& s) {
  return reinterpret_cast<const sockaddr*>(&s);
}

/// A connection to 127.0.0.1:`port` from `from` (another loopback address).
unique_fd connect_from(const char* from, uint16_t port) {
  unique_fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  auto local = ipv4(from);
  auto remote = ipv4("127.0.0.1", port);
  if (::bind(fd.get(), sa(local), sizeof(sockaddr_in)) != 0 ||
      ::connect(fd.get(), sa(remote), sizeof(sockaddr_in)) != 0)
    throw std::runtime_error(std::string{"connect from "} + from + ": " + std::strerror(errno));
  return fd;
}

/// The status line of one request on `fd` (empty when the server closed
/// the connection or did not answer within 3 s).
std::string status_line(int fd, const std::string& request) {
  if (!send_all(fd, request))
    return {};
  auto got = receive(fd, 12, 3s);
  return got.data.size() >= 12 ? got.data.substr(0, 12) : std::string{};
}

std::string get(const std::string& host, const std::string& version = "HTTP/1.1") {
  return "GET /health " + version + "\r\n" + (host.empty() ? "" : "Host: " + host + "\r\n") +
         "\r\n";
}

http_detail::response ok(const http_detail::request&) {
  return {};
}

} // namespace

TEST_CASE("a Host is allowed when it is an IP literal, localhost on a loopback listener, or "
          "in allowed_hosts") {
  auto loop = http_detail::listen_address_of(sa(ipv4("127.0.0.1", 9121)));
  admission a{loop, {"Node1.Example"}, 128, 8};
  CHECK(a.host_allowed("127.0.0.1:9121"));
  CHECK(a.host_allowed("127.0.0.1"));
  CHECK(a.host_allowed("[::1]:9121"));
  CHECK(a.host_allowed("localhost:9121"));
  CHECK(a.host_allowed("LOCALHOST."));
  CHECK(a.host_allowed("node1.example:443"));
  CHECK_FALSE(a.host_allowed("evil.example:9121"));
  CHECK_FALSE(a.host_allowed("127.0.0.1.evil.example"));
  CHECK_FALSE(a.host_allowed("localhost.evil.example"));
  CHECK_FALSE(a.host_allowed(""));
  auto lan = http_detail::listen_address_of(sa(ipv4("10.1.2.3", 9121)));
  CHECK_FALSE(admission{lan, {}, 128, 8}.host_allowed("localhost"));
}

TEST_CASE("the reserved slots are the listen address's own") {
  auto loop = http_detail::listen_address_of(sa(ipv4("127.0.0.1", 9121)));
  admission a{loop, {}, 10, 3};
  CHECK(a.reserved(sa(ipv4("127.0.0.1"))));
  CHECK_FALSE(a.reserved(sa(ipv4("127.0.0.2"))));
  CHECK(a.admit(sa(ipv4("127.0.0.2")), 6));
  CHECK_FALSE(a.admit(sa(ipv4("127.0.0.2")), 7));
  CHECK(a.admit(sa(ipv4("127.0.0.1")), 7));
  auto any = http_detail::listen_address_of(sa(ipv4("0.0.0.0", 9121)));
  admission w{any, {}, 10, 3};
  CHECK(w.reserved(sa(ipv4("127.0.0.1"))));
  CHECK_FALSE(w.reserved(sa(ipv4("10.1.2.3"))));
  // A reserve as large as the cap still leaves one slot to everyone.
  CHECK(admission{loop, {}, 4, 100}.admit(sa(ipv4("10.1.2.3")), 0));
}

TEST_CASE("a request naming another host (DNS rebinding) gets 421 while the listen address, "
          "localhost, allowed_hosts and HTTP/1.0 without Host are served") {
  http_detail::limits lim;
  lim.allowed_hosts = {"node1.example"};
  http_detail::server srv{lim};
  srv.get("/health", ok);
  auto port = static_cast<uint16_t>(srv.start("127.0.0.1", 0));
  auto p = std::to_string(port);
  auto status = [&](const std::string& request) {
    unique_fd fd{connect_loopback(port)};
    return status_line(fd.get(), request);
  };
  CHECK(status(get("evil.example:" + p)) == "HTTP/1.1 421");
  CHECK(status(get("127.0.0.1:" + p)) == "HTTP/1.1 200");
  CHECK(status(get("localhost:" + p)) == "HTTP/1.1 200");
  CHECK(status(get("node1.example")) == "HTTP/1.1 200");
  CHECK(status(get("", "HTTP/1.0")).substr(9) == "200");
}

TEST_CASE("with 127.0.0.2 and 127.0.0.3 holding their max connections, /health from the "
          "listen address still answers") {
  http_detail::limits lim;
  lim.max_connections = 16;
  lim.max_connections_per_ip = 8;
  lim.reserved_connections = 2;
  lim.idle_timeout = std::chrono::seconds{30};
  lim.request_timeout = std::chrono::seconds{30};
  http_detail::server srv{lim};
  srv.get("/health", ok);
  auto port = static_cast<uint16_t>(srv.start("127.0.0.1", 0));
  // Half-sent requests: each held until a timeout the test does not reach.
  std::vector<unique_fd> held;
  for (auto* from : {"127.0.0.2", "127.0.0.3"})
    for (size_t i = 0; i < lim.max_connections_per_ip; ++i) {
      held.push_back(connect_from(from, port));
      send_all(held.back().get(), "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    }
  // Each is either open at the server or closed by it: wait (bounded) until
  // the server has decided on all of them.
  auto closed_by_server = [&] {
    size_t n = 0;
    for (auto& fd : held) {
      char c;
      auto r = ::recv(fd.get(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        ++n;
    }
    return n;
  };
  REQUIRE(eventually([&] { return srv.connections() + closed_by_server() == held.size(); }, 10s));
  // 16 less the 2 reserved; two server threads accepting at the same moment
  // can each pass the check before either counts, so the reserve may lose
  // one slot per extra thread (docs/security.md), never all of them.
  CHECK(srv.connections() >= 14);
  CHECK(srv.connections() <= 14 + (lim.threads - 1));
  unique_fd mine{connect_loopback(port)};
  CHECK(status_line(mine.get(), get("127.0.0.1:" + std::to_string(port))) == "HTTP/1.1 200");
}
