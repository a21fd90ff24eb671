// The cluster's frame guard: first its header check on a byte stream
// (`frame_checker`, no sockets), then the guard itself between a client
// socket and a plain TCP listener standing in for CAF's.

#include <catch2/catch.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "actors/cluster/frame_guard.hpp"
#include "support/net.hpp"

using namespace p21::cluster_detail;
using namespace p21::test;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t max_payload = 1000;

/// A BASP header: `op`, padding, flags, the payload length in network byte
/// order, then 24 bytes of operation data and actor ids.
std::string header(uint8_t op, uint32_t payload) {
  std::string h(frame_checker::header_size, '\x5a');
  h[0] = static_cast<char>(op);
  h[4] = static_cast<char>(payload >> 24);
  h[5] = static_cast<char>(payload >> 16);
  h[6] = static_cast<char>(payload >> 8);
  h[7] = static_cast<char>(payload);
  return h;
}

/// A whole frame whose payload bytes would be a refused header if the
/// checker mistook them for one.
std::string frame(uint8_t op, uint32_t payload) {
  return header(op, payload) + std::string(payload, '\xff');
}

/// A whole frame whose payload passes the guard's walk: a direct message
/// carrying one string, `payload` bytes in all (13 to 16 395).
std::string message_frame(uint32_t payload) {
  auto len = payload - 13;
  std::string size{static_cast<char>(len)};
  if (len >= 128) {
    len = payload - 14;
    size = {static_cast<char>(0x80 | (len & 0x7f)), static_cast<char>(len >> 7)};
  }
  return header(2, payload) + std::string{"\0\0\0\x08@<>+@str", 12} + size + std::string(len, 'x');
}

std::string feed(frame_checker& c, const std::string& bytes) {
  return c.feed(bytes.data(), bytes.size());
}

} // namespace

// -- the header check ---------------------------------------------------------------

TEST_CASE("frame checker: a payload of max_payload passes, one byte more is refused",
          "[frame_guard]") {
  frame_checker at{max_payload};
  CHECK(feed(at, frame(1, max_payload)).empty());
  CHECK(at.at_boundary());

  frame_checker above{max_payload};
  auto why = feed(above, header(1, max_payload + 1));
  CHECK_THAT(why, Catch::Contains("1001 bytes of payload") && Catch::Contains("limit of 1000"));
}

TEST_CASE("frame checker: the 4 GiB header that stalled CAF 0.17 is refused at once",
          "[frame_guard]") {
  frame_checker c{64ull << 20};
  CHECK_THAT(feed(c, header(1, 0xffffffffu)), Catch::Contains("4294967295 bytes"));
}

TEST_CASE("frame checker: a header split across reads is judged when it completes",
          "[frame_guard]") {
  for (size_t split = 1; split < frame_checker::header_size; ++split) {
    CAPTURE(split);
    auto good = frame(2, 10);
    frame_checker c{max_payload};
    CHECK(c.feed(good.data(), split).empty());
    CHECK_FALSE(c.at_boundary());
    CHECK(c.feed(good.data() + split, good.size() - split).empty());
    CHECK(c.at_boundary());

    auto bad = header(2, max_payload + 1);
    frame_checker d{max_payload};
    CHECK(d.feed(bad.data(), split).empty());
    CHECK_FALSE(d.feed(bad.data() + split, bad.size() - split).empty());
  }
  // One byte at a time, header and payload.
  auto stream = frame(1, 5) + frame(3, 0) + frame(6, 40);
  frame_checker c{max_payload};
  for (char b : stream)
    REQUIRE(c.feed(&b, 1).empty());
  CHECK(c.at_boundary());
}

TEST_CASE("frame checker: several frames in one read are each checked, and payload bytes are "
          "skipped, not parsed",
          "[frame_guard]") {
  frame_checker c{max_payload};
  CHECK(feed(c, frame(1, 100) + frame(0, 0) + frame(6, max_payload) + frame(4, 1)).empty());
  CHECK(c.at_boundary());

  frame_checker d{max_payload};
  auto why = feed(d, frame(1, 100) + frame(2, 3) + header(1, 5000) + std::string(10, 'x'));
  CHECK_THAT(why, Catch::Contains("5000 bytes of payload"));
}

TEST_CASE("frame checker: every known operation passes, an unknown one or garbage is refused",
          "[frame_guard]") {
  for (uint8_t op = 0; op <= frame_checker::max_operation; ++op) {
    frame_checker c{max_payload};
    CHECK(feed(c, header(op, 0)).empty());
  }
  frame_checker unknown{max_payload};
  CHECK_THAT(feed(unknown, header(frame_checker::max_operation + 1, 0)),
             Catch::Contains("malformed frame header (operation 7)"));

  frame_checker http{max_payload};
  CHECK_THAT(feed(http, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n"),
             Catch::Contains("operation 71")); // 'G'
}

TEST_CASE("frame checker: a stream cut mid-header or mid-payload is not at a frame boundary",
          "[frame_guard]") {
  frame_checker mid_header{max_payload};
  CHECK(feed(mid_header, header(1, 10).substr(0, 20)).empty());
  CHECK_FALSE(mid_header.at_boundary());

  frame_checker mid_payload{max_payload};
  CHECK(feed(mid_payload, frame(1, 10).substr(0, 36)).empty());
  CHECK_FALSE(mid_payload.at_boundary());

  frame_checker fresh{max_payload};
  CHECK(fresh.at_boundary());
}

// -- the guard between sockets ------------------------------------------------------

namespace {

/// A guard in front of a listener that stands in for CAF's, and one client
/// connection through it, with the backend's side accepted.
struct relayed {
  std::pair<int, uint16_t> listener = listen_loopback();
  unique_fd backend_listener{listener.first};
  frame_guard guard{"127.0.0.1", 0, listener.second, max_payload};
  unique_fd client;
  unique_fd backend;

  relayed() { connect(); }

  /// A new client connection (the previous one stays as it is).
  void connect() {
    client = unique_fd{connect_loopback(guard.port())};
    backend = accept_within(backend_listener.get(), 2s);
    if (backend.get() < 0)
      throw std::runtime_error("the guard did not connect to the backend");
  }
};

} // namespace

TEST_CASE("frame guard: valid frames pass to the backend and replies come back",
          "[frame_guard]") {
  relayed r;
  auto frames = message_frame(20) + frame(6, 0) + message_frame(max_payload); // one write, three
  REQUIRE(send_all(r.client.get(), frames));
  auto at_backend = receive(r.backend.get(), frames.size(), 2s);
  CHECK(at_backend.data == frames);
  CHECK_FALSE(at_backend.closed);
  REQUIRE(send_all(r.backend.get(), "reply"));
  auto at_client = receive(r.client.get(), 5, 2s);
  CHECK(at_client.data == "reply");
  CHECK_FALSE(at_client.closed);
}

TEST_CASE("frame guard: a frame above max_frame closes both sides before the backend sees it",
          "[frame_guard]") {
  relayed r;
  REQUIRE(send_all(r.client.get(), header(1, max_payload + 1)));
  auto at_backend = receive(r.backend.get(), SIZE_MAX, 2s);
  CHECK(at_backend.closed);
  CHECK(at_backend.data.empty());
  CHECK(receive(r.client.get(), SIZE_MAX, 2s).closed);
}

TEST_CASE("frame guard: garbage bytes close the connection, and other connections go on",
          "[frame_guard]") {
  relayed r;
  auto first_client = std::move(r.client);
  auto first_backend = std::move(r.backend);
  r.connect();
  REQUIRE(send_all(first_client.get(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  CHECK(receive(first_backend.get(), SIZE_MAX, 2s).closed);
  CHECK(receive(first_client.get(), SIZE_MAX, 2s).closed);
  // The second connection still relays.
  auto f = message_frame(16);
  REQUIRE(send_all(r.client.get(), f));
  CHECK(receive(r.backend.get(), f.size(), 2s).data == f);
}

TEST_CASE("frame guard: a frame split across writes is followed across reads and passed on whole",
          "[frame_guard]") {
  relayed r;
  auto good = message_frame(40);
  REQUIRE(send_all(r.client.get(), good.substr(0, 10)));
  REQUIRE(send_all(r.client.get(), good.substr(10, 30)));
  REQUIRE(send_all(r.client.get(), good.substr(40)));
  // Held until its payload passed, then relayed in one piece.
  CHECK(receive(r.backend.get(), good.size(), 2s).data == good);

  auto bad = header(1, max_payload + 1);
  REQUIRE(send_all(r.client.get(), bad.substr(0, 10)));
  REQUIRE(send_all(r.client.get(), bad.substr(10)));
  auto rest = receive(r.backend.get(), SIZE_MAX, 2s);
  CHECK(rest.closed);
  CHECK(rest.data.empty());
}

TEST_CASE("frame guard: a client that closes mid-frame closes the backend side, and the guard "
          "keeps serving",
          "[frame_guard]") {
  relayed r;
  auto partial = message_frame(100).substr(0, 42);
  REQUIRE(send_all(r.client.get(), partial));
  r.client.reset();
  // The incomplete frame was held, never relayed.
  auto at_backend = receive(r.backend.get(), SIZE_MAX, 2s);
  CHECK(at_backend.closed);
  CHECK(at_backend.data.empty());
  r.connect();
  auto f = message_frame(20);
  REQUIRE(send_all(r.client.get(), f));
  CHECK(receive(r.backend.get(), f.size(), 2s).data == f);
}

TEST_CASE("frame guard: a payload whose inner length lies closes both sides before the backend "
          "sees a byte of it, and is counted",
          "[frame_guard]") {
  relayed r;
  auto before = frames_refused(false, frame_refusal::length);
  // A string that says 4 GiB in a 20-byte payload, after a good frame.
  auto good = message_frame(20);
  auto lie = good;
  lie[32 + 12] = '\xff';
  REQUIRE(send_all(r.client.get(), good));
  CHECK(receive(r.backend.get(), good.size(), 2s).data == good);
  REQUIRE(send_all(r.client.get(), lie));
  auto at_backend = receive(r.backend.get(), SIZE_MAX, 2s);
  CHECK(at_backend.closed);
  CHECK(at_backend.data.empty());
  CHECK(receive(r.client.get(), SIZE_MAX, 2s).closed);
  CHECK(frames_refused(false, frame_refusal::length) == before + 1);
}

TEST_CASE("frame guard: a port it cannot listen on is an exception from the constructor",
          "[frame_guard]") {
  auto [taken, port] = listen_loopback();
  unique_fd keep{taken};
  CHECK_THROWS_AS((frame_guard{"127.0.0.1", port, 1, max_payload}), std::runtime_error);
}

// -- bounds across connections ------------------------------------------------------

TEST_CASE("inflight budget: announced payload is held per address and in all until it passes",
          "[frame_guard]") {
  inflight_budget budget{1500, 1000};
  frame_checker a1{max_payload, &budget, "10.0.0.1"};
  frame_checker a2{max_payload, &budget, "10.0.0.1"};
  frame_checker b{max_payload, &budget, "10.0.0.2"};
  // Headers alone make the node hold their payloads.
  CHECK(feed(a1, header(1, 600)).empty());
  CHECK(budget.used_by("10.0.0.1") == 600);
  auto why = feed(a2, header(1, 600));
  CHECK_THAT(why, Catch::Contains("per-address limit of 1000"));
  CHECK_THAT(feed(b, header(1, 901)), Catch::Contains("node's limit of 1500")); // 600 + 901 in all
  CHECK(budget.used() == 600);
  // Once a1's payload has passed, its share is free again.
  CHECK(feed(a1, std::string(600, 'x')).empty());
  CHECK(budget.used() == 0);
  frame_checker b2{max_payload, &budget, "10.0.0.2"};
  CHECK(feed(b2, header(1, 900)).empty());
  // A stream that ends mid-payload gives back what it held.
  b2.release();
  CHECK(budget.used() == 0);
}

TEST_CASE("frame guard: connections over the per-address bound are closed at once, the others "
          "relay",
          "[frame_guard]") {
  auto [fd, backend_port] = listen_loopback();
  unique_fd backend_listener{fd};
  guard_limits limits;
  limits.max_payload = max_payload;
  limits.max_connections_per_address = 2;
  frame_guard guard{"127.0.0.1", 0, backend_port, limits};
  unique_fd c1{connect_loopback(guard.port())};
  auto b1 = accept_within(backend_listener.get(), 2s);
  unique_fd c2{connect_loopback(guard.port())};
  auto b2 = accept_within(backend_listener.get(), 2s);
  REQUIRE(b1.get() >= 0);
  REQUIRE(b2.get() >= 0);
  unique_fd c3{connect_loopback(guard.port())};
  CHECK(receive(c3.get(), SIZE_MAX, 2s).closed);
  auto f = message_frame(16);
  REQUIRE(send_all(c2.get(), f));
  CHECK(receive(b2.get(), f.size(), 2s).data == f);
  // With one closed, a new connection is relayed again.
  c1.reset();
  CHECK(receive(b1.get(), SIZE_MAX, 2s).closed);
  unique_fd c4{connect_loopback(guard.port())};
  CHECK(accept_within(backend_listener.get(), 2s).get() >= 0);
}

TEST_CASE("frame guard: a connection that sends no frame within the handshake timeout is closed",
          "[frame_guard]") {
  auto [fd, backend_port] = listen_loopback();
  unique_fd backend_listener{fd};
  guard_limits limits;
  limits.max_payload = max_payload;
  limits.handshake_timeout = 200ms;
  frame_guard guard{"127.0.0.1", 0, backend_port, limits};
  unique_fd talker{connect_loopback(guard.port())};
  auto talker_backend = accept_within(backend_listener.get(), 2s);
  auto f = message_frame(16);
  REQUIRE(send_all(talker.get(), f));
  REQUIRE(receive(talker_backend.get(), f.size(), 2s).data == f);
  unique_fd silent{connect_loopback(guard.port())};
  CHECK(receive(silent.get(), SIZE_MAX, 5s).closed);
  // The one that sent a frame in time stays relayed.
  REQUIRE(send_all(talker.get(), f));
  auto more = receive(talker_backend.get(), f.size(), 2s);
  CHECK(more.data == f);
  CHECK_FALSE(more.closed);
}

// -- outbound -----------------------------------------------------------------------

TEST_CASE("frame guard (outbound): the peer's frames are checked, an oversized one closes both "
          "sides before this process reads it",
          "[frame_guard]") {
  auto [fd, peer_port] = listen_loopback();
  unique_fd peer_listener{fd};
  guard_limits limits;
  limits.max_payload = max_payload;
  frame_guard guard{outbound_target{"127.0.0.1", peer_port}, limits};
  CHECK(guard.port() != peer_port);
  unique_fd local{connect_loopback(guard.port())}; // what CAF does
  auto peer = accept_within(peer_listener.get(), 2s);
  REQUIRE(peer.get() >= 0);
  // Both ways relay while the peer's frames are in bounds; what this process
  // sends is not its to judge (the peer's own guard does).
  auto ok = message_frame(20);
  REQUIRE(send_all(peer.get(), ok));
  CHECK(receive(local.get(), ok.size(), 2s).data == ok);
  REQUIRE(send_all(local.get(), "anything"));
  CHECK(receive(peer.get(), 8, 2s).data == "anything");
  REQUIRE(send_all(peer.get(), header(1, max_payload + 1)));
  auto at_local = receive(local.get(), SIZE_MAX, 2s);
  CHECK(at_local.closed);
  CHECK(at_local.data.empty());
  CHECK(receive(peer.get(), SIZE_MAX, 2s).closed);
}

TEST_CASE("frame guard (outbound): a peer that cannot be reached closes the local connection",
          "[frame_guard]") {
  auto gone = free_port();
  guard_limits limits;
  limits.handshake_timeout = 500ms;
  frame_guard guard{outbound_target{"127.0.0.1", gone}, limits};
  unique_fd local{connect_loopback(guard.port())};
  CHECK(receive(local.get(), SIZE_MAX, 3s).closed);
}
