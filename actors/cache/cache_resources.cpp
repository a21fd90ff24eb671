#include "cache_resources.hpp"

#include <memory>

#include "p21/resources.hpp"
#include "p21/supervisor.hpp"
#include "shard.hpp"

namespace p21::cache_detail {

void track_cache_bytes(resource_manager& rm, const std::string& name,
                       const std::vector<child_spec>& specs) {
  std::vector<std::weak_ptr<shard_shared>> shards;
  for (auto& spec : specs)
    if (auto s = spec.shared.get<shard_shared>())
      shards.push_back(s);
  if (shards.empty())
    return;
  // Weak: the manager may outlive the component specs at the node's end.
  rm.track("cache." + name, "memory",
           [shards] {
             uint64_t sum = 0;
             for (auto& w : shards)
               if (auto s = w.lock())
                 sum += s->store.held_bytes();
             return sum;
           },
           "cache." + name);
}

} // namespace p21::cache_detail
