#pragma once

// A redis-server of the test's own: on a free loopback port, in the test's
// temp dir, nothing persisted (`--save "" --appendonly no`); killed and
// reaped at the end of the scope. `make test` installs Debian's
// redis-server (scripts/install-deps.sh --test).

#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/net.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/wait.hpp"

namespace p21::test {

/// The redis-server binary on PATH (or /usr/bin), empty when there is none.
inline std::string redis_server_binary() {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  path += ":/usr/bin:/usr/sbin";
  size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    auto dir = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    auto candidate = dir + "/redis-server";
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return {};
}

/// Whether something accepts connections on 127.0.0.1:`port`.
inline bool accepting(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto addr = detail::loopback(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

class redis_server {
public:
  /// Picks a free port; `start` runs the server (with `extra` arguments).
  redis_server(const temp_dir& dir, std::vector<std::string> extra = {})
    : dir_(dir)
    , port_(free_port())
    , extra_(std::move(extra)) {}

  ~redis_server() { stop(SIGKILL); }

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  /// Starts it and waits (bounded) until it accepts connections.
  bool start() {
    auto bin = redis_server_binary();
    if (bin.empty())
      return false;
    std::vector<std::string> argv{bin,      "--port",       std::to_string(port_),
                                  "--bind", "127.0.0.1",    "--save",
                                  "",       "--appendonly", "no",
                                  "--dir",  dir_.path,      "--daemonize",
                                  "no"};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    ++starts_;
    auto name = "redis-" + std::to_string(starts_);
    pid_ = spawn_to_files(argv, dir_.file(name + ".out"), dir_.file(name + ".err"));
    return eventually([&] { return accepting(port_); }, std::chrono::seconds{10});
  }

  /// Sends `sig` and reaps it.
  void stop(int sig) {
    if (pid_ <= 0)
      return;
    ::kill(pid_, sig);
    if (!wait_exit(pid_, std::chrono::seconds{10})) {
      ::kill(pid_, SIGKILL);
      wait_exit(pid_, std::chrono::seconds{10});
    }
    pid_ = 0;
  }

  uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

private:
  const temp_dir& dir_;
  uint16_t port_;
  std::vector<std::string> extra_;
  pid_t pid_ = 0;
  int starts_ = 0;
};

} // namespace p21::test
