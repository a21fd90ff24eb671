// The cache's registration: one component per shard of every configured
// cache; one-shard caches may be published to peers as "cache.NAME".

#include <stdexcept>

#include <caf/actor_system_config.hpp>
#include <caf/all.hpp>

#include "cache_resources.hpp"
#include "cache_store.hpp"
#include "p21/cache.hpp"
#include "p21/cache_config.hpp"
#include "p21/config_schema.hpp"
#include "p21/redis_config.hpp"
#include "p21/subsystems.hpp"
#include "redis_component.hpp" // p21_redis
#include "redis_tier.hpp"      // p21_redis
#include "whole_cache_knob.hpp"

namespace p21 {

/// Its config section (cache/config_keys.cpp).
void declare_cache_keys(config_schema& schema);

namespace {

/// Resizes and re-times the running shards of every cache whose capacity or
/// TTL changed. A shard that is not running (a lazy cache not used yet, an
/// unloaded one) starts from the current config (`cache_components`'s
/// `current`), so its keys count as applied all the same.
void reload_caches(const config& old, const config& now, const reload_context& ctx,
                   reload_report& report) {
  auto before = old.get<cache_config>().all();
  for (auto& [name, nc] : now.get<cache_config>().all()) {
    auto i = before.find(name);
    if (i == before.end())
      continue;
    auto& oc = i->second;
    bool resize = oc.max_entries != nc.max_entries || oc.max_bytes != nc.max_bytes;
    bool retime = oc.ttl != nc.ttl;
    if (!resize && !retime)
      continue;
    auto keys = cache_detail::cache_config_keys(name);
    std::vector<cache_actor> shards;
    for (size_t k = 0; k < nc.shards; ++k)
      if (auto a = ctx.running("cache." + name + "/" + std::to_string(k)))
        shards.push_back(caf::actor_cast<cache_actor>(a));
    std::string problem;
    for (auto& shard : shards) {
      if (resize) {
        auto r = ctx.request<bool>(shard, resize_atom::value,
                                   cache_detail::per_shard(nc.max_entries, nc.shards),
                                   cache_detail::per_shard(nc.max_bytes, nc.shards));
        if (!r)
          problem = render(r.error());
      }
      if (retime) {
        auto r = ctx.request<bool>(shard, set_ttl_atom::value, nc.ttl);
        if (!r)
          problem = render(r.error());
      }
    }
    if (!problem.empty())
      for (auto& key : keys)
        report.fail(key, problem);
  }
}

bool uses_redis(const config& cfg) {
  for (auto& [name, nc] : cfg.get<cache_config>().all())
    if (nc.backend == cache_backend::redis)
      return true;
  return false;
}

} // namespace

subsystem cache_subsystem() {
  subsystem s;
  s.name = "cache";
  s.declare_config = declare_cache_keys;
  s.add_message_types = [](caf::actor_system_config& cfg) {
    cfg.add_message_type<cache_stats>("p21.cache_stats");
    cfg.add_message_type<shrink_result>("p21.shrink_result");
    cfg.add_message_type<load_reply>("p21.load_reply");
    cfg.add_message_type<caf::optional<std::string>>("p21.optional_string");
    cfg.add_message_type<std::vector<caf::optional<std::string>>>("p21.optional_strings");
  };
  s.components = [](const config& cfg, std::shared_ptr<const node_view> view) {
    std::vector<child_spec> out;
    std::shared_ptr<redis_detail::redis_tier> tier;
    if (uses_redis(cfg)) {
      tier = std::make_shared<redis_detail::redis_tier>(cfg.get<redis_config>());
      out.push_back(redis_detail::redis_component(tier));
    }
    for (auto& [name, nc] : cfg.get<cache_config>().all()) {
      auto specs = cache_components(name, nc, cfg.get<cache_config>().load_timeout, tier,
                                    view ? view->profile : nullptr,
                                    view ? view->settings : nullptr);
      if (view && view->resources)
        cache_detail::track_cache_bytes(*view->resources, name, specs);
      for (auto& spec : specs)
        out.push_back(std::move(spec));
      if (nc.shards > 1 && view)
        out.push_back(cache_detail::whole_cache_component(name, nc, view));
    }
    return out;
  };
  s.publishable = [](const config& cfg) {
    std::vector<std::string> out;
    for (auto& [name, nc] : cfg.get<cache_config>().all())
      if (nc.shards == 1)
        out.push_back("cache." + name);
    return out;
  };
  s.reload = reload_caches;
  return s;
}

} // namespace p21
