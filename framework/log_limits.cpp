#include "p21/log_limits.hpp"

#include <algorithm>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "detail/logging.hpp"

namespace p21 {

std::string peer_text(std::string_view x, size_t limit) {
  auto shown = x.substr(0, limit);
  std::string out;
  out.reserve(shown.size() + 32);
  for (char c : shown) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\\':
      out += "\\\\";
      break;
    default:
      if (u < 0x20 || u > 0x7e) {
        char code[8];
        std::snprintf(code, sizeof(code), "\\x%02x", u);
        out += code;
      } else {
        out += c;
      }
    }
  }
  if (shown.size() < x.size())
    out += "... (" + std::to_string(x.size()) + " bytes)";
  return out;
}

log_rate_limiter::log_rate_limiter(double per_second, double burst,
                                   std::function<clock::time_point()> now)
  : per_second_(std::max(per_second, 0.0))
  , burst_(std::max(burst, 1.0))
  , now_(std::move(now))
  , tokens_(burst_)
  , refilled_(now_()) {
  // nop
}

log_rate_limiter::verdict log_rate_limiter::admit() {
  auto now = now_();
  std::lock_guard<std::mutex> guard{mtx_};
  if (now > refilled_) {
    std::chrono::duration<double> elapsed = now - refilled_;
    tokens_ = std::min(burst_, tokens_ + elapsed.count() * per_second_);
    refilled_ = now;
  }
  if (tokens_ < 1) {
    ++suppressed_;
    return {false, 0};
  }
  tokens_ -= 1;
  verdict v{true, suppressed_};
  suppressed_ = 0;
  return v;
}

uint64_t log_rate_limiter::suppressed() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return suppressed_;
}

bool log_limited(log_rate_limiter& limit, log_level level,
                 const std::function<std::string()>& text) {
  auto lvl = detail::spdlog_level(level);
  // Below the logger's level: neither a token nor the formatting.
  if (!spdlog::default_logger_raw()->should_log(lvl))
    return false;
  auto v = limit.admit();
  if (!v.log)
    return false;
  if (v.suppressed > 0)
    spdlog::log(lvl, "{} ({} similar lines suppressed)", text(), v.suppressed);
  else
    spdlog::log(lvl, "{}", text());
  return true;
}

} // namespace p21
