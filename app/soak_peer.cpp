#include "app/soak_peer.hpp"

#include <csignal>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/bench_rows.hpp"

extern char** environ;

namespace p21::app {

using namespace std::chrono_literals;

int connect_loopback(uint16_t port, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool http_health(uint16_t port, std::chrono::milliseconds timeout) {
  int fd = connect_loopback(port, timeout);
  if (fd < 0)
    return false;
  std::string req = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  bool ok = ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
  std::string reply;
  char buf[4096];
  while (ok) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return ok && reply.rfind("HTTP/1.1 200", 0) == 0;
}

peer_node::peer_node(const std::string& dir, uint16_t port)
  : dir_(dir)
  , port_(port) {
  std::ofstream{dir + "/a.toml"} << "[logging]\nlevel = \"warn\"\nstatus_interval = \"0s\"\n"
                                    "[database]\npath = \""
                                 << dir << "/a.db\"\n[caches.shared]\nmax_entries = 10000\n"
                                 << "[cluster.publish]\nport = " << port
                                 << "\nactors = [\"cache.shared\"]\n";
}

peer_node::~peer_node() {
  kill();
}

void peer_node::start() {
  std::vector<std::string> argv{"/proc/self/exe", "run", "--config", dir_ + "/a.toml"};
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  auto log = dir_ + "/a.log";
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  auto rc = ::posix_spawn(&pid_, "/proc/self/exe", &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    throw std::runtime_error("soak: cannot start the cluster peer");
  auto deadline = clock::now() + 20s;
  while (clock::now() < deadline) {
    if (int fd = connect_loopback(port_, 200ms); fd >= 0) {
      ::close(fd);
      return;
    }
    std::this_thread::sleep_for(20ms); // polling a port another process opens
  }
  throw std::runtime_error("soak: the cluster peer did not listen within 20 s (see " + log + ")");
}

void peer_node::kill() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = 0;
}

} // namespace p21::app
