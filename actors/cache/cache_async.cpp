// `cache::async_get_or_load`: the shard's single-flight protocol (`load`,
// then `loaded` or `load_failed`) driven by futures instead of a waiting
// thread. Each step is a request from the runtime's caller actors.

#include <caf/all.hpp>

#include "p21/async.hpp"
#include "p21/cache.hpp"
#include "shard.hpp"

namespace p21 {

namespace {

/// Runs `load`, turning a throw into an error as `get_or_load` does.
future<std::string> start_loader(const cache::async_loader& load) {
  try {
    auto f = load();
    if (!f.valid())
      return make_ready_future<std::string>(
          make_error(errc::invalid_argument, "the loader returned an empty future"));
    return f;
  } catch (const std::exception& e) {
    return make_ready_future<std::string>(
        make_error(errc::command_failed, std::string{"loader threw: "} + e.what()));
  }
}

} // namespace

future<std::string> cache::async_get_or_load(const std::string& key, async_loader load,
                                              timespan ttl, call_options opts) {
  auto shard = shard_index(key);
  auto& local = local_[shard];
  if (local && local->tier)
    return make_ready_future<std::string>(make_error(
        errc::invalid_argument, "a redis-backed cache has no non-blocking get_or_load yet"));
  if (local) {
    // A direct read of this process's table: no message, no wait.
    auto hit = get(key);
    if (hit && *hit)
      return make_ready_future<std::string>(std::move(**hit));
  }
  auto out = std::make_shared<promise<std::string>>();
  future<std::string> result{*out};
  auto self = *this; // cheap: names, pointers
  auto name = component(shard);
  auto timeout = timeout_;
  // No retry while the shard is down: the loader alone answers at once.
  auto first_opts = opts;
  first_opts.retry = retry_policy::none();
  auto first = detail::start_call<load_reply>(
      *rt_, name, first_opts, timeout, true,
      detail::make_asker<load_reply, cache_actor>(load_atom::value, key));
  first.then([self, name, key, load, ttl, out, timeout](caf::expected<load_reply> r) mutable {
    if (r && r->hit) {
      out->set(std::move(r->value));
      return;
    }
    if (!r) {
      // The shard is down past the retries: the loader alone answers (and
      // nothing is cached), as in `get_or_load`; a peer's cache has none.
      if (!retryable(r.error()) || !self.local_[self.shard_index(key)]) {
        out->set(std::move(r.error()));
        return;
      }
      self.note_bypass(key);
      start_loader(load).then([out](caf::expected<std::string> v) { out->set(std::move(v)); });
      return;
    }
    // Our turn: others asking for this key wait for our result.
    start_loader(load).then([self, name, key, ttl, out, timeout](caf::expected<std::string> v) mutable {
      auto once = call_options{timeout, retry_policy::none()};
      if (!v) {
        auto told = detail::start_call<bool>(
            *self.rt_, name, once, timeout, false,
            detail::make_asker<bool, cache_actor>(load_failed_atom::value, key, v.error()), false);
        told.then([](caf::expected<bool>) {});
        out->set(std::move(v));
        return;
      }
      auto stored = detail::start_call<bool>(
          *self.rt_, name, once, timeout, false,
          detail::make_asker<bool, cache_actor>(loaded_atom::value, key, *v, ttl), false);
      stored.then([self, key, out, v](caf::expected<bool> ok) mutable {
        if (!ok)
          self.note_bypass(key); // loaded, not stored: the shard went down meanwhile
        out->set(std::move(v));
      });
    });
  });
  return result;
}

} // namespace p21
