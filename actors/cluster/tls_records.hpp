#pragma once

// What the guard in front of a TLS port follows: the TLS records of both
// directions (RFC 5246 6.2, RFC 8446 5.1), never their encrypted content.
// Every record starts with a 5-byte header: content type, version (2
// bytes), length (2 bytes, big-endian). The client's records are checked (a
// known content type, version 3.x, a length of at most 2^14 + 2048, a
// handshake record first); the server's (CAF's) are followed to tell when
// the handshake is over, which ends the handshake deadline:
//
// - TLS 1.3 (CAF 0.17.6 with OpenSSL 3 negotiates it): after ServerHello
//   everything is encrypted, with the outer type 23 (application data), the
//   client's certificate and Finished included. A client without a
//   certificate can still derive the handshake keys and send valid type-23
//   records holding part of its flight, so the client's records alone prove
//   nothing. The server sends application data after the client's first
//   type-23 record only once it has processed the client's flight (its
//   session tickets, then BASP's server handshake): that ends the handshake.
// - TLS 1.2: the server sends application data only once the handshake is
//   over, so its first type-23 record ends it.
//
// Which of the two the server chose is read from its ServerHello (the
// `supported_versions` extension, RFC 8446 4.2.1). A server stream the
// follower cannot parse never ends the handshake: the deadline then closes
// the connection (fail closed).

#include <cstdint>
#include <string>

#include "frame_guard.hpp"

namespace p21::cluster_detail {

class tls_record_follower final : public stream_follower {
public:
  static constexpr size_t header_size = 5;

  /// The largest TLSCiphertext length a peer may announce: 2^14 + 2048
  /// (RFC 5246 6.2.3; TLS 1.3 allows 2^14 + 256).
  static constexpr size_t max_record = (size_t{1} << 14) + 2048;

  /// Record content types.
  static constexpr uint8_t change_cipher_spec = 20;
  static constexpr uint8_t alert = 21;
  static constexpr uint8_t handshake = 22;
  static constexpr uint8_t application_data = 23;

  /// The server's choice, once its ServerHello was read.
  enum class version { unknown, tls12, tls13 };

  std::string feed(const char* data, size_t n) override;
  void answered(const char* data, size_t n) override;
  bool handshake_done() const noexcept override { return done_; }

  version negotiated() const noexcept { return version_; }

  /// Whole records seen so far from the client.
  uint64_t client_records() const noexcept { return client_.records; }

private:
  /// One direction's position in its record stream.
  struct direction {
    unsigned char header[header_size] = {};
    size_t have = 0;
    /// Body bytes of the current record still to come.
    size_t left = 0;
    uint8_t type = 0;
    uint64_t records = 0;
  };

  /// A server record's header completed (its body follows).
  void server_record(uint8_t type, size_t length);
  void read_server_hello();

  direction client_;
  direction server_;
  bool server_broken_ = false;
  bool client_app_data_ = false;
  bool done_ = false;
  version version_ = version::unknown;
  /// The body of the server's first handshake record, while it arrives.
  std::string hello_;
  size_t hello_wanted_ = 0;
  bool hello_read_ = false;
};

} // namespace p21::cluster_detail
