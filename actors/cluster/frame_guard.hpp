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

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace p21::cluster_detail {

/// Follows one client's BASP frame boundaries through its byte stream and
/// checks each header as it completes: the guard's decision, without sockets.
class frame_checker {
public:
  /// Size of a BASP header in CAF 0.17.6: operation, 2 padding bytes, flags,
  /// payload length (u32), operation data (u64), source and destination
  /// actor (u64 each), in network byte order.
  static constexpr size_t header_size = 32;

  /// The highest BASP operation code (heartbeat).
  static constexpr uint8_t max_operation = 0x06;

  /// Payloads of up to `max_payload` bytes pass.
  explicit frame_checker(uint64_t max_payload) noexcept
    : max_payload_(max_payload) {}

  /// Follows `n` more bytes of the stream; the reason to drop the
  /// connection, or empty. After a reason, the stream is not followed further.
  [[nodiscard]] std::string feed(const char* data, size_t n);

  /// True when the bytes so far end exactly at a frame boundary.
  bool at_boundary() const noexcept { return header_have_ == 0 && payload_left_ == 0; }

private:
  uint64_t max_payload_;
  unsigned char header_[header_size] = {};
  size_t header_have_ = 0;
  uint64_t payload_left_ = 0;
};

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

  /// Relays new connections to `backend_port` from now on (the gateway was
  /// published anew); connections already relayed keep their backend.
  void retarget(uint16_t backend_port) noexcept { backend_port_ = backend_port; }

private:
  void run();

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<uint16_t> backend_port_{0};
  uint64_t max_payload_ = 0;
  std::thread thread_;
};

} // namespace p21::cluster_detail
