#pragma once

// A Redis that is not one: a loopback listener that speaks just enough RESP2
// for a tier to connect (PING, CLIENT ID, SUBSCRIBE, CLIENT TRACKING) and
// answers GET however the test says: dripping, or announcing lengths it
// never sends. One thread per connection; the destructor shuts every
// connection down and joins them.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/net.hpp"

namespace p21::test {

class fake_redis {
public:
  /// Writes the answer to a GET on `fd`; `stopping` turns true at the end.
  using answer = std::function<void(int fd, const std::atomic<bool>& stopping)>;

  explicit fake_redis(answer get)
    : get_(std::move(get)) {
    auto [fd, port] = listen_loopback();
    listener_ = fd;
    port_ = port;
    acceptor_ = std::thread{[this] { accept_loop(); }};
  }

  ~fake_redis() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (int fd : fds_)
        ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_)
      t.join();
    for (int fd : fds_)
      ::close(fd);
    ::close(listener_);
  }

  fake_redis(const fake_redis&) = delete;
  fake_redis& operator=(const fake_redis&) = delete;

  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

  /// GETs received so far.
  int gets() const { return gets_.load(); }

  /// Writes `data` one byte every `pause`, until done or stopping.
  static void drip(int fd, const std::string& data, std::chrono::milliseconds pause,
                   const std::atomic<bool>& stopping) {
    for (char c : data) {
      if (stopping || !send_all(fd, std::string(1, c)))
        return;
      std::this_thread::sleep_for(pause);
    }
  }

private:
  void accept_loop() {
    while (!stopping_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0)
        continue;
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      std::lock_guard<std::mutex> guard{mtx_};
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  /// Parses whole commands (arrays of bulk strings) off the front of `in`.
  static bool next_command(std::string& in, std::vector<std::string>& out) {
    out.clear();
    size_t at = 0;
    auto line = [&](std::string& s) {
      auto end = in.find("\r\n", at);
      if (end == std::string::npos)
        return false;
      s = in.substr(at, end - at);
      at = end + 2;
      return true;
    };
    std::string head;
    if (!line(head) || head.empty() || head[0] != '*')
      return false;
    auto n = std::stoul(head.substr(1));
    for (size_t i = 0; i < n; ++i) {
      std::string len;
      if (!line(len) || len.empty() || len[0] != '$')
        return false;
      auto k = std::stoul(len.substr(1));
      if (in.size() < at + k + 2)
        return false;
      out.push_back(in.substr(at, k));
      at += k + 2;
    }
    in.erase(0, at);
    return true;
  }

  void serve(int fd) {
    std::string in;
    char buf[4096];
    std::vector<std::string> cmd;
    while (!stopping_) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0)
        return;
      in.append(buf, static_cast<size_t>(n));
      while (next_command(in, cmd)) {
        auto name = cmd.empty() ? std::string{} : cmd[0];
        for (auto& c : name)
          c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (name == "GET") {
          ++gets_;
          get_(fd, stopping_);
        } else if (name == "PING") {
          send_all(fd, "+PONG\r\n");
        } else if (name == "CLIENT" && cmd.size() > 1 && (cmd[1] == "ID" || cmd[1] == "id")) {
          send_all(fd, ":7\r\n");
        } else if (name == "SUBSCRIBE") {
          send_all(fd, "*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n");
        } else {
          send_all(fd, "+OK\r\n");
        }
      }
    }
  }

  answer get_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> gets_{0};
  std::thread acceptor_;
  std::mutex mtx_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

} // namespace p21::test
