// The TLS port's guard: the record follower on byte streams (no sockets),
// the guard with it between sockets, and the descriptor budget of its
// connection cap.

#include <catch2/catch.hpp>

#include <string>

#include "actors/cluster/descriptors.hpp"
#include "actors/cluster/frame_guard.hpp"
#include "actors/cluster/tls_records.hpp"
#include "support/net.hpp"

using namespace p21::cluster_detail;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

using follower = tls_record_follower;

/// A record header and `length` body bytes.
std::string record(uint8_t type, size_t length, char fill = '\x17') {
  std::string r{static_cast<char>(type), '\x03', '\x03', static_cast<char>(length >> 8),
                static_cast<char>(length & 0xff)};
  return r + std::string(length, fill);
}

/// A handshake record holding a ServerHello; with `tls13`, its
/// supported_versions extension selects TLS 1.3.
std::string server_hello(bool tls13) {
  std::string body;
  body += std::string{'\x03', '\x03'};                   // legacy_version
  body += std::string(32, '\x11');                       // random
  body += std::string{'\x20'} + std::string(32, '\x22'); // session id
  body += std::string{'\x13', '\x01', '\x00'};           // cipher suite, compression
  std::string ext;
  ext += std::string{'\x00', '\x33', '\x00', '\x02', '\x00', '\x1d'}; // another extension first
  if (tls13)
    ext += std::string{'\x00', '\x2b', '\x00', '\x02', '\x03', '\x04'};
  body += std::string{static_cast<char>(ext.size() >> 8), static_cast<char>(ext.size())} + ext;
  std::string msg{'\x02', '\x00', static_cast<char>(body.size() >> 8),
                  static_cast<char>(body.size())};
  msg += body;
  std::string r{'\x16', '\x03', '\x03', static_cast<char>(msg.size() >> 8),
                static_cast<char>(msg.size())};
  return r + msg;
}

std::string feed(follower& f, const std::string& bytes) {
  return f.feed(bytes.data(), bytes.size());
}

void answer(follower& f, const std::string& bytes) {
  f.answered(bytes.data(), bytes.size());
}

} // namespace

TEST_CASE("TLS records: garbage, plain BASP and HTTP are refused at their first header",
          "[tls_guard]") {
  follower http;
  CHECK_THAT(feed(http, "GET / HTTP/1.1\r\n\r\n"), Catch::Contains("content type 71"));
  follower basp; // a BASP header starts with its operation, 0..6
  CHECK_THAT(feed(basp, std::string{'\x02', '\x00', '\x00', '\x00', '\xff', '\xff'}),
             Catch::Contains("not a TLS record"));
  follower version;
  CHECK_THAT(feed(version, std::string{'\x16', '\x07', '\x01', '\x00', '\x01'}),
             Catch::Contains("version 0x0701"));
  follower app_first;
  CHECK_THAT(feed(app_first, record(follower::application_data, 10)),
             Catch::Contains("must start with a handshake record"));
}

TEST_CASE("TLS records: a record of 2^14 + 2048 bytes passes, one byte more is refused",
          "[tls_guard]") {
  follower at;
  CHECK(feed(at, record(follower::handshake, follower::max_record)).empty());
  CHECK(at.client_records() == 1);
  follower above;
  CHECK_THAT(feed(above, record(follower::handshake, follower::max_record + 1).substr(0, 5)),
             Catch::Contains("18433 bytes") && Catch::Contains("limit of 18432"));
}

TEST_CASE("TLS records: headers split across reads and bodies of any size are followed",
          "[tls_guard]") {
  auto stream = record(follower::handshake, 300) + record(follower::change_cipher_spec, 1) +
                record(follower::application_data, 0) + record(follower::application_data, 70);
  follower whole;
  CHECK(feed(whole, stream).empty());
  CHECK(whole.client_records() == 4);
  follower bytewise;
  for (char b : stream)
    REQUIRE(bytewise.feed(&b, 1).empty());
  CHECK(bytewise.client_records() == 4);
  // A bad header after good records is still refused.
  follower late;
  CHECK_FALSE(feed(late, stream + std::string{'\x30', '\x03', '\x03', '\x00', '\x00'}).empty());
}

TEST_CASE("TLS records: under TLS 1.3 the handshake ends only when the server sends application "
          "data after the client did",
          "[tls_guard]") {
  follower f;
  REQUIRE(feed(f, record(follower::handshake, 200)).empty()); // ClientHello
  // The server's flight: ServerHello, then everything encrypted as type 23.
  answer(f, server_hello(true) + record(follower::change_cipher_spec, 1) +
                record(follower::application_data, 900) + record(follower::application_data, 80));
  CHECK(f.negotiated() == follower::version::tls13);
  CHECK_FALSE(f.handshake_done());
  // The client's records alone, even encrypted ones (a client without a
  // certificate can send part of its flight), end nothing.
  REQUIRE(feed(f, record(follower::change_cipher_spec, 1) + record(follower::application_data, 40))
              .empty());
  CHECK_FALSE(f.handshake_done());
  // The server answers once it took the client's flight (its session ticket).
  auto ticket = record(follower::application_data, 200);
  f.answered(ticket.data(), 3); // split across reads
  CHECK_FALSE(f.handshake_done());
  f.answered(ticket.data() + 3, ticket.size() - 3);
  CHECK(f.handshake_done());
}

TEST_CASE("TLS records: under TLS 1.2 the server's first application data ends the handshake",
          "[tls_guard]") {
  follower f;
  REQUIRE(feed(f, record(follower::handshake, 200)).empty());
  answer(f, server_hello(false) + record(follower::handshake, 1500));
  CHECK(f.negotiated() == follower::version::tls12);
  REQUIRE(feed(f, record(follower::handshake, 300) + record(follower::change_cipher_spec, 1) +
                      record(follower::handshake, 40))
              .empty());
  answer(f, record(follower::change_cipher_spec, 1) + record(follower::handshake, 40));
  CHECK_FALSE(f.handshake_done());
  answer(f, record(follower::application_data, 60)); // BASP's server handshake
  CHECK(f.handshake_done());
}

TEST_CASE("TLS records: a server stream that is not TLS never ends the handshake", "[tls_guard]") {
  follower f;
  REQUIRE(feed(f, record(follower::handshake, 10)).empty());
  answer(f, std::string(64, '\x17'));
  REQUIRE(feed(f, record(follower::application_data, 10)).empty());
  answer(f, record(follower::application_data, 10));
  CHECK_FALSE(f.handshake_done());
}

// -- the guard with it --------------------------------------------------------------

TEST_CASE("TLS guard: a connection that only sends a ClientHello is closed at the handshake "
          "deadline, one whose handshake ended stays",
          "[tls_guard]") {
  auto [fd, backend_port] = listen_loopback();
  unique_fd backend_listener{fd};
  guard_limits limits;
  limits.handshake_timeout = 300ms;
  frame_guard guard{"127.0.0.1", 0, backend_port, limits, [](const std::string&, inflight_budget&) {
                      return std::make_unique<tls_record_follower>();
                    }};
  unique_fd done{connect_loopback(guard.port())};
  auto done_backend = accept_within(backend_listener.get(), 2s);
  REQUIRE(done_backend.get() >= 0);
  auto hello = record(follower::handshake, 100);
  REQUIRE(send_all(done.get(), hello));
  REQUIRE(receive(done_backend.get(), hello.size(), 2s).data == hello);
  auto flight = server_hello(true) + record(follower::application_data, 50);
  REQUIRE(send_all(done_backend.get(), flight));
  REQUIRE(receive(done.get(), flight.size(), 2s).data == flight);
  auto finished = record(follower::application_data, 30);
  REQUIRE(send_all(done.get(), finished));
  REQUIRE(receive(done_backend.get(), finished.size(), 2s).data == finished);
  auto ticket = record(follower::application_data, 20);
  REQUIRE(send_all(done_backend.get(), ticket));
  REQUIRE(receive(done.get(), ticket.size(), 2s).data == ticket);

  unique_fd stalled{connect_loopback(guard.port())};
  REQUIRE(send_all(stalled.get(), hello));
  CHECK(receive(stalled.get(), SIZE_MAX, 5s).closed);
  // Well past the deadline, the one whose handshake ended still relays.
  REQUIRE(send_all(done.get(), finished));
  auto more = receive(done_backend.get(), finished.size(), 2s);
  CHECK(more.data == finished);
  CHECK_FALSE(more.closed);
}

TEST_CASE("TLS guard: a record above the bound closes the connection before the backend sees it",
          "[tls_guard]") {
  auto [fd, backend_port] = listen_loopback();
  unique_fd backend_listener{fd};
  frame_guard guard{"127.0.0.1", 0, backend_port, guard_limits{},
                    [](const std::string&, inflight_budget&) {
                      return std::make_unique<tls_record_follower>();
                    }};
  unique_fd client{connect_loopback(guard.port())};
  auto backend = accept_within(backend_listener.get(), 2s);
  REQUIRE(backend.get() >= 0);
  REQUIRE(
      send_all(client.get(), record(follower::handshake, follower::max_record + 1).substr(0, 5)));
  CHECK(receive(client.get(), SIZE_MAX, 2s).closed);
  auto seen = receive(backend.get(), SIZE_MAX, 2s);
  CHECK(seen.closed);
  CHECK(seen.data.empty());
}

// -- descriptors --------------------------------------------------------------------

TEST_CASE("descriptor budget: the connection cap leaves the node its reserve below "
          "RLIMIT_NOFILE",
          "[tls_guard]") {
  // The default soft limit of 1 024: (1024 - 384) / 3.
  CHECK(connections_within(256, 1024) == 213);
  CHECK(connections_within(256, 1024) * descriptors_per_connection + reserved_descriptors <= 1024);
  CHECK(connections_within(100, 1024) == 100);
  CHECK(connections_within(256, 100) == 1);
  CHECK(connections_within(256, 0) == 256); // unknown limit
  CHECK(connections_within(256, UINT64_MAX) == 256);
  auto now = raise_descriptor_limit();
  CHECK(now > 0);
  CHECK(raise_descriptor_limit() == now);
}
