// Actor profiling: the per-type counters behind `actor_profile`.

#include "p21/profiling.hpp"

#include <caf/atom.hpp>
#include <caf/uniform_type_info_map.hpp>

namespace p21 {

actor_profile::actor_profile(metrics_registry& registry, std::string component)
  : registry_(registry)
  , component_(std::move(component))
  , depth_(registry.make_gauge(profiling_metrics::mailbox_depth, {{"component", component_}}))
  , handler_time_(
        registry.make_histogram(profiling_metrics::handler_seconds, {{"component", component_}})) {}

void actor_profile::handled(const caf::mailbox_element& x, uint64_t ns,
                            const caf::uniform_type_info_map& types) {
  depth_.add(-1);
  handler_time_.record(ns);
  messages_of(x, types).inc();
}

counter& actor_profile::messages_of(const caf::mailbox_element& x,
                                    const caf::uniform_type_info_map& types) {
  auto& content = x.content();
  // Atoms name a request ("get", "query"); other messages go by type.
  uint64_t key = 0;
  if (content.size() > 0) {
    if (content.type(0).first == caf::type_nr<caf::atom_value>::value)
      key = static_cast<uint64_t>(content.get_as<caf::atom_value>(0));
    else
      key = reinterpret_cast<uintptr_t>(content.type(0).second) ^ content.type(0).first;
  }
  auto i = by_type_.find(key);
  if (i != by_type_.end())
    return *i->second;
  if (by_type_.size() >= max_types) {
    if (other_ == nullptr)
      other_ = &registry_.make_counter(profiling_metrics::messages,
                                       {{"component", component_},
                                        {"type", metrics_registry::overflow_value}});
    return *other_;
  }
  std::string type = "empty";
  if (content.size() > 0) {
    if (content.type(0).first == caf::type_nr<caf::atom_value>::value)
      type = caf::to_string(content.get_as<caf::atom_value>(0));
    else if (auto& name = types.portable_name(content.type(0)); !name.empty())
      type = name;
    else
      type = "unnamed";
  }
  auto& c = registry_.make_counter(profiling_metrics::messages,
                                   {{"component", component_}, {"type", type}});
  by_type_.emplace(key, &c);
  return c;
}

} // namespace p21
