// The Redis tier's coherence: one thread on the invalidation connection
// (subscribed to `__redis__:invalidate`) drops invalidated keys from the
// caches' near tiers, and after a lost connection flushes them before near
// hits resume. The data connections are in redis_tier.cpp.

#include "redis_tier.hpp"

#include <algorithm>
#include <chrono>
#include <functional>

#include <hiredis/hiredis.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "p21/error.hpp"
#include "redis_exchange.hpp"

namespace p21::redis_detail {

namespace {

using steady = std::chrono::steady_clock;

} // namespace

// -- coherence ----------------------------------------------------------------------

redis_tier::mark redis_tier::mark_of(const std::string& redis_key) const noexcept {
  auto& stripe = stripes_[std::hash<std::string>{}(redis_key) % stripes_.size()];
  return {epoch_.load(), stripe.load()};
}

bool redis_tier::unchanged(const std::string& redis_key, mark m) const noexcept {
  auto& stripe = stripes_[std::hash<std::string>{}(redis_key) % stripes_.size()];
  return coherent() && stripe.load() == m.stripe && epoch_.load() == m.epoch;
}

void redis_tier::attach(const std::string& name, std::shared_ptr<near_tier> near) {
  std::lock_guard<std::mutex> guard{near_mtx_};
  near_[name] = std::move(near);
}

void redis_tier::on_invalidation(const std::string& redis_key) {
  // First the stripe, then the entry: a reader that inserts after this
  // removal sees the stripe changed and takes its insert back. Counted once
  // the key is gone (the bench times A's put to this count).
  stripes_[std::hash<std::string>{}(redis_key) % stripes_.size()].fetch_add(1);
  if (redis_key.compare(0, cfg_.key_prefix.size(), cfg_.key_prefix) == 0) {
    std::lock_guard<std::mutex> guard{near_mtx_};
    for (auto& [name, near] : near_) {
      auto at = cfg_.key_prefix.size();
      if (redis_key.size() <= at + name.size() || redis_key.compare(at, name.size(), name) != 0 ||
          redis_key[at + name.size()] != ':')
        continue;
      std::string_view key{redis_key};
      key.remove_prefix(at + name.size() + 1);
      near->drop(key);
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
  std::lock_guard<std::mutex> guard{near_mtx_};
  for (auto& [name, near] : near_)
    near->request_flush(seq);
  wake();
}

bool redis_tier::flushes_done(bool resend) {
  auto seq = flush_seq_.load();
  bool done = true;
  std::lock_guard<std::mutex> guard{near_mtx_};
  for (auto& [name, near] : near_)
    if (!near->flushed(seq, resend))
      done = false;
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

} // namespace p21::redis_detail
