#include "tls_records.hpp"

#include <algorithm>
#include <cstdio>

namespace p21::cluster_detail {

namespace {

std::string hex16(unsigned hi, unsigned lo) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x%02x", hi & 0xffu, lo & 0xffu);
  return buf;
}

} // namespace

std::string tls_record_follower::feed(const char* data, size_t n) {
  auto& d = client_;
  size_t i = 0;
  while (i < n) {
    if (d.left > 0) {
      auto k = std::min(d.left, n - i);
      d.left -= k;
      i += k;
      continue;
    }
    auto k = std::min(header_size - d.have, n - i);
    std::copy(data + i, data + i + k, d.header + d.have);
    d.have += k;
    i += k;
    if (d.have < header_size)
      break;
    d.have = 0;
    uint8_t type = d.header[0];
    if (type < change_cipher_spec || type > application_data)
      return "not a TLS record (content type " + std::to_string(type) + ")";
    if (d.header[1] != 3 || d.header[2] > 4)
      return "not a TLS record (version " + hex16(d.header[1], d.header[2]) + ")";
    if (d.records == 0 && type != handshake)
      return "a TLS connection must start with a handshake record, not content type " +
             std::to_string(type);
    size_t length = (size_t{d.header[3]} << 8) | d.header[4];
    if (length > max_record)
      return "a TLS record announced " + std::to_string(length) + " bytes, above the limit of " +
             std::to_string(max_record);
    ++d.records;
    if (type == application_data)
      client_app_data_ = true;
    d.left = length;
  }
  return {};
}

void tls_record_follower::answered(const char* data, size_t n) {
  auto& d = server_;
  size_t i = 0;
  while (i < n && !server_broken_) {
    if (d.left > 0) {
      auto k = std::min(d.left, n - i);
      if (!hello_read_ && hello_wanted_ > hello_.size()) {
        auto take = std::min(k, hello_wanted_ - hello_.size());
        hello_.append(data + i, take);
        if (hello_.size() == hello_wanted_)
          read_server_hello();
      }
      d.left -= k;
      i += k;
      continue;
    }
    auto k = std::min(header_size - d.have, n - i);
    std::copy(data + i, data + i + k, d.header + d.have);
    d.have += k;
    i += k;
    if (d.have < header_size)
      break;
    d.have = 0;
    size_t length = (size_t{d.header[3]} << 8) | d.header[4];
    if (d.header[1] != 3 || length > max_record) {
      // CAF's own stream, not understood: the handshake then never counts
      // as over, and the deadline closes the connection.
      server_broken_ = true;
      break;
    }
    ++d.records;
    d.left = length;
    server_record(d.header[0], length);
  }
}

void tls_record_follower::server_record(uint8_t type, size_t length) {
  if (type == handshake && !hello_read_ && hello_wanted_ == 0) {
    // The server's first handshake record holds its ServerHello.
    hello_wanted_ = length;
    hello_.reserve(length); // bounded by max_record above
    if (length == 0)
      read_server_hello();
    return;
  }
  if (type != application_data || done_)
    return;
  if (version_ == version::tls12 || (version_ == version::tls13 && client_app_data_))
    done_ = true;
}

void tls_record_follower::read_server_hello() {
  hello_read_ = true;
  std::string h;
  h.swap(hello_);
  auto byte = [&](size_t at) -> unsigned {
    return static_cast<unsigned char>(h[at]);
  };
  // Handshake header: type 2 (server_hello), 3-byte length; then
  // legacy_version (2), random (32), session id (1 + n), cipher suite (2),
  // compression (1), extensions (2 + n).
  if (h.size() < 4 || byte(0) != 2)
    return; // version stays unknown: the stricter TLS 1.3 rule never fires
  size_t at = 4 + 2 + 32;
  if (h.size() < at + 1)
    return;
  at += 1 + byte(at);
  at += 2 + 1;
  if (h.size() < at + 2) {
    version_ = version::tls12; // no extensions: not TLS 1.3
    return;
  }
  size_t end = std::min(h.size(), at + 2 + ((size_t{byte(at)} << 8) | byte(at + 1)));
  at += 2;
  version_ = version::tls12;
  while (at + 4 <= end) {
    unsigned type = (byte(at) << 8) | byte(at + 1);
    size_t len = (size_t{byte(at + 2)} << 8) | byte(at + 3);
    at += 4;
    if (type == 43 && len == 2 && at + 2 <= end) { // supported_versions
      if (byte(at) == 3 && byte(at + 1) == 4)
        version_ = version::tls13;
      return;
    }
    at += len;
  }
}

} // namespace p21::cluster_detail
