#include "redis_exchange.hpp"

#include <algorithm>
#include <cerrno>

#include <poll.h>
#include <sys/socket.h>

#include "p21/error.hpp"

namespace p21::redis_detail {

// -- reply_scanner -------------------------------------------------------------------

bool reply_scanner::fail(std::string why) {
  why_ = std::move(why);
  return false;
}

bool reply_scanner::charge(uint64_t n) {
  if (n > max_ - std::min(max_, reply_bytes_))
    return fail("a reply larger than max_reply_bytes (" + std::to_string(max_) + ")");
  reply_bytes_ += n;
  return true;
}

void reply_scanner::value_done() {
  mode_ = mode::type;
  if (--need_ == 0) {
    ++replies_;
    reply_bytes_ = 0;
  }
}

bool reply_scanner::on_length() {
  // "-1" (nil) or digits, then CR.
  auto text = length_text_;
  if (text.empty() || text.back() != '\r')
    return fail("protocol error: a length line without CR");
  text.pop_back();
  if (text == "-1") {
    value_done();
    return true;
  }
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
    return fail("protocol error: bad length '" + text.substr(0, 20) + "'");
  uint64_t len = std::stoull(text);
  if (length_type_ == '$') {
    // Charged whole now: its bytes are refused before any is buffered.
    if (len > max_ || !charge(len + 2))
      return fail("a bulk string of " + text + " bytes, over max_reply_bytes (" +
                  std::to_string(max_) + ")");
    bulk_left_ = len + 2;
    mode_ = mode::bulk;
    return true;
  }
  if (len == 0) {
    value_done();
    return true;
  }
  if (len > max_ / element_cost || !charge(len * element_cost))
    return fail("an array of " + text + " elements, over max_reply_bytes (" + std::to_string(max_) +
                ", " + std::to_string(element_cost) + " per element)");
  need_ += len - 1; // the array's own place is taken by its elements
  mode_ = mode::type;
  return true;
}

bool reply_scanner::scan(const char* p, size_t n) {
  if (!why_.empty())
    return false;
  size_t i = 0;
  while (i < n) {
    switch (mode_) {
    case mode::type: {
      char c = p[i++];
      if (need_ == 0)
        need_ = 1;
      if (!charge(1))
        return false;
      if (c == '+' || c == '-' || c == ':') {
        mode_ = mode::simple_line;
      } else if (c == '$' || c == '*') {
        mode_ = mode::length_line;
        length_type_ = c;
        length_text_.clear();
      } else {
        return fail(std::string{"protocol error: reply type byte "} +
                    std::to_string(static_cast<unsigned char>(c)));
      }
      break;
    }
    case mode::simple_line: {
      auto* end = static_cast<const char*>(std::memchr(p + i, '\n', n - i));
      size_t k = end ? static_cast<size_t>(end - (p + i)) + 1 : n - i;
      if (!charge(k))
        return false;
      i += k;
      if (end)
        value_done();
      break;
    }
    case mode::length_line: {
      char c = p[i++];
      if (!charge(1))
        return false;
      if (c == '\n') {
        if (!on_length())
          return false;
      } else if (length_text_.size() > 21) {
        return fail("protocol error: a length line too long");
      } else {
        length_text_ += c;
      }
      break;
    }
    case mode::bulk: {
      auto k = static_cast<size_t>(std::min<uint64_t>(bulk_left_, n - i));
      i += k;
      bulk_left_ -= k;
      if (bulk_left_ == 0)
        value_done();
      break;
    }
    }
  }
  return true;
}

// -- exchange ------------------------------------------------------------------------

namespace {

void set_error(redisContext* ctx, int err, const std::string& what) {
  ctx->err = err;
  auto n = std::min(what.size(), sizeof(ctx->errstr) - 1);
  std::memcpy(ctx->errstr, what.data(), n);
  ctx->errstr[n] = '\0';
}

/// Milliseconds to `deadline` for poll, rounded up; 0 once past.
int ms_until(steady_time deadline) {
  auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero())
    return 0;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
  return static_cast<int>(std::min<int64_t>((us + 999) / 1000, 1 << 30));
}

/// Waits until `fd` is ready for `events` or `deadline`; false past it.
bool wait_for(int fd, short events, steady_time deadline) {
  while (true) {
    int ms = ms_until(deadline);
    if (ms == 0)
      return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, ms);
    if (r > 0)
      return true;
    if (r < 0 && errno != EINTR)
      return true; // the send or recv that follows reports the error
  }
}

} // namespace

bool read_available(redisContext* ctx, reply_scanner& scan) {
  char buf[16 * 1024];
  auto n = ::recv(ctx->fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n == 0) {
    set_error(ctx, REDIS_ERR_EOF, "Server closed the connection");
    return false;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      return true;
    set_error(ctx, REDIS_ERR_IO, std::strerror(errno));
    return false;
  }
  if (!scan.scan(buf, static_cast<size_t>(n))) {
    set_error(ctx, REDIS_ERR_PROTOCOL, scan.why());
    return false;
  }
  if (redisReaderFeed(ctx->reader, buf, static_cast<size_t>(n)) != REDIS_OK) {
    set_error(ctx, REDIS_ERR_OOM, "out of memory");
    return false;
  }
  return true;
}

caf::expected<std::vector<reply_ptr>> exchange(redisContext* ctx, const std::vector<args>& commands,
                                               steady_time deadline, uint64_t max_reply_bytes,
                                               const std::string& where) {
  auto failed = [&](int err, const std::string& what) -> caf::error {
    set_error(ctx, err, what);
    return make_error(errc::unavailable, "redis at " + where + ": " + what);
  };
  std::string out;
  for (auto& c : commands) {
    char* cmd = nullptr;
    // hiredis 0.14 takes `const char**` but does not write through it.
    int len = redisFormatCommandArgv(&cmd, static_cast<int>(c.ptrs.size()),
                                     const_cast<const char**>(c.ptrs.data()), c.lens.data());
    if (len < 0)
      return failed(REDIS_ERR_OOM, "out of memory");
    out.append(cmd, static_cast<size_t>(len));
    redisFreeCommand(cmd);
  }
  const char* timeout = "no reply within command_timeout";
  for (size_t sent = 0; sent < out.size();) {
    if (!wait_for(ctx->fd, POLLOUT, deadline))
      return failed(REDIS_ERR_IO, timeout);
    auto n = ::send(ctx->fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return failed(REDIS_ERR_IO, std::strerror(errno));
    if (n > 0)
      sent += static_cast<size_t>(n);
  }
  reply_scanner scan{max_reply_bytes};
  std::vector<reply_ptr> replies;
  replies.reserve(commands.size());
  while (replies.size() < commands.size()) {
    void* raw = nullptr;
    if (redisReaderGetReply(ctx->reader, &raw) != REDIS_OK)
      return failed(REDIS_ERR_PROTOCOL, ctx->reader->errstr);
    if (raw) {
      replies.emplace_back(raw);
      continue;
    }
    if (!wait_for(ctx->fd, POLLIN, deadline))
      return failed(REDIS_ERR_IO, timeout);
    if (!read_available(ctx, scan))
      return make_error(errc::unavailable, "redis at " + where + ": " + ctx->errstr);
  }
  return replies;
}

std::optional<std::string> string_of(const redisReply* r) {
  if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
    return std::string{r->str, r->len};
  return std::nullopt;
}

std::string context_error(const redisContext* c) {
  if (!c)
    return "out of memory";
  return c->errstr[0] ? std::string{c->errstr} : "I/O error " + std::to_string(c->err);
}

} // namespace p21::redis_detail
