#pragma once

// A small line-based TCP service on one Asio thread that never blocks its
// loop: it answers from a Perfect21 cache, loads misses from the db pool
// and runs commands with the handles' non-blocking forms, whose callbacks
// post the replies back into the io_context.
//
//   GET key     -> VALUE v       (cache, a miss loaded from table kv)
//   SUM n       -> SUM s         (a db query: the sum of 1..n)
//   RUN secs    -> RAN code      (`sleep secs` through the subprocess pool)
//
// Lifetime: stop the runtime (`rt.stop()`) before the io_context and the
// server go: no callback runs after stop() has returned, and until then
// they only post into the io_context.

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE 1 // Debian's libasio-dev: Asio without Boost
#endif
#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "p21/cache.hpp"
#include "p21/db.hpp"
#include "p21/subprocess.hpp"

namespace asio_example {

/// How late the loop's own periodic timer fired: the loop's stalls.
class stall_meter {
public:
  stall_meter(asio::io_context& io, std::chrono::milliseconds period);
  void start();
  void stop();
  /// Lateness of every tick so far, in microseconds.
  std::vector<int64_t> samples() const;

private:
  void arm();

  asio::steady_timer timer_;
  std::chrono::milliseconds period_;
  std::chrono::steady_clock::time_point due_;
  bool running_ = false;
  mutable std::mutex mtx_;
  std::vector<int64_t> samples_;
};

class server {
public:
  /// Listens on 127.0.0.1:`port` (0: any free port). Touches the handles
  /// once here, before the loop runs: a lazy component's first use starts
  /// it on the calling thread.
  server(asio::io_context& io, p21::runtime& rt, uint16_t port = 0);

  uint16_t port() const;

  /// Handles one request line; `reply` runs on the io_context's thread.
  void handle(const std::string& line, std::function<void(std::string)> reply);

private:
  void accept();
  p21::future<std::string> load(const std::string& key);

  asio::io_context& io_;
  asio::ip::tcp::acceptor acceptor_;
  p21::db db_;
  p21::cache cache_;
  p21::subprocess commands_;
};

} // namespace asio_example
