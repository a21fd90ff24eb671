// The Redis tier: hiredis's blocking API on the callers' threads (a pool of
// tracked data connections) and one thread reading invalidations.

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

#include "redis_exchange.hpp"
#include "shard.hpp"
#include "p21/redis_config.hpp"

namespace p21::cache_detail {

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
    return std::make_pair(string_of((*r)[0].r),
                          er->type == REDIS_REPLY_INTEGER && er->integer > 0);
  });
}

// -- coherence ----------------------------------------------------------------------

redis_tier::mark redis_tier::mark_of(const std::string& redis_key) const noexcept {
  auto& stripe = stripes_[std::hash<std::string>{}(redis_key) % stripes_.size()];
  return {epoch_.load(), stripe.load()};
}

bool redis_tier::unchanged(const std::string& redis_key, mark m) const noexcept {
  auto& stripe = stripes_[std::hash<std::string>{}(redis_key) % stripes_.size()];
  return coherent() && stripe.load() == m.stripe && epoch_.load() == m.epoch;
}

void redis_tier::attach(const std::string& name,
                        std::vector<std::shared_ptr<shard_shared>> shards) {
  std::lock_guard<std::mutex> guard{shards_mtx_};
  shards_[name].assign(shards.begin(), shards.end());
}

void redis_tier::on_invalidation(const std::string& redis_key) {
  // First the stripe, then the entry: a reader that inserts after this
  // removal sees the stripe changed and takes its insert back. Counted once
  // the key is gone (the bench times A's put to this count).
  stripes_[std::hash<std::string>{}(redis_key) % stripes_.size()].fetch_add(1);
  if (redis_key.compare(0, cfg_.key_prefix.size(), cfg_.key_prefix) == 0) {
    std::lock_guard<std::mutex> guard{shards_mtx_};
    for (auto& [name, shards] : shards_) {
      auto at = cfg_.key_prefix.size();
      if (redis_key.size() <= at + name.size() || redis_key.compare(at, name.size(), name) != 0 ||
          redis_key[at + name.size()] != ':')
        continue;
      std::string_view key{redis_key};
      key.remove_prefix(at + name.size() + 1);
      auto hash = key_hash(key);
      auto shard = shards[shards.size() == 1 ? 0 : hash % shards.size()].lock();
      if (!shard)
        continue;
      cache_store::queued q;
      shard->store.remove(key, hash, q);
      if (q.drain || q.full)
        shard->poke();
    }
  }
  invalidations_.fetch_add(1);
}

void redis_tier::begin_flush(bool count) {
  coherent_.store(false);
  epoch_.fetch_add(1);
  auto seq = flush_seq_.fetch_add(1) + 1;
  if (count)
    flushes_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> guard{shards_mtx_};
  for (auto& [name, shards] : shards_)
    for (auto& weak : shards)
      if (auto s = weak.lock())
        s->request_flush(seq);
  wake();
}

bool redis_tier::flushes_done(bool resend) {
  auto seq = flush_seq_.load();
  bool done = true;
  std::lock_guard<std::mutex> guard{shards_mtx_};
  for (auto& [name, shards] : shards_)
    for (auto& weak : shards)
      if (auto s = weak.lock(); s && s->flushed.load() < seq) {
        done = false;
        if (resend) // the owner may have gone down with the request
          s->request_flush(seq);
      }
  return done;
}

void redis_tier::wake() {
  char c = 1;
  auto n = ::write(wake_fd_[1], &c, 1);
  static_cast<void>(n);
}

// -- the invalidation connection ----------------------------------------------------

bool redis_tier::connect_invalidation(redisContext*& ctx, std::string& why, bool& fatal) {
  ctx = open(cfg_.connect_timeout, why, fatal);
  if (!ctx)
    return false;
  auto fail = [&](const std::string& what) {
    why = what;
    redisFree(ctx);
    ctx = nullptr;
    return false;
  };
  args id_command;
  id_command << "CLIENT"
             << "ID";
  auto ids = round_trip(ctx, {id_command});
  if (!ids || ids->front()->type != REDIS_REPLY_INTEGER)
    return fail("CLIENT ID: " + (ids ? std::string{ids->front()->str ? ids->front()->str : ""}
                                     : context_error(ctx)));
  auto client = ids->front()->integer;
  args subscribe;
  subscribe << "SUBSCRIBE"
            << "__redis__:invalidate";
  auto subs = round_trip(ctx, {subscribe});
  if (!subs || subs->front()->type != REDIS_REPLY_ARRAY)
    return fail("SUBSCRIBE: " + (subs ? std::string{subs->front()->str ? subs->front()->str : ""}
                                      : context_error(ctx)));
  invalidation_client_.store(client);
  // Data connections made for an older invalidation connection re-connect
  // (generation first: a reader whose mark sees the new epoch also sees it).
  generation_.fetch_add(1);
  epoch_.fetch_add(1);
  return true;
}

caf::error redis_tier::start() {
  std::lock_guard<std::mutex> guard{run_mtx_};
  if (started_)
    return caf::none;
  std::string why;
  bool fatal = false;
  redisContext* ctx = nullptr;
  if (connect_invalidation(ctx, why, fatal)) {
    spdlog::info("redis at {}: connected, tracking keys under '{}'", ep_.describe(),
                 cfg_.key_prefix);
    first_ = ctx;
    connected_.store(true);
  } else if (fatal) {
    return make_error(errc::config_error, "redis at " + ep_.describe() + ": " + why);
  } else {
    spdlog::warn("redis at {}: not reachable ({}); retrying with backoff", ep_.describe(), why);
  }
  // Whatever the near tiers hold from before (a restarted component) missed
  // the invalidations of the time it was stopped.
  begin_flush(false);
  stop_.store(false);
  started_ = true;
  thread_ = std::thread{[this] {
    run();
  }};
  return caf::none;
}

void redis_tier::stop() {
  std::lock_guard<std::mutex> guard{run_mtx_};
  if (!started_)
    return;
  stop_.store(true);
  wake();
  if (thread_.joinable())
    thread_.join();
  started_ = false;
  connected_.store(false);
  coherent_.store(false);
}

void redis_tier::run() {
  redisContext* ctx = first_;
  first_ = nullptr;
  auto backoff = std::chrono::milliseconds{20};
  const auto backoff_max = std::chrono::milliseconds{1000};
  auto last_reply = steady::now();
  auto last_ping = steady::now();
  auto last_resend = steady::now();
  bool ever = ctx != nullptr;
  // Pushes and PING replies, each bounded like a command's reply.
  reply_scanner pushes{cfg_.max_reply_bytes};
  auto lose = [&](const std::string& why) {
    spdlog::warn("redis at {}: invalidation connection lost ({}); flushing the near tier and "
                 "reconnecting",
                 ep_.describe(), why);
    connected_.store(false);
    begin_flush();
    redisFree(ctx);
    ctx = nullptr;
  };
  while (!stop_.load()) {
    if (!ctx) {
      std::string why;
      bool fatal = false;
      if (connect_invalidation(ctx, why, fatal)) {
        pushes = reply_scanner{cfg_.max_reply_bytes};
        if (ever) {
          reconnects_.fetch_add(1, std::memory_order_relaxed);
          spdlog::info("redis at {}: reconnected; tracking re-established", ep_.describe());
        } else {
          spdlog::info("redis at {}: connected, tracking keys under '{}'", ep_.describe(),
                       cfg_.key_prefix);
        }
        ever = true;
        backoff = std::chrono::milliseconds{20};
        last_reply = last_ping = steady::now();
        connected_.store(true);
      } else {
        errors_.fetch_add(1, std::memory_order_relaxed);
        spdlog::debug("redis at {}: {}; next attempt in {} ms", ep_.describe(), why,
                      backoff.count());
        pollfd p{wake_fd_[0], POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(backoff.count()));
        char buf[64];
        while (::read(wake_fd_[0], buf, sizeof buf) > 0) {
        }
        backoff = std::min(backoff * 2, backoff_max);
        continue;
      }
    }
    // Hits resume once every shard dropped what it held before the loss.
    if (!coherent_.load()) {
      auto now = steady::now();
      bool resend = now - last_resend > std::chrono::seconds{1};
      if (resend)
        last_resend = now;
      if (flushes_done(resend))
        coherent_.store(true);
    }
    pollfd fds[2] = {{ctx->fd, POLLIN, 0}, {wake_fd_[0], POLLIN, 0}};
    int ready = ::poll(fds, 2, coherent_.load() ? 250 : 5);
    if (fds[1].revents & POLLIN) {
      char buf[64];
      while (::read(wake_fd_[0], buf, sizeof buf) > 0) {
      }
    }
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (!read_available(ctx, pushes)) {
        lose(context_error(ctx));
        continue;
      }
      void* raw = nullptr;
      bool broken = false;
      while (true) {
        raw = nullptr;
        if (redisGetReplyFromReader(ctx, &raw) != REDIS_OK) {
          broken = true;
          break;
        }
        if (!raw)
          break;
        last_reply = steady::now();
        reply_ptr r{raw};
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
          continue;
        auto kind = string_of(r->element[0]);
        if (!kind || *kind != "message")
          continue;
        auto payload = r->element[2];
        if (payload->type == REDIS_REPLY_ARRAY) {
          for (size_t i = 0; i < payload->elements; ++i)
            if (auto k = string_of(payload->element[i]))
              on_invalidation(*k);
        } else {
          // A nil payload: FLUSHALL or FLUSHDB on the server.
          begin_flush();
        }
      }
      if (broken) {
        lose(context_error(ctx));
        continue;
      }
    }
    // A server that vanished without closing (a cable, a frozen host) is
    // noticed by its silence: a PING a second, a reply within the timeout.
    auto now = steady::now();
    if (now - last_ping > std::chrono::seconds{1}) {
      last_ping = now;
      redisAppendCommand(ctx, "PING");
      int done = 0;
      if (redisBufferWrite(ctx, &done) != REDIS_OK) {
        lose(context_error(ctx));
        continue;
      }
    }
    if (now - last_reply >
        std::chrono::seconds{1} + cfg_.command_timeout + std::chrono::milliseconds{250}) {
      lose("no reply to PING within command_timeout");
      continue;
    }
  }
  if (ctx)
    redisFree(ctx);
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

} // namespace p21::cache_detail
