#include "whole_cache_knob.hpp"

#include <caf/all.hpp>

#include "cache_store.hpp"
#include "p21/error.hpp"
#include "p21/protocol/atoms.hpp"
#include "p21/protocol/metrics.hpp"

namespace p21::cache_detail {

namespace {

/// Bound of each shard's reply: a shard answers its knob from its state at
/// once; this only ends a wait on a hung one.
constexpr auto shard_timeout = std::chrono::seconds{10};

/// The replies of every shard to one get or set, summed; the first error
/// (naming the shard) answers instead.
struct shard_join {
  caf::typed_response_promise<double> promise;
  size_t remaining = 0;
  double sum = 0;
  bool done = false;

  void reply(double v) {
    if (done)
      return;
    sum += v;
    if (--remaining == 0) {
      done = true;
      promise.deliver(sum);
    }
  }

  void fail(const std::string& knob, const caf::error& err) {
    if (done)
      return;
    done = true;
    promise.deliver(make_error(errc::unavailable, knob + ": " + render(err)));
  }
};

struct whole_cache_state {
  static inline const char* name = "p21.whole_cache_knob";
};

/// Sends `(atom, shard knob, values[k]...)` for each shard through the
/// supervisor and answers with the sum of the replies.
template <class Atom>
caf::result<double> ask_shards(caf::stateful_actor<whole_cache_state>* self,
                               const caf::actor& supervisor,
                               const std::vector<std::string>& shard_knobs,
                               const std::vector<uint64_t>* values) {
  if (!supervisor)
    return make_error(errc::unavailable, "the node has no supervisor");
  auto join = std::make_shared<shard_join>();
  join->promise = self->make_response_promise<double>();
  join->remaining = shard_knobs.size();
  for (size_t k = 0; k < shard_knobs.size(); ++k) {
    auto& knob = shard_knobs[k];
    auto on_reply = [join](double v) { join->reply(v); };
    auto on_error = [join, knob](caf::error& err) { join->fail(knob, err); };
    if (values)
      self->request(supervisor, shard_timeout, Atom::value, knob, double((*values)[k]))
          .then(on_reply, on_error);
    else
      self->request(supervisor, shard_timeout, Atom::value, knob).then(on_reply, on_error);
  }
  return join->promise;
}

caf::behavior whole_cache(caf::stateful_actor<whole_cache_state>* self, knob_spec knob,
                          std::vector<std::string> shard_knobs, caf::actor supervisor) {
  return {
      [=](get_knob_atom, const std::string& name) -> caf::result<double> {
        if (name != knob.name)
          return unknown_knob(name);
        return ask_shards<get_knob_atom>(self, supervisor, shard_knobs, nullptr);
      },
      [=](set_knob_atom, const std::string& name, double v) -> caf::result<double> {
        if (name != knob.name)
          return unknown_knob(name);
        auto total = knob_target(knob, v);
        if (!total)
          return total.error();
        auto shares = shares_of(uint64_t(*total), shard_knobs.size());
        return ask_shards<set_knob_atom>(self, supervisor, shard_knobs, &shares);
      },
      // The monitor asks every running component; the shards report the
      // cache's metrics.
      [=](metrics_atom) { return metric_set{}; },
  };
}

} // namespace

std::vector<std::string> cache_config_keys(const std::string& cache) {
  if (cache == "async")
    return {"cache.async_maxsize", "cache.max_bytes", "cache.async_ttl"};
  auto base = "caches." + cache + ".";
  return {base + "max_entries", base + "max_bytes", base + "ttl"};
}

std::vector<std::string> capacity_keys(const std::string& cache) {
  auto keys = cache_config_keys(cache);
  keys.pop_back();
  return keys;
}

std::string shard_knob_name(const std::string& name, size_t k, size_t shards) {
  return shards == 1 ? "cache." + name + ".max_entries"
                     : "cache." + name + "/" + std::to_string(k) + ".max_entries";
}

std::vector<uint64_t> shares_of(uint64_t total, size_t shards) {
  return std::vector<uint64_t>(shards, per_shard(total, shards));
}

child_spec whole_cache_component(const std::string& name, const named_cache_config& cfg,
                                 std::shared_ptr<const node_view> view) {
  knob_spec knob{"cache." + name + ".max_entries",
                 1,
                 1e9,
                 true,
                 "entries",
                 "capacity in entries of the whole cache, the sum of its " +
                     std::to_string(cfg.shards) + " shards'",
                 capacity_keys(name),
                 true};
  std::vector<std::string> shard_knobs;
  for (size_t k = 0; k < cfg.shards; ++k)
    shard_knobs.push_back(shard_knob_name(name, k, cfg.shards));
  child_spec spec;
  spec.name = "cache." + name;
  spec.prio = priority::critical;
  spec.knobs = {knob};
  spec.start = [knob, shard_knobs, view](caf::actor_system& sys) -> caf::expected<caf::actor> {
    auto supervisor = view ? view->supervisor : caf::actor{};
    return sys.spawn(whole_cache, knob, shard_knobs, supervisor);
  };
  return spec;
}

} // namespace p21::cache_detail
