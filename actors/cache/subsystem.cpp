// The cache's registration: one component per shard of every configured
// cache; one-shard caches may be published to peers as "cache.NAME".

#include <caf/actor_system_config.hpp>

#include "p21/cache.hpp"
#include "p21/config_schema.hpp"
#include "p21/subsystems.hpp"

namespace p21 {

/// Its config section (cache/config_keys.cpp).
void declare_cache_keys(config_schema& schema);

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
  s.components = [](const config& cfg, std::shared_ptr<const node_view>) {
    std::vector<child_spec> out;
    for (auto& [name, nc] : cfg.cache.all())
      for (auto& spec : cache_components(name, nc, cfg.cache.load_timeout))
        out.push_back(std::move(spec));
    return out;
  };
  s.publishable = [](const config& cfg) {
    std::vector<std::string> out;
    for (auto& [name, nc] : cfg.cache.all())
      if (nc.shards == 1)
        out.push_back("cache." + name);
    return out;
  };
  return s;
}

} // namespace p21
