// What peers can make a node log: a rate limit per call site (a token
// bucket on an injected clock) and peer data cut to a few hundred bytes.

#include <catch2/catch.hpp>

#include <memory>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "p21/log_limits.hpp"

using namespace p21;
using namespace std::chrono_literals;

namespace {

/// A clock the test moves.
struct manual_clock {
  log_rate_limiter::clock::time_point now{};
  std::function<log_rate_limiter::clock::time_point()> fn() {
    return [this] { return now; };
  }
};

/// Logs into a string for as long as it lives.
struct captured_log {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  captured_log() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    sink->set_pattern("%v");
    auto logger = std::make_shared<spdlog::logger>("captured", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~captured_log() { spdlog::set_default_logger(previous); }
  std::vector<std::string> lines() const {
    std::vector<std::string> xs;
    std::istringstream in{out.str()};
    for (std::string line; std::getline(in, line);)
      xs.push_back(line);
    return xs;
  }
};

} // namespace

TEST_CASE("a log rate limiter lets a burst through, holds back the rest and reports how many "
          "with the next line it lets through") {
  manual_clock t;
  log_rate_limiter limit{2, 3, t.fn()};
  for (int i = 0; i < 3; ++i) {
    auto v = limit.admit();
    CHECK(v.log);
    CHECK(v.suppressed == 0);
  }
  for (int i = 0; i < 1000; ++i)
    CHECK_FALSE(limit.admit().log);
  CHECK(limit.suppressed() == 1000);
  // Two lines a second: after 499 ms still none, at 500 ms one.
  t.now += 499ms;
  CHECK_FALSE(limit.admit().log);
  t.now += 1ms;
  auto v = limit.admit();
  CHECK(v.log);
  CHECK(v.suppressed == 1001);
  CHECK(limit.suppressed() == 0);
  CHECK_FALSE(limit.admit().log);
  // A long quiet time refills up to the burst, not beyond.
  t.now += 1h;
  for (int i = 0; i < 3; ++i)
    CHECK(limit.admit().log);
  CHECK_FALSE(limit.admit().log);
}

TEST_CASE("peer text shows at most 200 bytes of peer data, escaped, with the full size") {
  CHECK(peer_text("get") == "get");
  CHECK(peer_text("a\nb\x01\x7f\\") == "a\\nb\\x01\\x7f\\\\");
  std::string mb(1 << 20, 'A');
  mb[10] = '\x1b';
  auto text = peer_text(mb);
  CHECK(text.size() < 260);
  CHECK_THAT(text, Catch::StartsWith("AAAAAAAAAA\\x1bAAA"));
  CHECK_THAT(text, Catch::EndsWith("... (1048576 bytes)"));
  // Every byte escaped takes 4 characters: still bounded.
  CHECK(peer_text(std::string(1 << 20, '\0')).size() < 4 * peer_text_limit + 32);
  CHECK(peer_text(std::string(200, 'x')) == std::string(200, 'x'));
}

TEST_CASE("a flood of 1 MB lines through log_limited logs a burst of short lines, then one with "
          "the count it held back") {
  captured_log log;
  manual_clock t;
  log_rate_limiter limit{1, 5, t.fn()};
  std::string mb(1 << 20, 'M');
  int formatted = 0;
  for (int i = 0; i < 20; ++i)
    log_limited(limit, log_level::warn, [&] {
      ++formatted;
      return "peer sent " + peer_text(mb);
    });
  // The held-back lines cost no formatting.
  CHECK(formatted == 5);
  t.now += 1s;
  CHECK(log_limited(limit, log_level::warn, [&] { return "peer sent " + peer_text(mb); }));
  auto lines = log.lines();
  REQUIRE(lines.size() == 6);
  for (auto& l : lines)
    CHECK(l.size() < 300);
  CHECK_THAT(lines.back(), Catch::EndsWith("(15 similar lines suppressed)"));
  // Below the logger's level nothing is formatted and no token is taken.
  spdlog::default_logger()->set_level(spdlog::level::err);
  CHECK_FALSE(log_limited(limit, log_level::warn, [&] {
    ++formatted;
    return std::string{"x"};
  }));
  CHECK(formatted == 5);
}
