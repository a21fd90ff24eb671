#pragma once

// A guard in front of a plain (non-TLS) published port. CAF 0.17's BASP
// broker trusts the payload length of a frame header: 32 bytes announcing a
// 4 GiB payload make it allocate 4 GiB and stall its network thread for
// seconds (measured: 8 s, 4.2 GB peak RSS). The guard accepts on the
// configured address, relays each connection to CAF's listener on an
// ephemeral loopback port, and follows the client's frame boundaries: a
// header with an unknown operation or a payload above `max_payload` closes
// that connection, logged, before CAF sees it. With TLS, an unauthenticated
// peer never gets past the handshake, so no guard is needed there.

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace p21::cluster_detail {

class frame_guard {
public:
  /// Listens on `host:port` (0: a free port) and relays to
  /// 127.0.0.1:`backend_port`. Throws std::runtime_error when it cannot listen.
  frame_guard(const std::string& host, uint16_t port, uint16_t backend_port,
              uint64_t max_payload);
  ~frame_guard();

  frame_guard(const frame_guard&) = delete;
  frame_guard& operator=(const frame_guard&) = delete;

  /// The port it listens on.
  uint16_t port() const noexcept { return port_; }

  /// Size of a BASP header in CAF 0.17.6: operation, 2 padding bytes, flags,
  /// payload length (u32), operation data (u64), source and destination
  /// actor (u64 each), in network byte order.
  static constexpr size_t header_size = 32;

  /// The highest BASP operation code (heartbeat).
  static constexpr uint8_t max_operation = 0x06;

private:
  void run();

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  uint16_t backend_port_ = 0;
  uint64_t max_payload_ = 0;
  std::thread thread_;
};

} // namespace p21::cluster_detail
