#pragma once

// A guard in front of a plain (non-TLS) published port. CAF 0.17's BASP
// broker trusts the payload length of a frame header: 32 bytes announcing a
// 4 GiB payload make it allocate 4 GiB and stall its network thread for
// seconds (measured: 8 s, 4.2 GB peak RSS). The guard accepts on the
// configured address, relays each connection to CAF's listener on an
// ephemeral loopback port, and follows the client's frame boundaries: a
// header with an unknown operation or a payload above `max_payload` closes
// that connection, logged, before CAF sees it. In front of a TLS port the
// same guard relays the encrypted stream and follows its TLS records
// instead (tls_records.hpp): it cannot read the frames inside, but it
// bounds connections, the handshake's duration and idle time, which CAF's
// TLS listener does not.
//
// The same guard stands in front of outbound plain connections (stubs of
// [[cluster.peers]], `lookup_remote`): CAF connects to the guard on a
// loopback port, the guard connects to the peer and checks the frames the
// *peer* sends, so a hostile server cannot make this process allocate what
// it announces either.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "basp_payload.hpp"

namespace p21::cluster_detail {

/// Payload bytes that peers have announced in a frame header and not yet
/// sent in full, per peer address and in all. CAF allocates an announced
/// payload up front, so this is memory a peer makes the node hold.
class inflight_budget {
public:
  inflight_budget(uint64_t total_cap, uint64_t per_address_cap) noexcept
    : total_cap_(total_cap)
    , per_address_cap_(per_address_cap) {}

  /// Holds `n` more bytes for `address`; the reason to refuse, or empty.
  [[nodiscard]] std::string take(const std::string& address, uint64_t n);

  /// Gives back what `take` held.
  void give(const std::string& address, uint64_t n) noexcept;

  uint64_t used() const noexcept { return used_; }
  uint64_t used_by(const std::string& address) const;

private:
  uint64_t total_cap_;
  uint64_t per_address_cap_;
  uint64_t used_ = 0;
  std::map<std::string, uint64_t> by_address_;
};

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

  /// Payloads of up to `max_payload` bytes pass; with a `budget`, each
  /// announced payload is also held in it for `address` until it has passed.
  explicit frame_checker(uint64_t max_payload, inflight_budget* budget = nullptr,
                         std::string address = {}) noexcept
    : max_payload_(max_payload)
    , budget_(budget)
    , address_(std::move(address)) {}

  /// Follows `n` more bytes of the stream; the reason to drop the
  /// connection, or empty. After a reason, the stream is not followed further.
  /// Without `out`, only headers are checked. With `out`, each frame is held
  /// until it is complete, its payload is walked (`check_basp_payload`), and
  /// only then appended to `*out`: CAF never sees a payload that did not pass.
  [[nodiscard]] std::string feed(const char* data, size_t n, std::string* out = nullptr);

  /// What the last reason `feed` returned was about.
  frame_refusal refusal() const noexcept { return refusal_; }

  /// True when the bytes so far end exactly at a frame boundary.
  bool at_boundary() const noexcept { return header_have_ == 0 && payload_left_ == 0; }

  /// Whole headers seen so far (the first one ends a handshake).
  uint64_t headers() const noexcept { return headers_; }

  /// Gives back to the budget what the current frame holds (the stream
  /// ends). Called once, by whoever owns the checker.
  void release() noexcept;

private:
  uint64_t max_payload_;
  inflight_budget* budget_;
  std::string address_;
  uint64_t held_ = 0;
  uint64_t headers_ = 0;
  unsigned char header_[header_size] = {};
  size_t header_have_ = 0;
  uint64_t payload_left_ = 0;
  /// The frame being held (header and payload so far), when feeding `out`.
  std::string frame_;
  frame_refusal refusal_ = frame_refusal::header;
};

/// Frames refused by the guards of this process, by direction and reason:
/// `cluster_frames_refused{direction, reason}`. Process-wide, as the
/// outbound guards are.
uint64_t frames_refused(bool outbound, frame_refusal reason) noexcept;

/// What a guard follows in one connection's byte stream, and how it judges
/// it: BASP frames on a plain port (`frame_checker`), TLS records on a TLS
/// port (`tls_record_follower`). One per connection, used by one thread.
class stream_follower {
public:
  virtual ~stream_follower() = default;

  /// Follows `n` more bytes from the checked side (the client inbound, the
  /// peer outbound); the reason to drop the connection, or empty.
  [[nodiscard]] virtual std::string feed(const char* data, size_t n) = 0;

  /// As `feed`, and appends to `out` what may pass on now: by default every
  /// byte fed; a follower that must see a whole unit first (a BASP frame,
  /// whose payload is walked before CAF reads it) holds it back until then.
  [[nodiscard]] virtual std::string pass(const char* data, size_t n, std::string& out) {
    auto why = feed(data, n);
    if (why.empty())
      out.append(data, n);
    return why;
  }

  /// What the last reason `feed` or `pass` returned was about.
  virtual frame_refusal refusal() const noexcept { return frame_refusal::malformed; }

  /// Follows `n` more bytes from the other side (what the checked side is
  /// answered), for a follower that needs both to tell the handshake's end.
  virtual void answered(const char* data, size_t n) {
    (void)data;
    (void)n;
  }

  /// True once the handshake is over: the handshake deadline no longer applies.
  virtual bool handshake_done() const noexcept = 0;

  /// Gives back what it holds of a shared budget (the stream ends). Called
  /// once, by whoever owns the follower.
  virtual void release() noexcept {}
};

/// Makes the follower of one connection: `sender` is the address whose
/// bytes it checks; `budget` is the guard's in-flight budget.
using follower_factory = std::function<std::unique_ptr<stream_follower>(const std::string& sender,
                                                                        inflight_budget& budget)>;

/// What the guard allows across connections. Zero durations mean no bound.
struct guard_limits {
  uint64_t max_payload = 64ull << 20;
  size_t max_connections = 256;
  size_t max_connections_per_address = 32;
  uint64_t max_inflight = 256ull << 20;
  uint64_t max_inflight_per_address = 128ull << 20;
  /// A connection must complete its first frame within this.
  std::chrono::milliseconds handshake_timeout{5000};
  /// A connection that sends nothing for this long is closed.
  std::chrono::milliseconds idle_timeout{0};
};

/// Where an outbound guard connects to.
struct outbound_target {
  std::string host;
  uint16_t port = 0;
};

class frame_guard {
public:
  /// Outbound: listens on a free 127.0.0.1 port and relays each connection
  /// made to it (by this process's CAF) to `target`, checking the frames
  /// that come back. `limits.handshake_timeout` also bounds connecting.
  frame_guard(outbound_target target, guard_limits limits);

  /// Listens on `host:port` (0: a free port) and relays to
  /// 127.0.0.1:`backend_port`, following each client's stream with what
  /// `follow` makes (empty: BASP frames, checked against `limits`). Throws
  /// std::runtime_error when it cannot listen.
  frame_guard(const std::string& host, uint16_t port, uint16_t backend_port, guard_limits limits,
              follower_factory follow = {});

  /// Only the frame size bound; the other limits at their defaults.
  frame_guard(const std::string& host, uint16_t port, uint16_t backend_port, uint64_t max_payload)
    : frame_guard(host, port, backend_port, with_payload(max_payload)) {}
  ~frame_guard();

  frame_guard(const frame_guard&) = delete;
  frame_guard& operator=(const frame_guard&) = delete;

  /// The port it listens on.
  uint16_t port() const noexcept { return port_; }

  /// Relays new connections to `backend_port` from now on (the gateway was
  /// published anew); connections already relayed keep their backend.
  void retarget(uint16_t backend_port) noexcept { backend_port_ = backend_port; }

private:
  static guard_limits with_payload(uint64_t max_payload) {
    guard_limits l;
    l.max_payload = max_payload;
    return l;
  }

  void start_thread();
  void run();
  int connect_backend() const;

  /// Outbound: the peer; inbound: empty (CAF's listener on loopback).
  outbound_target target_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<uint16_t> backend_port_{0};
  guard_limits limits_;
  follower_factory follow_;
  std::thread thread_;
};

/// The port of this process's outbound guard for `host:port`, started on
/// first use with `limits` and kept for the life of the process (one per
/// distinct peer address). Throws std::runtime_error when it cannot listen.
uint16_t outbound_port(const std::string& host, uint16_t port, const guard_limits& limits);

} // namespace p21::cluster_detail
