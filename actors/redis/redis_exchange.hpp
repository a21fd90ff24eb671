#pragma once

// One round trip with Redis under two bounds hiredis 0.14 does not keep:
// a deadline for the whole exchange (its socket timeout is per read, so a
// server dripping a byte at a time held a command for seconds), and a
// largest reply (it buffers a bulk string whole and allocates an array's
// element pointers from the length a server announces). Our own poll,
// send and recv on the context's socket; hiredis's reader parses what a
// `reply_scanner` has let through.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <hiredis/hiredis.h>

namespace p21::redis_detail {

/// Frees a hiredis reply at the end of the scope.
struct reply_ptr {
  redisReply* r = nullptr;
  explicit reply_ptr(void* x = nullptr)
    : r(static_cast<redisReply*>(x)) {}
  reply_ptr(reply_ptr&& other) noexcept
    : r(other.r) {
    other.r = nullptr;
  }
  reply_ptr(const reply_ptr&) = delete;
  reply_ptr& operator=(const reply_ptr&) = delete;
  ~reply_ptr() {
    if (r)
      freeReplyObject(r);
  }
  redisReply* operator->() const { return r; }
  explicit operator bool() const { return r != nullptr; }
};

/// A command's arguments, binary safe (they point into the caller's strings).
struct args {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  args& operator<<(const std::string& s) {
    ptrs.push_back(s.data());
    lens.push_back(s.size());
    return *this;
  }
  args& operator<<(const char* s) {
    ptrs.push_back(s);
    lens.push_back(std::strlen(s));
    return *this;
  }
};

/// Follows RESP2 replies as their bytes arrive and refuses one whose size
/// passes `max_reply_bytes` as soon as a length says so: a bulk string is
/// charged its length at its header, an array 64 bytes per element (what
/// hiredis allocates for each) at its header, other bytes as they come.
class reply_scanner {
public:
  static constexpr uint64_t element_cost = 64;

  explicit reply_scanner(uint64_t max_reply_bytes)
    : max_(max_reply_bytes) {}

  /// Follows `n` more bytes; false when a reply is too large or is not
  /// RESP2 (then `why` says which, and the stream is unusable).
  [[nodiscard]] bool scan(const char* p, size_t n);

  const std::string& why() const noexcept { return why_; }

  /// Replies complete so far.
  uint64_t replies() const noexcept { return replies_; }

private:
  enum class mode { type, simple_line, length_line, bulk };

  bool charge(uint64_t n);
  bool on_length();
  void value_done();
  bool fail(std::string why);

  uint64_t max_;
  mode mode_ = mode::type;
  char length_type_ = 0;
  std::string length_text_;
  uint64_t bulk_left_ = 0;
  /// Values still to come in the current reply (0: between replies).
  uint64_t need_ = 0;
  uint64_t reply_bytes_ = 0;
  uint64_t replies_ = 0;
  std::string why_;
};

using steady_time = std::chrono::steady_clock::time_point;

/// Sends `commands` pipelined on `ctx` and reads one reply each, all by
/// `deadline`. A failure (`unavailable`: no complete reply by the deadline,
/// a reply over `max_reply_bytes`, I/O, protocol) leaves `ctx->err` set:
/// the connection is out of step with its replies and must be dropped.
/// `where` names the server in the error. A reply may be a Redis error
/// (`REDIS_REPLY_ERROR`): the caller decides what that means.
caf::expected<std::vector<reply_ptr>> exchange(redisContext* ctx, const std::vector<args>& commands,
                                               steady_time deadline, uint64_t max_reply_bytes,
                                               const std::string& where);

/// Reads what the socket of `ctx` holds now (never waits) through `scan`
/// into its reader, for a connection that receives pushes (the
/// invalidation connection); false with `ctx->err` set on EOF, I/O error or
/// a reply `scan` refuses.
bool read_available(redisContext* ctx, reply_scanner& scan);

/// The text of a string or status reply, nullopt for any other.
std::optional<std::string> string_of(const redisReply* r);

/// Why the connection `c` failed, readably.
std::string context_error(const redisContext* c);

} // namespace p21::redis_detail
