#pragma once

// What the fault soak (`p21 bench --only soak`) reaches over loopback: the
// cluster peer it kills and restarts, and the node's own HTTP endpoint.

#include <chrono>
#include <cstdint>
#include <string>

#include <sys/types.h>

namespace p21::app {

/// A loopback connection to `port`, or -1.
int connect_loopback(uint16_t port, std::chrono::milliseconds timeout);

/// The node under test's `/health`: true on a 200 within `timeout`.
bool http_health(uint16_t port, std::chrono::milliseconds timeout);

/// Node A, the cluster peer: `p21 run` of this very binary, publishing its
/// cache "shared" on `port`; its log goes to the scratch directory.
class peer_node {
public:
  peer_node(const std::string& dir, uint16_t port);
  ~peer_node();

  peer_node(const peer_node&) = delete;
  peer_node& operator=(const peer_node&) = delete;

  /// Starts it and waits (bounded) until its port accepts connections.
  void start();

  /// SIGKILL, and reaps it.
  void kill();

private:
  std::string dir_;
  uint16_t port_;
  pid_t pid_ = 0;
};

} // namespace p21::app
