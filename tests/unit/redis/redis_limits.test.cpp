// The Redis tier against a server that misbehaves (issue 30): a reply
// dripped a byte at a time, lengths announced but never sent. hiredis's
// socket timeout is per read and it sizes buffers from announced lengths:
// a dripped reply took 3 s against a 500 ms command_timeout, `*2147483647`
// took 13 s, a 1 GiB bulk reply reached 4.2 GB. Each case failed before
// command_timeout became a deadline and max_reply_bytes a bound.

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>

#include "actors/redis/redis_exchange.hpp"
#include "p21/cache_config.hpp"
#include "p21/p21.hpp"
#include "p21/redis_config.hpp"
#include "support/fake_redis.hpp"
#include "support/test_support.hpp"

using namespace p21;
using namespace std::chrono_literals;
using namespace p21::test;
using redis_detail::reply_scanner;

namespace {

config fake_node(const std::string& url, timespan command_timeout, size_t max_reply_bytes) {
  auto cfg = test_config();
  named_cache_config nc;
  nc.max_entries = 1'000;
  nc.backend = cache_backend::redis;
  cfg.get<cache_config>().caches["shared"] = nc;
  cfg.get<redis_config>().url = url;
  cfg.get<redis_config>().command_timeout = command_timeout;
  cfg.get<redis_config>().connect_timeout = 1s;
  cfg.get<redis_config>().max_reply_bytes = max_reply_bytes;
  return cfg;
}

/// This process's peak resident set since the last `reset_peak_rss`, in KiB.
long peak_rss_kib() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, 6, "VmHWM:") == 0)
      return std::stol(line.substr(6));
  return -1;
}

void reset_peak_rss() {
  std::ofstream{"/proc/self/clear_refs"} << "5";
}

using clock_type = std::chrono::steady_clock;

} // namespace

TEST_CASE("a reply dripped a byte every 100 ms fails at command_timeout, not when it ends",
          "[redis]") {
  // 27 bytes at 100 ms each: 2.7 s, every read well within 300 ms.
  fake_redis srv{[](int fd, const std::atomic<bool>& stopping) {
    fake_redis::drip(fd, "$20\r\n01234567890123456789\r\n", 100ms, stopping);
  }};
  runtime rt{fake_node(srv.url(), 300ms, 1 << 20)};
  auto c = cache::open(rt, "shared").value();
  auto began = clock_type::now();
  auto r = c.get("k");
  auto took = clock_type::now() - began;
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::unavailable);
  CHECK_THAT(render(r.error()), Catch::Contains("no reply within command_timeout"));
  // A deadline's correctness bound (not a speed claim): well before the
  // 2.7 s the drip takes.
  CHECK(took < 3 * 300ms);
  CHECK(srv.gets() == 1);
}

TEST_CASE("an array header of 2147483647 elements fails the command at once, before any "
          "element arrives",
          "[redis]") {
  fake_redis srv{[](int fd, const std::atomic<bool>&) {
    send_all(fd, "*2147483647\r\n");
  }};
  runtime rt{fake_node(srv.url(), 5s, 1 << 20)};
  auto c = cache::open(rt, "shared").value();
  reset_peak_rss();
  auto before = peak_rss_kib();
  auto began = clock_type::now();
  auto r = c.get("k");
  auto took = clock_type::now() - began;
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::unavailable);
  CHECK_THAT(render(r.error()), Catch::Contains("max_reply_bytes"));
  // Refused at the header, not at the 5 s deadline.
  CHECK(took < 2500ms);
  CHECK(peak_rss_kib() - before < 16 * 1024);
}

TEST_CASE("a bulk header of 1 GiB fails the command at once and buffers none of its bytes",
          "[redis]") {
  // The header, then 64 MiB as fast as the client takes them.
  fake_redis srv{[](int fd, const std::atomic<bool>& stopping) {
    if (!send_all(fd, "$1073741824\r\n"))
      return;
    std::string chunk(64 * 1024, 'x');
    for (int i = 0; i < 1024 && !stopping; ++i)
      if (!send_all(fd, chunk))
        return;
  }};
  runtime rt{fake_node(srv.url(), 5s, 1 << 20)};
  auto c = cache::open(rt, "shared").value();
  reset_peak_rss();
  auto before = peak_rss_kib();
  auto began = clock_type::now();
  auto r = c.get("k");
  auto took = clock_type::now() - began;
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::unavailable);
  CHECK_THAT(render(r.error()), Catch::Contains("1073741824 bytes, over max_reply_bytes"));
  CHECK(took < 2500ms);
  CHECK(peak_rss_kib() - before < 16 * 1024);
}

TEST_CASE("the reply scanner charges lengths at their header and follows nested replies") {
  SECTION("a reply within the bound passes, split anywhere") {
    std::string replies = "+OK\r\n*2\r\n$3\r\nabc\r\n*2\r\n:1\r\n$-1\r\n$5\r\nhello\r\n";
    for (size_t cut = 0; cut <= replies.size(); ++cut) {
      reply_scanner s{1024};
      REQUIRE(s.scan(replies.data(), cut));
      REQUIRE(s.scan(replies.data() + cut, replies.size() - cut));
      CHECK(s.replies() == 3);
    }
  }
  SECTION("each reply has the whole bound: many small replies pass") {
    reply_scanner s{64};
    std::string r = "$40\r\n0123456789012345678901234567890123456789\r\n";
    for (int i = 0; i < 100; ++i)
      REQUIRE(s.scan(r.data(), r.size()));
    CHECK(s.replies() == 100);
  }
  SECTION("a bulk length over the bound is refused at its header") {
    reply_scanner s{1024};
    CHECK_FALSE(s.scan("$1025\r\n", 7));
    CHECK_THAT(s.why(), Catch::Contains("max_reply_bytes"));
  }
  SECTION("an array is charged per element at its header") {
    reply_scanner s{1024};
    CHECK(s.scan("*15\r\n", 5)); // 5 header bytes + 15 * 64
    reply_scanner t{1024};
    CHECK_FALSE(t.scan("*17\r\n", 5));
    reply_scanner u{1024};
    CHECK_FALSE(u.scan("*2147483647\r\n", 13));
    reply_scanner v{1024};
    CHECK_FALSE(v.scan("*99999999999999999999\r\n", 23));
  }
  SECTION("a status line longer than the bound is refused as it grows") {
    reply_scanner s{16};
    std::string line = "+" + std::string(32, 'x');
    CHECK_FALSE(s.scan(line.data(), line.size()));
  }
  SECTION("bytes that are not RESP2 are refused") {
    reply_scanner s{1024};
    CHECK_FALSE(s.scan("HTTP/1.1 200 OK\r\n", 17));
    reply_scanner t{1024};
    CHECK_FALSE(t.scan("$abc\r\n", 6));
  }
}
