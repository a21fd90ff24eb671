// A BASP payload whose inner length lies, against a real `p21 run` node
// (inbound) and from a hostile server to this process's client (outbound):
// the frame guards walk each payload before CAF 0.17.6's deserializer,
// which would size a std::vector<char> by the lie (4 GiB) before it checks
// that the bytes exist.

#include <catch2/catch.hpp>

#include <atomic>
#include <regex>
#include <thread>

#include <httplib.h>

#include <caf/io/all.hpp>

#include <caf/all.hpp>

#include "actors/cluster/frame_guard.hpp"
#include "p21/p21.hpp"
#include "p21/types.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace std::chrono_literals;
using namespace p21::test;

namespace {

// -- BASP as CAF 0.17.6 writes it -------------------------------------------------

void put_u64(std::string& out, uint64_t x) {
  for (int i = 7; i >= 0; --i)
    out += static_cast<char>(x >> (8 * i));
}

uint64_t get_u64(const std::string& in, size_t at) {
  uint64_t x = 0;
  for (size_t i = 0; i < 8; ++i)
    x = (x << 8) | static_cast<unsigned char>(in[at + i]);
  return x;
}

/// A frame: the 32-byte header (operation, padding, flags, payload length,
/// operation data, source and destination actor), then `payload`.
std::string basp_frame(uint8_t op, const std::string& payload, uint64_t op_data = 0,
                       uint64_t source = 0, uint64_t dest = 0) {
  std::string f(4, '\0');
  f[0] = static_cast<char>(op);
  auto len = static_cast<uint32_t>(payload.size());
  for (int i = 3; i >= 0; --i)
    f += static_cast<char>(len >> (8 * i));
  put_u64(f, op_data);
  put_u64(f, source);
  put_u64(f, dest);
  return f + payload;
}

/// A node id with CAF's default data: its class atom, a pid, a host id.
std::string node_id_bytes(char host) {
  std::string n;
  put_u64(n, 0x00003e9aab9bac79); // caf::atom("default")
  n += std::string{"\0\0\x30\x39", 4};
  return n + std::string(20, host);
}

/// A direct message's payload that a peer's CAF wrote for a one-argument
/// std::vector<char> message, with the vector's length rewritten to
/// 2^32 - 1: what CAF 0.17.6 allocates before it notices the two bytes.
std::string lying_payload() {
  return std::string{"\0"
                     "\0\0"
                     "\x0c"
                     "@<>+@charbuf",
                     16} +
         "\xff\xff\xff\xff\x0f" + "ab";
}

/// Reads one whole frame from `fd`; empty when it did not come.
std::string read_frame(int fd, std::chrono::milliseconds timeout) {
  auto header = receive(fd, 32, timeout);
  if (header.data.size() < 32)
    return {};
  auto len = static_cast<size_t>(get_u64(header.data, 0) & 0xffffffff);
  auto payload = receive(fd, len, timeout);
  if (payload.data.size() < len)
    return {};
  return header.data + payload.data;
}

/// The peak resident size of `pid` (VmHWM), in MiB.
double peak_rss_mib(pid_t pid) {
  auto status = read_file("/proc/" + std::to_string(pid) + "/status");
  auto at = status.find("VmHWM:");
  REQUIRE(at != std::string::npos);
  return std::stod(status.substr(at + 6)) / 1024;
}

/// `p21_cluster_frames_refused_total{direction, reason}` on a node's
/// /metrics, or -1.
double refused_on_metrics(uint16_t http_port, const std::string& direction,
                          const std::string& reason) {
  httplib::Client http{"127.0.0.1", http_port};
  auto res = http.Get("/metrics");
  if (!res || res->status != 200)
    return -1;
  std::smatch m;
  std::regex line{"p21_cluster_frames_refused_total\\{[^}]*direction=\"" + direction +
                  "\",reason=\"" + reason + "\"[^}]*\\} ([0-9.e+]+)"};
  return std::regex_search(res->body, m, line) ? std::stod(m[1]) : -1;
}

/// A BASP server that publishes "actor 1" to whoever connects and answers
/// its first request with the lying payload.
class lying_server {
public:
  lying_server() {
    auto [fd, port] = listen_loopback();
    listener_ = unique_fd{fd};
    port_ = port;
    thread_ = std::thread{[this] {
      run();
    }};
  }
  ~lying_server() {
    stop_ = true;
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int lies() const { return lies_; }

private:
  void run() {
    std::vector<unique_fd> open;
    while (!stop_) {
      auto c = accept_within(listener_.get(), 50ms);
      if (c.get() < 0)
        continue;
      // Server handshake: node, app ids, the published actor, its interface.
      std::string hs = node_id_bytes('\x42');
      hs += std::string{"\x01\x0f"} + "generic-caf-app";
      put_u64(hs, 1);
      hs += '\0';
      send_all(c.get(), basp_frame(0, hs, 3)); // BASP version 3
      // Answers the first request to actor 1 with the lie.
      auto deadline = std::chrono::steady_clock::now() + 10s;
      while (!stop_ && std::chrono::steady_clock::now() < deadline) {
        auto f = read_frame(c.get(), 200ms);
        if (f.empty() || f[0] != 2 || get_u64(f, 24) != 1)
          continue;
        send_all(c.get(), basp_frame(2, lying_payload(), get_u64(f, 8) | (uint64_t{1} << 63), 1,
                                     get_u64(f, 16)));
        ++lies_;
        break;
      }
      open.push_back(std::move(c));
    }
  }

  unique_fd listener_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> lies_{0};
  std::thread thread_;
};

} // namespace

TEST_CASE("a peer's request whose inner length says 4 GiB closes its connection, and the node "
          "allocates nothing and still answers",
          "[cluster]") {
  temp_dir s{"cluster"};
  auto port = free_port();
  auto http_port = free_port();
  s.write("a.toml", "[logging]\nlevel = \"info\"\nstatus_interval = \"0s\"\n"
                    "[database]\npath = \"" +
                        s.file("a.db") +
                        "\"\n"
                        "[caches.shared]\nmax_entries = 100\n"
                        "[performance]\nmonitor_interval = \"100ms\"\n"
                        "[http]\nlisten = \"127.0.0.1:" +
                        std::to_string(http_port) +
                        "\"\n"
                        "[cluster.publish]\nport = " +
                        std::to_string(port) + "\nactors = [\"cache.shared\"]\n");
  p21_process a{s, {"run", "--config", s.file("a.toml")}, "a"};
  REQUIRE(a.await_log("publishing cache.shared on 127.0.0.1:" + std::to_string(port), 20s));
  auto connect = "127.0.0.1:" + std::to_string(port);
  REQUIRE(run_p21(s, {"cache", "put", "k", "v", "--connect", connect}).first == 0);
  auto before = peak_rss_mib(a.pid());
  unique_fd peer{connect_loopback(port)};
  // The node's handshake names its gateway: the destination of a request.
  auto hs = read_frame(peer.get(), 10s);
  REQUIRE(hs.size() > 32 + 32 + 2);
  size_t at = 32 + 32; // header, node id
  size_t app_ids = static_cast<unsigned char>(hs[at++]);
  for (size_t i = 0; i < app_ids; ++i)
    at += 1 + static_cast<unsigned char>(hs[at]);
  auto gateway = get_u64(hs, at);
  REQUIRE(send_all(peer.get(), basp_frame(1, node_id_bytes('\x17')) +
                                   basp_frame(2, lying_payload(), 0, 0, gateway)));
  // The guard closes the connection (CAF alone would keep it open).
  auto rest = receive(peer.get(), SIZE_MAX, 10s);
  CHECK(rest.closed);
  CHECK(a.await_log("a length of 4294967295", 10s));
  // The node is as it was: it answers over a new connection, and its peak
  // resident size did not grow by the lie (unguarded: +4 GiB, or bad_alloc).
  auto get = run_p21(s, {"cache", "get", "k", "--connect", connect});
  CHECK(get.first == 0);
  CHECK(get.second == "v\n");
  CHECK(peak_rss_mib(a.pid()) - before < 200);
  // Counted on /metrics by direction and reason.
  CHECK(eventually([&] { return refused_on_metrics(http_port, "in", "length") == 1; }, 10s));
}

TEST_CASE("a hostile server's reply whose inner length says 4 GiB makes the client fail cleanly "
          "instead of allocating it",
          "[cluster]") {
  lying_server evil;
  auto before = peak_rss_mib(::getpid());
  auto refused = cluster_detail::frames_refused(true, cluster_detail::frame_refusal::length);
  {
    // `p21 cache --connect`'s path, in this process to see its memory.
    caf::actor_system_config cfg;
    add_message_types(cfg);
    cfg.load<caf::io::middleman>();
    caf::actor_system sys{cfg};
    // The handshake passed, so the lookup is in flight when the guard
    // closes the connection: unavailable at once, not after the timeout.
    auto r = lookup_remote(sys, {"127.0.0.1", evil.port(), {}, {}, {}}, "cache.shared", 60s);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::unavailable);
  }
  CHECK(evil.lies() >= 1);
  CHECK(cluster_detail::frames_refused(true, cluster_detail::frame_refusal::length) > refused);
  CHECK(peak_rss_mib(::getpid()) - before < 200);
  // The command itself: an error and exit code 1, in bounded time.
  temp_dir s{"cluster"};
  auto got = run_p21(
      s, {"cache", "get", "x", "--connect", "127.0.0.1:" + std::to_string(evil.port())}, 30s);
  CHECK(got.first == 1);
}
