// The Redis tier: hiredis's blocking API on the callers' threads (a pool of
// tracked data connections). The thread reading invalidations, and the
// coherence it keeps, are in redis_invalidation.cpp.

#include "redis_tier.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "p21/error.hpp"
#include "p21/protocol/cache.hpp" // the Redis metrics are declared with the cache's
#include "redis_exchange.hpp"
#include "p21/redis_config.hpp"

namespace p21::redis_detail {

namespace {

using steady = std::chrono::steady_clock;

timeval to_timeval(timespan t) {
  auto us =
      std::max<int64_t>(1000, std::chrono::duration_cast<std::chrono::microseconds>(t).count());
  timeval tv;
  tv.tv_sec = static_cast<time_t>(us / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1'000'000);
  return tv;
}

} // namespace

// -- pooled connections -------------------------------------------------------------

struct redis_tier::connection {
  redisContext* ctx = nullptr;
  uint64_t generation = 0;
  ~connection() {
    if (ctx)
      redisFree(ctx);
  }
};

void redis_tier::striped_counter::add() noexcept {
  thread_local const size_t stripe = std::hash<std::thread::id>{}(std::this_thread::get_id());
  cells[stripe % cells.size()].n.fetch_add(1, std::memory_order_relaxed);
}

uint64_t redis_tier::striped_counter::sum() const noexcept {
  uint64_t n = 0;
  for (auto& c : cells)
    n += c.n.load(std::memory_order_relaxed);
  return n;
}

redis_tier::redis_tier(redis_config cfg)
  : cfg_(std::move(cfg)) {
  std::string why;
  if (auto ep = parse_redis_url(cfg_.url, &why))
    ep_ = *ep;
  else
    throw std::invalid_argument("redis.url: " + why);
  std::random_device rd;
  token_ = std::to_string(::getpid()) + "-" + std::to_string(rd()) + std::to_string(rd());
  if (::pipe2(wake_fd_, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error(std::string{"redis tier: pipe: "} + std::strerror(errno));
}

redis_tier::~redis_tier() {
  stop();
  if (first_)
    redisFree(first_);
  ::close(wake_fd_[0]);
  ::close(wake_fd_[1]);
}

std::string redis_tier::key(const std::string& name, const std::string& k) const {
  std::string out;
  out.reserve(cfg_.key_prefix.size() + name.size() + 1 + k.size());
  out += cfg_.key_prefix;
  out += name;
  out += ':';
  out += k;
  return out;
}

std::string redis_tier::lock_key(const std::string& redis_key) const {
  return cfg_.key_prefix + "lock:" + redis_key;
}

caf::error redis_tier::unavailable(const std::string& why) const {
  return make_error(errc::unavailable, "redis at " + ep_.describe() + ": " + why);
}

redisContext* redis_tier::open(timespan connect_timeout, std::string& why, bool& fatal) const {
  fatal = false;
  auto tv = to_timeval(connect_timeout);
  redisContext* c = ep_.socket.empty() ? redisConnectWithTimeout(ep_.host.c_str(), ep_.port, tv)
                                       : redisConnectUnixWithTimeout(ep_.socket.c_str(), tv);
  if (!c || c->err) {
    why = context_error(c);
    if (c)
      redisFree(c);
    return nullptr;
  }
  redisSetTimeout(c, to_timeval(cfg_.command_timeout));
  auto command = [&](args a, const std::string& what) {
    auto r = exchange(c, {a}, steady::now() + cfg_.command_timeout, cfg_.max_reply_bytes,
                      ep_.describe());
    if (!r) {
      why = what + ": " + context_error(c);
      return false;
    }
    auto& reply = r->front();
    if (reply->type == REDIS_REPLY_ERROR) {
      why = what + " refused: " + std::string{reply->str, reply->len};
      fatal = true;
      return false;
    }
    return true;
  };
  bool ok = true;
  if (!ep_.password.empty()) {
    args a;
    a << "AUTH";
    if (!ep_.user.empty())
      a << ep_.user;
    a << ep_.password;
    ok = command(a, "login (AUTH)");
  } else {
    // Without a password, a server that wants one says so at the first
    // command; PING makes that the connection's problem, not a get's.
    args a;
    a << "PING";
    ok = command(a, "PING");
  }
  if (ok && ep_.db != 0) {
    auto db = std::to_string(ep_.db);
    args a;
    a << "SELECT" << db;
    ok = command(a, "SELECT " + db);
  }
  if (!ok) {
    redisFree(c);
    return nullptr;
  }
  return c;
}

caf::expected<std::unique_ptr<redis_tier::connection>> redis_tier::checkout() {
  if (!connected())
    return unavailable("not connected (reconnecting)");
  auto deadline = steady::now() + cfg_.command_timeout;
  std::unique_ptr<connection> c;
  {
    std::unique_lock<std::mutex> guard{pool_mtx_};
    while (idle_.empty() && open_ >= cfg_.pool_size)
      if (pool_cv_.wait_until(guard, deadline) == std::cv_status::timeout && idle_.empty() &&
          open_ >= cfg_.pool_size)
        return make_error(errc::timeout, "no Redis connection free within command_timeout");
    if (!idle_.empty()) {
      c = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;
      c = std::make_unique<connection>();
    }
  }
  auto gen = generation_.load();
  if (c->ctx && c->generation == gen)
    return c;
  if (c->ctx) {
    redisFree(c->ctx);
    c->ctx = nullptr;
  }
  // A new connection tracks its reads, with invalidations sent to the
  // current invalidation connection.
  std::string why;
  bool fatal = false;
  auto client = invalidation_client_.load();
  c->ctx = open(std::min(cfg_.connect_timeout, cfg_.command_timeout), why, fatal);
  if (c->ctx) {
    auto id = std::to_string(client);
    args a;
    a << "CLIENT"
      << "TRACKING"
      << "ON"
      << "REDIRECT" << id << "NOLOOP";
    auto r = exchange(c->ctx, {a}, steady::now() + cfg_.command_timeout, cfg_.max_reply_bytes,
                      ep_.describe());
    if (!r || r->front()->type == REDIS_REPLY_ERROR) {
      why = "CLIENT TRACKING: " +
            (r ? std::string{r->front()->str, r->front()->len} : context_error(c->ctx));
      redisFree(c->ctx);
      c->ctx = nullptr;
    }
  }
  if (!c->ctx) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    checkin(std::move(c), true);
    return unavailable(why);
  }
  c->generation = gen;
  return c;
}

void redis_tier::checkin(std::unique_ptr<connection> c, bool broken) {
  if (broken && c->ctx) {
    redisFree(c->ctx);
    c->ctx = nullptr;
  }
  {
    std::lock_guard<std::mutex> guard{pool_mtx_};
    idle_.push_back(std::move(c));
  }
  pool_cv_.notify_one();
}

template <class F>
auto redis_tier::with_connection(F f) -> decltype(f(std::declval<redisContext*>())) {
  auto c = checkout();
  if (!c)
    return c.error();
  auto began = steady::now();
  auto result = f((*c)->ctx);
  latency_.record(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - began).count()));
  round_trips_.fetch_add(1, std::memory_order_relaxed);
  bool broken = (*c)->ctx->err != 0;
  if (!result)
    errors_.fetch_add(1, std::memory_order_relaxed);
  if (broken) {
    // The reads this connection tracked are no longer tracked: whatever
    // the near tiers hold may go stale unseen.
    spdlog::warn("redis at {}: data connection lost ({}); flushing the near tier", ep_.describe(),
                 context_error((*c)->ctx));
    begin_flush();
  }
  checkin(std::move(*c), broken);
  return result;
}

namespace {

/// `command_failed` when Redis answered with an error.
caf::expected<reply_ptr*> checked(reply_ptr& r, const std::string& where) {
  // An exchange's replies are never null: a failed one is an error itself.
  if (r->type == REDIS_REPLY_ERROR)
    return make_error(errc::command_failed,
                      "redis at " + where + " refused: " + std::string{r->str, r->len});
  return &r;
}

} // namespace

caf::expected<std::vector<reply_ptr>> redis_tier::round_trip(redisContext* ctx,
                                                             const std::vector<args>& commands) {
  // One deadline for the whole exchange, however the server paces it.
  return exchange(ctx, commands, steady::now() + cfg_.command_timeout, cfg_.max_reply_bytes,
                  ep_.describe());
}

caf::expected<std::optional<std::string>> redis_tier::get(const std::string& redis_key) {
  return with_connection([&](redisContext* ctx) -> caf::expected<std::optional<std::string>> {
    args a;
    a << "GET" << redis_key;
    auto r = round_trip(ctx, {a});
    if (!r)
      return r.error();
    auto ok = checked(r->front(), ep_.describe());
    if (!ok)
      return ok.error();
    auto v = string_of(r->front().r);
    (v ? redis_hits_ : redis_misses_).fetch_add(1, std::memory_order_relaxed);
    return v;
  });
}

caf::expected<std::vector<std::optional<std::string>>>
redis_tier::mget(const std::vector<std::string>& redis_keys) {
  using result = caf::expected<std::vector<std::optional<std::string>>>;
  return with_connection([&](redisContext* ctx) -> result {
    args a;
    a << "MGET";
    for (auto& k : redis_keys)
      a << k;
    auto rs = round_trip(ctx, {a});
    if (!rs)
      return rs.error();
    auto& r = rs->front();
    auto ok = checked(r, ep_.describe());
    if (!ok)
      return ok.error();
    std::vector<std::optional<std::string>> out(redis_keys.size());
    if (r->type == REDIS_REPLY_ARRAY)
      for (size_t i = 0; i < r->elements && i < out.size(); ++i) {
        out[i] = string_of(r->element[i]);
        (out[i] ? redis_hits_ : redis_misses_).fetch_add(1, std::memory_order_relaxed);
      }
    return out;
  });
}

caf::expected<std::optional<std::string>> redis_tier::set(const std::string& redis_key,
                                                          const std::string& value, timespan ttl) {
  return with_connection([&](redisContext* ctx) -> caf::expected<std::optional<std::string>> {
    auto ms = std::to_string(
        std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count()));
    args s;
    s << "SET" << redis_key << value;
    if (ttl.count() > 0)
      s << "PX" << ms;
    args g;
    g << "GET" << redis_key;
    auto r = round_trip(ctx, {s, g});
    if (!r)
      return r.error();
    for (auto& x : *r)
      if (auto ok = checked(x, ep_.describe()); !ok)
        return ok.error();
    return string_of((*r)[1].r);
  });
}

caf::expected<bool> redis_tier::del(const std::string& redis_key) {
  return with_connection([&](redisContext* ctx) -> caf::expected<bool> {
    args a;
    a << "DEL" << redis_key;
    auto r = round_trip(ctx, {a});
    if (!r)
      return r.error();
    auto ok = checked(r->front(), ep_.describe());
    if (!ok)
      return ok.error();
    return r->front()->type == REDIS_REPLY_INTEGER && r->front()->integer > 0;
  });
}

caf::expected<bool> redis_tier::try_lock(const std::string& lock, timespan ttl) {
  return with_connection([&](redisContext* ctx) -> caf::expected<bool> {
    auto ms = std::to_string(
        std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count()));
    args a;
    a << "SET" << lock << token_ << "NX"
      << "PX" << ms;
    auto r = round_trip(ctx, {a});
    if (!r)
      return r.error();
    auto ok = checked(r->front(), ep_.describe());
    if (!ok)
      return ok.error();
    return r->front()->type == REDIS_REPLY_STATUS;
  });
}

void redis_tier::unlock(const std::string& lock) {
  static const std::string script =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
      "return 0";
  static_cast<void>(with_connection([&](redisContext* ctx) -> caf::expected<bool> {
    args a;
    a << "EVAL" << script << "1" << lock << token_;
    auto r = round_trip(ctx, {a});
    if (!r)
      return r.error();
    auto ok = checked(r->front(), ep_.describe());
    if (!ok)
      return ok.error();
    return true;
  }));
}

caf::expected<std::pair<std::optional<std::string>, bool>>
redis_tier::get_and_lock_held(const std::string& redis_key, const std::string& lock) {
  using result = caf::expected<std::pair<std::optional<std::string>, bool>>;
  return with_connection([&](redisContext* ctx) -> result {
    args g;
    g << "GET" << redis_key;
    args e;
    e << "EXISTS" << lock;
    auto r = round_trip(ctx, {g, e});
    if (!r)
      return r.error();
    for (auto& x : *r)
      if (auto ok = checked(x, ep_.describe()); !ok)
        return ok.error();
    auto& er = (*r)[1];
    return std::make_pair(string_of((*r)[0].r), er->type == REDIS_REPLY_INTEGER && er->integer > 0);
  });
}

// -- statistics -----------------------------------------------------------------------

void redis_tier::note_near_hit() noexcept {
  near_hits_.add();
}

void redis_tier::note_near_miss() noexcept {
  near_misses_.add();
}

redis_counters redis_tier::counters() const {
  redis_counters c;
  c.round_trips = round_trips_.load();
  c.errors = errors_.load();
  c.invalidations = invalidations_.load();
  c.flushes = flushes_.load();
  c.reconnects = reconnects_.load();
  c.near_hits = near_hits_.sum();
  c.near_misses = near_misses_.sum();
  c.redis_hits = redis_hits_.load();
  c.redis_misses = redis_misses_.load();
  c.lock_waits = lock_waits_.load();
  c.connected = connected();
  return c;
}

metric_set redis_tier::metrics() const {
  namespace d = cache_metrics;
  auto c = counters();
  std::map<std::string, std::string> labels{{"server", ep_.describe()}};
  metric_set m;
  auto lookups = c.near_hits + c.near_misses;
  m.counters = {d::redis_round_trips(double(c.round_trips), labels),
                d::redis_errors(double(c.errors), labels),
                d::redis_invalidations(double(c.invalidations), labels),
                d::redis_flushes(double(c.flushes), labels),
                d::redis_reconnects(double(c.reconnects), labels),
                d::redis_near_hits(double(c.near_hits), labels),
                d::redis_near_misses(double(c.near_misses), labels),
                d::redis_hits(double(c.redis_hits), labels),
                d::redis_misses(double(c.redis_misses), labels)};
  m.gauges = {
      d::redis_connected(c.connected ? 1.0 : 0.0, labels),
      d::redis_near_hit_ratio(lookups ? double(c.near_hits) / double(lookups) : 0.0, labels)};
  auto h = latency_.summary(d::redis_latency.name, 1e-9);
  h.labels = labels;
  m.histograms.push_back(std::move(h));
  return m;
}

} // namespace p21::redis_detail
