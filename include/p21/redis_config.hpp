#pragma once

// `[redis]`, the server behind caches with `backend = "redis"`; its keys
// are declared with the Redis tier's.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include "p21/config.hpp"

namespace p21 {

/// `[redis]`: the server behind caches with `backend = "redis"`.
struct redis_config {
  /// `redis://[user:password@]host:port/db` or `unix:///path`.
  std::string url = "redis://127.0.0.1:6379/0";
  timespan connect_timeout = std::chrono::seconds{2};
  /// Deadline of one command, from sending it to its whole reply: past it
  /// (or at once while the server is known to be down) a get or put fails
  /// with `unavailable`, however slowly the server drips its reply.
  timespan command_timeout = std::chrono::milliseconds{500};
  /// Largest reply accepted (its bytes, plus 64 per array element for what
  /// the client allocates per element): a larger bulk or array length fails
  /// the command as soon as its header arrives, before anything is buffered.
  size_t max_reply_bytes = 64 * 1024 * 1024;
  /// Data connections per node (the invalidation connection is extra).
  size_t pool_size = 4;
  /// Prepended to every key, then the cache's name and a colon.
  std::string key_prefix = "p21:";
};

} // namespace p21
